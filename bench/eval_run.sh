#!/usr/bin/env bash
# Every evaluation of a finished run, as the README and docs/evaluation.md
# report them. LINEAR_EPOCHS shortens the augmented linear probe (the
# paper's protocol is 100 epochs; each epoch forwards every training image). Learning rates are chosen on a validation split held out of
# the training images (--val-split), then the figures are taken on the test
# split. Prints one JSON object per line, labelled.
#   bash bench/eval_run.sh [RUN_DIR] [LINEAR_EPOCHS]
# TWIST=path/to/twist picks the binary (default build/twist).
set -euo pipefail
run=${1:-runs/fmnist-default}
linear_epochs=${2:-100}
twist=${TWIST:-build/twist}
val=10000
pick() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
say() { echo "{\"what\": \"$1\", \"result\": $2}"; }

best_lr="" best=-1
for lr in 0.03 0.1 0.3; do
  r=$($twist eval linear --run "$run" --precomputed --val-split $val --lr $lr --threads 1 --json)
  say "linear-precomputed val lr=$lr" "$(echo "$r" | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); j.pop("history"); print(json.dumps(j))')"
  top1=$(pick "$r" top1)
  if /usr/bin/python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$top1" "$best"; then
    best=$top1 best_lr=$lr
  fi
done
echo "{\"chosen_linear_lr\": $best_lr}"

strip='import json,sys; j=json.load(sys.stdin); j.pop("history", None); j.pop("mapping", None); [j.pop(k, None) for k in ("bin_edges","same_class","different_class")]; print(json.dumps(j))'
say "knn test" "$($twist eval knn --run "$run" --json | /usr/bin/python3 -c "$strip")"
say "cluster test" "$($twist eval cluster --run "$run" --json | /usr/bin/python3 -c "$strip")"
say "diagnostics test" "$($twist eval diagnostics --run "$run" --json | /usr/bin/python3 -c "$strip")"
say "linear-precomputed test" "$($twist eval linear --run "$run" --precomputed --lr "$best_lr" --json | /usr/bin/python3 -c "$strip")"
say "linear-augmented test" "$($twist eval linear --run "$run" --lr "$best_lr" --epochs "$linear_epochs" --json | /usr/bin/python3 -c "$strip")"
for f in 0.01 0.1; do
  say "finetune $f test" "$($twist finetune --run "$run" --label-fraction $f --json | /usr/bin/python3 -c "$strip")"
done
