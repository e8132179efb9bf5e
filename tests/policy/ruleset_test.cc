// Decisions of the compiled ruleset: every allow/deny vector of awf's
// domain grammar, the compilation vectors as decisions, scopes, ports, IP literals,
// and the reason and rule each decision carries.
#include "awf/policy/ruleset.h"

#include <gtest/gtest.h>

#include "awf/policy/sources.h"

namespace awf::policy {
namespace {

struct Case {
  const char* sentence;
  const char* allow;  // comma list, as --allow-domains
  const char* block;  // comma list, as --block-domains
  const char* host;
  std::uint16_t port;
  bool is_connect;
  bool allowed;
  Reason reason;
  const char* rule;  // text of the deciding rule, "-" for none
};

constexpr bool kConnect = true;
constexpr bool kGet = false;

std::shared_ptr<const Ruleset> compile_lists(const char* allow, const char* block,
                                             std::vector<PortRange> ports = {}) {
  PolicySpec spec;
  spec.allow = split_domain_list(allow);
  spec.block = split_domain_list(block);
  spec.extra_ports = std::move(ports);
  auto rs = Ruleset::compile(spec);
  EXPECT_TRUE(rs.ok()) << (rs.ok() ? "" : rs.message());
  return rs.ok() ? *rs : nullptr;
}

void check(const Case& c) {
  SCOPED_TRACE(c.sentence);
  auto rs = compile_lists(c.allow, c.block);
  ASSERT_TRUE(rs);
  const Decision d = rs->decide(Request{c.host, c.port, c.is_connect});
  EXPECT_EQ(d.allowed, c.allowed) << c.sentence;
  EXPECT_STREQ(to_string(d.reason), to_string(c.reason)) << c.sentence;
  const Rule* rule = rs->rule(d);
  EXPECT_EQ(rule ? rule->text : std::string("-"), c.rule) << c.sentence;
}

// awf's allow/deny vectors (CONNECT on 443 unless stated).
const Case kAwfVectors[] = {
    {"#1 a plain entry allows its own name", "github.com", "", "github.com", 443, kConnect, true, Reason::allowed, "github.com"},
    {"#2 a plain entry allows its subdomains", "github.com", "", "api.github.com", 443, kConnect, true, Reason::allowed, "github.com"},
    {"#3 matching ignores the request's case", "github.com", "", "API.GITHUB.COM", 443, kConnect, true, Reason::allowed, "github.com"},
    {"#4 an unrelated name is denied", "github.com", "", "example.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#5 a name that merely ends with the entry text is denied", "github.com", "", "notgithub.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#5 a name with the entry as a label suffix is denied", "github.com", "", "mygithub.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#6 a star-dot pattern allows a direct subdomain", "*.github.com", "", "api.github.com", 443, kConnect, true, Reason::allowed, "*.github.com"},
    {"#7 a star-dot pattern allows a deeper subdomain", "*.github.com", "", "sub.api.github.com", 443, kConnect, true, Reason::allowed, "*.github.com"},
    {"#8 a star-dot pattern does not allow the bare name", "*.github.com", "", "github.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#9 a star-dot pattern does not allow a name ending in its text", "*.github.com", "", "notgithub.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#10 a star-dot pattern does not allow its name as a prefix", "*.github.com", "", "github.com.evil.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#11 a star-dot pattern does not allow unrelated names", "*.github.com", "", "example.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#12 patterns match case-insensitively both ways", "*.GitHub.COM", "", "API.GITHUB.COM", 443, kConnect, true, Reason::allowed, "*.GitHub.COM"},
    {"#13 an inner star matches a word", "api-*.example.com", "", "api-v1.example.com", 443, kConnect, true, Reason::allowed, "api-*.example.com"},
    {"#13 an inner star matches another word", "api-*.example.com", "", "api-test.example.com", 443, kConnect, true, Reason::allowed, "api-*.example.com"},
    {"#14 an inner star may match nothing", "api-*.example.com", "", "api-.example.com", 443, kConnect, true, Reason::allowed, "api-*.example.com"},
    {"#15 an inner star needs its literal text", "api-*.example.com", "", "api.example.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#15 an inner star does not allow siblings", "api-*.example.com", "", "other.example.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#16 patterns and plain entries combine", "*.githubusercontent.com,github.com", "", "raw.githubusercontent.com", 443, kConnect, true, Reason::allowed, "*.githubusercontent.com"},
    {"#17 any of several patterns allows", "*.github.com,*.gitlab.com,*.bitbucket.org", "", "api.github.com", 443, kConnect, true, Reason::allowed, "*.github.com"},
    {"#18 an entry with a trailing dot matches nothing", "github.com.", "", "api.github.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#18 an entry with a trailing dot does not match its own name", "github.com.", "", "github.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#19 entries are trimmed", "  github.com  ", "", "api.github.com", 443, kConnect, true, Reason::allowed, "github.com"},
    {"#20 an IP literal is denied even if it is an allowed name's address", "github.com", "", "140.82.112.5", 443, kConnect, false, Reason::ip_literal, "-"},
    {"#21 a blocked subdomain is denied under an allowed parent", "github.com", "api.github.com", "api.github.com", 443, kConnect, false, Reason::blocklisted, "api.github.com"},
    {"#22 blocking a subdomain leaves the parent allowed", "github.com", "api.github.com", "github.com", 443, kConnect, true, Reason::allowed, "github.com"},
    {"#23 the blocklist beats the allowlist for the same name", "example.com", "example.com", "example.com", 443, kConnect, false, Reason::blocklisted, "example.com"},
    {"#24 a blocked star pattern denies subdomains", "github.com", "*.github.com", "api.github.com", 443, kConnect, false, Reason::blocklisted, "*.github.com"},
    {"#25 a blocked star pattern leaves the bare name allowed", "github.com", "*.github.com", "github.com", 443, kConnect, true, Reason::allowed, "github.com"},
    {"#26 several blocked hosts are all denied (first)", "github.com,githubusercontent.com", "api.github.com,raw.githubusercontent.com", "api.github.com", 443, kConnect, false, Reason::blocklisted, "api.github.com"},
    {"#26 several blocked hosts are all denied (second)", "github.com,githubusercontent.com", "api.github.com,raw.githubusercontent.com", "raw.githubusercontent.com", 443, kConnect, false, Reason::blocklisted, "raw.githubusercontent.com"},
    {"#27 a blocklist scope prefix is ignored for HTTPS", "github.com", "https://internal.github.com", "internal.github.com", 443, kConnect, false, Reason::blocklisted, "https://internal.github.com"},
    {"#27 a blocklist scope prefix is ignored for HTTP", "github.com", "https://internal.github.com", "internal.github.com", 80, kGet, false, Reason::blocklisted, "https://internal.github.com"},
    {"#28 an empty allowlist denies names", "", "", "example.com", 443, kConnect, false, Reason::empty_allowlist, "-"},
    {"#28 an empty allowlist denies subdomains", "", "", "api.github.com", 443, kConnect, false, Reason::empty_allowlist, "-"},
    {"#28 an empty allowlist denies plain HTTP", "", "", "httpbin.org", 80, kGet, false, Reason::empty_allowlist, "-"},
    {"#29 port 22 is not reachable", "github.com", "", "github.com", 22, kConnect, false, Reason::port_not_allowed, "-"},
    {"#29 port 8443 is not reachable", "github.com", "", "github.com", 8443, kConnect, false, Reason::port_not_allowed, "-"},
    {"#30a an http:// entry allows a proxied GET", "http://github.com", "", "github.com", 80, kGet, true, Reason::allowed, "http://github.com"},
    {"#30b an http:// entry does not allow CONNECT", "http://github.com", "", "github.com", 443, kConnect, false, Reason::scope_mismatch, "http://github.com"},
    {"#31a an https:// entry allows CONNECT", "https://api.github.com", "", "api.github.com", 443, kConnect, true, Reason::allowed, "https://api.github.com"},
    {"#31b an https:// entry does not allow a proxied GET", "https://api.github.com", "", "api.github.com", 80, kGet, false, Reason::scope_mismatch, "https://api.github.com"},
    {"#32 an entry with a port matches nothing on 443", "example.com:8080", "", "example.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#32 an entry with a port matches nothing on 80", "example.com:8080", "", "example.com", 80, kGet, false, Reason::not_in_allowlist, "-"},
    {"#32 an entry with a port does not open that port", "example.com:8080", "", "example.com", 8080, kConnect, false, Reason::port_not_allowed, "-"},
    {"#33 a TLD entry allows the whole TLD", "com", "", "anything.com", 443, kConnect, true, Reason::allowed, "com"},
    {"#34 the metadata address is denied", "github.com", "", "169.254.169.254", 80, kGet, false, Reason::ip_literal, "-"},
    {"#34 the metadata name is denied", "github.com", "", "metadata.google.internal", 80, kGet, false, Reason::not_in_allowlist, "-"},
    {"#35 a DoH provider is denied", "github.com", "", "cloudflare-dns.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#35 another DoH provider is denied", "github.com", "", "dns.google", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#36 NO_PROXY does not matter: example.com is still denied", "github.com", "", "example.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"#37 plain HTTP to an allowed name is allowed through the proxy", "github.com", "", "github.com", 80, kGet, true, Reason::allowed, "github.com"},
    {"#38 a public resolver's address is denied", "example.com", "", "9.9.9.9", 53, kConnect, false, Reason::port_not_allowed, "-"},
    {"#38 a public resolver on 443 is still an IP literal", "example.com", "", "1.1.1.1", 443, kConnect, false, Reason::ip_literal, "-"},
    {"#40 SSH to an allowed name is denied", "github.com", "", "github.com", 22, kConnect, false, Reason::port_not_allowed, "-"},
    {"#40 an IPv6 literal is denied", "github.com", "", "[2606:50c0:8000::154]", 443, kConnect, false, Reason::ip_literal, "-"},
};

TEST(RulesetAwfVectors, EveryAllowDenyVectorOfSection26) {
  for (const Case& c : kAwfVectors) check(c);
}

// awf's compilation vectors, expressed as decisions.
const Case kCompilationVectors[] = {
    {"a leading dot is the same entry", ".github.com", "", "api.github.com", 443, kConnect, true, Reason::allowed, ".github.com"},
    {"a leading dot still matches the bare name", ".github.com", "", "github.com", 443, kConnect, true, Reason::allowed, ".github.com"},
    {"one trailing slash is stripped", "github.com/", "", "github.com", 443, kConnect, true, Reason::allowed, "github.com/"},
    {"redundant subdomain entries do not change the answer", "github.com,api.github.com,raw.github.com,gist.github.com", "", "x.gist.github.com", 443, kConnect, true, Reason::allowed, "github.com"},
    {"a deep entry under a parent is covered by the parent", "example.com,api.v2.example.com", "", "other.example.com", 443, kConnect, true, Reason::allowed, "example.com"},
    {"sibling entries stay separate", "api.github.com,raw.github.com", "", "gist.github.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"sibling entries each allow", "api.github.com,raw.github.com", "", "raw.github.com", 443, kConnect, true, Reason::allowed, "raw.github.com"},
    {"a pattern plus a covered plain entry allows the plain name", "*.github.com,api.github.com", "", "api.github.com", 443, kConnect, true, Reason::allowed, "*.github.com"},
    {"a pattern plus a covered plain entry allows its subdomains", "*.github.com,api.github.com", "", "v3.api.github.com", 443, kConnect, true, Reason::allowed, "*.github.com"},
    {"mixed-case entries match lower-case hosts", "GitHub.COM", "", "github.com", 443, kConnect, true, Reason::allowed, "GitHub.COM"},
    {"plain and pattern entries both apply (plain)", "example.com,*.github.com", "", "www.example.com", 443, kConnect, true, Reason::allowed, "example.com"},
    {"plain and pattern entries both apply (pattern)", "example.com,*.github.com", "", "api.github.com", 443, kConnect, true, Reason::allowed, "*.github.com"},
    {"only patterns: a non-matching name is denied", "*.github.com", "", "example.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"the same name in both scopes allows CONNECT via the https rule", "github.com,https://github.com", "", "github.com", 443, kConnect, true, Reason::allowed, "https://github.com"},
    {"the same name in both scopes allows GET via the both rule", "github.com,https://github.com", "", "github.com", 80, kGet, true, Reason::allowed, "github.com"},
    {"an https parent and an http child keep their own scopes", "https://example.com,http://api.example.com", "", "api.example.com", 80, kGet, true, Reason::allowed, "http://api.example.com"},
    {"an https parent still covers an http child's name for CONNECT", "https://example.com,http://api.example.com", "", "api.example.com", 443, kConnect, true, Reason::allowed, "https://example.com"},
};

TEST(RulesetAwfVectors, CompilationVectorsAsDecisions) {
  for (const Case& c : kCompilationVectors) check(c);
}

TEST(RulesetAwfVectors, TooBroadPatternsFailCompilation) {
  for (const char* bad : {"*", "*.*"}) {
    PolicySpec spec;
    spec.allow = {bad};
    auto rs = Ruleset::compile(spec);
    ASSERT_FALSE(rs.ok()) << bad;
    EXPECT_TRUE(rs.message().starts_with("Invalid domain or pattern: Pattern '")) << rs.message();
  }
}

TEST(RulesetCompile, InvalidBlockEntryIsNamedAsBlocked) {
  PolicySpec spec;
  spec.allow = {"github.com"};
  spec.block = {"evil..com"};
  auto rs = Ruleset::compile(spec);
  ASSERT_FALSE(rs.ok());
  EXPECT_EQ(rs.message(), "Invalid blocked domain or pattern: Invalid domain 'evil..com': contains double dots");
}

TEST(RulesetCompile, InjectionAttemptIsRefusedWithTheEntry) {
  PolicySpec spec;
  spec.allow = {"evil.com\nhttp_access allow all"};
  auto rs = Ruleset::compile(spec);
  ASSERT_FALSE(rs.ok());
  EXPECT_NE(rs.message().find("contains invalid character U+000a"), std::string::npos) << rs.message();
}

TEST(RulesetCompile, WarningsNameInertAndBroadEntries) {
  PolicySpec spec;
  spec.allow = {"github.com", "example.com:8080", "com", "*.org"};
  std::vector<std::string> warnings;
  auto rs = Ruleset::compile(spec, &warnings);
  ASSERT_TRUE(rs.ok());
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_NE(warnings[0].find("'example.com:8080'"), std::string::npos);
  EXPECT_NE(warnings[1].find("'com'"), std::string::npos);
  EXPECT_NE(warnings[2].find("'*.org'"), std::string::npos);
}

// Semantics beyond the vectors: the regex alphabet, request normalisation,
// invalid hosts, ports, scopes.
const Case kEdgeCases[] = {
    {"a star does not match an underscore", "*.github.com", "", "_x.github.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"a star does not match an underscore deeper in the prefix", "*.github.com", "", "_x.api.github.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"an underscore after the star's part is fine", "*._tcp.example.com", "", "srv._tcp.example.com", 443, kConnect, true, Reason::allowed, "*._tcp.example.com"},
    {"a plain entry allows underscore subdomains", "example.com", "", "_dmarc.example.com", 443, kConnect, true, Reason::allowed, "example.com"},
    {"an underscore entry is a plain entry", "_dmarc.example.com", "", "_dmarc.example.com", 443, kConnect, true, Reason::allowed, "_dmarc.example.com"},
    {"a star spans labels", "api.*.example.com", "", "api.a.b.example.com", 443, kConnect, true, Reason::allowed, "api.*.example.com"},
    {"a star spanning labels still needs the literal head", "api.*.example.com", "", "web.a.example.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"a star before a partial label matches across labels", "*-cdn.example.com", "", "x.y-cdn.example.com", 443, kConnect, true, Reason::allowed, "*-cdn.example.com"},
    {"a star before a partial label needs the partial label", "*-cdn.example.com", "", "cdn.example.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"a star without a dot matches the bare name", "*github.com", "", "github.com", 443, kConnect, true, Reason::allowed, "*github.com"},
    {"a star without a dot matches lookalikes, as in awf", "*github.com", "", "notgithub.com", 443, kConnect, true, Reason::allowed, "*github.com"},
    {"a trailing star matches every TLD", "github.*", "", "github.io", 443, kConnect, true, Reason::allowed, "github.*"},
    {"a trailing star needs the head", "github.*", "", "gitlab.io", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"a double star pattern compiles and matches", "*.*.example.com", "", "a.b.example.com", 443, kConnect, true, Reason::allowed, "*.*.example.com"},
    {"one trailing dot on the request is removed", "github.com", "", "api.github.com.", 443, kConnect, true, Reason::allowed, "github.com"},
    {"two trailing dots are an invalid host", "github.com", "", "api.github.com..", 443, kConnect, false, Reason::invalid_host, "-"},
    {"an empty host is invalid", "github.com", "", "", 443, kConnect, false, Reason::invalid_host, "-"},
    {"a lone dot is invalid", "github.com", "", ".", 443, kConnect, false, Reason::invalid_host, "-"},
    {"a leading dot is invalid", "github.com", "", ".github.com", 443, kConnect, false, Reason::invalid_host, "-"},
    {"an empty label is invalid", "github.com", "", "api..github.com", 443, kConnect, false, Reason::invalid_host, "-"},
    {"a space is invalid", "github.com", "", "git hub.com", 443, kConnect, false, Reason::invalid_host, "-"},
    {"percent-encoding is not decoded here", "github.com", "", "github%2ecom", 443, kConnect, false, Reason::invalid_host, "-"},
    {"a host with a port glued on is invalid, not an IP", "github.com", "", "github.com:443", 443, kConnect, false, Reason::invalid_host, "-"},
    {"userinfo is not a host", "github.com", "", "github.com@evil.com", 443, kConnect, false, Reason::invalid_host, "-"},
    {"a name too long for DNS is invalid", "com", "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", 443, kConnect, false, Reason::invalid_host, "-"},
    {"an https:// entry may be CONNECTed on port 80", "https://github.com", "", "github.com", 80, kConnect, true, Reason::allowed, "https://github.com"},
    {"an http:// entry allows a GET on 443 (method, not port)", "http://github.com", "", "github.com", 443, kGet, true, Reason::allowed, "http://github.com"},
    {"the blocklist beats a scoped allow", "https://github.com", "github.com", "github.com", 443, kConnect, false, Reason::blocklisted, "github.com"},
    {"a blocked regex pattern beats an allow", "example.com", "ads-*.example.com", "ads-1.example.com", 443, kConnect, false, Reason::blocklisted, "ads-*.example.com"},
    {"a blocked name with an empty allowlist says blocklisted", "", "evil.com", "evil.com", 443, kConnect, false, Reason::blocklisted, "evil.com"},
    {"the first listed of two matching rules is reported", "api.github.com,github.com", "", "api.github.com", 443, kConnect, true, Reason::allowed, "api.github.com"},
    {"the port check comes before the blocklist", "github.com", "github.com", "github.com", 22, kConnect, false, Reason::port_not_allowed, "-"},
    {"a unicode entry matches nothing", "münchen.de", "", "xn--mnchen-3ya.de", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"a path entry matches nothing", "api.github.com/v3/users", "", "api.github.com", 443, kConnect, false, Reason::not_in_allowlist, "-"},
    {"a hex-only single label is a name, not an address", "cafe", "", "cafe", 443, kConnect, true, Reason::allowed, "cafe"},
};

TEST(RulesetSemantics, EdgeCases) {
  for (const Case& c : kEdgeCases) check(c);
}

// IP literals in every notation; 127.0.0.1 is allowlisted, so each spelling
// of it is allowed and each spelling of another address is not.
struct IpCase {
  const char* sentence;
  const char* host;
  bool allowed;
  Reason reason;
};

const IpCase kIpCases[] = {
    {"dotted quad", "127.0.0.1", true, Reason::allowed},
    {"short form a.d", "127.1", true, Reason::allowed},
    {"short form a.b.d", "127.0.1", true, Reason::allowed},
    {"one decimal number", "2130706433", true, Reason::allowed},
    {"one hex number", "0x7f000001", true, Reason::allowed},
    {"upper-case hex", "0X7F000001", true, Reason::allowed},
    {"hex octets", "0x7f.0x0.0x0.0x1", true, Reason::allowed},
    {"octal octet", "0177.0.0.1", true, Reason::allowed},
    {"mixed hex, octal and decimal", "0x7f.00.0.1", true, Reason::allowed},
    {"trailing dot", "127.0.0.1.", true, Reason::allowed},
    {"an IPv6 form with a trailing dot", "::ffff:127.0.0.1.", true, Reason::allowed},
    {"v4-mapped IPv6, dotted", "[::ffff:127.0.0.1]", true, Reason::allowed},
    {"v4-mapped IPv6, hex", "[::ffff:7f00:1]", true, Reason::allowed},
    {"v4-mapped IPv6, expanded", "[0:0:0:0:0:ffff:7f00:0001]", true, Reason::allowed},
    {"v4-compatible IPv6", "[::127.0.0.1]", true, Reason::allowed},
    {"NAT64 well-known prefix", "[64:ff9b::7f00:1]", true, Reason::allowed},
    {"NAT64 dotted", "[64:ff9b::127.0.0.1]", true, Reason::allowed},
    {"6to4 names a network, not the address", "[2002:7f00:1::1]", false, Reason::ip_literal},
    {"zone id on a mapped address", "[::ffff:127.0.0.1%25eth0]", true, Reason::allowed},
    {"another address, dotted", "127.0.0.2", false, Reason::ip_literal},
    {"another address, decimal", "2130706434", false, Reason::ip_literal},
    {"metadata address, hex", "0xa9fea9fe", false, Reason::ip_literal},
    {"metadata address, v4-mapped", "[::ffff:169.254.169.254]", false, Reason::ip_literal},
    {"IPv6 loopback", "[::1]", false, Reason::ip_literal},
    {"IPv6 link-local with zone id", "[fe80::1%25eth0]", false, Reason::ip_literal},
    {"bare IPv6 without brackets", "::1", false, Reason::ip_literal},
    {"octet out of range", "127.0.0.256", false, Reason::ip_literal},
    {"too many parts", "1.2.3.4.5", false, Reason::ip_literal},
    {"name with a numeric last label", "example.123", false, Reason::ip_literal},
    {"bad octal digit", "0189.0.0.1", false, Reason::ip_literal},
    {"decimal too large", "4294967296", false, Reason::ip_literal},
    {"bracketed garbage", "[zz::1]", false, Reason::ip_literal},
    {"unclosed bracket", "[::1", false, Reason::ip_literal},
};

TEST(RulesetSemantics, ControlBytesInTheHostAreInvalid) {
  auto rs = compile_lists("github.com", "");
  ASSERT_TRUE(rs);
  for (std::string_view host : {std::string_view("github.com\0.evil.com", 20), std::string_view("github.com\r\n"),
                                std::string_view("git\thub.com")}) {
    EXPECT_EQ(rs->decide(Request{host, 443, kConnect}).reason, Reason::invalid_host);
  }
}

TEST(RulesetSemantics, HostsOfOnlyDotsAndLabelsAtTheLimitAreHandled) {
  auto rs = compile_lists("a", "");
  ASSERT_TRUE(rs);
  const std::string dots(254, '.');
  EXPECT_EQ(rs->decide(Request{dots, 443, kConnect}).reason, Reason::invalid_host);
  std::string many;  // 127 one-letter labels: 253 bytes, the longest name
  for (int i = 0; i < 127; ++i) many += i ? ".a" : "a";
  ASSERT_EQ(many.size(), 253u);
  EXPECT_TRUE(rs->decide(Request{many, 443, kConnect}).allowed);
  EXPECT_TRUE(rs->decide(Request{many + ".", 443, kConnect}).allowed);
  EXPECT_EQ(rs->decide(Request{many + "a", 443, kConnect}).reason, Reason::not_in_allowlist);  // 254 bytes: still scanned
  EXPECT_EQ(rs->decide(Request{many + "aa.", 443, kConnect}).reason, Reason::invalid_host);
  const std::string colons = std::string(200, ':') + "1";
  EXPECT_EQ(rs->decide(Request{colons, 443, kConnect}).reason, Reason::ip_literal);
}

TEST(RulesetIpLiterals, EveryNotationOfAnAllowlistedAddressIsThatAddress) {
  auto rs = compile_lists("127.0.0.1,github.com", "");
  ASSERT_TRUE(rs);
  for (const IpCase& c : kIpCases) {
    SCOPED_TRACE(c.sentence);
    const Decision d = rs->decide(Request{c.host, 443, kConnect});
    EXPECT_EQ(d.allowed, c.allowed) << c.sentence << " " << c.host;
    EXPECT_STREQ(to_string(d.reason), to_string(c.reason)) << c.sentence << " " << c.host;
    if (d.allowed) {
      ASSERT_NE(rs->rule(d), nullptr);
      EXPECT_EQ(rs->rule(d)->text, "127.0.0.1");
    }
  }
}

TEST(RulesetIpLiterals, WithoutAnIpEntryEveryNotationIsDenied) {
  auto rs = compile_lists("github.com", "");
  ASSERT_TRUE(rs);
  for (const IpCase& c : kIpCases) {
    const Decision d = rs->decide(Request{c.host, 443, kConnect});
    EXPECT_FALSE(d.allowed) << c.host;
    EXPECT_EQ(d.reason, Reason::ip_literal) << c.host;
  }
}

// One trailing dot is dropped before an address is read, as before a name
// is matched; a second one is an empty label, for addresses as for names
// (the policy once dropped it inside the address parser too, so
// `127.0.0.1..` was 127.0.0.1 while `example.com..` was no name).
TEST(RulesetIpLiterals, TwoTrailingDotsAreNoAddress) {
  auto rs = compile_lists("127.0.0.1,example.com", "");
  ASSERT_TRUE(rs);
  EXPECT_TRUE(rs->decide(Request{"127.0.0.1.", 443, kConnect}).allowed);
  for (const char* host : {"127.0.0.1..", "0x7f.1..", "example.com.."}) {
    const Decision d = rs->decide(Request{host, 443, kConnect});
    EXPECT_FALSE(d.allowed) << host;
    EXPECT_EQ(d.reason, Reason::invalid_host) << host;
  }
}

TEST(RulesetIpLiterals, IpEntryKeepsItsScope) {
  auto rs = compile_lists("http://10.0.0.1", "");
  ASSERT_TRUE(rs);
  EXPECT_TRUE(rs->decide(Request{"10.0.0.1", 80, kGet}).allowed);
  const Decision d = rs->decide(Request{"10.0.0.1", 443, kConnect});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, Reason::scope_mismatch);
}

TEST(RulesetIpLiterals, BlockedIpBeatsAllowedIp) {
  auto rs = compile_lists("10.0.0.1", "10.0.0.1");
  ASSERT_TRUE(rs);
  const Decision d = rs->decide(Request{"0x0a000001", 443, kConnect});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, Reason::blocklisted);
}

TEST(RulesetIpLiterals, IpEntryDoesNotAllowNamesEndingInIt) {
  auto rs = compile_lists("1.2.3.4", "");
  ASSERT_TRUE(rs);
  EXPECT_EQ(rs->decide(Request{"x.1.2.3.4", 443, kConnect}).reason, Reason::ip_literal);
}

TEST(RulesetPorts, ExtraPortsAreReachableAndOthersAreNot) {
  auto rs = compile_lists("github.com", "", {PortRange{3000, 3010}, PortRange{8080, 8080}});
  ASSERT_TRUE(rs);
  for (std::uint16_t p : {80, 443, 3000, 3005, 3010, 8080}) {
    EXPECT_TRUE(rs->decide(Request{"github.com", p, kConnect}).allowed) << p;
    EXPECT_TRUE(rs->allows_port(p));
  }
  for (std::uint16_t p : {0, 22, 2999, 3011, 8081, 65535}) {
    const Decision d = rs->decide(Request{"github.com", p, kConnect});
    EXPECT_FALSE(d.allowed) << p;
    EXPECT_EQ(d.reason, Reason::port_not_allowed) << p;
  }
}

TEST(RulesetAllowsName, AnswersForDnsWithoutScopeOrPort) {
  auto rs = compile_lists("github.com,https://api.example.com,*.cdn.net", "evil.github.com");
  ASSERT_TRUE(rs);
  EXPECT_TRUE(rs->allows_name("github.com"));
  EXPECT_TRUE(rs->allows_name("WWW.GitHub.com."));
  EXPECT_TRUE(rs->allows_name("api.example.com"));
  EXPECT_TRUE(rs->allows_name("a.cdn.net"));
  EXPECT_FALSE(rs->allows_name("cdn.net"));
  EXPECT_FALSE(rs->allows_name("evil.github.com"));
  EXPECT_FALSE(rs->allows_name("example.com"));
  EXPECT_FALSE(rs->allows_name("127.0.0.1"));
  EXPECT_FALSE(rs->allows_name(""));
}

TEST(RulesetRules, RulesKeepListScopeAndTrimmedText) {
  auto rs = compile_lists(" https://a.com ,b.com", "http://c.com");
  ASSERT_TRUE(rs);
  ASSERT_EQ(rs->rules().size(), 3u);
  EXPECT_EQ(rs->rules()[0].text, "https://a.com");
  EXPECT_EQ(rs->rules()[0].scope, Scope::https);
  EXPECT_EQ(rs->rules()[0].list, ListKind::allow);
  EXPECT_EQ(rs->rules()[2].list, ListKind::block);
  EXPECT_FALSE(rs->empty_allowlist());
  EXPECT_TRUE(compile_lists("", "x.com")->empty_allowlist());
}

TEST(RulesetScale, ManyRulesStillDecideCorrectly) {
  PolicySpec spec;
  for (int i = 0; i < 20000; ++i) {
    spec.allow.push_back("host" + std::to_string(i) + ".example" + std::to_string(i % 97) + ".com");
    if (i % 10 == 0) spec.allow.push_back("*.svc" + std::to_string(i) + ".net");
    if (i % 100 == 0) spec.allow.push_back("api-*.zone" + std::to_string(i) + ".org");
  }
  auto rs = Ruleset::compile(spec);
  ASSERT_TRUE(rs.ok());
  const auto& r = **rs;
  EXPECT_TRUE(r.decide(Request{"host123.example26.com", 443, true}).allowed);
  EXPECT_TRUE(r.decide(Request{"deep.a.b.host19999.example17.com", 443, true}).allowed);
  EXPECT_FALSE(r.decide(Request{"host123.example27.com", 443, true}).allowed);
  EXPECT_TRUE(r.decide(Request{"x.svc19990.net", 443, true}).allowed);
  EXPECT_FALSE(r.decide(Request{"svc19990.net", 443, true}).allowed);
  EXPECT_FALSE(r.decide(Request{"x.svc19991.net", 443, true}).allowed);
  EXPECT_TRUE(r.decide(Request{"api-v1.zone19900.org", 443, true}).allowed);
  EXPECT_FALSE(r.decide(Request{"web.zone19900.org", 443, true}).allowed);
}

TEST(RulesetReason, EveryReasonHasALogString) {
  EXPECT_STREQ(to_string(Reason::allowed), "allowed");
  EXPECT_STREQ(to_string(Reason::not_in_allowlist), "not_in_allowlist");
  EXPECT_STREQ(to_string(Reason::empty_allowlist), "empty_allowlist");
  EXPECT_STREQ(to_string(Reason::blocklisted), "blocklisted");
  EXPECT_STREQ(to_string(Reason::port_not_allowed), "port_not_allowed");
  EXPECT_STREQ(to_string(Reason::ip_literal), "ip_literal");
  EXPECT_STREQ(to_string(Reason::scope_mismatch), "scope_mismatch");
  EXPECT_STREQ(to_string(Reason::invalid_host), "invalid_host");
}

}  // namespace
}  // namespace awf::policy

namespace awf::policy {
namespace {

// Random hosts from an alphabet rich in separators and address syntax: every
// one gets a decision, none is allowed unless a name rule could match, and
// nothing crashes (the ASan build runs this too).
TEST(RulesetRobustness, RandomHostsAlwaysGetAConsistentDecision) {
  auto rs = compile_lists("ab.cd,*.x0.ab,a-*.cd,10.0.0.1", "b.ab.cd");
  ASSERT_TRUE(rs);
  const char alphabet[] = "abcdx0179._-:[]%*.ABF ";
  std::uint64_t state = 0x243F6A8885A308D3ull;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int i = 0; i < 50000; ++i) {
    std::string host;
    const auto len = next() % 24;
    for (std::uint64_t j = 0; j < len; ++j) host += alphabet[next() % (sizeof alphabet - 1)];
    const Decision d = rs->decide(Request{host, 443, true});
    if (d.allowed) {
      ASSERT_NE(rs->rule(d), nullptr) << host;
      EXPECT_EQ(rs->rule(d)->list, ListKind::allow) << host;
    }
    if (d.reason == Reason::allowed || d.reason == Reason::blocklisted || d.reason == Reason::scope_mismatch) {
      EXPECT_GE(d.rule, 0) << host;
    } else {
      EXPECT_EQ(d.rule, -1) << host;
    }
  }
}

}  // namespace
}  // namespace awf::policy

namespace awf::policy {
namespace {

// Wildcard patterns anchored at the same trie node share one RE2 set; the
// reported rule is the first listed that matches, for small sets (checked
// one by one) and large ones (asked for all matches) alike.
TEST(RulesetPatterns, PatternsSharingANodeReportTheFirstListedMatch) {
  for (int extra : {0, 12}) {
    std::string allow = "zz*.example.com,ab*.example.com,a*.example.com";
    for (int i = 0; i < extra; ++i) allow += ",q" + std::to_string(i) + "*.example.com";
    SCOPED_TRACE(allow);
    auto rs = compile_lists(allow.c_str(), "");
    ASSERT_TRUE(rs);
    Decision d = rs->decide(Request{"abx.example.com", 443, true});
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(rs->rule(d)->text, "ab*.example.com");
    d = rs->decide(Request{"ax.example.com", 443, true});
    EXPECT_EQ(rs->rule(d)->text, "a*.example.com");
    EXPECT_FALSE(rs->decide(Request{"bx.example.com", 443, true}).allowed);

    auto blocked = compile_lists(allow.c_str(), "*b*.example.com");
    ASSERT_TRUE(blocked);
    d = blocked->decide(Request{"abx.example.com", 443, true});
    EXPECT_EQ(d.reason, Reason::blocklisted);
    EXPECT_EQ(blocked->rule(d)->text, "*b*.example.com");
    EXPECT_TRUE(blocked->decide(Request{"ax.example.com", 443, true}).allowed);
  }
}

}  // namespace
}  // namespace awf::policy
