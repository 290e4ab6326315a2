#!/usr/bin/env bash
# Chooses the default Fashion-MNIST recipe on a validation split carved from
# the training set (10,000 images held out; the test split is never read).
# Each line of the sweep is one `twist train` run; its summary (with the
# settings that differ) is appended to the results file as JSON.
# TWIST=path/to/twist overrides the binary (e.g. a copy, so rebuilding does not
# change a sweep in flight).
#   bench/recipe_sweep.sh RESULTS.jsonl "--epochs 2" "--epochs 2 --global-scale-min 0.7" ...
set -euo pipefail
cd "$(dirname "$0")/.."
results=$1
shift
for args in "$@"; do
  out=$(mktemp -d)/run
  # shellcheck disable=SC2086
  if summary=$("${TWIST:-build/twist}" train --val-split 10000 --json --out "$out" $args); then
    printf '{"args": "%s", "summary": %s}\n' "$args" "$(echo "$summary" | tr -d '\n')" >> "$results"
  else
    printf '{"args": "%s", "failed": true}\n' "$args" >> "$results"
  fi
  rm -rf "$(dirname "$out")"
done
