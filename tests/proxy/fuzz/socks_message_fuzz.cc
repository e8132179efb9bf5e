// libFuzzer target: the SOCKS5 greeting and request parsers over arbitrary
// bytes, whole and halved, must never read out of bounds, must not claim
// bytes they were not given, and a prefix must never finish where the whole
// input did not.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "awf/proxy/socks_message.h"

using namespace awf::proxy::socks;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  const GreetingParse greeting = parse_greeting(input);
  if (greeting.status == ParseStatus::done && (greeting.size > size || greeting.size > kMaxGreeting)) std::abort();
  const RequestParse request = parse_request(input);
  if (request.status == ParseStatus::done) {
    if (request.size > size || request.size > kMaxRequest) std::abort();
    (void)command_name(request.request.command);
  }
  if (size > 1) {
    const std::span<const std::uint8_t> head = input.first(size / 2);
    const GreetingParse g = parse_greeting(head);
    if (g.status == ParseStatus::done && !(greeting.status == ParseStatus::done && greeting.size == g.size)) std::abort();
    const RequestParse r = parse_request(head);
    if (r.status == ParseStatus::done && !(request.status == ParseStatus::done && request.size == r.size)) std::abort();
    // An error seen in a prefix is the whole input's error too.
    if (r.status == ParseStatus::error && request.status != ParseStatus::error) std::abort();
  }
  return 0;
}
