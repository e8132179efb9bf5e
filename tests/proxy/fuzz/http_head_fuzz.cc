// libFuzzer target: the HTTP/1 request and response head parsers: whole and piecewise parses agree, a head one byte short asks for more, and a parsed head rebuilt for the next hop parses back to the same request or response (a fixpoint).
// Any broken invariant aborts (tests/proxy/fuzz/http_harness.h).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "http_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string broken = awf::proxy::fuzz::check_http_head(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
