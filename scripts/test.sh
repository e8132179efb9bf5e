#!/usr/bin/env bash
# The README's test command: installs what a fresh Debian 12 machine lacks,
# builds, and runs every test twice: the normal build, then the tests under
# AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/test.sh            everything
#   scripts/test.sh --no-asan  skip the sanitizer build (quicker local loop)
#   scripts/test.sh --no-fuzz  skip the bounded libFuzzer runs (scripts/fuzz.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

asan=1
fuzz=1
for arg in "$@"; do
  case "$arg" in
    --no-asan) asan=0 ;;
    --no-fuzz) fuzz=0 ;;
    *) echo "test.sh: unknown argument '$arg' (allowed: --no-asan, --no-fuzz)" >&2; exit 2 ;;
  esac
done

./scripts/install-deps.sh

# Tests run several at a time: most of their time is spent waiting on
# processes and sockets, not on the CPU. Those that must not overlap (the
# end-to-end runs of awf, the benchmarks' smoke runs) are marked RUN_SERIAL.
# AWF_TEST_JOBS overrides the default of twice the cores, between 4 and 8.
test_jobs=${AWF_TEST_JOBS:-$(( $(nproc) * 2 ))}
if [[ -z ${AWF_TEST_JOBS:-} ]]; then
  (( test_jobs < 4 )) && test_jobs=4
  (( test_jobs > 8 )) && test_jobs=8
fi

run_suite() {
  local preset=$1
  echo "=== build ($preset)"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  echo "=== test ($preset, $test_jobs at a time)"
  ctest --preset "$preset" --timeout 600 --parallel "$test_jobs"
}

run_suite default
if [[ $asan -eq 1 ]]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 run_suite asan
fi
if [[ $fuzz -eq 1 ]]; then
  echo "=== fuzz (bounded)"
  ./scripts/fuzz.sh -t "${AWF_FUZZ_SECONDS:-30}"
fi
