// Unit tests of the SOCKS5 message parsers and the reply encoder: every
// valid message split at every offset needs more until its last byte, then
// parses the same; each malformed shape is an error naming its fault.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "awf/proxy/socks_message.h"

using namespace awf::proxy::socks;

namespace {

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string msg(std::initializer_list<int> b) {
  std::string out;
  for (int v : b) out += static_cast<char>(v);
  return out;
}

TEST(SocksGreeting, NoAuthenticationAmongOthersIsFoundAtEveryPrefix) {
  const std::string g = msg({5, 3, 2, 0, 1});
  for (std::size_t n = 0; n < g.size(); ++n) {
    EXPECT_EQ(parse_greeting(bytes(g.substr(0, n))).status, ParseStatus::need_more) << n;
  }
  const GreetingParse p = parse_greeting(bytes(g + "more"));
  ASSERT_EQ(p.status, ParseStatus::done);
  EXPECT_TRUE(p.offers_no_authentication);
  EXPECT_EQ(p.size, g.size());
}

TEST(SocksGreeting, OnlyUsernamePasswordOffersNoAcceptableMethod) {
  const GreetingParse p = parse_greeting(bytes(msg({5, 1, 2})));
  ASSERT_EQ(p.status, ParseStatus::done);
  EXPECT_FALSE(p.offers_no_authentication);
}

TEST(SocksGreeting, MalformedGreetingsAreErrors) {
  struct Case {
    const char* name;
    std::string in;
    MessageError error;
  } cases[] = {
      {"SOCKS4", msg({4, 1, 0, 80, 127, 0, 0, 1, 0}), MessageError::wrong_version},
      {"an HTTP request", "GET / HTTP/1.1\r\n\r\n", MessageError::wrong_version},
      {"no method listed", msg({5, 0}), MessageError::no_methods},
  };
  for (const auto& c : cases) {
    const GreetingParse p = parse_greeting(bytes(c.in));
    EXPECT_EQ(p.status, ParseStatus::error) << c.name;
    EXPECT_EQ(p.error, c.error) << c.name << ": " << to_string(p.error);
  }
}

TEST(SocksRequest, EachAddressTypeParsesAtEveryPrefix) {
  struct Case {
    std::string in;
    AddressType type;
    std::string host;
    std::uint16_t port;
  } cases[] = {
      {msg({5, 1, 0, 3, 12}) + "allowed.test" + msg({1, 187}), AddressType::name, "allowed.test", 443},
      {msg({5, 1, 0, 1, 127, 0, 0, 11, 0, 80}), AddressType::ipv4, "127.0.0.11", 80},
      {msg({5, 1, 0, 4, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1f, 0x90}), AddressType::ipv6,
       "[2001:db8::1]", 8080},
      {msg({5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 22}), AddressType::ipv6, "[::1]", 22},
  };
  for (const auto& c : cases) {
    for (std::size_t n = 0; n < c.in.size(); ++n) {
      EXPECT_EQ(parse_request(bytes(c.in.substr(0, n))).status, ParseStatus::need_more) << c.host << " at " << n;
    }
    const RequestParse p = parse_request(bytes(c.in + "tunnel bytes"));
    ASSERT_EQ(p.status, ParseStatus::done) << c.host;
    EXPECT_EQ(p.size, c.in.size());
    EXPECT_EQ(p.request.command, 1);
    EXPECT_EQ(p.request.address_type, c.type);
    EXPECT_EQ(p.request.host, c.host);
    EXPECT_EQ(p.request.port, c.port);
  }
}

TEST(SocksRequest, ANameIsKeptAsSentForThePolicyToJudge) {
  const std::string name("a b\0c", 5);
  const RequestParse p = parse_request(bytes(msg({5, 1, 0, 3, 5}) + name + msg({0, 80})));
  ASSERT_EQ(p.status, ParseStatus::done);
  EXPECT_EQ(p.request.host, name);
}

TEST(SocksRequest, CommandsOtherThanConnectParseForTheirRefusal) {
  for (int cmd : {2, 3, 9}) {
    const RequestParse p = parse_request(bytes(msg({5, cmd, 0, 1, 0, 0, 0, 0, 0, 0})));
    ASSERT_EQ(p.status, ParseStatus::done) << cmd;
    EXPECT_EQ(p.request.command, cmd);
  }
  EXPECT_EQ(command_name(1), "CONNECT");
  EXPECT_EQ(command_name(2), "BIND");
  EXPECT_EQ(command_name(3), "UDP_ASSOCIATE");
  EXPECT_EQ(command_name(9), "CMD_9");
}

TEST(SocksRequest, MalformedRequestsAreErrors) {
  struct Case {
    const char* name;
    std::string in;
    MessageError error;
  } cases[] = {
      {"wrong version", msg({4, 1, 0, 1, 1, 2, 3, 4, 0, 80}), MessageError::wrong_version},
      {"reserved byte set", msg({5, 1, 1, 1, 1, 2, 3, 4, 0, 80}), MessageError::reserved_not_zero},
      {"reserved byte set, seen early", msg({5, 1, 7}), MessageError::reserved_not_zero},
      {"address type 2", msg({5, 1, 0, 2, 1, 2, 3, 4, 0, 80}), MessageError::address_type_unknown},
      {"empty name", msg({5, 1, 0, 3, 0, 0, 80}), MessageError::empty_name},
  };
  for (const auto& c : cases) {
    const RequestParse p = parse_request(bytes(c.in));
    EXPECT_EQ(p.status, ParseStatus::error) << c.name;
    EXPECT_EQ(p.error, c.error) << c.name << ": " << to_string(p.error);
  }
}

TEST(SocksReply, CarriesTheBoundAddressOrZeroes) {
  const std::uint8_t v4[] = {127, 0, 0, 1};
  EXPECT_EQ(encode_reply(Reply::succeeded, v4, 0x1234), msg({5, 0, 0, 1, 127, 0, 0, 1, 0x12, 0x34}));
  EXPECT_EQ(encode_reply(Reply::not_allowed), msg({5, 2, 0, 1, 0, 0, 0, 0, 0, 0}));
  std::uint8_t v6[16] = {};
  v6[15] = 1;
  const std::string r = encode_reply(Reply::succeeded, v6, 443);
  ASSERT_EQ(r.size(), 22u);
  EXPECT_EQ(r[3], 4);
  EXPECT_EQ(r[19], 1);
  EXPECT_EQ(static_cast<unsigned char>(r[21]), 443 & 0xFF);
}

// Every seed of the fuzz corpus (tests/proxy/corpus/README.md): its named
// outcome, and every prefix of it either needs more or fails the same way.
TEST(SocksCorpus, EverySeedGivesItsNamedOutcome) {
  std::size_t seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(AWF_PROXY_CORPUS_DIR) + "/socks_message")) {
    const std::string name = entry.path().filename().string();
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string seed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ++seeds;
    const GreetingParse g = parse_greeting(bytes(seed));
    const RequestParse r = parse_request(bytes(seed));
    const std::string outcome = name.substr(0, name.find("__"));
    if (name.find("__") == std::string::npos) continue;  // a reproducer: replayed for crashes only
    if (outcome == "greeting") {
      EXPECT_EQ(g.status, ParseStatus::done) << name;
    } else if (outcome == "request") {
      EXPECT_EQ(r.status, ParseStatus::done) << name;
    } else {
      EXPECT_EQ(r.status, ParseStatus::error) << name;
      EXPECT_EQ(to_string(r.error), outcome) << name;
    }
    for (std::size_t n = 0; n < seed.size(); ++n) {
      const RequestParse head = parse_request(bytes(seed.substr(0, n)));
      EXPECT_TRUE(head.status == ParseStatus::need_more ||
                  (head.status == ParseStatus::error && head.error == r.error))
          << name << " at " << n;
    }
  }
  EXPECT_GE(seeds, 7u);
}

}  // namespace
