#!/usr/bin/env bash
# Peak resident memory of streamed evaluation on two generated folders of
# JPEGs 8x apart (2,000 + 500 and 16,000 + 4,000 images, 64 x 64, 10
# classes): `twist eval knn` (its feature banks in memory, and spilled to a
# temporary file with --bank-memory 0), `twist eval cluster --method kmeans`,
# `twist eval diagnostics`, `twist embed`, the augmented linear probe (one
# epoch) and fine-tuning (a quarter of the labels, one epoch) against one
# short run. Memory should stay flat as the folder grows (bench/README.md,
# "Streamed evaluation").
#   bash bench/stream_eval_rss.sh [DIR]     (default /tmp/twist-bench-stream)
# TWIST=path/to/twist picks the binary (default build/twist).
set -euo pipefail
dir=${1:-/tmp/twist-bench-stream}
twist=${TWIST:-build/twist}
[ -d "$dir/small" ] || /usr/bin/python3 bench/make_jpeg_folder.py "$dir/small" 2000
[ -d "$dir/large" ] || /usr/bin/python3 bench/make_jpeg_folder.py "$dir/large" 16000
[ -f "$dir/run/checkpoint.pt" ] ||
  $twist train --data "folder:$dir/small" --image-size 64 --max-steps 10 --batch-size 64 --hidden 64 --classes 10 \
    --threads 1 --out "$dir/run" >"$dir/train.log" 2>&1
for size in small large; do
  /usr/bin/time -f "eval knn, $size: %M KB peak RSS, %e s" \
    $twist eval knn --run "$dir/run" --data "folder:$dir/$size" --threads 1 --json
  /usr/bin/time -f "eval knn --bank-memory 0, $size: %M KB peak RSS, %e s" \
    $twist eval knn --run "$dir/run" --data "folder:$dir/$size" --threads 1 --bank-memory 0 --json
  /usr/bin/time -f "eval cluster --method kmeans, $size: %M KB peak RSS, %e s" \
    $twist eval cluster --method kmeans --run "$dir/run" --data "folder:$dir/$size" --threads 1 --json
  /usr/bin/time -f "eval diagnostics, $size: %M KB peak RSS, %e s" \
    $twist eval diagnostics --run "$dir/run" --data "folder:$dir/$size" --threads 1 --json
  /usr/bin/time -f "embed, $size (test split): %M KB peak RSS, %e s" \
    $twist embed --run "$dir/run" --data "folder:$dir/$size@test" --out "$dir/$size.npy" --threads 1 --json
  /usr/bin/time -f "eval linear --epochs 1, $size: %M KB peak RSS, %e s" \
    $twist eval linear --epochs 1 --run "$dir/run" --data "folder:$dir/$size" --threads 1 --json
  /usr/bin/time -f "finetune --label-fraction 0.25 --epochs 1, $size: %M KB peak RSS, %e s" \
    $twist finetune --label-fraction 0.25 --epochs 1 --run "$dir/run" --data "folder:$dir/$size" --threads 1 --json
done
