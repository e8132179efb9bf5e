// decide() on the proxy's hot path: no heap allocation for ordinary names,
// and safe to call from many threads on one shared ruleset.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "awf/policy/ruleset.h"
#include "awf/policy/sources.h"

#if !defined(__SANITIZE_ADDRESS__)
namespace {
thread_local long g_allocations = 0;
}
// Counting replacements of the global allocation functions (this binary only).
void* operator new(std::size_t size) {
  ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#define AWF_COUNTS_ALLOCATIONS 1
#endif

namespace awf::policy {
namespace {

std::shared_ptr<const Ruleset> sample() {
  PolicySpec spec;
  spec.allow = split_domain_list("github.com,*.githubusercontent.com,https://api.example.com,10.0.0.1,api-*.cdn.net");
  spec.block = split_domain_list("gist.github.com");
  auto rs = Ruleset::compile(spec);
  return rs.ok() ? *rs : nullptr;
}

#ifdef AWF_COUNTS_ALLOCATIONS
TEST(DecideHotPath, OrdinaryHostsAreDecidedWithoutAllocating) {
  auto rs = sample();
  ASSERT_TRUE(rs);
  const char* hosts[] = {"github.com", "API.GitHub.com.", "raw.githubusercontent.com", "gist.github.com",
                         "api.example.com", "example.org", "10.0.0.1", "0x0a000001", "[::ffff:10.0.0.1]",
                         "a.b.c.d.e.f.g.github.com", "api-v1.cdn.net", "bad host", ""};
  for (const char* h : hosts) (void)rs->decide(Request{h, 443, true});  // warm up
  const long before = g_allocations;
  for (int i = 0; i < 100; ++i) {
    for (const char* h : hosts) (void)rs->decide(Request{h, 443, true});
  }
  EXPECT_EQ(g_allocations - before, 0);
  // The counter itself works: a heap string is seen.
  auto* probe = new std::string(100, 'x');
  EXPECT_GT(g_allocations - before, 0);
  delete probe;
}
#endif

TEST(DecideHotPath, ManyThreadsShareOneRuleset) {
  auto rs = sample();
  ASSERT_TRUE(rs);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (!rs->decide(Request{"api-v1.cdn.net", 443, true}).allowed) ++wrong;
        if (rs->decide(Request{"gist.github.com", 443, true}).allowed) ++wrong;
        if (rs->decide(Request{"api.example.com", 80, false}).allowed) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace awf::policy
