// Port specs of --allow-host-ports against awf's shared fixtures
// (awf's port-spec fixtures) and its dangerous ports.
#include "awf/policy/ports.h"

#include <gtest/gtest.h>

namespace awf::policy {
namespace {

TEST(PortSpec, ValidFixturesParseOrAreRefusedOnlyAsDangerous) {
  struct Valid {
    const char* spec;
    int first, last;
    bool dangerous;
  };
  const Valid fixtures[] = {
      {"1", 1, 1, false},         {"80", 80, 80, false},          {"443", 443, 443, false},
      {"3128", 3128, 3128, false}, {"65535", 65535, 65535, false}, {"1-2", 1, 2, false},
      {"1-65535", 1, 65535, true}, {"80-80", 80, 80, false},       {"65535-65535", 65535, 65535, false},
      {"3000-3010", 3000, 3010, false}, {"8080-8090", 8080, 8090, true}, {"10000-10003", 10000, 10003, false},
  };
  for (const auto& f : fixtures) {
    auto r = parse_port_spec(f.spec);
    if (f.dangerous) {
      ASSERT_FALSE(r.ok()) << f.spec;
      EXPECT_NE(r.message().find("includes dangerous port"), std::string::npos) << r.message();
    } else {
      ASSERT_TRUE(r.ok()) << f.spec << ": " << r.message();
      EXPECT_EQ(r->first, f.first) << f.spec;
      EXPECT_EQ(r->last, f.last) << f.spec;
    }
  }
}

TEST(PortSpec, InvalidFixturesAreRefusedWithAwfsMessages) {
  struct Invalid {
    const char* spec;
    bool as_range;  // which of awf's two messages
  };
  const Invalid fixtures[] = {
      {"", false},     {"0", false},        {"65536", false},    {"99999", false},   {"-1", false},
      {"080", false},  {"0080", false},     {"abc", false},      {"80abc", false},   {"8 0", false},
      {"80.5", false}, {" 80", false},      {"80 ", false},      {"3010-3000", true}, {"443-80", true},
      {"0-100", true}, {"1-65536", true},   {"01-100", true},    {"80-0443", true},  {"abc-def", false},
      {"-", false},    {"80 - 443", false},
  };
  for (const auto& f : fixtures) {
    auto r = parse_port_spec(f.spec);
    ASSERT_FALSE(r.ok()) << "'" << f.spec << "'";
    const std::string expected =
        f.as_range ? std::string("Invalid port range: ") + f.spec +
                         ". Must be in format START-END where 1 <= START <= END <= 65535"
                   : std::string("Invalid port: ") + f.spec + ". Must be a number between 1 and 65535";
    EXPECT_EQ(r.message(), expected);
  }
}

TEST(PortSpec, DangerousPortsAreRefusedAlone) {
  for (std::uint16_t p : {22, 23, 25, 110, 143, 445, 1433, 1521, 3306, 3389, 5432, 5984, 6379, 6984, 8086, 8088,
                          9200, 9300, 27017, 27018, 28017}) {
    EXPECT_TRUE(is_dangerous_port(p)) << p;
    auto r = parse_port_spec(std::to_string(p));
    ASSERT_FALSE(r.ok()) << p;
    EXPECT_EQ(r.message(), "Port " + std::to_string(p) +
                               " is blocked for security reasons. Dangerous ports (SSH:22, MySQL:3306, "
                               "PostgreSQL:5432, etc.) cannot be allowed even with --allow-host-ports.");
  }
  EXPECT_FALSE(is_dangerous_port(80));
  EXPECT_FALSE(is_dangerous_port(8080));
}

TEST(PortSpec, RangeOverADangerousPortNamesIt) {
  auto r = parse_port_spec("20-25");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(),
            "Port range 20-25 includes dangerous port 22 which is blocked for security reasons. Dangerous ports "
            "(SSH, databases, etc.) cannot be allowed even with --allow-host-ports.");
}

TEST(PortList, CommaListParsesEveryItemAndStopsAtTheFirstBadOne) {
  auto ok = parse_port_list("3000,8080, 9000-9005");
  ASSERT_TRUE(ok.ok()) << ok.message();
  ASSERT_EQ(ok->size(), 3u);
  EXPECT_TRUE((*ok)[2].contains(9003));
  EXPECT_FALSE((*ok)[2].contains(9006));
  auto bad = parse_port_list("3000,22,abc");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("Port 22"), std::string::npos);
  EXPECT_FALSE(parse_port_list("3000,,3001").ok());
}

}  // namespace
}  // namespace awf::policy
