#!/usr/bin/env bash
# What the long recipe learns on one GPU, against minutes (issue: learning
# quality, "where a GPU is lent"): builds twist for CUDA (bench/gpu_build.sh),
# then trains configs/fashion-mnist-long.json at each width in WIDTHS (0.25:
# the recipe's model; 1: a full-width ResNet-18) side by side on the GPU in
# bfloat16, with a learning-curve point every EVAL_MIN minutes of training
# (kNN top-1, cluster accuracy and NMI on fixed seeded subsets) and the full
# evaluation on the test split at the end. The run length is sized to the time
# left: a short probe of each run (PROBE_STEPS steps, all runs at once)
# measures images/s, and each run gets the epochs that fit. BATCHES crosses
# the widths with batch sizes (the learning rate is per 256 images, so it
# scales with the batch). TESTS=1 first runs the whole test suite alone, for
# at most TEST_S seconds, before any training: beside the training (as on
# 2026-12-04) it cut both runs from ~6,000 to ~1,800 images/s.
#
#   bench/gpu_learn.sh OUTDIR
#   env: BUDGET seconds for the whole script (540), DATA (idx:.gpu/fashion-mnist:
#        bench/gpu_deps.sh copies Debian's files there), WIDTHS ("0.25 1"),
#        BATCHES ("256"), EVAL_MIN (0.5), PROBE_STEPS (150), TESTS (0), TEST_S (150),
#        THREADS (2 per run), DEPS
#        (.gpu/deps); for a dry run on a machine without a GPU: BUILD (a finished build folder:
#        skip the build), DEVICE (cpu)
# Everything lands in /tmp/gpu_learn and, at the end, in OUTDIR/gpu_learn.tar.gz;
# the last lines printed are the table.
set -uo pipefail
cd "$(dirname "$0")/.."
default_budget=540
source bench/gpu_common.sh "$@"
eval_min=${EVAL_MIN:-0.5}
device=${DEVICE:-cuda}
data=${DATA:-idx:$(realpath .gpu/fashion-mnist)}
read -r -a widths <<< "${WIDTHS:-0.25 1}"
read -r -a batches <<< "${BATCHES:-256}"
runs=()  # width:batch
for w in "${widths[@]}"; do for b in "${batches[@]}"; do runs+=("$w:$b"); done; done
work=/tmp/gpu_learn
rm -rf "$work"; mkdir -p "$work"
pack() { tar czf "$out/gpu_learn.tar.gz" -C "$work" --exclude='*.pt' --exclude='report.html' . 2> /dev/null; }

say "machine"
nvidia-smi -L 2> /dev/null
echo "$(nproc) cores"

build=${BUILD:-}
if [ -z "$build" ]; then
  build=build-cuda
  say "build"
  bash bench/gpu_build.sh "$work" || { pack; exit 1; }
fi

train() {  # width:batch, out dir, extra flags...
  local w=${1%:*} b=${1#*:} dir=$2; shift 2
  "$build/twist" train --config configs/fashion-mnist-long.json --data "$data" --width "$w" --batch-size "$b" --device "$device" \
    --precision bf16 --threads "${THREADS:-2}" --collapse-restarts 0 --report false --out "$dir" --json "$@"
}

if [ "${TESTS:-0}" = 1 ]; then
  say "whole test suite, alone, at most ${TEST_S:-150} s"
  timeout "${TEST_S:-150}" ctest --test-dir "$build" --parallel "$(nproc)" --timeout 120 --output-on-failure \
    > "$work/ctest.log" 2>&1
  echo "ctest rc $?" >> "$work/ctest.log"
  grep -E "tests passed|tests failed|\*\*\*Failed|\*\*\*Exception|Not Run|Timeout|ctest rc" "$work/ctest.log" | head -30
fi

say "probe: ${PROBE_STEPS:-150} steps of each run (width:batch), side by side"
for w in "${runs[@]}"; do
  p=$work/probe_w${w/:/_b}
  train "$w" "$p" --max-steps "${PROBE_STEPS:-150}" --eval false --log-every 50 > "$p.json" 2> "$p.err" &
done
wait
declare -A epochs
for w in "${runs[@]}"; do
  # Time for training: what is left, less the final evaluation and packing
  # (60 s), less the learning-curve evaluations (about 5 s each); an epoch is
  # the probe's images per epoch (its steps per epoch times its batch).
  p=$work/probe_w${w/:/_b}
  read -r ips epochs[$w] < <("$py" - "$p" "$(left)" "$eval_min" <<'PY'
import json, sys
run, left, eval_min = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s, c = json.load(open(f"{run}/summary.json")), json.load(open(f"{run}/config.json"))
train_s = (left - 60) / (1 + 5 / (60 * eval_min))
epoch_images = s["steps"] / s["epochs"] * c["batch_size"]
print(f"{s['images_per_s']:.0f} {max(0.2, 0.9 * s['images_per_s'] * train_s / epoch_images):.2f}")
PY
  )
  [ -n "${epochs[$w]:-}" ] || { tail -5 "$p.err"; pack; exit 1; }
  echo "width:batch $w: $ips images/s -> ${epochs[$w]} epochs"
done

say "training, side by side"
pids=()
for w in "${runs[@]}"; do
  r=$work/run_w${w/:/_b}
  train "$w" "$r" --epochs "${epochs[$w]}" --eval-every-minutes "$eval_min" > "$r.json" 2> "$r.err" &
  pids+=($!)
done
# Past the budget, stop them (SIGTERM: the run ends after its step, with a
# checkpoint; its learning curve so far is in metrics.jsonl).
( sleep $(($(left) - 15)); kill -TERM "${pids[@]}" 2> /dev/null ) &
guard=$!
wait "${pids[@]}"
kill "$guard" 2> /dev/null
say "done"
pack

for w in "${runs[@]}"; do
  r=$work/run_w${w/:/_b}
  echo "-- width:batch $w: $(tail -3 "$r.err" | tr '\n' ' ' | cut -c1-300)"
  "$py" - "$r" "$w" <<'PY'
import json, sys
run, w = sys.argv[1:3]
for line in open(f"{run}/metrics.jsonl"):
    m = json.loads(line)
    if "eval_knn_top1" in m:
        print(f"width:batch {w}  {m['train_seconds'] / 60:5.2f} min  epoch {m['epoch']:6.2f}  kNN {m['eval_knn_top1']:.4f}"
              f"  acc {m['eval_acc']:.4f}  NMI {m['eval_nmi']:.4f}")
try:
    s = json.load(open(f"{run}/summary.json"))
    keys = ["knn_top1", "knn_top1_whitened", "acc", "nmi", "kmeans_acc", "epochs", "steps", "train_seconds", "images_per_s", "complete"]
    print(f"width:batch {w} test split: " + json.dumps({k: s.get(k) for k in keys}))
except Exception as e:
    print(f"width:batch {w}: no summary ({e})")
PY
done
