// The entry grammar: awf's validation table with its
// exact messages, what parsing keeps, and the warnings for inert entries.
#include "awf/policy/entry.h"

#include <gtest/gtest.h>

namespace awf::policy {
namespace {

struct Accepted {
  const char* sentence;
  std::string_view input;
  const char* domain;
  Scope scope;
  bool is_pattern;
};

const Accepted kAccepted[] = {
    {"a plain name", "github.com", "github.com", Scope::both, false},
    {"a name with a hyphen", "api-v2.github.com", "api-v2.github.com", Scope::both, false},
    {"a name with a numeric label", "123.example.com", "123.example.com", Scope::both, false},
    {"a star-dot pattern", "*.github.com", "*.github.com", Scope::both, true},
    {"a pattern with a star inside a label", "*-cdn.example.com", "*-cdn.example.com", Scope::both, true},
    {"an http-scoped pattern", "http://*.example.com", "*.example.com", Scope::http, true},
    {"an https-scoped name with a trailing slash", "https://github.com/", "github.com", Scope::https, false},
    {"service labels with underscores", "_srv._tcp.example.com", "_srv._tcp.example.com", Scope::both, false},
    {"a DMARC label", "_dmarc.example.com", "_dmarc.example.com", Scope::both, false},
    {"a TLD alone", "com", "com", Scope::both, false},
    {"a name with a port (inert)", "example.com:8080", "example.com:8080", Scope::both, false},
    {"a name with a path (inert)", "api.github.com/v3/users", "api.github.com/v3/users", Scope::both, false},
    {"upper case is kept", "GitHub.COM", "GitHub.COM", Scope::both, false},
    {"a trailing dot is kept", "github.com.", "github.com.", Scope::both, false},
    {"unicode is kept", "münchen.de", "münchen.de", Scope::both, false},
    {"an IPv4 literal", "1.2.3.4", "1.2.3.4", Scope::both, false},
    {"an IPv6 literal", "[2001:db8::1]", "[2001:db8::1]", Scope::both, false},
    {"odd characters awf lets through", "invalid!!domain", "invalid!!domain", Scope::both, false},
    {"surrounding whitespace is trimmed", "  github.com\t", "github.com", Scope::both, false},
    {"only one trailing slash is stripped", "github.com//", "github.com/", Scope::both, false},
    {"two wildcard labels out of four", "*.*.example.com", "*.*.example.com", Scope::both, true},
    {"a leading dot", ".github.com", ".github.com", Scope::both, false},
};

TEST(EntryValidation, AcceptedEntriesKeepDomainScopeAndKind) {
  for (const auto& c : kAccepted) {
    auto e = parse_entry(c.input);
    ASSERT_TRUE(e.ok()) << c.sentence << ": " << e.message();
    EXPECT_EQ(e->domain, c.domain) << c.sentence;
    EXPECT_EQ(e->scope, c.scope) << c.sentence;
    EXPECT_EQ(e->is_pattern, c.is_pattern) << c.sentence;
    EXPECT_EQ(e->original, std::string(c.input)) << c.sentence;
  }
}

struct Rejected {
  const char* sentence;
  std::string_view input;
  const char* message;  // awf's full message
};

constexpr const char* kCharsTail =
    ". Domain names must not contain whitespace, quotes, semicolons, backticks, hash characters, "
    "backslashes, or control characters.";

const Rejected kRejected[] = {
    {"the empty string", "", "Domain cannot be empty"},
    {"only spaces", "   ", "Domain cannot be empty"},
    {"a bare http scheme", "http://", "Domain cannot be empty"},
    {"a bare https scheme", "https://", "Domain cannot be empty"},
    {"a lone star", "*", "Pattern '*' matches all domains and is not allowed"},
    {"a scoped lone star", "http://*", "Pattern '*' matches all domains and is not allowed"},
    {"star dot star", "*.*", "Pattern '*.*' is too broad and is not allowed"},
    {"a scoped star dot star", "https://*.*", "Pattern '*.*' is too broad and is not allowed"},
    {"three stars", "*.*.*", "Pattern '*.*.*' is too broad and is not allowed"},
    {"star dot", "*.", "Pattern '*.' is too broad and is not allowed"},
    {"dot star", ".*", "Pattern '.*' is too broad and is not allowed"},
    {"two wildcard labels over a TLD", "*.*.com", "Pattern '*.*.com' has too many wildcard segments and is not allowed"},
    {"double dots", "github..com", "Invalid domain 'github..com': contains double dots"},
    {"double dots in a pattern", "*.github..com", "Invalid domain '*.github..com': contains double dots"},
    {"a lone dot", ".", "Invalid domain: cannot be just a dot"},
};

TEST(EntryValidation, RejectedEntriesCarryAwfsMessage) {
  for (const auto& c : kRejected) {
    auto e = parse_entry(c.input);
    ASSERT_FALSE(e.ok()) << c.sentence;
    EXPECT_EQ(e.message(), c.message) << c.sentence;
  }
}

struct BadChar {
  const char* sentence;
  std::string_view input;
  const char* quoted;  // JSON form of the domain
  const char* shown;   // how the character is named
};

const BadChar kBadChars[] = {
    {"a newline injecting a directive", "evil.com\nhttp_access allow all", "\"evil.com\\nhttp_access allow all\"", "U+000a"},
    {"a carriage return", "evil.com\rx", "\"evil.com\\rx\"", "U+000d"},
    {"CR LF", "evil.com\r\nx", "\"evil.com\\r\\nx\"", "U+000d"},
    {"a NUL byte", std::string_view("evil.com\0x", 10), "\"evil.com\\u0000x\"", "U+0000"},
    {"a tab", "evil.com\tx", "\"evil.com\\tx\"", "U+0009"},
    {"a space", "a b", "\"a b\"", "U+0020"},
    {"two entries in one", ".evil.com .attacker.com", "\".evil.com .attacker.com\"", "U+0020"},
    {"a semicolon before a space is named first", "evil.com;rm -rf", "\"evil.com;rm -rf\"", "';'"},
    {"a hash", "evil.com#comment", "\"evil.com#comment\"", "'#'"},
    {"a backslash", "evil.com\\n", "\"evil.com\\\\n\"", "'\\'"},
    {"a single quote", "evil.com'", "\"evil.com'\"", "'''"},
    {"a double quote", "evil.com\"", "\"evil.com\\\"\"", "'\"'"},
    {"a backtick", "evil`.com", "\"evil`.com\"", "'`'"},
    {"DEL", "evil\x7f.com", "\"evil\x7f.com\"", "U+007f"},
    {"a control character awf's regex misses", "evil\x01.com", "\"evil\\u0001.com\"", "U+0001"},
};

TEST(EntryValidation, DangerousCharactersAreNamed) {
  for (const auto& c : kBadChars) {
    auto e = parse_entry(c.input);
    ASSERT_FALSE(e.ok()) << c.sentence;
    EXPECT_EQ(e.message(), std::string("Invalid domain ") + c.quoted + ": contains invalid character " + c.shown +
                               kCharsTail)
        << c.sentence;
  }
}

TEST(EntryValidation, SchemeIsCaseSensitiveLikeAwf) {
  // awf strips only the lower-case prefixes; `HTTPS://x` keeps its colon
  // and slashes and so is an inert both-scope entry.
  auto e = parse_entry("HTTPS://github.com");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->scope, Scope::both);
  EXPECT_EQ(e->domain, "HTTPS://github.com");
}

struct Warned {
  const char* sentence;
  const char* input;
  const char* fragment;  // nullptr: no warning
};

const Warned kWarnings[] = {
    {"an ordinary name", "github.com", nullptr},
    {"an ordinary pattern", "*.github.com", nullptr},
    {"an IPv4 literal", "1.2.3.4", nullptr},
    {"a service label", "_dmarc.example.com", nullptr},
    {"a port", "example.com:8080", "carries a port"},
    {"a path", "api.github.com/v3/users", "carries a path"},
    {"a trailing dot", "github.com.", "ends with a dot"},
    {"unicode", "münchen.de", "punycode"},
    {"an IPv6 literal", "[2001:db8::1]", "IPv6 literal"},
    {"a bare IPv6 literal", "2001:db8::1", "IPv6 literal"},
    {"characters no host has", "invalid!!domain", "no host name has"},
    {"a TLD", "com", "top-level domain 'com'"},
    {"a TLD with a leading dot", ".com", "top-level domain 'com'"},
    {"a wildcard over a TLD", "*.com", "top-level domain 'com'"},
    {"a scoped wildcard over a TLD", "https://*.io", "top-level domain 'io'"},
    {"a trailing wildcard", "github.*", "every top-level domain"},
    {"an unsupported scheme", "ftp://files.example.com", "unsupported scheme 'ftp'"},
    {"an unsupported scheme with a port and path", "ftp://x.test:21/pub", "unsupported scheme 'ftp'"},
    {"a scheme in capitals", "HTTPS://github.com", "unsupported scheme 'HTTPS'"},
};

TEST(EntryWarnings, InertAndTldWideEntriesAreFlagged) {
  for (const auto& c : kWarnings) {
    auto e = parse_entry(c.input);
    ASSERT_TRUE(e.ok()) << c.sentence;
    auto w = entry_warnings(*e);
    if (c.fragment == nullptr) {
      EXPECT_TRUE(w.empty()) << c.sentence << ": " << (w.empty() ? "" : w[0]);
    } else {
      ASSERT_EQ(w.size(), 1u) << c.sentence;
      EXPECT_NE(w[0].find(c.fragment), std::string::npos) << c.sentence << ": " << w[0];
      EXPECT_NE(w[0].find(e->domain), std::string::npos) << c.sentence << ": " << w[0];
    }
  }
}

TEST(EntryStrings, ScopeAndListNames) {
  EXPECT_STREQ(to_string(Scope::both), "both");
  EXPECT_STREQ(to_string(Scope::http), "http");
  EXPECT_STREQ(to_string(Scope::https), "https");
  EXPECT_STREQ(to_string(ListKind::allow), "allow");
  EXPECT_STREQ(to_string(ListKind::block), "block");
}

}  // namespace
}  // namespace awf::policy
