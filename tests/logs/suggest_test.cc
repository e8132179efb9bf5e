// `awf logs suggest`'s allowlist from access.log lines: names grouped by
// registrable domain, merged once enough siblings were asked for, nested
// names dropped, ports and IP literals only in comments. The list is a
// small one of our own (Debian's is tested in policy.PublicSuffix).
#include "awf/logs/suggest.h"

#include <gtest/gtest.h>

#include <sstream>

namespace awf::logs {
namespace {

const policy::PublicSuffixList kPsl = policy::PublicSuffixList::parse("com\norg\nio\ngithub.io\n");

std::vector<LogEntry> lines(const std::string& text) { return parse_log_text(text, LogFormat::access_log_any_client); }

std::string line(const std::string& method, const std::string& host, const std::string& url,
                 const std::string& code = "TCP_MISS:HIER_DIRECT") {
  return "1761074374.646 127.0.0.1:40000 " + host + " 1.2.3.4:443 1.1 " + method + " 200 " + code + " " + url +
         " \"curl\"\n";
}

// The entries of the file (its non-comment lines).
std::vector<std::string> entries_of(const std::string& file) {
  std::vector<std::string> out;
  std::istringstream in(file);
  std::string l;
  while (std::getline(in, l)) {
    if (!l.empty() && l.front() != '#') out.push_back(l);
  }
  return out;
}

const std::string kLog = line("CONNECT", "api.github.com:443", "api.github.com:443") +
                         line("CONNECT", "codeload.github.com:443", "codeload.github.com:443") +
                         line("GET", "pypi.org", "http://pypi.org/simple/") +
                         line("GET", "files.pythonhosted.org", "http://files.pythonhosted.org/x") +
                         line("CONNECT", "a.b.deep.org:443", "a.b.deep.org:443", "TCP_DENIED:HIER_NONE") +
                         line("CONNECT", "b.deep.org:443", "b.deep.org:443", "TCP_DENIED:HIER_NONE") +
                         line("CONNECT", "octo.github.io:443", "octo.github.io:443") +
                         line("CONNECT", "cat.github.io:443", "cat.github.io:443") +
                         line("CONNECT", "api.example.com:8443", "api.example.com:8443") +
                         line("CONNECT", "10.1.2.3:443", "10.1.2.3:443", "TCP_DENIED:HIER_NONE") +
                         line("NONE", "-", "error:transaction-end-before-headers", "NONE_NONE:HIER_NONE");

TEST(Suggest, SiblingsMergeIntoTheirRegistrableDomainAndTheRestStayAsAsked) {
  const std::string file = suggest_allowlist(lines(kLog), kPsl, {.collapse = 2, .source = "/logs"});
  // github.com: two names under it; deep.org: b.deep.org and a.b.deep.org
  // are two names; github.io is a suffix, so each user's site stands alone;
  // files.pythonhosted.org is the only name under its domain. In the order
  // of the registrable domains.
  EXPECT_EQ(entries_of(file),
            (std::vector<std::string>{"cat.github.io", "deep.org", "api.example.com", "github.com", "octo.github.io",
                                      "pypi.org", "files.pythonhosted.org"}))
      << file;
  EXPECT_NE(file.find("# api.github.com (1), codeload.github.com (1)\ngithub.com\n"), std::string::npos) << file;
  EXPECT_NE(file.find("from /logs"), std::string::npos) << file;
  EXPECT_NE(file.find("(allow them with --allow-host-ports): api.example.com:8443\n"), std::string::npos) << file;
  EXPECT_NE(file.find("not listed (IP literals are denied; use names, or list an IPv4 address if it must be): "
                      "10.1.2.3\n"),
            std::string::npos)
      << file;
}

TEST(Suggest, WithoutCollapsingNamesStayAsAskedLessThoseUnderAnother) {
  const std::string file = suggest_allowlist(lines(kLog), kPsl, {.collapse = 0, .source = ""});
  EXPECT_EQ(entries_of(file),
            (std::vector<std::string>{"cat.github.io", "b.deep.org", "api.example.com", "api.github.com",
                                      "codeload.github.com", "octo.github.io", "pypi.org", "files.pythonhosted.org"}))
      << file;
  EXPECT_NE(file.find("# a.b.deep.org (1), b.deep.org (1)\nb.deep.org\n"), std::string::npos) << file;
}

TEST(Suggest, ARegistrableDomainAskedForItselfCoversItsNames) {
  const std::string file = suggest_allowlist(
      lines(line("GET", "example.com", "http://example.com/") + line("GET", "www.example.com", "http://www.example.com/")),
      kPsl, {.collapse = 0, .source = ""});
  EXPECT_EQ(entries_of(file), std::vector<std::string>{"example.com"}) << file;
}

TEST(Suggest, RepeatedDnsRefusalsCountEveryLookup) {
  const std::string dns = "1761074374.646 127.0.0.1:40000 refused.org -:- 1.1 DNS 403 TCP_DENIED:HIER_NONE "
                          "dns://refused.org/A \"repeated 4 times\"\n";
  const std::string file = suggest_allowlist(lines(dns), kPsl, {.collapse = 2, .source = ""});
  EXPECT_EQ(entries_of(file), std::vector<std::string>{"refused.org"}) << file;
  EXPECT_NE(file.find("# refused.org (4)\n"), std::string::npos) << file;
}

}  // namespace
}  // namespace awf::logs
