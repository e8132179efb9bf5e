// Resolver's per-thread cache: answers kept for the thread that asked, used
// without a lock, dropped as soon as the agent's view (remember()) changes.
// The only DNS server configured is a loopback port nobody listens on, so
// every answer here comes from the agent's view or from the thread cache.
#include "awf/proxy/resolver.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>

namespace awf::proxy {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

asio::ip::address ip(const char* text) { return asio::ip::make_address(text); }

class ResolverThreadCache : public ::testing::Test {
 protected:
  void SetUp() override {
    Resolver::Options o;
    o.dns_servers = {"127.0.0.1:9"};
    auto r = Resolver::create(o);
    ASSERT_TRUE(r) << r.message();
    resolver_ = std::move(*r);
  }

  Resolution resolve(const std::string& name) {
    std::optional<Resolution> got;
    io_.restart();
    // The answer may come from the resolver's own thread: keep the context
    // waiting for it.
    auto waiting = asio::make_work_guard(io_);
    resolver_->resolve(
        name, io_.get_executor(),
        [&](Resolution r) {
          got.emplace(std::move(r));
          waiting.reset();
        },
        &local_);
    io_.run_for(10s);
    EXPECT_TRUE(got) << name << ": no answer";
    return got.value_or(Resolution{});
  }

  asio::io_context io_;
  std::unique_ptr<Resolver> resolver_;
  Resolver::ThreadCache local_;
};

TEST_F(ResolverThreadCache, KeepsAnAnswerAndDropsItWhenTheAgentsViewChanges) {
  resolver_->remember("a.test", AF_INET, {ip("127.0.0.5")}, 30s);
  Resolution first = resolve("a.test");
  EXPECT_EQ(first.addresses, std::vector{ip("127.0.0.5")}) << first.error;
  ASSERT_TRUE(local_.entries.contains("a.test"));
  EXPECT_GT(first.expires, Clock::now() + 20s);

  // The agent was told something else: the thread's copy must not win.
  resolver_->remember("a.test", AF_INET, {ip("127.0.0.6")}, 30s);
  Resolution second = resolve("a.test");
  EXPECT_EQ(second.addresses, std::vector{ip("127.0.0.6")}) << second.error;
}

TEST_F(ResolverThreadCache, AnswersFromTheThreadsCopyWhileNothingChanged) {
  resolver_->remember("a.test", AF_INET, {ip("127.0.0.5")}, 30s);
  resolve("a.test");  // brings the thread cache up to the current view
  // An entry only this thread's cache has: if it is answered, the shared
  // path (which knows nothing of b.test) was not consulted.
  local_.entries["b.test"] = {{ip("127.0.0.9")}, Clock::now() + 10s};
  Resolution r = resolve("b.test");
  EXPECT_EQ(r.addresses, std::vector{ip("127.0.0.9")}) << r.error;
}

TEST_F(ResolverThreadCache, ExpiredCopiesAreNotUsed) {
  resolver_->remember("a.test", AF_INET, {ip("127.0.0.5")}, 30s);
  resolve("a.test");
  local_.entries["b.test"] = {{ip("127.0.0.9")}, Clock::now() - 1s};
  Resolution r = resolve("b.test");  // falls through to DNS, which is not there
  EXPECT_TRUE(r.addresses.empty());
  EXPECT_FALSE(r.error.empty());
  EXPECT_FALSE(local_.entries.contains("b.test"));
}

}  // namespace
}  // namespace awf::proxy
