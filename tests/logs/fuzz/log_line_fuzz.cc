// libFuzzer target: the access.log and audit.jsonl readers of `awf logs` and the printing of what
// they read; written back, an access.log entry reads the same.
// Any broken invariant aborts (tests/logs/fuzz/log_line_harness.h).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "log_line_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string broken = awf::logs::fuzz::check_log_text(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
