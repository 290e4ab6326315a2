#!/usr/bin/env bash
# twist's loader (build/loader_bench), as it trains and with every JPEG
# decoded at full size (--full-decode: the loader before DCT-scaled
# decoding), against torchvision's ImageFolder + DataLoader
# (bench/loader_peer.py): the same folder, views, batch and number of
# workers, alternately in one run. Each round runs every side once, the first
# side moving one place every round. Prints each round's images/s (source
# images, two views each), the medians, each twist side / torchvision and
# twist / twist full decode (median of the per-round ratios, and ratio of the
# medians), images/s per worker (one worker per core), and the load average
# before and after.
#   bench/loader_side_by_side.sh DIR [rounds 5] [batches 10]
# Environment: WORKERS (2), BATCH (64), SIZE (224), SCALE_MIN (0.08), BUILD (build).
# DIR: an ImageNet-like folder (bench/make_imagenet_like.py) of at least
# (batches + 1) x BATCH images.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: bench/loader_side_by_side.sh DIR [rounds] [batches]}
rounds=${2:-5}
batches=${3:-10}
workers=${WORKERS:-2}
batch=${BATCH:-64}
size=${SIZE:-224}
scale_min=${SCALE_MIN:-0.08}
build=${BUILD:-build}
[ -d "$dir" ] || { echo "loader_side_by_side.sh: '$dir' is not a folder" >&2; exit 2; }
[ -x "$build/loader_bench" ] || { echo "loader_side_by_side.sh: $build/loader_bench missing (scripts/build.sh)" >&2; exit 2; }
# Both sides keep freed memory as the twist binary does (src/cli/main.cpp:
# mallopt of the mmap and trim thresholds; bench/README.md, "Allocator").
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-1073741824}
export MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-1073741824}
common=(--workers "$workers" --batch "$batch" --batches "$batches" --size "$size" --scale-min "$scale_min")
names=("twist" "twist full decode" "torchvision")
run_side() {  # side index, round: prints images/s
  local out
  case "$1" in
    0) out=$("$build/loader_bench" "folder:$dir" "${common[@]}" --seed "$2") ;;
    1) out=$("$build/loader_bench" "folder:$dir" "${common[@]}" --seed "$2" --full-decode) ;;
    2) out=$(/usr/bin/python3 bench/loader_peer.py "$dir" "${common[@]}" --seed "$2") ;;
  esac
  echo "$out" | sed -n 's/.*"images_per_s": \([0-9.]*\).*/\1/p'
}
echo "load before: $(uptime)"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
n=${#names[@]}
for r in $(seq 1 "$rounds"); do
  for k in $(seq 0 $((n - 1))); do
    side=$(((k + r - 1) % n))
    v=$(run_side "$side" "$r")
    echo "round $r ${names[$side]}: $v images/s" >&2
    echo "$r $side $v" >>"$results"
  done
done
echo "load after: $(uptime)"
/usr/bin/python3 - "$results" "$workers" "${names[@]}" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
workers, names = int(sys.argv[2]), sys.argv[3:]
rounds = sorted({int(r) for r, _, _ in rows})
v = {(int(r), int(s)): float(x) for r, s, x in rows}
pairs = [(0, 2), (1, 2), (0, 1)]  # twist, full decode: each over torchvision; twist over full decode
print("| round | " + " | ".join(f"{n} img/s" for n in names) + " | " +
      " | ".join(f"{names[a]} / {names[b]}" for a, b in pairs) + " |")
print("|" + " --- |" * (1 + len(names) + len(pairs)))
for r in rounds:
    print(f"| {r} | " + " | ".join(f"{v[r, s]:.1f}" for s in range(len(names))) + " | " +
          " | ".join(f"{v[r, a] / v[r, b]:.2f}" for a, b in pairs) + " |")
med = [statistics.median(v[r, s] for r in rounds) for s in range(len(names))]
ratio = [statistics.median(v[r, a] / v[r, b] for r in rounds) for a, b in pairs]
print("| **median** | " + " | ".join(f"**{m:.1f}**" for m in med) + " | " +
      " | ".join(f"**{q:.2f}** ({med[a] / med[b]:.2f})" for q, (a, b) in zip(ratio, pairs)) + " |")
print("\nratio columns: median of the per-round ratios (ratio of the medians)")
print(f"per worker ({workers} workers, one per core): " +
      ", ".join(f"{n} {m / workers:.1f} img/s" for n, m in zip(names, med)))
EOF
