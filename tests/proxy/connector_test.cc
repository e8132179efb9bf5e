// Connector: happy-eyeballs connects over real loopback sockets. A "silent"
// address is a listener whose accept queue is full and never drained: the
// kernel drops further SYNs, so a connect there hangs like one to a remote
// host that does not answer.
#include "awf/proxy/connector.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>

#include "awf/unique_fd.h"

namespace awf::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

tcp::endpoint ep(const char* ip, std::uint16_t port) { return {asio::ip::make_address(ip), port}; }

// A listener on ip:port (port 0: any); `silent` fills its backlog so that
// further connects hang.
struct Listener {
  UniqueFd fd;
  std::uint16_t port = 0;
  std::vector<UniqueFd> fillers;

  static Listener open(const char* ip, std::uint16_t port, bool silent) {
    Listener l;
    l.fd = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(l.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip, &a.sin_addr);
    EXPECT_EQ(::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << ip << ":" << port;
    EXPECT_EQ(::listen(l.fd.get(), silent ? 0 : 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
    l.port = ntohs(a.sin_port);
    if (silent) {
      // Backlog 0 holds one connection; a few more are dropped at the SYN
      // (non-blocking so filling never waits).
      for (int i = 0; i < 3; ++i) {
        UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        ::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
        l.fillers.push_back(std::move(c));
      }
    }
    return l;
  }
};

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
  Listener live = Listener::open("127.0.0.52", 0, false);
  Listener silent = Listener::open("127.0.0.51", live.port, true);
  Attempted r = connect_all({ep("127.0.0.51", live.port), ep("127.0.0.52", live.port)}, 100ms);
  ASSERT_TRUE(r.outcome);
  EXPECT_FALSE(r.outcome->error) << r.outcome->detail;
  EXPECT_EQ(r.outcome->endpoint, ep("127.0.0.52", live.port));
  EXPECT_TRUE(r.outcome->socket.is_open());
  EXPECT_GE(r.took, 90ms);   // the second attempt waited for the delay...
  EXPECT_LT(r.took, 2s);     // ...not for the silent one to time out
  tcp::no_delay nd;
  r.outcome->socket.get_option(nd);
  EXPECT_TRUE(nd.value());
}

TEST(Connector, RefusedAddressIsSkippedWithoutWaitingForTheDelay) {
  Listener live = Listener::open("127.0.0.52", 0, false);
  // Nothing listens on 127.0.0.53 at that port: an immediate RST.
  Attempted r = connect_all({ep("127.0.0.53", live.port), ep("127.0.0.52", live.port)}, 3s);
  ASSERT_TRUE(r.outcome);
  EXPECT_FALSE(r.outcome->error) << r.outcome->detail;
  EXPECT_EQ(r.outcome->endpoint, ep("127.0.0.52", live.port));
  EXPECT_LT(r.took, 1s);
}

TEST(Connector, AllRefusedFailsNamingTheLastAddress) {
  Listener live = Listener::open("127.0.0.52", 0, false);  // reserves a port nobody else listens on
  Attempted r = connect_all({ep("127.0.0.53", live.port), ep("127.0.0.54", live.port)}, 3s);
  ASSERT_TRUE(r.outcome);
  EXPECT_EQ(r.outcome->error, asio::error::connection_refused);
  EXPECT_EQ(r.outcome->endpoint, ep("127.0.0.54", live.port));
  EXPECT_NE(r.outcome->detail.find("(127.0.0.54)"), std::string::npos) << r.outcome->detail;
  EXPECT_FALSE(r.outcome->socket.is_open());
}

TEST(Connector, CancelledConnectNeverCallsBack) {
  Listener live = Listener::open("127.0.0.52", 0, false);
  Listener silent = Listener::open("127.0.0.51", live.port, true);
  asio::io_context io;
  bool called = false;
  auto c = Connector::start(io.get_executor(), {ep("127.0.0.51", live.port)}, 50ms,
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
