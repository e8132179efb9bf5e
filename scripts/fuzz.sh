#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (AWF_FUZZ=ON, its own build
# directory) and runs each for a bounded time over its seed corpus
# (docs/fuzzing.md lists them and what each checks).
#   scripts/fuzz.sh                 every target, 60 s each
#   scripts/fuzz.sh -t 300          longer runs
#   scripts/fuzz.sh http_head dns   some targets (names: see `targets` below)
# Exit status is non-zero when a target crashes or breaks an invariant; the
# input is left in build-fuzz/artifacts/<target>-crash-* so it can be added to
# the target's seed folder (seeds_of below) as a named seed: the normal
# test suites replay every seed.
# New inputs the fuzzer finds go to build-fuzz/corpus-<target>/, never into
# the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
all_targets=(client_hello dns api_rewrite socks_message http_head http_head_beast chunked authority
  policy policy_files config_file log_line)
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -t) seconds=${2:?"-t needs a number of seconds"}; shift 2 ;;
    *)
      if [[ " ${all_targets[*]} " == *" $1 "* ]]; then targets+=("$1"); shift
      else echo "fuzz.sh: unknown argument '$1' (allowed: -t SECONDS, ${all_targets[*]})" >&2; exit 2; fi ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")

# Where each target's named seeds live.
seeds_of() {
  case "$1" in
    api_rewrite) echo "tests/api/corpus/$1" ;;
    socks_message|http_head|http_head_beast|chunked|authority) echo "tests/proxy/corpus/$1" ;;
    policy|policy_files) echo "tests/policy/corpus/$1" ;;
    config_file) echo "tests/launcher_cli/corpus/$1" ;;
    log_line) echo "tests/logs/corpus/$1" ;;
    *) echo "tests/intercept/corpus/$1" ;;
  esac
}

for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool not found (apt-get install clang)" >&2; exit 2; }
done

build=build-fuzz
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAWF_FUZZ=ON -DAWF_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j2 --target $(printf 'awf_fuzz_%s ' "${targets[@]}")

mkdir -p "$build/artifacts"
# The targets run side by side, each for its own -max_total_time: the bound
# is on wall time, so the whole run takes one target's time, not the sum.
declare -A pids
for target in "${targets[@]}"; do
  work="$build/corpus-$target"
  mkdir -p "$work"
  echo "=== fuzz $target for ${seconds}s"
  # Merged corpus first (work dir), read-only seeds second: libFuzzer writes
  # new inputs only into the first directory.
  # -max_len covers the largest ClientHello input (kMaxClientHelloInput).
  "$build/bin/awf_fuzz_$target" -max_total_time="$seconds" -max_len=20000 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$target-" \
    "$work" "$(seeds_of "$target")" >"$build/fuzz-$target.log" 2>&1 &
  pids[$target]=$!
done

status=0
for target in "${targets[@]}"; do
  set +e
  wait "${pids[$target]}"
  rc=$?
  set -e
  echo "=== fuzz $target: exit $rc"
  # The summary: final coverage line, executions, and any sanitizer report.
  grep -E 'DONE|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)|^==[0-9]+==ERROR|SUMMARY|runtime error|deadly signal' \
    "$build/fuzz-$target.log" || true
  if [[ $rc -ne 0 ]] || grep -qE '^==[0-9]+==ERROR|SUMMARY: |runtime error|deadly signal' "$build/fuzz-$target.log"; then
    echo "fuzz.sh: $target crashed; reproducer in $build/artifacts/ (add it to $(seeds_of "$target")/)" >&2
    status=1
  fi
done
exit $status
