// split_host_port, parse_port and join_host_port: the pieces every caller
// builds its own rules on.
#include "awf/host_port.h"

#include <gtest/gtest.h>

namespace awf {
namespace {

using Fault = HostPort::Fault;

TEST(HostPort, SplitsEveryShape) {
  struct Case {
    const char* why;
    const char* text;
    const char* host;
    const char* host_as_written;
    const char* port_text;
    bool bracketed;
    Fault fault;
    bool bare_colons;
  } cases[] = {
      {"a name and a port", "example.com:443", "example.com", "example.com", "443", false, Fault::none, false},
      {"a name alone", "example.com", "example.com", "example.com", "", false, Fault::none, false},
      {"an IPv4 address and a port", "127.0.0.1:3128", "127.0.0.1", "127.0.0.1", "3128", false, Fault::none, false},
      {"IPv6 in brackets with a port", "[::1]:8080", "::1", "[::1]", "8080", true, Fault::none, false},
      {"IPv6 in brackets alone", "[2001:db8::1]", "2001:db8::1", "[2001:db8::1]", "", true, Fault::none, false},
      {"brackets and a colon with no port", "[::1]:", "::1", "[::1]", "", true, Fault::none, false},
      {"empty brackets", "[]:80", "", "[]", "80", true, Fault::none, false},
      {"an unclosed bracket runs to the end", "[::1:80", "::1:80", "[::1:80", "", true, Fault::unclosed_bracket,
       false},
      {"text after the bracket", "[::1]x:80", "::1", "[::1]", "", true, Fault::text_after_bracket, false},
      {"a second bracket after the first", "[::1]]:80", "::1", "[::1]", "", true, Fault::text_after_bracket, false},
      {"bare IPv6", "::1", "", "", ":1", false, Fault::none, true},
      {"bare IPv6 with what may be a port", "fe80::1:53", "fe80", "fe80", ":1:53", false, Fault::none, true},
      {"two colons in a name", "a:b:c", "a", "a", "b:c", false, Fault::none, true},
      {"nothing at all", "", "", "", "", false, Fault::none, false},
      {"an empty host", ":80", "", "", "80", false, Fault::none, false},
      {"a colon alone", ":", "", "", "", false, Fault::none, false},
      {"the port is not checked here", "example.com:http", "example.com", "example.com", "http", false, Fault::none,
       false},
      {"a closing bracket without an opening one", "::1]:80", "", "", ":1]:80", false, Fault::none, true},
  };
  for (const auto& c : cases) {
    const HostPort hp = split_host_port(c.text);
    EXPECT_EQ(hp.host, c.host) << c.why;
    EXPECT_EQ(hp.host_as_written, c.host_as_written) << c.why;
    EXPECT_EQ(hp.port_text, c.port_text) << c.why;
    EXPECT_EQ(hp.bracketed, c.bracketed) << c.why;
    EXPECT_EQ(hp.fault, c.fault) << c.why;
    EXPECT_EQ(hp.has_bare_colons(), c.bare_colons) << c.why;
  }
}

TEST(HostPort, PiecesPointIntoTheText) {
  const std::string text = "[::1]:53";
  const HostPort hp = split_host_port(text);
  EXPECT_EQ(hp.host.data(), text.data() + 1);
  EXPECT_EQ(hp.host_as_written.data(), text.data());
  EXPECT_EQ(hp.port_text.data(), text.data() + 6);
}

TEST(HostPort, ParsesPortsFromZeroTo65535) {
  struct Case {
    const char* why;
    const char* text;
    std::optional<std::uint16_t> port;
  } cases[] = {
      {"zero is a number (callers refuse it where they must)", "0", 0},
      {"one", "1", 1},
      {"the usual", "443", 443},
      {"the largest", "65535", 65535},
      {"one past the largest", "65536", std::nullopt},
      {"five nines", "99999", std::nullopt},
      {"leading zeros within five digits", "00080", 80},
      {"more than five digits, even as zeros", "000080", std::nullopt},
      {"empty", "", std::nullopt},
      {"a sign", "+80", std::nullopt},
      {"negative", "-1", std::nullopt},
      {"a letter", "8a", std::nullopt},
      {"a name", "http", std::nullopt},
      {"a space", " 80", std::nullopt},
      {"a trailing space", "80 ", std::nullopt},
      {"a colon left by bare IPv6", ":1:53", std::nullopt},
      {"digits beyond ASCII", "\xd9\xa1", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_port(c.text), c.port) << c.why;
}

TEST(HostPort, JoinsWithBracketsForIpv6) {
  EXPECT_EQ(join_host_port("127.0.0.1", 3128), "127.0.0.1:3128");
  EXPECT_EQ(join_host_port("example.com", 443), "example.com:443");
  EXPECT_EQ(join_host_port("::1", 53), "[::1]:53");
  EXPECT_EQ(join_host_port("::ffff:10.0.0.1", 65535), "[::ffff:10.0.0.1]:65535");
  EXPECT_EQ(join_host_port("localhost", 0), "localhost:0");
}

TEST(HostPort, JoinedTextSplitsBackIntoItsPieces) {
  for (const char* host : {"127.0.0.1", "example.com", "::1", "2001:db8::1"}) {
    const std::string joined = join_host_port(host, 8080);
    const HostPort hp = split_host_port(joined);
    EXPECT_EQ(hp.host, host) << joined;
    EXPECT_EQ(hp.fault, Fault::none) << joined;
    EXPECT_FALSE(hp.has_bare_colons()) << joined;
    EXPECT_EQ(parse_port(hp.port_text), 8080) << joined;
  }
}

}  // namespace
}  // namespace awf
