#!/usr/bin/env python3
"""Prototype: a C-class head trained on a finished run's frozen backbone
features with the TWIST loss, where the second "view" of an image is one of
its k nearest neighbours in feature space instead of another augmentation
(SCAN's neighbour step, with TWIST's loss). Measures whether the neighbour
graph of features that kNN finds good (digits: kNN 0.998) gives better and
steadier clusters than the head trained on augmentations (digits: 0.78-0.92
between seeds). Labels are read only to score.

    twist embed --run RUN --data SPEC@train --out /tmp/f/train.npy --json
    /usr/bin/python3 bench/neighbor_heads.py /tmp/f/train.npy --val-split N --classes 10 --seeds 0,1,2

--val-split N scores on the N training images that `twist train --val-split
N` held out (the same seeded permutation) and trains on the others. The head,
the loss and the cluster metrics are bench/reference_twist.py's. Needs
Debian's python3-torch, python3-torchvision and python3-scipy.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_twist as R  # noqa: E402  (the head, the loss and the cluster metrics)


def neighbours(x, k, chunk=4096):
    out = []
    for s in range(0, len(x), chunk):
        sim = x[s:s + chunk] @ x.T
        sim[torch.arange(sim.size(0)), torch.arange(s, s + sim.size(0))] = -2  # not itself
        out.append(sim.topk(k, dim=1).indices)
    return torch.cat(out)


def run(train, nbr, ev, ev_labels, a, seed):
    torch.manual_seed(seed)
    h = R.projection_head(train.size(1), a.hidden, a.classes)
    opt = torch.optim.Adam(h.parameters(), lr=a.lr, weight_decay=1e-4)
    n, steps = len(train), a.epochs * (len(train) // a.batch)
    for step in range(steps):
        idx = torch.randint(0, n, (a.batch,))
        j = nbr[idx, torch.randint(0, nbr.size(1), (a.batch,))]
        # twist's temperature mode "all": every term on softmax(logits / tau)
        loss, _ = R.pair_loss(h(train[idx]) / a.tau, h(train[j]) / a.tau, a.alpha, a.beta)
        opt.zero_grad()
        loss.backward()
        opt.step()
    h.eval()
    with torch.no_grad():
        pred = h(ev).argmax(1).numpy()
    m = R.cluster_metrics(pred, ev_labels)
    return {"seed": seed, "acc": round(m["acc"], 4), "nmi": round(m["nmi"], 4), "clusters_used": int(len(np.unique(pred))),
            "final_loss": round(float(loss), 4)}


def val_permutation(n):
    """twist's fixed validation permutation (src/data/splits.cpp): randperm
    with a CPU generator seeded by splitmix64 of (20211231, 0)."""
    m = (1 << 64) - 1
    z = (20211231 * 0x9E3779B97F4A7C15 + 0 + 0x632BE59BD9B4E019) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    z ^= z >> 31
    g = torch.Generator().manual_seed(z)
    return torch.randperm(n, generator=g)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("train")
    ap.add_argument("--val-split", type=int, required=True)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--tau", type=float, default=0.25)
    ap.add_argument("--alpha", type=float, default=2.0)
    ap.add_argument("--beta", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seeds", default="0")
    a = ap.parse_args()
    torch.set_num_threads(1)
    norm = lambda x: torch.nn.functional.normalize(torch.from_numpy(np.load(x)).float(), dim=1)
    train, tlab = norm(a.train), torch.from_numpy(np.load(a.train[:-4] + ".labels.npy"))
    perm = val_permutation(len(train))
    ev, ev_labels = train[perm[:a.val_split]], tlab[perm[:a.val_split]].numpy()
    train, tlab = train[perm[a.val_split:]], tlab[perm[a.val_split:]]
    t0 = time.time()
    nbr = neighbours(train, a.k)
    purity = float((tlab[nbr] == tlab[:, None]).float().mean())
    # a check that the split is the run's: its summary's knn_top1 is close
    knn = R.knn_top1(train, tlab.numpy(), ev, ev_labels)
    print(json.dumps({"pool": len(train), "eval": len(ev), "knn_top1": round(knn, 4)}), flush=True)
    for s in [int(x) for x in a.seeds.split(",")]:
        r = run(train, nbr, ev, ev_labels, a, s)
        r.update(k=a.k, neighbour_purity=round(purity, 4), seconds=round(time.time() - t0, 1))
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
