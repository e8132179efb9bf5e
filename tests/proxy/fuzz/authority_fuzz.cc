// libFuzzer target: CONNECT authorities, absolute URLs, host:port splitting and the host normaliser / IP-literal recogniser: each round-trips, and the canonical host the proxy routes to is decided as the host the client sent.
// Any broken invariant aborts (tests/proxy/fuzz/http_harness.h).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "http_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string broken = awf::proxy::fuzz::check_authority(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
