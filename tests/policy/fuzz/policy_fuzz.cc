// libFuzzer target: policy entries (awf's grammar, round-tripped), rulesets compiled from them and decided against a literal reading of awf's rules, --allow-urls patterns and --allow-host-ports lists.
// Any broken invariant aborts (tests/policy/fuzz/policy_harness.h).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "policy_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string broken = awf::policy::fuzz::check_policy(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
