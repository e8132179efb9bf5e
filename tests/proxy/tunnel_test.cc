// Integration tests of CONNECT tunnels and protocol switches through the
// real awf-proxy: TLS to an HTTPS origin, byte-exact relay, half-close,
// pipelined bytes, idle timeout, WebSocket-style upgrades, 1000 tunnels.
#include <poll.h>

#include <filesystem>

#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

// Opens a tunnel to host:port through the proxy; returns the connection
// after the 200, or nullopt.
std::optional<TcpClient> open_tunnel(std::uint16_t proxy_port, const std::string& authority,
                                     const std::string& extra = "") {
  auto c = TcpClient::connect("127.0.0.1", proxy_port);
  if (!c) return std::nullopt;
  c->send("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\nUser-Agent: tunnel-test\r\n\r\n" + extra);
  std::string head = c->read_until("\r\n\r\n");
  if (head.rfind("HTTP/1.1 200", 0) != 0) return std::nullopt;
  return c;
}

std::string echo_authority(const Origin& o) { return "echo.allowed.test:" + std::to_string(o.port()); }

TEST_F(ProxyTest, HttpsThroughConnectArrivesIntact) {
  start_proxy();
  std::string base = "https://secure.allowed.test:" + std::to_string(tls_->port());
  for (std::size_t n : {std::size_t{0}, std::size_t{1024}, std::size_t{kSanitized ? 4u << 20 : 100u << 20}}) {
    std::string out = dir_.file("tls.bin");
    RunResult r = curl({"-k", "-o", out, base + "/bytes/" + std::to_string(n)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(awf::testing::sha256_file_hex(out), awf::testing::pattern_sha256_hex(n)) << n;
  }
  auto lines = log_lines(3);
  ASSERT_EQ(lines.size(), 3u);
  std::string authority = "secure.allowed.test:" + std::to_string(tls_->port());
  expect_fields(parse_detailed(lines[0]), {.host = authority,
                                           .dest = std::string(kTlsIp) + ":" + std::to_string(tls_->port()),
                                           .method = "CONNECT",
                                           .status = "200",
                                           .code = "TCP_TUNNEL:HIER_DIRECT",
                                           .url = authority});
  EXPECT_NE(lines[2].find("TCP_TUNNEL:HIER_DIRECT"), std::string::npos);
}

TEST_F(ProxyTest, TunnelIsByteExactBothWays) {
  start_proxy();
  auto c = open_tunnel(port_, echo_authority(*echo_));
  ASSERT_TRUE(c);
  std::string data = awf::testing::pattern_bytes(kSanitized ? 256 * 1024 : 4 << 20);
  std::thread writer([&] { c->send(data); });
  std::string back = c->read_exactly(data.size(), 30s);
  writer.join();
  EXPECT_EQ(awf::testing::sha256_hex(back), awf::testing::sha256_hex(data));
}

TEST_F(ProxyTest, HalfCloseFromClientStillDeliversTheReply) {
  start_proxy();
  auto c = open_tunnel(port_, echo_authority(*echo_));
  ASSERT_TRUE(c);
  c->send("last words");
  c->shutdown_write();  // FIN to the origin through the proxy
  bool eof = false;
  std::string back = c->read_to_eof(5s, &eof);
  EXPECT_EQ(back, "last words");
  EXPECT_TRUE(eof);  // the origin's FIN came back after its reply
}

TEST_F(ProxyTest, BytesSentWithTheConnectRequestReachTheOrigin) {
  start_proxy();
  auto c = open_tunnel(port_, echo_authority(*echo_), "early");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->read_exactly(5), "early");
}

TEST_F(ProxyTest, IdleTunnelIsClosedAfterReadTimeoutAndLogged) {
  start_proxy({"--allow-domains", "allowed.test", "--read-timeout", "1"});
  auto c = open_tunnel(port_, echo_authority(*echo_));
  ASSERT_TRUE(c);
  c->send("x");
  EXPECT_EQ(c->read_exactly(1), "x");
  bool eof = false;
  auto t0 = std::chrono::steady_clock::now();
  c->read_to_eof(5s, &eof);
  EXPECT_TRUE(eof);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  expect_fields(only_log_line(), {.code = "TCP_TUNNEL:HIER_DIRECT", .ua = "\"tunnel-test\""});
}

TEST_F(ProxyTest, UpgradeSwitchesToARelay) {
  start_proxy();
  auto c = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(c);
  c->send("GET " + web_url("web.allowed.test", "/upgrade") +
          " HTTP/1.1\r\nHost: web.allowed.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  std::string head = c->read_until("\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  EXPECT_NE(head.find("Upgrade: websocket"), std::string::npos);
  c->send("frame-bytes");
  EXPECT_EQ(c->read_exactly(11), "frame-bytes");
}

TEST_F(ProxyTest, DeniedConnectGets403AndNoTunnel) {
  start_proxy();
  auto c = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(c);
  c->send("CONNECT other.test:443 HTTP/1.1\r\nHost: other.test:443\r\n\r\n");
  std::string resp = c->read_response();
  EXPECT_EQ(resp.rfind("HTTP/1.1 403", 0), 0u) << resp;
  EXPECT_NE(resp.find("other.test:443"), std::string::npos);
  EXPECT_NE(resp.find("not_in_allowlist"), std::string::npos);
  expect_fields(only_log_line(), {.host = "other.test:443",
                                  .dest = "-:-",
                                  .method = "CONNECT",
                                  .status = "403",
                                  .code = "TCP_DENIED:HIER_NONE",
                                  .url = "other.test:443"});
}

TEST_F(ProxyTest, ConnectToRefusingPortGets503) {
  start_proxy();
  auto c = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(c);
  std::string authority = "web.allowed.test:" + std::to_string(refused_port_);
  c->send("CONNECT " + authority + " HTTP/1.1\r\n\r\n");
  EXPECT_EQ(c->read_response().rfind("HTTP/1.1 503", 0), 0u);
  EXPECT_EQ(only_log_line().code, "NONE_NONE:HIER_DIRECT");  // Squid 5.7 logs exactly this
}

TEST_F(ProxyTest, ThousandConcurrentTunnels) {
  start_proxy();
  const int n = kSanitized ? 200 : 1000;
  std::vector<TcpClient> tunnels;
  tunnels.reserve(n);
  // Open them all first (CONNECT pipelined with the first bytes), then talk.
  for (int i = 0; i < n; ++i) {
    auto c = TcpClient::connect("127.0.0.1", port_);
    ASSERT_TRUE(c) << i;
    c->send("CONNECT " + echo_authority(*echo_) + " HTTP/1.1\r\n\r\n");
    tunnels.push_back(std::move(*c));
  }
  for (int i = 0; i < n; ++i) {
    std::string head = tunnels[i].read_until("\r\n\r\n", 20s);
    ASSERT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << i << head;
  }
  for (int i = 0; i < n; ++i) ASSERT_TRUE(tunnels[i].send("ping " + std::to_string(i) + "\n"));
  for (int i = 0; i < n; ++i) {
    std::string want = "ping " + std::to_string(i) + "\n";
    ASSERT_EQ(tunnels[i].read_exactly(want.size(), 20s), want) << i;
  }
  // Idle tunnels hold their two sockets and no pipes.
  std::size_t fds = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(proxy_->pid()) + "/fd")) {
    ++fds;
  }
  EXPECT_LT(fds, static_cast<std::size_t>(2 * n + 64));
  tunnels.clear();
  auto lines = log_lines(n, "access.log", 20s);
  EXPECT_EQ(lines.size(), static_cast<std::size_t>(n));
}

}  // namespace
}  // namespace awf::proxy_test
