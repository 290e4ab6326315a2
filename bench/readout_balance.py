#!/usr/bin/env python3
"""Does weighing how evenly a partition fills its clusters mend the read-out?

The read-out (src/eval/cluster_readout.cpp) scores each candidate partition
of a run's training features by its agreement with their 10 nearest
neighbours. Where the features separate the classes almost perfectly, a
k-means restart that merges two classes and splits a third into uneven
parts agrees within a few thousandths of the right partition, and can win.
This script scores every candidate instead by

    score = agreement - w * (1 - balance),  balance = H(cluster shares) / ln C

(1 when the clusters are equally full; TWIST's own mean-entropy term asks
the same of the head), for each weight w in --weights: the k-means restart
of highest score is the k-means candidate, and it replaces the head when it
removes at least a quarter of the head's shortfall 1 - score (w = 0 is
the read-out before this script). Nothing is trained; labels only score.
Inputs as bench/readout_candidates.py's:

    twist embed --run RUN --data SPEC@train --out F.npy
    twist embed --run RUN --data SPEC@train --output logits --out L.npy
    bench/readout_balance.py F.npy L.npy --val-split N [--imbalance R]

The N held-out images (twist's own validation permutation) are scored by
their nearest centre (the head: its argmax); the candidates are fitted on
at most 5,000 of the rest. --imbalance R first keeps each image of class c
(of C) with probability R^(c / (C - 1)), a stand-in for a data set whose
largest class is 1/R times its smallest (labels only choose what is kept).
Prints one JSON line: the balance of the fitted images' true classes
(labels_balance), and per weight the candidate chosen, its held-out
cluster accuracy and the charge a partition that followed the true
classes exactly would pay (labels_charge).
"""
import json

import numpy as np
import torch

from neighbor_heads import neighbours
from readout_candidates import balance, candidate_maker, kmeans_fits, load_run, run_parser


def choose(head, fits, w):
    """The read-out's rule on balance-weighed scores: (name, accuracy)."""
    short = lambda c: 1 - c["agreement"] + w * (1 - c["balance"])  # noqa: E731
    best = min(fits, key=short)
    return best if short(best) <= 0.75 * short(head) and short(best) < short(head) else head


def main():
    ap = run_parser(__doc__.split("\n\n")[0])
    ap.add_argument("--imbalance", type=float, default=1.0)
    ap.add_argument("--weights", default="0,0.1,0.2,0.3")
    a = ap.parse_args()
    x, logits, labels, perm = load_run(a)
    keep = np.random.RandomState(1).rand(len(x)) < a.imbalance ** (labels / (a.classes - 1.0))
    held_n = int(round(a.val_split * keep[perm[:a.val_split]].mean()))
    perm = perm[keep[perm]]
    held, pool = perm[:held_n], perm[held_n:][:5000]
    near = neighbours(torch.from_numpy(x[pool]), 10).numpy()
    candidate = candidate_maker(near, labels[held], a.classes)
    head = candidate("head", logits[pool].argmax(1), logits[held].argmax(1))
    fits = kmeans_fits(x, pool, held, a.classes, a.fits, candidate)
    labels_balance = balance(labels[pool], a.classes)
    out = {"held_out": int(len(held)), "labels_balance": round(labels_balance, 4),
           "head": {k: round(v, 4) for k, v in head.items() if k != "name"}}
    for w in [float(s) for s in a.weights.split(",")]:
        c = choose(head, fits, w)
        out["w=%g" % w] = {"chosen": c["name"], "agreement": round(c["agreement"], 4),
                           "balance": round(c["balance"], 4), "acc": round(c["acc"], 4),
                           "labels_charge": round(w * (1 - labels_balance), 4)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
