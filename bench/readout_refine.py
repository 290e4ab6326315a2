#!/usr/bin/env python3
"""Does a run's head partition improve when its images' neighbours vote?

Asks whether the head's cluster errors are local (an image whose nearest
neighbours in feature space mostly sit in another cluster, which a vote of
the neighbours repairs) or structural (whole groups of images in the wrong
cluster, which no vote repairs). Nothing is trained; labels only score.
Inputs are `twist embed`'s features and logits of the training images of a
run trained with `--val-split N`:

    twist embed --run RUN --data SPEC@train --out F.npy
    twist embed --run RUN --data SPEC@train --output logits --out L.npy
    bench/readout_refine.py F.npy L.npy --val-split N

The N held-out images (twist's own validation permutation) are scored; the
rest are the pool whose head clusters vote. Read-outs, each scored as
cluster accuracy (Hungarian) and NMI against the held-out labels:
head (argmax), head_centre (nearest unit mean of the pool's head clusters),
seeded_kmeans (spherical k-means on the pool started from those means),
vote_K (the K nearest pool images' head clusters, weighted exp(cos / 0.07)
as twist's kNN), smooth_R (the pool's clusters replaced R times by their
own neighbours' vote, then vote_20). Also prints the head's contingency
table on the held-out images (rows: clusters, columns: classes).
"""
import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F

from neighbor_heads import val_permutation
from reference_twist import cluster_metrics

CHUNK = 1024


def unit_means(x, ids, c):
    s = torch.zeros(c, x.shape[1]).index_add_(0, ids, x)
    return F.normalize(s, dim=1)


def vote(queries, pool, pool_ids, c, k, exclude_self=False):
    out = []
    for b in range(0, len(queries), CHUNK):
        s = queries[b:b + CHUNK] @ pool.T
        if exclude_self:
            s[torch.arange(len(s)), torch.arange(b, b + len(s))] = -2
        w, i = s.topk(k, 1)
        out.append(torch.zeros(len(w), c).scatter_add_(1, pool_ids[i], (w / 0.07).exp()).argmax(1))
    return torch.cat(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("features")
    ap.add_argument("logits")
    ap.add_argument("--val-split", type=int, required=True)
    a = ap.parse_args()
    x = F.normalize(torch.tensor(np.load(a.features)).float(), dim=1)
    logits = torch.tensor(np.load(a.logits)).float()
    labels = np.load(a.features[:-len(".npy")] + ".labels.npy")
    c = logits.shape[1]
    perm = val_permutation(len(x))
    ev, pool = perm[:a.val_split], perm[a.val_split:]
    xe, xp, he, hp, ye = x[ev], x[pool], logits[ev].argmax(1), logits[pool].argmax(1), labels[ev.numpy()]

    def score(pred):
        m = cluster_metrics(pred.numpy(), ye)
        return {"acc": round(m["acc"], 4), "nmi": round(m["nmi"], 4)}

    out = {"head": score(he)}
    centres = unit_means(xp, hp, c)
    out["head_centre"] = score((xe @ centres.T).argmax(1))
    for _ in range(50):
        centres = unit_means(xp, (xp @ centres.T).argmax(1), c)
    out["seeded_kmeans"] = score((xe @ centres.T).argmax(1))
    for k in (10, 20, 50):
        out[f"vote_{k}"] = score(vote(xe, xp, hp, c, k))
    ids = hp
    for r in (1, 2, 3):
        ids = vote(xp, xp, ids, c, 20, exclude_self=True)
        out[f"smooth_{r}"] = score(vote(xe, xp, ids, c, 20))
    print(json.dumps(out))
    table = np.zeros((c, int(labels.max()) + 1), np.int64)
    np.add.at(table, (he.numpy(), ye), 1)
    print("head clusters (rows) against classes (columns), held-out images:")
    print(table)


if __name__ == "__main__":
    main()
