// libFuzzer target: the ruleset YAML, domains-file and awf-config readers over arbitrary file content.
// Any broken invariant aborts (tests/policy/fuzz/policy_files_harness.h).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "policy_files_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string broken = awf::policy::fuzz::check_policy_files(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
