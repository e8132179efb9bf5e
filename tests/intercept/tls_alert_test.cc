// Tests of the denial alert, including real clients (openssl s_client, curl)
// reading it from a loopback server that peeks their hello with our parser.
#include "awf/intercept/tls_alert.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <thread>

#include "awf/intercept/netns_sockets.h"
#include "test_support.h"

namespace awf::intercept {
namespace {

TEST(TlsAlert, RecordIsFatalAlertWithDescription) {
  const auto r = tls_alert_record(TlsAlert::access_denied);
  EXPECT_EQ(r, (std::array<std::uint8_t, 7>{21, 3, 3, 0, 2, 2, 49}));
  const auto legacy = tls_alert_record(TlsAlert::unrecognized_name, 0x0301);
  EXPECT_EQ(legacy[1], 3);
  EXPECT_EQ(legacy[2], 1);
  EXPECT_EQ(legacy[6], 112);
}

TEST(TlsAlert, RecordVersionFollowsTheClientUpToTls12) {
  ClientHello hello;
  hello.legacy_version = 0x0301;
  EXPECT_EQ(alert_record_version(hello), 0x0301);
  hello.legacy_version = 0x0303;
  EXPECT_EQ(alert_record_version(hello), 0x0303);
  hello.legacy_version = 0x0304;  // never sent by a conforming client, but capped all the same
  EXPECT_EQ(alert_record_version(hello), 0x0303);
}

TEST(TlsAlert, NonTlsPeersGetNoAlert) {
  EXPECT_FALSE(alert_for(HelloError::not_tls).has_value());
  EXPECT_FALSE(alert_for(HelloError::sslv2_hello).has_value());
  EXPECT_EQ(alert_for(HelloError::no_sni), TlsAlert::handshake_failure);
  EXPECT_EQ(alert_for(HelloError::malformed), TlsAlert::decode_error);
  EXPECT_EQ(alert_for(HelloError::sni_ip_literal), TlsAlert::unrecognized_name);
  EXPECT_EQ(alert_for(HelloError::unsupported_version), TlsAlert::protocol_version);
}

// Accepts one connection, peeks the hello as the tls-intercept front end
// will, answers with an access_denied alert and closes.
class DenyingServer {
 public:
  DenyingServer() {
    const ListenerSpec spec{ListenerKind::tls_intercept, "127.0.0.1", 0, 8};
    auto opened = open_listeners(std::span(&spec, 1));
    if (!opened) {
      ADD_FAILURE() << opened.message();
      return;
    }
    listener_ = std::move(opened->front().fd);
    port_ = opened->front().local.port;
    thread_ = std::thread([this] { serve(); });
  }
  ~DenyingServer() {
    if (thread_.joinable()) thread_.join();
  }
  std::uint16_t port() const { return port_; }
  const HelloParse& result() {
    if (thread_.joinable()) thread_.join();
    return result_;
  }

 private:
  void serve() {
    pollfd pfd{listener_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 10000) != 1) return;
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return;
    std::vector<std::uint8_t> buffer;
    while (buffer.size() < kMaxClientHelloInput) {
      pollfd cp{conn.get(), POLLIN, 0};
      if (::poll(&cp, 1, 5000) != 1) break;
      std::uint8_t chunk[4096];
      const ssize_t n = ::recv(conn.get(), chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buffer.insert(buffer.end(), chunk, chunk + n);
      result_ = parse_client_hello(buffer);
      if (!result_.need_more()) break;
    }
    if (result_.done()) {
      const auto alert = tls_alert_record(TlsAlert::access_denied, alert_record_version(result_.hello));
      (void)::send(conn.get(), alert.data(), alert.size(), MSG_NOSIGNAL);
    }
    ::shutdown(conn.get(), SHUT_WR);
    std::uint8_t drain[512];
    pollfd cp{conn.get(), POLLIN, 0};
    while (::poll(&cp, 1, 2000) == 1 && ::recv(conn.get(), drain, sizeof drain, 0) > 0) {
    }
  }

  UniqueFd listener_;
  std::uint16_t port_ = 0;
  HelloParse result_;
  std::thread thread_;
};

struct CommandOutput {
  int status = -1;
  std::string text;
};

CommandOutput run(const std::string& command) {
  CommandOutput out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[1024];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.text.append(buf, n);
  const int status = ::pclose(pipe);
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

bool have_program(const char* name) { return run(std::string("command -v ") + name).status == 0; }

TEST(TlsAlert, OpensslClientReportsAccessDenied) {
  AWF_REQUIRE_FACILITY(have_program("openssl"), "openssl");
  DenyingServer server;
  const auto out = run("openssl s_client -connect 127.0.0.1:" + std::to_string(server.port()) +
                       " -servername live.allowed.test </dev/null");
  const HelloParse& p = server.result();
  ASSERT_TRUE(p.done()) << to_string(p.error);
  EXPECT_EQ(p.hello.sni, "live.allowed.test");
  EXPECT_NE(out.text.find("alert access denied"), std::string::npos) << out.text;
}

TEST(TlsAlert, CurlReportsAccessDenied) {
  AWF_REQUIRE_FACILITY(have_program("curl"), "curl");
  DenyingServer server;
  const std::string port = std::to_string(server.port());
  const auto out = run("curl -sS --max-time 10 --resolve denied.test:" + port + ":127.0.0.1 https://denied.test:" +
                       port + "/");
  const HelloParse& p = server.result();
  ASSERT_TRUE(p.done()) << to_string(p.error);
  EXPECT_EQ(p.hello.sni, "denied.test");
  EXPECT_EQ(out.status, 35) << out.text;  // CURLE_SSL_CONNECT_ERROR
  EXPECT_NE(out.text.find("access denied"), std::string::npos) << out.text;
}

TEST(TlsAlert, OpensslTls12HelloIsParsedLive) {
  AWF_REQUIRE_FACILITY(have_program("openssl"), "openssl");
  DenyingServer server;
  (void)run("openssl s_client -tls1_2 -connect 127.0.0.1:" + std::to_string(server.port()) +
            " -servername tls12.allowed.test </dev/null");
  const HelloParse& p = server.result();
  ASSERT_TRUE(p.done()) << to_string(p.error);
  EXPECT_EQ(p.hello.sni, "tls12.allowed.test");
  EXPECT_FALSE(p.hello.offers_tls13);
}

}  // namespace
}  // namespace awf::intercept
