// Gives the heap memory awf-proxy freed back to the kernel once a load has
// passed. glibc keeps freed blocks in its arenas for reuse and returns on its
// own only the free space at the very top of a heap, so after thousands of
// connections ended the pages their buffers used stay resident: RSS stays at
// the peak of the load. malloc_trim(3) releases every free page; HeapRelease
// decides when that is worth doing, from two figures read once a period:
// what is resident and what the program has allocated.
#pragma once

#include <cstddef>
#include <optional>

namespace awf::proxy {

struct HeapFigures {
  std::size_t resident = 0;  // bytes of RSS (/proc/self/statm); 0: unreadable
  std::size_t in_use = 0;    // bytes allocated and not freed (mallinfo2: arenas and mmapped blocks)
};

// The resident bytes that are not allocated ("slack": code, stacks, and freed
// heap pages not yet given back) at rest, and the trim decision against it.
class HeapRelease {
 public:
  // The smallest slack a trim is worth: below it the pages given back would
  // be faulted in again by the next few connections for nothing.
  static constexpr std::size_t kMinMargin = std::size_t{1} << 20;

  // Reads the figures, trims when due(), and returns the bytes of RSS the trim
  // gave back (0 when it did not trim). Cheap enough to call every few seconds:
  // a walk of the arenas' free lists and a read of /proc/self/statm.
  std::size_t tick();

  // True when the slack exceeds the least slack seen so far by more than
  // max(kMinMargin, in_use / 8): a load has freed that much and it is still
  // resident. While a load holds its memory the slack stays small and nothing
  // is trimmed.
  bool due(const HeapFigures& now);
  // After a trim: one that gave back less than half the margin shows that the
  // slack above the floor is not free heap (pages of code or stacks touched
  // for the first time), so that level becomes the floor and is not trimmed
  // at again.
  void trimmed(const HeapFigures& before, const HeapFigures& after);

  std::optional<std::size_t> floor() const { return floor_; }

 private:
  static std::size_t slack(const HeapFigures& f) { return f.resident > f.in_use ? f.resident - f.in_use : 0; }
  static std::size_t margin(const HeapFigures& f) { return f.in_use / 8 > kMinMargin ? f.in_use / 8 : kMinMargin; }
  std::optional<std::size_t> floor_;
};

}  // namespace awf::proxy
