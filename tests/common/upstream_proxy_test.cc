// parse_upstream_proxy, parse_no_proxy and bypasses: the parent proxy URL and
// the no_proxy list as awf and awf-proxy both read them.
#include "awf/upstream_proxy.h"

#include <gtest/gtest.h>

namespace awf {
namespace {

TEST(UpstreamProxy, ReadsHostAndPortKeepingThePortAsGiven) {
  struct Case {
    const char* text;
    const char* host;
    std::uint16_t port;
    const char* url;
  } cases[] = {
      {"http://proxy.corp.example:8080", "proxy.corp.example", 8080, "http://proxy.corp.example:8080"},
      {"http://proxy.corp.example", "proxy.corp.example", 3128, "http://proxy.corp.example:3128"},
      {"http://Proxy.Corp.Example:3129/", "proxy.corp.example", 3129, "http://proxy.corp.example:3129"},
      {"HTTP://10.0.0.5:80", "10.0.0.5", 80, "http://10.0.0.5:80"},
      {"  http://127.0.0.1:3128  ", "127.0.0.1", 3128, "http://127.0.0.1:3128"},
      {"http://[::1]:8888", "::1", 8888, "http://[::1]:8888"},
      {"http://[2001:db8::5]", "2001:db8::5", 3128, "http://[2001:db8::5]:3128"},
  };
  for (const Case& c : cases) {
    auto got = parse_upstream_proxy(c.text);
    ASSERT_TRUE(got) << c.text << ": " << got.error().message;
    EXPECT_EQ(got->host, c.host) << c.text;
    EXPECT_EQ(got->port, c.port) << c.text;
    EXPECT_EQ(got->url(), c.url) << c.text;
  }
}

TEST(UpstreamProxy, RefusesWhatItCannotUseNamingTheValueAndTheReason) {
  struct Case {
    const char* text;
    const char* says;
  } cases[] = {
      {"proxy.corp.example:3128", "expected a URL like http://"},
      {"https://proxy.corp.example:3128", "only http:// parent proxies"},
      {"socks5://proxy.corp.example:1080", "not socks5://"},
      {"http://user:secret@proxy.corp.example:3128", "credentials in the URL are not supported"},
      {"http://proxy.corp.example:3128/path", "no path, query or fragment"},
      {"http://proxy.corp.example:3128?x=1", "no path, query or fragment"},
      {"http://", "names no host"},
      {"http://:3128", "names no host"},
      {"http://proxy.corp.example:0", "from 1 to 65535"},
      {"http://proxy.corp.example:65536", "from 1 to 65535"},
      {"http://proxy.corp.example:", "from 1 to 65535"},
      {"http://proxy.corp.example:http", "from 1 to 65535"},
      {"http://::1:3128", "write an IPv6 address in brackets"},
      {"http://pro xy:3128", "is not a host name or address"},
  };
  for (const Case& c : cases) {
    auto got = parse_upstream_proxy(c.text);
    ASSERT_FALSE(got) << c.text;
    if (std::string(c.text).find('@') == std::string::npos) {
      EXPECT_NE(got.error().message.find(std::string("--upstream-proxy \"") + c.text + "\""), std::string::npos)
          << got.error().message;
    }
    EXPECT_NE(got.error().message.find(c.says), std::string::npos) << c.text << ": " << got.error().message;
  }
  // The password in a refused URL is masked: proxy variables end up in CI logs.
  auto with_password = parse_upstream_proxy("http://user:secret@proxy.corp.example:3128");
  ASSERT_FALSE(with_password);
  EXPECT_NE(with_password.error().message.find("\"http://***@proxy.corp.example:3128\""), std::string::npos)
      << with_password.error().message;
  EXPECT_EQ(with_password.error().message.find("secret"), std::string::npos) << with_password.error().message;
  auto named = parse_upstream_proxy("ftp://x", "HTTPS_PROXY");
  ASSERT_FALSE(named);
  EXPECT_EQ(named.error().message.rfind("HTTPS_PROXY \"ftp://x\"", 0), 0u) << named.error().message;
}

TEST(NoProxy, KeepsDomainSuffixesAndWarnsAboutEverythingElse) {
  const BypassList got =
      parse_no_proxy(" corp.example, .internal.test,*.svc.test , Mixed.Case.Test.,corp.example,localhost,,");
  EXPECT_EQ(got.domains,
            (std::vector<std::string>{"corp.example", "internal.test", "svc.test", "mixed.case.test", "localhost"}));
  EXPECT_TRUE(got.skipped.empty()) << got.skipped.front().entry;

  struct Case {
    const char* entry;
    const char* says;
  } cases[] = {
      {"*", "bypass the upstream proxy for everything"},
      {"10.0.0.0/8", "addresses and ranges are not matched"},
      {"192.168.1.7", "addresses and ranges are not matched"},
      {"::1", "addresses and ranges are not matched"},
      {"corp.example:8080", "host:port is not supported"},
      {"10.1.2.3:8080", "addresses and ranges are not matched"},
      {"c*rp.example", "not a domain name"},
      {"bad/name", "not a domain name"},
  };
  for (const Case& c : cases) {
    const BypassList one = parse_no_proxy(std::string("ok.test,") + c.entry);
    EXPECT_EQ(one.domains, std::vector<std::string>{"ok.test"}) << c.entry;
    ASSERT_EQ(one.skipped.size(), 1u) << c.entry;
    EXPECT_EQ(one.skipped[0].entry, c.entry);
    EXPECT_NE(one.skipped[0].reason.find(c.says), std::string::npos) << one.skipped[0].reason;
  }
}

TEST(NoProxy, ASuffixCoversTheNameAndNamesUnderItOnly) {
  const std::vector<std::string> domains = {"corp.example", "svc.test"};
  EXPECT_TRUE(bypasses(domains, "corp.example"));
  EXPECT_TRUE(bypasses(domains, "git.corp.example"));
  EXPECT_TRUE(bypasses(domains, "a.b.svc.test"));
  EXPECT_FALSE(bypasses(domains, "evilcorp.example"));
  EXPECT_FALSE(bypasses(domains, "corp.example.evil.test"));
  EXPECT_FALSE(bypasses(domains, "example"));
  EXPECT_FALSE(bypasses({}, "corp.example"));
}

// Found by the authority fuzz target (seed
// tests/proxy/corpus/authority/upstream-proxy-bracketed-junk.txt): brackets
// were taken around anything, and the host came back from url() without
// them, as another URL or none.
TEST(UpstreamProxy, BracketsHoldOnlyAnIpv6Address) {
  for (const char* text : {"http://[proxy.example]:3128", "http://[\xf0\xf0%]:40", "http://[1.2.3.4]"}) {
    const auto p = parse_upstream_proxy(text);
    ASSERT_FALSE(p.ok()) << text;
    EXPECT_NE(p.message().find("is not an IPv6 address"), std::string::npos) << p.message();
  }
  const auto v6 = parse_upstream_proxy("http://[::1]:3128");
  ASSERT_TRUE(v6.ok()) << v6.message();
  EXPECT_EQ(v6->url(), "http://[::1]:3128");
  EXPECT_EQ(*parse_upstream_proxy(v6->url()), *v6);
}

// Found by the authority fuzz target (seed
// tests/proxy/corpus/authority/no-proxy-star-dot-dot.txt): `*..` left an
// empty suffix in the list, which bypassed the upstream proxy (and SSL bump)
// for every host ending in a dot. Entries with nothing of a name left are
// skipped, with the reason.
TEST(NoProxy, AnEntryOfOnlyPatternAndDotsIsSkipped) {
  for (const char* list : {"*..", "*.", "*...,corp.example"}) {
    const BypassList b = parse_no_proxy(list);
    for (const std::string& d : b.domains) EXPECT_FALSE(d.empty()) << list;
    EXPECT_FALSE(bypasses(b.domains, "anything.")) << list;
    ASSERT_FALSE(b.skipped.empty()) << list;
    EXPECT_NE(b.skipped[0].reason.find("not a domain name"), std::string::npos) << list;
  }
  // Dots after the `*.` go too: `*..x.test` is x.test, not `.x.test`.
  EXPECT_EQ(parse_no_proxy("*..x.test").domains, std::vector<std::string>{"x.test"});
}

}  // namespace
}  // namespace awf
