// Target parsing of `awf policy check`: which method, host and port each
// spelling of a target means.
#include <gtest/gtest.h>

#include <utility>

#include "policy_check.h"

namespace awf::launcher {
namespace {

struct Case {
  const char* sentence;
  const char* text;
  const char* method_flag;
  const char* method;
  const char* host;
  std::uint16_t port;
};

const Case kCases[] = {
    {"a bare host is CONNECT to 443", "github.com", "", "CONNECT", "github.com", 443},
    {"host:port is CONNECT to that port", "github.com:8443", "", "CONNECT", "github.com", 8443},
    {"an https URL is CONNECT to 443", "https://github.com/x?y", "", "CONNECT", "github.com", 443},
    {"an https URL with a port keeps it", "https://github.com:8443/", "", "CONNECT", "github.com", 8443},
    {"an http URL is a GET to 80", "http://github.com/", "", "GET", "github.com", 80},
    {"a scheme in upper case is still a scheme", "HTTP://github.com", "", "GET", "github.com", 80},
    {"userinfo is not the host", "http://github.com@evil.com/", "", "GET", "evil.com", 80},
    {"userinfo with a password is not the host", "http://u:p@evil.com:8080/", "", "GET", "evil.com", 8080},
    {"a bracketed IPv6 authority", "[::1]:443", "", "CONNECT", "[::1]", 443},
    {"a bracketed IPv6 URL", "http://[::ffff:7f00:1]/", "", "GET", "[::ffff:7f00:1]", 80},
    {"an explicit method applies to a URL", "https://github.com/", "POST", "POST", "github.com", 443},
    {"the method flag is case-insensitive", "http://github.com/", "get", "GET", "github.com", 80},
    {"CONNECT accepts a URL's authority", "http://github.com/", "CONNECT", "CONNECT", "github.com", 80},
    {"a fragment ends the authority", "http://a.com#@evil.com", "", "GET", "a.com", 80},
    {"leading zeros in a port do not count, as in a URL", "https://github.com:000443/", "", "CONNECT", "github.com",
     443},
    {"port 0 is a port", "github.com:0", "", "CONNECT", "github.com", 0},
    {"the largest port", "github.com:65535", "", "CONNECT", "github.com", 65535},
    {"an empty port is the default one", "github.com:", "", "CONNECT", "github.com", 443},
};

TEST(ParseTarget, EachSpellingMeansOneRequest) {
  for (const auto& c : kCases) {
    auto t = parse_target(c.text, c.method_flag);
    ASSERT_TRUE(t.ok()) << c.sentence << ": " << t.message();
    EXPECT_EQ(t->method, c.method) << c.sentence;
    EXPECT_EQ(t->host, c.host) << c.sentence;
    EXPECT_EQ(t->port, c.port) << c.sentence;
    EXPECT_EQ(t->is_connect, std::string(c.method) == "CONNECT") << c.sentence;
  }
}

TEST(ParseTarget, MalformedTargetsAreRefusedByName) {
  for (const char* text : {"", "ftp://github.com/", "github.com:99999", "github.com:8o", "::1:443", "[::1",
                           "[::1]x", "http:///path", ":443"}) {
    auto t = parse_target(text, "");
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_TRUE(t.message().starts_with("Invalid target '" + std::string(text) + "'")) << t.message();
  }
  const std::pair<const char*, const char*> reasons[] = {
      {"[::1", "unclosed '[' in an IPv6 address"},
      {"[::1]x", "expected ':<port>' after ']'"},
      {"::1:443", "an IPv6 address must be in brackets, e.g. [::1]:443"},
      {":443", "no host"},
      {"github.com:65536", "the port must be a number between 0 and 65535"},
      {"github.com:0000065536", "the port must be a number between 0 and 65535"},
      {"github.com:-1", "the port must be a number between 0 and 65535"},
  };
  for (const auto& [text, reason] : reasons) {
    auto t = parse_target(text, "");
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_EQ(t.message(), "Invalid target '" + std::string(text) + "': " + reason);
  }
  auto method = parse_target("http://github.com/", "G ET");
  ASSERT_FALSE(method.ok());
  EXPECT_EQ(method.message(), "Invalid --method 'G ET': expected a method such as CONNECT, GET or POST");
  auto get = parse_target("github.com", "GET");
  ASSERT_FALSE(get.ok());
  EXPECT_NE(get.message().find("absolute URL"), std::string::npos);
}

}  // namespace
}  // namespace awf::launcher
