// libFuzzer target: the ClientHello peek over arbitrary bytes, whole and in
// every split the fuzzer's data suggests, must never read out of bounds and
// must agree with itself on prefixes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "awf/intercept/client_hello.h"
#include "awf/intercept/tls_alert.h"

using namespace awf::intercept;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  const HelloParse whole = parse_client_hello(input);
  if (whole.failed()) (void)alert_for(whole.error);
  if (whole.done()) {
    // What the parser accepts must be a name it would accept on its own, and
    // it cannot claim bytes it was not given.
    if (check_sni_host_name(whole.hello.sni) != HostNameCheck::ok) std::abort();
    if (whole.hello.consumed > size) std::abort();
    (void)tls_alert_record(TlsAlert::access_denied, alert_record_version(whole.hello));
  }
  // A prefix may only ask for more or fail the same way earlier; it can never
  // succeed where the whole input did not.
  if (size > 1) {
    const HelloParse head = parse_client_hello(input.first(size / 2));
    if (head.done() && !(whole.done() && whole.hello.consumed <= size / 2)) std::abort();
  }
  return 0;
}
