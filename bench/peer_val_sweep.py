#!/usr/bin/env python3
"""Recipe exploration with the reference recipe (bench/reference_twist.py)
on a validation split carved from Fashion-MNIST's training set: the first
50,000 training images train (and form the kNN bank), the last 10,000 are the
validation set. The test split is never read. Used to pick which knobs of the
default recipe are worth trying in `twist train`; the recipe itself is then
confirmed with `twist train --val-split` (see configs/fashion-mnist.json).
Prints one JSON line: the settings and the validation figures (val_knn,
val_acc, val_nmi, val_ari).

  /usr/bin/python3 bench/peer_val_sweep.py --epochs 2 --wd 5e-4 --scale-min 0.2
"""
import argparse, json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_twist as R

ap = argparse.ArgumentParser()
ap.add_argument("--data", default="fashion-mnist")
ap.add_argument("--width", type=int, default=16); ap.add_argument("--hid", type=int, default=512)
ap.add_argument("--classes", type=int, default=10); ap.add_argument("--batch", type=int, default=256)
ap.add_argument("--epochs", type=float, default=2.0)
ap.add_argument("--lr", type=float, default=0.5); ap.add_argument("--wd", type=float, default=1.5e-6)
ap.add_argument("--scale-min", type=float, default=0.4)
ap.add_argument("--threads", type=int, default=2); ap.add_argument("--workers", type=int, default=2)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()

recipe = R.parse_args([
    "--data", a.data, "--val-split", "10000", "--width", str(a.width), "--hidden", str(a.hid),
    "--classes", str(a.classes), "--batch", str(a.batch), "--epochs", str(a.epochs), "--lr", str(a.lr),
    "--wd", str(a.wd), "--global-scale-min", str(a.scale_min), "--threads", str(a.threads),
    "--workers", str(a.workers), "--seed", str(a.seed)])
r = R.run(recipe)
res = dict(vars(a), steps=r["steps"], train_s=round(r["train_s"]), final_loss=r["final_loss"],
           val_knn=r.get("knn_top1"))
res.update({"val_" + k: r[k] for k in ("acc", "nmi", "ari") if k in r})
print(json.dumps(res), flush=True)
