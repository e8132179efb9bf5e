# Warnings are errors in our own code; third-party headers are included as
# system headers so their warnings do not stop the build.
add_library(awf_warnings INTERFACE)
target_compile_options(awf_warnings INTERFACE
  -Wall -Wextra -Werror -Wnon-virtual-dtor -Wimplicit-fallthrough
  $<$<CXX_COMPILER_ID:GNU>:-Wshadow=local>
  # GCC 12 reports std::string appends as overlapping memcpy at -O3 (GCC bug
  # 105329, a false positive); the Release images would not build otherwise.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>
  $<$<CXX_COMPILER_ID:Clang>:-Wshadow-uncaptured-local>)
