// libFuzzer target: the chunked-body scanner (forward proxy) and decoder (API proxy): both frame every body alike, however the bytes are split, and decoded data re-chunked decodes to itself.
// Any broken invariant aborts (tests/proxy/fuzz/http_harness.h).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "http_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string broken = awf::proxy::fuzz::check_chunked(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
