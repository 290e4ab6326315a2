#!/usr/bin/env bash
# twist against the reference recipe (bench/reference_twist.py: Python
# PyTorch as the official code trains TWIST, PIL augmentation in DataLoader
# worker processes, the same LibTorch) on the same machine: same model
# (ResNet-18 with 16 base channels and the small stem, head 512, C=10),
# batch, views and thread count, alternately for R rounds in one
# invocation, so that the machine's load touches both alike.
#
#   bench/side_by_side.sh [rounds=5] [steps=20] [extra twist bench flags...]
#   env: THREADS (2), LOCAL_CROPS (0; both sides), PEER (bench/reference_twist.py, or a recipe taking its flags),
#        PEER_WORKERS (2, the recipe's default), PYTHON (/usr/bin/python3), TWIST (build/twist),
#        BOTH_ENV (NAME=VALUE words set for both sides, e.g. "GOMP_SPINCOUNT=1000")
#
# Per round and side: compute-only images/s (synthetic views through forward,
# loss, backward, LARS: twist bench, and bench/peer_compute.py on the recipe's
# own model/loss/optimizer) and end-to-end images/s (twist bench; the recipe's
# own training run with --max-steps, its figure excluding its first 3 steps).
# Images/s count source images on both sides. Rounds alternate which side
# goes first. Prints each round, the medians and their ratios twist / peer.
set -euo pipefail
command -v jq >/dev/null || { echo "$(basename "$0"): needs jq (apt install jq)" >&2; exit 1; }
cd "$(dirname "$0")/.."
rounds=${1:-5}
steps=${2:-20}
shift $(( $# < 2 ? $# : 2 ))
twist=${TWIST:-build/twist}
python=${PYTHON:-/usr/bin/python3}
peer=${PEER:-bench/reference_twist.py}
threads=${THREADS:-2}
local_crops=${LOCAL_CROPS:-0}
workers=${PEER_WORKERS:-2}
read -r -a both_env <<< "${BOTH_ENV:-}"
[ -x "$twist" ] || { echo "side_by_side: no $twist (build first: scripts/build.sh)" >&2; exit 1; }
[ -f "$peer" ] || { echo "side_by_side: no reference recipe at $peer (set PEER)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "side_by_side: $(date -u +%FT%TZ), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "side_by_side: $rounds rounds of $steps timed steps per side and mode, $threads threads, $local_crops local crops, extra twist flags: ${*:-none}, environment for both: ${BOTH_ENV:-none}"

run_twist() {
  # shellcheck disable=SC2068
  env ${both_env[@]+"${both_env[@]}"} "$twist" bench --rounds 1 --steps "$steps" --warmup 3 --threads "$threads" --local-crops "$local_crops" \
    --json $@ 2>"$tmp/twist.err" > "$tmp/twist.json" || { cat "$tmp/twist.err" >&2; exit 1; }
  tc=$(jq .compute_images_per_s "$tmp/twist.json")
  te=$(jq .end_to_end_images_per_s "$tmp/twist.json")
}
run_peer() {
  env ${both_env[@]+"${both_env[@]}"} "$python" bench/peer_compute.py --peer "$peer" --steps "$steps" --warmup 3 --threads "$threads" \
    --local-crops "$local_crops" > "$tmp/peer_c.json" 2>"$tmp/peer.err" || { cat "$tmp/peer.err" >&2; exit 1; }
  pc=$(jq .compute_images_per_s "$tmp/peer_c.json")
  env ${both_env[@]+"${both_env[@]}"} "$python" "$peer" --max-steps $((steps + 3)) --threads "$threads" --workers "$workers" \
    --local-crops "$local_crops" --no-eval > "$tmp/peer_e.json" 2>"$tmp/peer.err" || { cat "$tmp/peer.err" >&2; exit 1; }
  pe=$(jq .images_per_s "$tmp/peer_e.json")
}

: > "$tmp/rows"
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then run_twist "$@"; run_peer; else run_peer; run_twist "$@"; fi
  echo "$r $tc $te $pc $pe" >> "$tmp/rows"
  awk -v r="$r" -v tc="$tc" -v te="$te" -v pc="$pc" -v pe="$pe" 'BEGIN {
    printf "round %d: twist compute %.1f, end-to-end %.1f (%.3f) | peer compute %.1f, end-to-end %.1f (%.3f) | e2e ratio twist/peer %.2f\n",
      r, tc, te, te / tc, pc, pe, pe / pc, te / pe }'
done
echo "side_by_side: load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
sort_median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mtc=$(cut -d' ' -f2 "$tmp/rows" | sort_median)
mte=$(cut -d' ' -f3 "$tmp/rows" | sort_median)
mpc=$(cut -d' ' -f4 "$tmp/rows" | sort_median)
mpe=$(cut -d' ' -f5 "$tmp/rows" | sort_median)
rte=$(awk '{ print $3 / $5 }' "$tmp/rows" | sort_median)
awk -v tc="$mtc" -v te="$mte" -v pc="$mpc" -v pe="$mpe" -v rte="$rte" 'BEGIN {
  printf "\nmedians (images/s)   compute   end-to-end   e2e/compute\n"
  printf "  twist            %8.1f   %10.1f   %11.3f\n", tc, te, te / tc
  printf "  peer             %8.1f   %10.1f   %11.3f\n", pc, pe, pe / pc
  printf "  twist / peer     %8.2f   %10.2f\n", tc / pc, te / pe
  printf "  median of the per-round end-to-end ratios twist/peer: %.2f\n", rte }'
