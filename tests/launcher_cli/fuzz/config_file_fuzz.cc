// libFuzzer target: awf's --config file as JSON, YAML and guessed; a loaded config written
// back loads to the same settings.
// Any broken invariant aborts (tests/launcher_cli/fuzz/config_file_harness.h).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "config_file_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string broken = awf::cli::fuzz::check_config_file(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
