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


def balance(ids, k):
    """H(cluster shares) / ln k: 1 when the k clusters are equally full."""
    p = np.bincount(ids, minlength=k) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / np.log(k))


def candidate_maker(near, held_labels, classes):
    """candidate(name, ids, held_ids): a partition's neighbour agreement and
    balance on the pool (ids) and its held-out cluster accuracy (held_ids)."""
    def candidate(name, ids, held_ids):
        return {"name": name, "agreement": agreement(near, ids), "balance": balance(ids, classes),
                "acc": cluster_metrics(held_ids, held_labels)["acc"]}
    return candidate


def kmeans_fits(z, pool, held, classes, fits, candidate, name="kmeans"):
    """`fits` spherical k-means restarts on z[pool] (one seeded stream), each
    a candidate whose held-out images go to their nearest centre."""
    rng, out = np.random.RandomState(0), []
    for i in range(fits):
        ids, _, centres = lloyd(z[pool], seed_centres(z[pool], classes, rng))
        out.append(candidate(name + str(i), ids, (z[held] @ centres.T).argmax(1)))
    return out


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
    candidate = candidate_maker(near, labels[held], a.classes)
    head = logits[pool].argmax(1)
    most = max(kmeans_fits(x, pool, held, a.classes, a.fits, candidate), key=lambda c: c["agreement"])
    means = np.stack([xp[head == k].sum(0) for k in range(a.classes)])
    seeded_ids, _, seeded_centres = lloyd(xp, unit(means))
    out = {"head": candidate("head", head, logits[held].argmax(1)),
           "most_agreeing_of_%d" % a.fits: most,
           "head_seeded_kmeans": candidate("seeded", seeded_ids, (x[held] @ seeded_centres.T).argmax(1))}
    print(json.dumps({k: {"agreement": round(float(c["agreement"]), 4), "acc": round(float(c["acc"]), 4)}
                      for k, c in out.items()}))


if __name__ == "__main__":
    main()
