// The agent ruleset's text for given inputs, and the --allow-host-ports
// parser it relies on (table tests keyed by a sentence).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "awf/runtime/nft_ruleset.h"

namespace awf::runtime {
namespace {

struct PortCase {
  const char* name;
  const char* spec;
  std::vector<PortRange> want;
};

TEST(ParsePortSpecs, ValidSpecsBecomeSortedMergedRanges) {
  const PortCase cases[] = {
      {"empty is none", "", {}},
      {"one port", "8080", {{8080, 8080}}},
      {"a range", "3000-3010", {{3000, 3010}}},
      {"spaces around items are fine", " 3000 , 8080 ", {{3000, 3000}, {8080, 8080}}},
      {"unsorted input is sorted", "9000,22", {{22, 22}, {9000, 9000}}},
      {"overlapping ranges merge", "3000-3010,3005-3020", {{3000, 3020}}},
      {"adjacent ranges merge", "3000-3010,3011", {{3000, 3011}}},
      {"duplicates collapse", "8080,8080", {{8080, 8080}}},
      {"empty items are skipped", "80,,443", {{80, 80}, {443, 443}}},
  };
  for (const auto& c : cases) {
    auto got = parse_port_specs(c.spec);
    ASSERT_TRUE(got) << c.name << ": " << got.message();
    EXPECT_EQ(*got, c.want) << c.name;
  }
}

TEST(ParsePortSpecs, InvalidSpecsNameTheItem) {
  const std::pair<const char*, const char*> cases[] = {
      {"0", "\"0\""},           {"65536", "\"65536\""},    {"abc", "\"abc\""},
      {"3010-3000", "\"3010-3000\""}, {"80-", "\"80-\""},    {"-80", "\"-80\""},
      {"1-2-3", "\"1-2-3\""},   {"80;reject", "\"80;reject\""},
  };
  for (const auto& [spec, quoted] : cases) {
    auto got = parse_port_specs(spec);
    ASSERT_FALSE(got) << spec;
    EXPECT_NE(got.message().find(quoted), std::string::npos) << got.message();
  }
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(RenderRuleset, DefaultPortsRedirectWebAndDnsAndRejectTheRest) {
  const std::string r = render_ruleset(RulesetSpec{});
  EXPECT_TRUE(r.starts_with("table inet awf\ndelete table inet awf\ntable inet awf {\n")) << r;
  EXPECT_TRUE(contains(r, "type nat hook output priority -100; policy accept;"));
  EXPECT_TRUE(contains(r, "\t\ttcp dport 80 redirect to :3129\n"));
  EXPECT_TRUE(contains(r, "\t\ttcp dport 443 redirect to :3130\n"));
  EXPECT_TRUE(contains(r, "\t\tudp dport 53 redirect to :53\n"));
  EXPECT_TRUE(contains(r, "\t\ttcp dport 53 redirect to :53\n"));
  // Localhost is not redirected, and first: before any redirect.
  EXPECT_TRUE(contains(r, "policy accept;\n\t\tip daddr 127.0.0.1 return\n\t\tip6 daddr ::1 return\n")) << r;
  EXPECT_TRUE(contains(r, "type filter hook output priority 0; policy drop;"));
  EXPECT_TRUE(contains(r, "\t\tct state established,related accept\n"));
  // Redirected flows, then the intercept ports refused when dialled
  // directly, then the rest of localhost.
  EXPECT_TRUE(contains(r, "\t\tct status dnat accept\n"
                          "\t\tip daddr 127.0.0.1 tcp dport { 3129, 3130 } reject with tcp reset\n"
                          "\t\tip6 daddr ::1 tcp dport { 3129, 3130 } reject with tcp reset\n"
                          "\t\tip daddr 127.0.0.1 accept\n"
                          "\t\tip6 daddr ::1 accept\n"))
      << r;
  // The two final rules, in this order: reset for TCP, ICMP(v6) for the rest.
  EXPECT_TRUE(contains(r, "\t\tmeta l4proto tcp reject with tcp reset\n\t\treject with icmpx admin-prohibited\n\t}\n}\n"));
  std::size_t to_http = 0;
  for (auto at = r.find("redirect to :3129"); at != std::string::npos; at = r.find("redirect to :3129", at + 1)) ++to_http;
  EXPECT_EQ(to_http, 1u) << "only port 80 without --allow-host-ports: " << r;
}

TEST(RenderRuleset, ANewNamespaceGetsTheSameRulesWithoutTheDelete) {
  const std::string replace = render_ruleset(RulesetSpec{});
  const std::string fresh = render_ruleset(RulesetSpec{}, Ipv6::served, Existing::none);
  EXPECT_TRUE(fresh.starts_with("table inet awf {\n")) << fresh;
  EXPECT_FALSE(contains(fresh, "delete")) << fresh;
  EXPECT_EQ("table inet awf\ndelete table inet awf\n" + fresh, replace);
}

TEST(RenderRuleset, CustomListenerPortsAppearInEveryRule) {
  RulesetSpec spec;
  spec.ports = ListenerPorts{8000, 8001, 8002, 5353, {}};
  const std::string r = render_ruleset(spec);
  EXPECT_TRUE(contains(r, "tcp dport 80 redirect to :8001\n"));
  EXPECT_TRUE(contains(r, "tcp dport 443 redirect to :8002\n"));
  EXPECT_TRUE(contains(r, "udp dport 53 redirect to :5353\n"));
  EXPECT_TRUE(contains(r, "ip daddr 127.0.0.1 tcp dport { 8001, 8002 } reject with tcp reset\n"));
  EXPECT_FALSE(contains(r, "3128"));
  EXPECT_FALSE(contains(r, "3129"));
}

TEST(RenderRuleset, HostPortsGoToTheHttpInterceptListenerAsOneSet) {
  RulesetSpec spec;
  spec.host_ports = *parse_port_specs("8080,3000-3010");
  const std::string r = render_ruleset(spec);
  EXPECT_TRUE(contains(r, "\t\ttcp dport { 3000-3010, 8080 } redirect to :3129\n")) << r;
  // After 80/443, before DNS: rule order decides overlaps with 80/443.
  EXPECT_LT(r.find("dport 443 redirect"), r.find("{ 3000-3010"));
  EXPECT_LT(r.find("{ 3000-3010"), r.find("udp dport 53"));
}

}  // namespace
}  // namespace awf::runtime
