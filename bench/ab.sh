#!/usr/bin/env bash
# Two twist bench configurations alternately, one round each per pair, so that
# the machine's load touches both alike; prints both figures and B/A per pair
# and the medians. For choosing by measurement (precision, loader workers,
# memory format, ...).
#   bench/ab.sh "A flags" "B flags" [pairs=5] [steps=20] [extra flags for both...]
#   e.g. bench/ab.sh "--precision fp32" "--precision bf16" 5 20
#   Words NAME=VALUE in A or B set that side's environment: bench/ab.sh "" "OMP_WAIT_POLICY=PASSIVE"
set -euo pipefail
command -v jq >/dev/null || { echo "$(basename "$0"): needs jq (apt install jq)" >&2; exit 1; }
cd "$(dirname "$0")/.."
a=$1
b=$2
pairs=${3:-5}
steps=${4:-20}
shift $(( $# < 4 ? $# : 4 ))
twist=${TWIST:-build/twist}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "ab: $(date -u +%FT%TZ), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ab: A = '$a', B = '$b', $pairs pairs of $steps timed steps per mode, common flags: ${*:-none}"
one() {
  # Words of the form NAME=VALUE set the environment (e.g. OMP_WAIT_POLICY=PASSIVE), the rest are flags.
  local envs=() flags=() w
  for w in $1; do if [[ $w =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then envs+=("$w"); else flags+=("$w"); fi; done
  # shellcheck disable=SC2068
  env ${envs[@]+"${envs[@]}"} "$twist" bench --rounds 1 --steps "$steps" --warmup 3 --json \
    ${flags[@]+"${flags[@]}"} ${@:2} 2>"$tmp/err" > "$tmp/out.json" || { cat "$tmp/err" >&2; exit 1; }
  jq -r '"\(.compute_images_per_s) \(.end_to_end_images_per_s)"' "$tmp/out.json"
}
: > "$tmp/rows"
for i in $(seq 1 "$pairs"); do
  # Alternate which goes first.
  if [ $((i % 2)) -eq 1 ]; then ra=$(one "$a" "$@"); rb=$(one "$b" "$@"); else rb=$(one "$b" "$@"); ra=$(one "$a" "$@"); fi
  echo "$ra $rb" >> "$tmp/rows"
  echo "$i $ra $rb" | awk '{ printf "pair %d: compute A %.1f B %.1f (B/A %.3f) | end-to-end A %.1f B %.1f (B/A %.3f)\n", $1, $2, $4, $4 / $2, $3, $5, $5 / $3 }'
done
echo "ab: load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
med() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
awk '{ print $1 }' "$tmp/rows" | med > "$tmp/m"; awk '{ print $2 }' "$tmp/rows" | med >> "$tmp/m"
awk '{ print $3 }' "$tmp/rows" | med >> "$tmp/m"; awk '{ print $4 }' "$tmp/rows" | med >> "$tmp/m"
awk '{ print $3 / $1 }' "$tmp/rows" | med >> "$tmp/m"; awk '{ print $4 / $2 }' "$tmp/rows" | med >> "$tmp/m"
paste -sd' ' "$tmp/m" | awk '{ printf "medians: compute A %.1f B %.1f | end-to-end A %.1f B %.1f | per-pair B/A: compute %.3f, end-to-end %.3f\n", $1, $3, $2, $4, $5, $6 }'
