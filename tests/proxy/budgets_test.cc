// Budgets on their own: the token bucket, tunnel places given back, bytes
// spent for the run, and names grouped by registrable domain (a small
// suffix list of our own).
#include "awf/proxy/budgets.h"

#include <gtest/gtest.h>

#include <thread>

namespace awf::proxy {
namespace {

policy::PublicSuffixList psl() { return policy::PublicSuffixList::parse("com\nco.uk\n"); }

TEST(Budgets, NamesCountAgainstTheirRegistrableDomain) {
  Budgets b({.requests_per_second = 1, .tunnels = 0, .bytes = 0}, psl());
  EXPECT_EQ(b.key_of("a.b.example.com"), "example.com");
  EXPECT_EQ(b.key_of("shop.example.co.uk"), "example.co.uk");
  EXPECT_EQ(b.key_of("com"), "com");
  EXPECT_EQ(b.key_of("10.0.0.1"), "10.0.0.1");
}

TEST(Budgets, RequestsPerSecondIsATokenBucketWithOneSecondOfBurst) {
  Budgets b({.requests_per_second = 3, .tunnels = 0, .bytes = 0}, psl());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.admit("example.com", false).refused, nullptr) << i;
  const Budgets::Verdict over = b.admit("example.com", false);
  ASSERT_NE(over.refused, nullptr);
  EXPECT_STREQ(over.refused, "budget_rps");
  EXPECT_EQ(over.retry_after, std::chrono::seconds(1));
  EXPECT_EQ(b.admit("other.com", false).refused, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // more than one token's time
  EXPECT_EQ(b.admit("example.com", false).refused, nullptr);
}

TEST(Budgets, ARateBelowOneStillAdmitsOneRequestThenWaits) {
  Budgets b({.requests_per_second = 0.5, .tunnels = 0, .bytes = 0}, psl());
  EXPECT_EQ(b.admit("example.com", false).refused, nullptr);
  const Budgets::Verdict over = b.admit("example.com", false);
  EXPECT_STREQ(over.refused, "budget_rps");
  EXPECT_EQ(over.retry_after, std::chrono::seconds(2));
}

TEST(Budgets, TunnelPlacesComeBackWhenTheLeaseGoes) {
  Budgets b({.requests_per_second = 0, .tunnels = 2, .bytes = 0}, psl());
  auto one = b.admit("example.com", true);
  auto two = b.admit("example.com", true);
  ASSERT_EQ(one.refused, nullptr);
  ASSERT_EQ(two.refused, nullptr);
  EXPECT_STREQ(b.admit("example.com", true).refused, "budget_tunnels");
  EXPECT_EQ(b.admit("example.com", false).refused, nullptr) << "plain requests hold no place";
  one.tunnel.reset();
  EXPECT_EQ(b.admit("example.com", true).refused, nullptr);
}

TEST(Budgets, BytesAreSpentForTheRun) {
  Budgets b({.requests_per_second = 0, .tunnels = 0, .bytes = 1000}, psl());
  b.spend_bytes("example.com", 999);
  EXPECT_EQ(b.admit("example.com", false).refused, nullptr);
  b.spend_bytes("example.com", 1);
  const Budgets::Verdict over = b.admit("example.com", false);
  EXPECT_STREQ(over.refused, "budget_bytes");
  EXPECT_EQ(over.retry_after, std::chrono::seconds(0));
  EXPECT_EQ(b.admit("other.com", true).refused, nullptr);
}

}  // namespace
}  // namespace awf::proxy
