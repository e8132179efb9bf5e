// When freed heap memory goes back to the kernel (heap_release.h).
#include "awf/proxy/heap_release.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace awf::proxy {
namespace {

HeapFigures read_figures() {
  HeapFigures f;
  const struct mallinfo2 mi = ::mallinfo2();
  f.in_use = mi.uordblks + mi.hblkhd;
  if (std::FILE* statm = std::fopen("/proc/self/statm", "re")) {
    unsigned long pages = 0, resident = 0;
    if (std::fscanf(statm, "%lu %lu", &pages, &resident) == 2) {
      f.resident = static_cast<std::size_t>(resident) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    }
    std::fclose(statm);
  }
  return f;
}

}  // namespace

bool HeapRelease::due(const HeapFigures& now) {
  if (now.resident == 0) return false;  // /proc unreadable: nothing to go by
  const std::size_t s = slack(now);
  if (!floor_ || s < *floor_) floor_ = s;
  return s - *floor_ > margin(now);
}

void HeapRelease::trimmed(const HeapFigures& before, const HeapFigures& after) {
  if (after.resident == 0) return;
  const std::size_t released = before.resident > after.resident ? before.resident - after.resident : 0;
  if (released < margin(before) / 2) floor_ = slack(after);
}

std::size_t HeapRelease::tick() {
  const HeapFigures before = read_figures();
  if (!due(before)) return 0;
  ::malloc_trim(0);
  const HeapFigures after = read_figures();
  trimmed(before, after);
  const std::size_t released = before.resident > after.resident ? before.resident - after.resident : 0;
  spdlog::debug("gave {} KiB of freed heap back to the kernel: RSS {} -> {} KiB, {} KiB allocated", released / 1024,
                before.resident / 1024, after.resident / 1024, after.in_use / 1024);
  return released;
}

}  // namespace awf::proxy
