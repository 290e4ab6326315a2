#!/usr/bin/env bash
# Resident memory of a training run, epoch by epoch: samples the process's
# VmRSS every second beside the last step it logged, then prints the maximum
# and median per epoch (growth after the first epoch would be a leak).
#   bench/rss_by_epoch.sh [EPOCHS=4] [extra twist train flags...]
# Default: the default recipe on 5,000 Fashion-MNIST images (--val-split 55000
# holds out the rest), one thread, no evaluation: 19 steps per epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-4}
shift $(( $# < 1 ? $# : 1 ))
twist=${TWIST:-build/twist}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$twist" train --epochs "$epochs" --val-split 55000 --threads 1 --log-every 1 --eval false --report false \
  --out "$tmp/run" "$@" > /dev/null 2> "$tmp/log" &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
  step=$(tail -n 1 "$tmp/run/metrics.jsonl" 2>/dev/null | sed -n 's/.*"step": *\([0-9]*\).*/\1/p' || true)
  echo "${step:-0} ${rss:-0}" >> "$tmp/samples"
  sleep 1
done
wait "$pid" || { cat "$tmp/log" >&2; exit 1; }
spe=$(sed -n 's/.*(\([0-9]*\) per epoch).*/\1/p' "$tmp/log" | head -1)
/usr/bin/python3 - "$tmp/samples" "$spe" "$epochs" <<'PY'
import sys
path, spe, epochs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rows = [tuple(map(int, l.split())) for l in open(path) if l.strip()]
for e in range(int(epochs + 0.999)):
    r = sorted(kb for s, kb in rows if e * spe < s <= (e + 1) * spe and kb > 0)
    if r:
        print(f"epoch {e + 1}: {len(r)} samples, max RSS {r[-1] / 1024:.0f} MiB, median {r[len(r) // 2] / 1024:.0f} MiB")
PY
