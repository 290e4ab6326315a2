#!/usr/bin/env python3
"""Which of a run's C-class heads should its clusters come from?

A run with several C-class heads (--cluster-heads N) evaluates the one of
lowest training loss (summary.json's chosen_head). This script asks whether
the read-out's own score (src/eval/cluster_readout.cpp: agreement with the
features' 10 nearest neighbours less 0.2 x (1 - balance of cluster sizes))
picks a better head, alone and inside the whole read-out rule (the head
candidate against the highest-scoring of --fits spherical k-means restarts,
k-means taken when it removes a quarter of the head's shortfall 1 - score);
and whether the heads' partitions, where they disagree, combine into a
better one: a consensus, the highest-scoring of --fits spherical k-means
restarts on every head's probabilities (softmax(logits / --temperature))
side by side.
Nothing is trained; labels only score. Inputs:

    twist embed --run RUN --data SPEC@train --out F.npy
    twist embed --run RUN --data SPEC@train --output logits --head H --out L_H.npy   (H = 0 ... N-1)
    bench/readout_heads.py F.npy L_0.npy ... --val-split V --summary RUN/summary.json

The V held-out images (twist's own validation permutation) are scored; the
scores are measured on at most 5,000 of the rest. Prints one JSON line:
per head its training loss, agreement, balance, score and held-out cluster
accuracy; the head of lowest loss and the head of highest score; the
whole rule's held-out accuracy with either as the head candidate; and the
consensus' score and held-out accuracy.
"""
import argparse
import json

import numpy as np
import torch

from kmeans_fit_choice import unit
from neighbor_heads import neighbours
from readout_balance import choose
from readout_candidates import candidate_maker, kmeans_fits, load_features

WEIGHT = 0.2  # kReadoutBalanceWeight


def score(c):
    return c["agreement"] - WEIGHT * (1 - c["balance"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("features")
    ap.add_argument("heads", nargs="+", help="each head's logits, head 0 first")
    ap.add_argument("--val-split", type=int, required=True)
    ap.add_argument("--summary", required=True, help="the run's summary.json (heads' losses)")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--fits", type=int, default=50)
    ap.add_argument("--temperature", type=float, default=0.25, help="the run's tau")
    a = ap.parse_args()
    x, labels, perm = load_features(a.features)
    held, pool = perm[:a.val_split], perm[a.val_split:][:5000]
    near = neighbours(torch.from_numpy(x[pool]), 10).numpy()
    losses = [h["loss"] for h in json.load(open(a.summary))["cluster_heads"]]
    candidate = candidate_maker(near, labels[held], a.classes)

    heads, probs = [], []
    for i, path in enumerate(a.heads):
        logits = np.load(path).astype(np.float64)
        z = np.exp(logits / a.temperature - (logits / a.temperature).max(1, keepdims=True))
        probs.append(z / z.sum(1, keepdims=True))
        heads.append(dict(candidate("head%d" % i, logits[pool].argmax(1), logits[held].argmax(1)), loss=losses[i]))
    by_loss = min(heads, key=lambda h: h["loss"])
    by_score = max(heads, key=score)

    fits = kmeans_fits(x, pool, held, a.classes, a.fits, candidate)
    consensus = max(kmeans_fits(unit(np.concatenate(probs, 1)), pool, held, a.classes, a.fits, candidate, "consensus"),
                    key=score)
    r = lambda v: round(v, 4)  # noqa: E731
    out = {"heads": [{k: (r(v) if k != "name" else v) for k, v in dict(h, score=score(h)).items()} for h in heads],
           "by_loss": by_loss["name"], "by_loss_acc": r(by_loss["acc"]),
           "by_score": by_score["name"], "by_score_acc": r(by_score["acc"])}
    for name, head in (("rule_by_loss", by_loss), ("rule_by_score", by_score)):
        c = choose(head, fits, WEIGHT)  # the read-out's rule
        out[name] = c["name"]
        out[name + "_acc"] = r(c["acc"])
    out["consensus_score"], out["consensus_acc"] = r(score(consensus)), r(consensus["acc"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
