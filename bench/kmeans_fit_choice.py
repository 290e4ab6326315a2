#!/usr/bin/env python3
"""Which of several k-means fits should a run's read-out keep?

Compares two rules for picking one spherical k-means fit of a run's
training features: the lowest inertia of 5 k-means++ starts (what the
read-out kept before; `twist eval cluster --method kmeans` still does) and
the highest agreement with the features' 10 nearest neighbours of --fits
starts (the read-out now keeps the most agreeing of 50,
src/eval/cluster_readout.cpp). The agreement is the one
the read-out already uses to choose between the head and k-means: the
chance-corrected share of each image's neighbours in its own cluster.
Nothing is trained; labels only score. Inputs as bench/readout_refine.py's:

    twist embed --run RUN --data SPEC@train --out F.npy
    bench/kmeans_fit_choice.py F.npy --classes C --val-split N [--fits 50]

The N held-out images (twist's own validation permutation) are scored by
their nearest centre; k-means runs on the rest (at most 5,000 of them).
Each rule runs with --repeats different random streams; printed: the mean
and spread of the held-out cluster accuracy under each rule. A numpy port
of twist's k-means (k-means++ seeding, Lloyd until no assignment changes):
the same algorithm, not the same random draws.
"""
import argparse
import json

import numpy as np
import torch

from neighbor_heads import neighbours, val_permutation
from reference_twist import cluster_metrics


def unit(x):
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def seed_centres(x, k, rng):
    picked = [rng.randint(len(x))]
    nearest = np.full(len(x), np.inf)
    for _ in range(1, k):
        nearest = np.minimum(nearest, np.clip(2 - 2 * x @ x[picked[-1]], 0, None))
        total = nearest.sum()
        picked.append(rng.choice(len(x), p=nearest / total) if total > 0 else rng.randint(len(x)))
    return x[picked]


def lloyd(x, centres, iterations=100):
    ids = None
    for _ in range(iterations):
        cos = x @ centres.T
        new, inertia = cos.argmax(1), float((1 - cos.max(1)).sum())
        if ids is not None and (new == ids).all():
            break
        ids = new
        sums = np.eye(len(centres))[ids].T @ x
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centres = np.where(norms > 0, sums / np.clip(norms, 1e-12, None), centres)
    return ids, inertia, centres


def agreement(near, ids):
    observed = (ids[near] == ids[:, None]).mean()
    expected = ((np.bincount(ids) / len(ids)) ** 2).sum()
    return 0.0 if expected >= 1 else (observed - expected) / (1 - expected)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("features")
    ap.add_argument("--classes", type=int, required=True)
    ap.add_argument("--val-split", type=int, required=True)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fits", type=int, default=50, help="starts the agreement chooses from (at least 5)")
    a = ap.parse_args()
    if a.fits < 5:
        ap.error("--fits must be at least 5")
    x = unit(np.load(a.features).astype(np.float64))
    labels = np.load(a.features[:-len(".npy")] + ".labels.npy")
    perm = val_permutation(len(x)).numpy()
    held, pool = perm[:a.val_split], perm[a.val_split:][:5000]
    xp = x[pool]
    near = neighbours(torch.from_numpy(xp), 10).numpy()
    most = "most_agreeing_of_%d" % a.fits
    rules = {"lowest_inertia_of_5": [], most: []}
    for r in range(a.repeats):
        rng = np.random.RandomState(r)
        fits = [lloyd(xp, seed_centres(xp, a.classes, rng)) for _ in range(a.fits)]
        picks = {"lowest_inertia_of_5": min(fits[:5], key=lambda f: f[1]),
                 most: max(fits, key=lambda f: agreement(near, f[0]))}
        for name, (_, _, centres) in picks.items():
            rules[name].append(cluster_metrics((x[held] @ centres.T).argmax(1), labels[held])["acc"])
    print(json.dumps({n: {"acc_mean": round(float(np.mean(v)), 4), "acc_sd": round(float(np.std(v)), 4)}
                      for n, v in rules.items()}))


if __name__ == "__main__":
    main()
