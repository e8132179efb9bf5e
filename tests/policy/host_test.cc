// Request hosts: Squid-style normalisation and IP-literal recognition in
// every notation (dotted, short, decimal, hex, octal, IPv6 forms, zone ids).
#include "awf/policy/host.h"

#include <gtest/gtest.h>

namespace awf::policy {
namespace {

TEST(NormaliseHost, LowerCasesAndDropsOneTrailingDot) {
  EXPECT_EQ(normalise_host("API.GitHub.COM"), "api.github.com");
  EXPECT_EQ(normalise_host("github.com."), "github.com");
  EXPECT_EQ(normalise_host("github.com.."), "github.com.");
  EXPECT_EQ(normalise_host("[2001:DB8::1]"), "[2001:db8::1]");
  EXPECT_EQ(normalise_host(""), "");
}

struct V4Case {
  const char* sentence;
  const char* host;
  const char* canonical;
};

const V4Case kV4[] = {
    {"dotted quad", "93.184.216.34", "93.184.216.34"},
    {"short a.d", "127.1", "127.0.0.1"},
    {"short a.b.d", "10.1.2", "10.1.0.2"},
    {"one decimal", "2130706433", "127.0.0.1"},
    {"one hex", "0x7f000001", "127.0.0.1"},
    {"empty hex is zero", "0x.0x.0x.0x", "0.0.0.0"},
    {"octal octets", "0177.0000.0000.0001", "127.0.0.1"},
    {"hex and octal mixed", "0xa9.0376.169.254", "169.254.169.254"},
    {"trailing dot", "1.2.3.4.", "1.2.3.4"},
    {"zero", "0", "0.0.0.0"},
    {"a bare 0x is zero, as WHATWG reads it", "0x", "0.0.0.0"},
    {"all ones", "4294967295", "255.255.255.255"},
};

TEST(ParseIpLiteral, Ipv4InEveryNotationHasOneCanonicalForm) {
  for (const auto& c : kV4) {
    auto ip = parse_ip_literal(c.host);
    ASSERT_TRUE(ip.has_value()) << c.sentence;
    EXPECT_FALSE(ip->is_v6) << c.sentence;
    EXPECT_EQ(ip->canonical, c.canonical) << c.sentence;
    EXPECT_TRUE(is_ip_like(c.host)) << c.sentence;
  }
}

struct V6Case {
  const char* sentence;
  const char* host;
  const char* canonical;
  const char* embedded;  // nullptr: none
};

const V6Case kV6[] = {
    {"bracketed", "[2001:db8::1]", "[2001:db8::1]", nullptr},
    {"bare", "2001:db8::1", "[2001:db8::1]", nullptr},
    {"loopback", "[::1]", "[::1]", nullptr},
    {"unspecified", "[::]", "[::]", nullptr},
    {"zone id, URL-encoded", "[fe80::1%25eth0]", "[fe80::1]", nullptr},
    {"zone id, raw", "[fe80::1%eth0]", "[fe80::1]", nullptr},
    {"v4-mapped dotted", "[::ffff:127.0.0.1]", "[::ffff:127.0.0.1]", "127.0.0.1"},
    {"v4-mapped hex", "[::ffff:7f00:1]", "[::ffff:127.0.0.1]", "127.0.0.1"},
    {"v4-compatible", "[::169.254.169.254]", "[::169.254.169.254]", "169.254.169.254"},
    {"NAT64", "[64:ff9b::a9fe:a9fe]", "[64:ff9b::a9fe:a9fe]", "169.254.169.254"},
    {"6to4", "[2002:a9fe:a9fe::1]", "[2002:a9fe:a9fe::1]", "169.254.169.254"},
    {"upper case", "[::FFFF:7F00:1]", "[::ffff:127.0.0.1]", "127.0.0.1"},
};

TEST(ParseIpLiteral, Ipv6FormsRevealTheirEmbeddedIpv4) {
  for (const auto& c : kV6) {
    auto ip = parse_ip_literal(c.host);
    ASSERT_TRUE(ip.has_value()) << c.sentence;
    EXPECT_TRUE(ip->is_v6) << c.sentence;
    EXPECT_EQ(ip->canonical, c.canonical) << c.sentence;
    if (c.embedded == nullptr) {
      EXPECT_FALSE(ip->embedded_v4.has_value()) << c.sentence;
    } else {
      ASSERT_TRUE(ip->embedded_v4.has_value()) << c.sentence;
      const auto& b = *ip->embedded_v4;
      EXPECT_EQ(std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
                    std::to_string(b[3]),
                c.embedded)
          << c.sentence;
    }
  }
}

// Found by the authority fuzz target (tests/proxy/corpus/authority/
// v6-compatible-trailing-dot.txt): the policy read `::10.0.0.2.` as that
// address (decide() drops one trailing dot first) while parse_ip_literal()
// refused it, so the proxy's canonical host was the name-like `::10.0.0.2`,
// which the next normalisation read as an address. And the policy dropped a
// second dot inside, so `1.2.3.4..` was an address to it, while
// `example.com..` is no name. One trailing dot now, for both.
TEST(ParseIpLiteral, OneTrailingDotIsDroppedAsThePolicyDropsIt) {
  const auto v6 = parse_ip_literal("::10.0.0.2.");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->canonical, "[::10.0.0.2]");
  EXPECT_EQ(parse_ip_literal(v6->canonical)->canonical, v6->canonical);
  ASSERT_TRUE(parse_ip_literal("[::1].").has_value());
  EXPECT_EQ(parse_ip_literal("1.2.3.4.")->canonical, "1.2.3.4");
  for (const char* two_dots : {"1.2.3.4..", "::1..", "0x7f.1.."}) {
    EXPECT_FALSE(parse_ip_literal(two_dots).has_value()) << two_dots;
  }
}

TEST(ParseIpLiteral, MalformedNumericHostsAreIpLikeButNotAddresses) {
  for (const char* host : {"999.1.1.1", "1.2.3.4.5", "1.2.3.256", "1.16777216", "4294967296", "0x100000000",
                           "08.1.1.1", "0x1g.1.1.1", "[zz::]", "[::1", "[1:2:3:4:5:6:7:8:9]", "example.123",
                           "a.b.0x10", "1..2"}) {
    EXPECT_FALSE(parse_ip_literal(host).has_value()) << host;
    EXPECT_TRUE(is_ip_like(host)) << host;
  }
}

TEST(ParseIpLiteral, NamesAreNeitherAddressesNorIpLike) {
  for (const char* host : {"github.com", "cafe", "deadbeef", "1.2.3.com", "localhost", "a-1.b2", "github.com:443", ""}) {
    EXPECT_FALSE(parse_ip_literal(host).has_value()) << host;
    EXPECT_FALSE(is_ip_like(host)) << host;
  }
}

}  // namespace
}  // namespace awf::policy
