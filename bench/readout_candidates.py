#!/usr/bin/env python3
"""Neighbour agreement and held-out accuracy of three cluster read-outs.

Asks whether k-means started from the head's centres would be chosen by
the read-out's criterion (src/eval/cluster_readout.cpp: agreement with the
features' 10 nearest neighbours) where it beats the other candidates by
labels. Nothing is trained; labels only score. Inputs are `twist embed`'s
features and logits of the training images of a run trained with
`--val-split N`:

    twist embed --run RUN --data SPEC@train --out F.npy
    twist embed --run RUN --data SPEC@train --output logits --out L.npy
    bench/readout_candidates.py F.npy L.npy --val-split N [--classes 10] [--fits 50]

The N held-out images (twist's own validation permutation) are scored; up
to 5,000 of the rest are the pool every partition is fitted and its
agreement measured on. Prints, for the head (argmax), the most agreeing
of --fits spherical k-means restarts (one seeded stream) and k-means
started from the head's clusters' unit means: agreement and held-out
cluster accuracy (docs/recipe.md, twenty-eighth round).
"""
import argparse
import json

import numpy as np
import torch

from kmeans_fit_choice import agreement, lloyd, seed_centres, unit
from neighbor_heads import neighbours, val_permutation
from reference_twist import cluster_metrics


def run_parser(description):
    """The arguments every read-out script of a run's embeddings takes."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("features")
    ap.add_argument("logits")
    ap.add_argument("--val-split", type=int, required=True)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--fits", type=int, default=50)
    return ap


def load_features(path):
    """Unit-length features, their labels and twist's validation permutation."""
    x = unit(np.load(path).astype(np.float64))
    labels = np.load(path[:-len(".npy")] + ".labels.npy")
    return x, labels, val_permutation(len(x)).numpy()


def load_run(a):
    """load_features of a.features, and the logits."""
    x, labels, perm = load_features(a.features)
    return x, np.load(a.logits), labels, perm


def main():
    a = run_parser(__doc__.split("\n\n")[0]).parse_args()
    x, logits, labels, perm = load_run(a)
    held, pool = perm[:a.val_split], perm[a.val_split:][:5000]
    xp = x[pool]
    near = neighbours(torch.from_numpy(xp), 10).numpy()
    head = logits[pool].argmax(1)

    def held_acc(centres):
        return cluster_metrics((x[held] @ centres.T).argmax(1), labels[held])["acc"]

    rng = np.random.RandomState(0)
    fits = [lloyd(xp, seed_centres(xp, a.classes, rng)) for _ in range(a.fits)]
    most = max(fits, key=lambda f: agreement(near, f[0]))
    means = np.stack([xp[head == k].sum(0) for k in range(a.classes)])
    seeded = lloyd(xp, unit(means))
    out = {"head": (agreement(near, head), cluster_metrics(logits[held].argmax(1), labels[held])["acc"]),
           "most_agreeing_of_%d" % a.fits: (agreement(near, most[0]), held_acc(most[2])),
           "head_seeded_kmeans": (agreement(near, seeded[0]), held_acc(seeded[2]))}
    print(json.dumps({k: {"agreement": round(float(g), 4), "acc": round(float(c), 4)} for k, (g, c) in out.items()}))


if __name__ == "__main__":
    main()
