#!/usr/bin/env bash
# The share of a ResNet-50 training step on this CPU that waits for data:
# the paper's ResNet-50 recipe (configs/imagenet-rn50.json: head
# 4096-4096-4096, two 224 x 224 views, crop scale 0.08-1) at batch B, 2
# intra-op threads, on an ImageNet-like folder (bench/make_imagenet_like.py).
#
# Measured: `twist bench` (compute-only rounds on fixed views, then end-to-end
# rounds with one loader worker beside the step) for fp32 and bf16; its
# loader_wait_fraction is the time spent in loader.next() over the
# end-to-end time. Estimated: the loader alone (build/loader_bench and
# bench/loader_peer.py, 2 workers, batch B) gives t_load = B / images/s, the
# compute-only rounds t_step = B / images/s, and a step whose loader cannot
# run beside it (both want both cores) waits t_load / (t_load + t_step).
#   bench/resnet50_data_wait.sh DIR [batch 16] [steps 2]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: bench/resnet50_data_wait.sh DIR [batch] [steps]}
batch=${2:-16}
steps=${3:-2}
build=${BUILD:-build}
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-1073741824}
export MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-1073741824}
echo "load before: $(uptime)"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for p in fp32 bf16; do
  "$build/twist" bench --config configs/imagenet-rn50.json --data "folder:$dir" \
    --batch-size "$batch" --threads 2 --loader-workers 1 --precision "$p" --rounds 3 --steps "$steps" --warmup 1 \
    --json >"$out/$p.json"
done
loader=(--workers 2 --batch "$batch" --batches 6 --size 224 --scale-min 0.08)
"$build/loader_bench" "folder:$dir" "${loader[@]}" >"$out/twist_loader.json"
/usr/bin/python3 bench/loader_peer.py "$dir" "${loader[@]}" >"$out/torchvision_loader.json"
echo "load after: $(uptime)"
/usr/bin/python3 - "$out" "$batch" <<'EOF'
import json, statistics, sys
out, batch = sys.argv[1], int(sys.argv[2])
load = {k: json.load(open(f"{out}/{k}_loader.json"))["images_per_s"] for k in ("twist", "torchvision")}
print(f"loader alone, 2 workers, batch {batch}: twist {load['twist']:.1f} images/s, "
      f"torchvision {load['torchvision']:.1f} images/s")
print("| precision | compute img/s | t_step | end to end img/s | measured wait share (rounds) | "
      "estimated wait share, twist loader | estimated, torchvision loader |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for p in ("fp32", "bf16"):
    j = json.load(open(f"{out}/{p}.json"))
    t_step = batch / j["compute_images_per_s"]
    est = {k: (batch / v) / (batch / v + t_step) for k, v in load.items()}
    waits = j["loader_wait_fraction_rounds"]
    print(f"| {p} | {j['compute_images_per_s']:.2f} | {t_step:.2f} s | {j['end_to_end_images_per_s']:.2f} | "
          f"{statistics.median(waits):.1%} ({', '.join(f'{w:.1%}' for w in waits)}) | "
          f"{est['twist']:.1%} | {est['torchvision']:.1%} |")
EOF
