// libFuzzer target: our HTTP/1 head parsers against Boost.Beast's. Where both
// finish they must agree field by field; any other disagreement must be one
// of the accepted differences (tests/proxy/fuzz/beast_harness.h,
// docs/fuzzing.md), else the input aborts. The count of each accepted
// difference seen is printed at exit.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "beast_harness.h"

namespace {

void print_differences() {
  using awf::proxy::fuzz::BeastDifference;
  for (int d = 1; d <= static_cast<int>(BeastDifference::head_limit); ++d) {
    if (awf::proxy::fuzz::beast_difference_counts[d] == 0) continue;
    std::fprintf(stderr, "accepted difference %s: %llu\n", to_string(static_cast<BeastDifference>(d)),
                 static_cast<unsigned long long>(awf::proxy::fuzz::beast_difference_counts[d]));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit(print_differences);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string broken = awf::proxy::fuzz::check_beast(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "disagreement: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
