// Unit tests of the Relay on real loopback sockets, in splice and in copy
// mode: byte-exact both ways, pre-read bytes first, half-close passed on,
// idle timeout, and the Done callback with the totals.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "awf/proxy/relay.h"
#include "awf/testing/files.h"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using awf::proxy::Relay;

// Two connected sockets on loopback.
std::pair<tcp::socket, tcp::socket> socket_pair(asio::io_context& io) {
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket a(io), b(io);
  a.connect(acceptor.local_endpoint());
  acceptor.accept(b);
  return {std::move(a), std::move(b)};
}

class RelayModes : public ::testing::TestWithParam<bool> {};

TEST_P(RelayModes, MovesBytesBothWaysAndPassesHalfClose) {
  asio::io_context io;
  auto [client_outer, client_inner] = socket_pair(io);
  auto [upstream_inner, upstream_outer] = socket_pair(io);
  Relay::Options o;
  o.use_splice = GetParam();
  o.idle_timeout = std::chrono::seconds(10);
  bool done = false;
  Relay::Totals totals;
  auto relay = Relay::start(std::move(client_inner), std::move(upstream_inner), "early-up", "early-down", o,
                            [&](const Relay::Totals& t) {
                              totals = t;
                              done = true;
                            });
  std::thread runner([&] { io.run(); });

  const std::string up = awf::testing::pattern_bytes(3 << 20);
  const std::string down = awf::testing::pattern_bytes(1 << 20);
  std::string got_up, got_down;
  std::thread client([&] {
    asio::write(client_outer, asio::buffer(up));
    client_outer.shutdown(tcp::socket::shutdown_send);
    boost::system::error_code ec;
    got_down.resize(down.size() + 10);
    std::size_t n = asio::read(client_outer, asio::buffer(got_down), ec);
    got_down.resize(n);
  });
  std::thread origin([&] {
    boost::system::error_code ec;
    std::string buf(up.size() + 8 + 100, '\0');
    std::size_t n = asio::read(upstream_outer, asio::buffer(buf), ec);  // until the client's FIN arrives
    got_up = buf.substr(0, n);
    asio::write(upstream_outer, asio::buffer(down));
    upstream_outer.shutdown(tcp::socket::shutdown_send);
  });
  client.join();
  origin.join();
  runner.join();  // the relay ends once both directions saw FIN
  EXPECT_TRUE(done);
  EXPECT_EQ(got_up, "early-up" + up);
  EXPECT_EQ(got_down, "early-down" + down);
  EXPECT_EQ(totals.client_to_upstream, up.size() + 8);
  EXPECT_EQ(totals.upstream_to_client, down.size() + 10);
  EXPECT_EQ(totals.end, "closed");
}

TEST_P(RelayModes, IdleTimeoutEndsTheRelay) {
  asio::io_context io;
  auto [client_outer, client_inner] = socket_pair(io);
  auto [upstream_inner, upstream_outer] = socket_pair(io);
  Relay::Options o;
  o.use_splice = GetParam();
  o.idle_timeout = std::chrono::milliseconds(200);
  std::string end;
  auto relay = Relay::start(std::move(client_inner), std::move(upstream_inner), "", "", o,
                            [&](const Relay::Totals& t) { end = t.end; });
  auto t0 = std::chrono::steady_clock::now();
  io.run();
  EXPECT_EQ(end, "idle timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

INSTANTIATE_TEST_SUITE_P(SpliceAndCopy, RelayModes, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "Splice" : "Copy"; });

}  // namespace
