// Connector: happy-eyeballs connects over real loopback sockets. A "silent"
// address is a listener whose accept queue is full and never drained: the
// kernel drops further SYNs, so a connect there hangs like one to a remote
// host that does not answer.
#include "awf/proxy/connector.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "awf/testing/net.h"

namespace awf::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

tcp::endpoint ep(const char* ip, std::uint16_t port) { return {asio::ip::make_address(ip), port}; }

using awf::testing::IdleListener;

// A listener that accepts nothing; `silent`: one whose connects hang. A
// failure to listen throws, which fails the test that asked.
IdleListener listener(const char* ip, std::uint16_t port, bool silent) {
  auto l = IdleListener::open(ip, port, silent);
  if (!l) throw std::runtime_error("cannot listen on " + std::string(ip) + ":" + std::to_string(port));
  return std::move(*l);
}

struct Attempted {
  // First, so it is destroyed last: the outcome's socket belongs to it.
  std::unique_ptr<asio::io_context> io = std::make_unique<asio::io_context>();
  std::optional<Connector::Outcome> outcome;
  std::chrono::steady_clock::duration took{};
};

Attempted connect_all(std::vector<tcp::endpoint> candidates, std::chrono::milliseconds delay,
                std::chrono::milliseconds give_up = 5s) {
  Attempted run;
  const auto t0 = std::chrono::steady_clock::now();
  auto c = Connector::start(run.io->get_executor(), std::move(candidates), delay, [&](Connector::Outcome o) {
    run.took = std::chrono::steady_clock::now() - t0;
    run.outcome.emplace(std::move(o));
  });
  run.io->run_for(give_up);
  if (!run.outcome) c->cancel();
  return run;
}

TEST(Connector, InterleavesFamiliesStartingWithTheFirst) {
  auto order = Connector::interleave(
      {ep("::1", 1), ep("::2", 2), ep("::3", 3), ep("127.0.0.1", 4), ep("127.0.0.2", 5)});
  std::vector<std::uint16_t> ports;
  for (const auto& e : order) ports.push_back(e.port());
  EXPECT_EQ(ports, (std::vector<std::uint16_t>{1, 4, 2, 5, 3}));
  order = Connector::interleave({ep("127.0.0.1", 1), ep("127.0.0.2", 2), ep("::1", 3)});
  ports.clear();
  for (const auto& e : order) ports.push_back(e.port());
  EXPECT_EQ(ports, (std::vector<std::uint16_t>{1, 3, 2}));
}

TEST(Connector, SilentFirstAddressCostsOneAttemptDelayNotTheTimeout) {
  IdleListener live = listener("127.0.0.52", 0, false);
  IdleListener silent = listener("127.0.0.51", live.port(), true);
  Attempted r = connect_all({ep("127.0.0.51", live.port()), ep("127.0.0.52", live.port())}, 100ms);
  ASSERT_TRUE(r.outcome);
  EXPECT_FALSE(r.outcome->error) << r.outcome->detail;
  EXPECT_EQ(r.outcome->endpoint, ep("127.0.0.52", live.port()));
  EXPECT_TRUE(r.outcome->socket.is_open());
  EXPECT_GE(r.took, 90ms);   // the second attempt waited for the delay...
  EXPECT_LT(r.took, 2s);     // ...not for the silent one to time out
  tcp::no_delay nd;
  r.outcome->socket.get_option(nd);
  EXPECT_TRUE(nd.value());
}

TEST(Connector, RefusedAddressIsSkippedWithoutWaitingForTheDelay) {
  IdleListener live = listener("127.0.0.52", 0, false);
  // Nothing listens on 127.0.0.53 at that port: an immediate RST.
  Attempted r = connect_all({ep("127.0.0.53", live.port()), ep("127.0.0.52", live.port())}, 3s);
  ASSERT_TRUE(r.outcome);
  EXPECT_FALSE(r.outcome->error) << r.outcome->detail;
  EXPECT_EQ(r.outcome->endpoint, ep("127.0.0.52", live.port()));
  EXPECT_LT(r.took, 1s);
}

TEST(Connector, AllRefusedFailsNamingTheLastAddress) {
  IdleListener live = listener("127.0.0.52", 0, false);  // reserves a port nobody else listens on
  Attempted r = connect_all({ep("127.0.0.53", live.port()), ep("127.0.0.54", live.port())}, 3s);
  ASSERT_TRUE(r.outcome);
  EXPECT_EQ(r.outcome->error, asio::error::connection_refused);
  EXPECT_EQ(r.outcome->endpoint, ep("127.0.0.54", live.port()));
  EXPECT_NE(r.outcome->detail.find("(127.0.0.54)"), std::string::npos) << r.outcome->detail;
  EXPECT_FALSE(r.outcome->socket.is_open());
}

TEST(Connector, CancelledConnectNeverCallsBack) {
  IdleListener live = listener("127.0.0.52", 0, false);
  IdleListener silent = listener("127.0.0.51", live.port(), true);
  asio::io_context io;
  bool called = false;
  auto c = Connector::start(io.get_executor(), {ep("127.0.0.51", live.port())}, 50ms,
                            [&](Connector::Outcome) { called = true; });
  c->cancel();
  io.run_for(300ms);
  EXPECT_FALSE(called);
}

TEST(Connector, NoCandidatesFailsOnTheExecutor) {
  asio::io_context io;
  std::optional<Connector::Outcome> got;
  auto c = Connector::start(io.get_executor(), {}, 50ms, [&](Connector::Outcome o) { got.emplace(std::move(o)); });
  EXPECT_FALSE(got);  // never inline
  io.run_for(200ms);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->error);
}

}  // namespace
}  // namespace awf::proxy
