#!/usr/bin/python3
"""Replays a run's metrics.jsonl through the collapse rule of
src/train/collapse.cpp (the mean distribution's entropy below ln(min(C, batch) / 2),
or each image's entropy, the logged sharpness, above 0.9 ln C, for 3 logged
steps in a row) and prints the step where each would fire, or "none".
For runs made before the rule changed.
Usage: collapse_replay.py RUN_DIR..."""
import json
import math
import sys

for run in sys.argv[1:]:
    cfg = json.load(open(run + "/config.json"))
    threshold = math.log(max(2, min(cfg["classes"], cfg["batch_size"])) / 2)
    flat_threshold = 0.9 * math.log(max(2, cfg["classes"]))
    streak, fired, flat_streak, flat = 0, None, 0, None
    for line in open(run + "/metrics.jsonl"):
        if not line.strip():
            continue
        row = json.loads(line)
        h = row.get("mean_entropy")
        if h is None:
            continue
        flat_streak = flat_streak + 1 if row["sharpness"] > flat_threshold else 0
        if flat_streak >= 3 and flat is None:
            flat = row["step"]
        streak = streak + 1 if h < threshold else 0
        if streak >= 3 and fired is None:
            fired = row["step"]
    print(f"{run}: few classes (threshold {threshold:.3f}) at step {fired or 'none'}; "
          f"flat (threshold {flat_threshold:.3f}) at step {flat or 'none'}")
