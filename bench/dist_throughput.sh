#!/usr/bin/env bash
# Training throughput of 1 process x 2 threads against 2 processes x 1 thread
# (twist launch, Gloo on loopback), same global batch and recipe, runs
# alternated so that the machine's load affects both alike.
#   bench/dist_throughput.sh [pairs=3] [steps=40] [extra twist train flags...]
# Prints each run's images/s (from the summary, first 3 steps excluded) and
# the ratio distributed / single per pair.
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-3}
steps=${2:-40}
shift $(( $# < 2 ? $# : 2 ))
twist=${TWIST:-build/twist}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ips() { sed -n 's/.*"images_per_s": *\([0-9.e+-]*\).*/\1/p' | head -n 1; }
for i in $(seq 1 "$pairs"); do
  # shellcheck disable=SC2068
  one=$("$twist" train --max-steps "$steps" --eval false --threads 2 --json --out "$tmp/one$i" $@ 2>/dev/null | ips)
  # shellcheck disable=SC2068
  two=$("$twist" launch --nproc 2 -- "$twist" train --max-steps "$steps" --eval false --threads 1 --json \
        --out "$tmp/two$i" $@ 2>/dev/null | ips)
  awk -v i="$i" -v a="$one" -v b="$two" \
    'BEGIN { printf "pair %d: 1 process x 2 threads %.1f images/s, 2 processes x 1 thread %.1f images/s, ratio %.3f\n", i, a, b, b / a }'
done
