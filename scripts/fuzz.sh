#!/usr/bin/env bash
# Runs the libFuzzer targets of fuzz/ one after another, SECONDS each, at low
# priority, and prints one summary line per target (runs, seconds, runs/s,
# coverage, corpus size, findings). Build them first:
#   CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DTWIST_BUILD_FUZZ=ON \
#     -DTWIST_BUILD_TESTS=OFF -DTWIST_BUILD_CLI=OFF -DTWIST_BUILD_BENCH=OFF
#   cmake --build build-fuzz
#   scripts/fuzz.sh build-fuzz [SECONDS=600] [TARGET...]
# Corpora, logs and crashing inputs stay in BUILD/fuzz-{corpus,logs,findings}.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "$1" && pwd)
seconds=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(fuzz_idx fuzz_config fuzz_data_spec fuzz_checkpoint fuzz_checkpoint_payload fuzz_npy
           fuzz_image fuzz_index_list fuzz_cifar fuzz_stl10)
fi
"$build/fuzz/fuzz_make_seeds" "$build/fuzz-corpus" "$PWD" > /dev/null
mkdir -p "$build/fuzz-logs"
# LibTorch keeps some allocations for the life of the process (its operator
# registry, thread pools): LeakSanitizer would report them as findings.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
status=0
for t in "${targets[@]}"; do
  mkdir -p "$build/fuzz-corpus/$t" "$build/fuzz-findings/$t"
  log=$build/fuzz-logs/$t.log
  if nice -n 10 "$build/fuzz/$t" "$build/fuzz-corpus/$t" -max_total_time="$seconds" -timeout=30 \
      -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$build/fuzz-findings/$t/" > "$log" 2>&1; then
    found=none
  else
    found="CRASH (see $log)"
    status=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
  printf '%s: %s runs in %s s (%s runs/s), coverage %s edges, corpus %s inputs, findings: %s\n' \
    "$t" "${runs:-?}" "${secs:-?}" "$(( ${runs:-0} / (${secs:-1} > 0 ? ${secs:-1} : 1) ))" "${cov:-?}" \
    "${corp:-?}" "$found"
done
exit $status
