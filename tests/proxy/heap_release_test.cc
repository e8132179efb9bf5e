// When awf-proxy gives freed heap memory back to the kernel (heap_release.h):
// the decision from resident and allocated bytes, and a real trim.
#include "awf/proxy/heap_release.h"

#include <malloc.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "awf/testing/sanitizers.h"

namespace awf::proxy {
namespace {

constexpr std::size_t MiB = std::size_t{1} << 20;

TEST(HeapRelease, TrimsOnlyWhenALoadFreedMemoryThatIsStillResident) {
  HeapRelease h;
  // At rest: 10 MiB resident, 4 MiB allocated; that slack (6 MiB) is the floor.
  EXPECT_FALSE(h.due({.resident = 10 * MiB, .in_use = 4 * MiB}));
  EXPECT_EQ(h.floor(), 6 * MiB);
  // Under load the memory is allocated, not free: nothing to give back.
  EXPECT_FALSE(h.due({.resident = 200 * MiB, .in_use = 193 * MiB}));
  // The load ended: 150 MiB resident, 5 MiB allocated.
  EXPECT_TRUE(h.due({.resident = 150 * MiB, .in_use = 5 * MiB}));
  // A trim gave it back; a little slack above the floor stays below the margin.
  h.trimmed({.resident = 150 * MiB, .in_use = 5 * MiB}, {.resident = 11 * MiB, .in_use = 5 * MiB});
  EXPECT_EQ(h.floor(), 6 * MiB);
  EXPECT_FALSE(h.due({.resident = 11 * MiB, .in_use = 5 * MiB}));
}

TEST(HeapRelease, TheMarginGrowsWithWhatIsAllocated) {
  HeapRelease h;
  EXPECT_FALSE(h.due({.resident = 10 * MiB, .in_use = 4 * MiB}));
  // 64 MiB allocated: slack up to 8 MiB above the floor is allocator noise.
  EXPECT_FALSE(h.due({.resident = (64 + 6 + 7) * MiB, .in_use = 64 * MiB}));
  EXPECT_TRUE(h.due({.resident = (64 + 6 + 9) * MiB, .in_use = 64 * MiB}));
  // Small: the margin is at least kMinMargin.
  EXPECT_FALSE(h.due({.resident = 4 * MiB + 6 * MiB + HeapRelease::kMinMargin, .in_use = 4 * MiB}));
}

TEST(HeapRelease, ATrimThatGaveBackLittleRaisesTheFloor) {
  HeapRelease h;
  EXPECT_FALSE(h.due({.resident = 10 * MiB, .in_use = 4 * MiB}));
  // 3 MiB more resident that is not free heap (code paged in, stacks).
  const HeapFigures grown{.resident = 13 * MiB, .in_use = 4 * MiB};
  EXPECT_TRUE(h.due(grown));
  h.trimmed(grown, {.resident = 13 * MiB - 64 * 1024, .in_use = 4 * MiB});
  EXPECT_FALSE(h.due(grown));  // not trimmed again every period
}

TEST(HeapRelease, UnreadableFiguresNeverTrim) {
  HeapRelease h;
  EXPECT_FALSE(h.due({.resident = 0, .in_use = 4 * MiB}));
  EXPECT_FALSE(h.floor().has_value());
}

TEST(HeapRelease, GivesFreedPagesBackToTheKernel) {
#ifdef AWF_UNDER_ASAN
  GTEST_SKIP() << "AddressSanitizer's allocator replaces glibc's arenas, which this trims";
#else
  // Earlier tests in this process may have left freed pages resident; the
  // blocks below would reuse them and free nothing new. Start from a heap
  // with none, as a proxy does after its own trim.
  ::malloc_trim(0);
  HeapRelease h;
  EXPECT_EQ(h.tick(), 0u);  // the floor, at rest
  // 48 MiB in 64 KiB blocks (below glibc's mmap threshold, so from the arena),
  // touched, then freed all but the one at the highest address: it keeps
  // glibc from returning the space below it on its own at the top of the heap
  // (a small block allocated afterwards could land in a hole earlier tests left).
  std::vector<std::unique_ptr<char[]>> blocks;
  for (int i = 0; i < 768; ++i) {
    blocks.emplace_back(new char[64 * 1024]);
    std::memset(blocks.back().get(), 1, 64 * 1024);
  }
  auto highest = std::max_element(blocks.begin(), blocks.end(), [](const auto& a, const auto& b) {
    return std::less<const char*>()(a.get(), b.get());
  });
  std::unique_ptr<char[]> pin = std::move(*highest);
  blocks.clear();
  const std::size_t released = h.tick();
  EXPECT_GE(released, 24 * MiB);
  pin.reset();
#endif
}

}  // namespace
}  // namespace awf::proxy
