#!/usr/bin/env bash
# A real full disk: trains into a 2.5 MB tmpfs, where the first checkpoint
# (about 1.5 MB) fits but the second does not (old file + temporary file).
# The run must stop with one clear error and a non-zero exit, leave the first
# checkpoint intact, and a copy of the run directory moved to a disk with
# room must resume and finish. Needs root (mount); prints SKIP otherwise.
#   scripts/disk_full.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
twist=$build/twist
if [ "$(id -u)" -ne 0 ]; then echo "disk_full: SKIP (needs root to mount a tmpfs)"; exit 0; fi
work=$(mktemp -d)
mkdir "$work/small"
if ! mount -t tmpfs -o size=2500k tmpfs "$work/small" 2> /dev/null; then
  rm -rf "$work"; echo "disk_full: SKIP (mount not permitted here)"; exit 0
fi
trap 'umount "$work/small"; rm -rf "$work"' EXIT
"$build/tests/twist_pattern_data" "$work/data" 256 64
flags=(--data "idx:$work/data" --batch-size 32 --width 0.125 --hidden 32 --classes 4 --epochs 100
       --max-steps 12 --log-every 1 --threads 1 --eval false --checkpoint-every 4)
status=0
"$twist" train "${flags[@]}" --out "$work/small/run" > /dev/null 2> "$work/err" || status=$?
echo "disk_full: exit status $status; last line on stderr:"
grep . "$work/err" | tail -1 | sed "s|$work|\$T|g"
ls -l "$work/small/run" | sed "s|$work|\$T|g"
[ "$status" -eq 1 ] || { echo "disk_full: FAIL (expected exit status 1)"; exit 1; }
grep -q "No space left on device" "$work/err" || { echo "disk_full: FAIL (no ENOSPC message)"; exit 1; }
[ ! -e "$work/small/run/checkpoint.pt.tmp" ] || { echo "disk_full: FAIL (temporary file left)"; exit 1; }
cp -r "$work/small/run" "$work/moved"
"$twist" train --resume --out "$work/moved" > /dev/null 2> "$work/err2"
echo "disk_full: the moved copy: $(grep 'resuming at step' "$work/err2"), finished with exit status 0"
echo "disk_full: PASS"
