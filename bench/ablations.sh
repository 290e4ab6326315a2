#!/usr/bin/env bash
# The ablations of docs/ablations.md: the default Fashion-MNIST recipe with
# one thing changed per row, the same budget per row (EPOCHS epochs, 10,000
# training images held out as the validation split on which every row is
# measured; the test split is not read). Runs keep their directories (and
# report.html) under OUT; prints a Markdown table.
#   bench/ablations.sh [EPOCHS=1] [OUT=runs/ablations]
#   env ONLY=REGEX: run only the rows whose name matches (e.g. ONLY=self-label)
# A row may split its budget: "name|flags|main-epochs-fraction" trains that
# fraction of EPOCHS with TWIST and gives the rest to --self-label-epochs.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-1}
out=${2:-runs/ablations}
twist=${TWIST:-build/twist}
rows=(
  "default (NBS on, alpha 1, beta 1, 2 crops)|"
  "NBS off|--nbs false"
  "beta 0|--beta 0"
  "beta 0, NBS off|--beta 0 --nbs false"
  "alpha 0|--alpha 0"
  "multi-crop: 2 x 28 + 4 x 14|--local-crops 4"
  "self-labeling: 3/4 of the budget TWIST, 1/4 self-labeling|--local-crops 4|0.75"
)
mkdir -p "$out"
printf '| row | flags | kNN top-1 | cluster acc | NMI | clusters used | final entropy of the mean (ln 10 = 2.303) | collapse warning at step | images/s |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for row in "${rows[@]}"; do
  IFS='|' read -r name flags split <<< "$row"
  if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then continue; fi
  main_epochs=$epochs
  if [ -n "$split" ]; then
    main_epochs=$(awk -v e="$epochs" -v f="$split" 'BEGIN { print e * f }')
    flags="$flags --self-label-epochs $(awk -v e="$epochs" -v f="$split" 'BEGIN { print e * (1 - f) }')"
  fi
  dir=$out/$(echo "$name" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9\n' '-' | sed 's/--*/-/g; s/-$//')
  rm -rf "$dir"
  # shellcheck disable=SC2086
  if ! "$twist" train --epochs "$main_epochs" --val-split 10000 --out "$dir" --json $flags > "$dir.json" 2> "$dir.log"; then
    printf '| %s | `%s` | failed (see %s.log) | | | | | | |\n' "$name" "$flags" "$dir"
    continue
  fi
  /usr/bin/python3 - "$dir" "$name" "$flags" <<'PY'
import json, sys
d, name, flags = sys.argv[1:]
s = json.load(open(d + "/summary.json"))
rows = [json.loads(l) for l in open(d + "/metrics.jsonl") if l.strip()]
h = rows[-1].get("mean_entropy", float("nan"))
print(f"| {name} | `{flags or '(none)'}` | {s['knn_top1']:.4f} | {s['acc']:.4f} | {s['nmi']:.4f} | "
      f"{s['clusters_used']} | {h:.3f} | {s['collapse_step'] or 'none'} | {s['images_per_s']:.0f} |")
PY
done
