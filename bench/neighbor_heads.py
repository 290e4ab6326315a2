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
N` held out (the same seeded permutation) and trains on the others; or give
the features of an evaluation split as a second file. Needs numpy and torch
(Debian: python3-torch).
"""
import argparse
import json
import time

import numpy as np
import torch


def hungarian_accuracy(pred, labels, k):
    """Best one-to-one match of clusters to classes (Kuhn-Munkres on the
    k x k count table, maximising matched counts)."""
    n = max(k, int(labels.max()) + 1)
    count = np.zeros((n, n))
    np.add.at(count, (pred, labels), 1)
    cost = count.max() - count
    # e-maxx formulation, 1-based potentials
    u, v, p, way = np.zeros(n + 1), np.zeros(n + 1), np.zeros(n + 1, int), np.zeros(n + 1, int)
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv, used = np.full(n + 1, np.inf), np.zeros(n + 1, bool)
        while True:
            used[j0] = True
            i0, delta, j1 = p[j0], np.inf, 0
            for j in range(1, n + 1):
                if not used[j]:
                    cur = cost[i0 - 1, j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(n + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    matched = sum(count[p[j] - 1, j - 1] for j in range(1, n + 1) if p[j] > 0)
    return matched / len(labels)


def nmi(pred, labels):
    count = np.zeros((pred.max() + 1, labels.max() + 1))
    np.add.at(count, (pred, labels), 1)
    pxy = count / count.sum()
    px, py = pxy.sum(1, keepdims=True), pxy.sum(0, keepdims=True)
    nz = pxy > 0
    mi = (pxy[nz] * np.log(pxy[nz] / (px @ py)[nz])).sum()
    hx, hy = -(px[px > 0] * np.log(px[px > 0])).sum(), -(py[py > 0] * np.log(py[py > 0])).sum()
    return float(2 * mi / (hx + hy)) if hx + hy > 0 else 0.0


def neighbours(x, k, chunk=4096):
    out = []
    for s in range(0, len(x), chunk):
        sim = x[s:s + chunk] @ x.T
        sim[torch.arange(sim.size(0)), torch.arange(s, s + sim.size(0))] = -2  # not itself
        out.append(sim.topk(k, dim=1).indices)
    return torch.cat(out)


def entropy(p, eps=1e-8):
    return -(p * (p + eps).log()).sum(-1)


def twist_loss(z1, z2, tau, alpha, beta):
    p1, p2 = torch.softmax(z1 / tau, 1), torch.softmax(z2 / tau, 1)
    kl = 0.5 * ((p1 * ((p1 + 1e-8).log() - (p2 + 1e-8).log())).sum(1).mean()
                + (p2 * ((p2 + 1e-8).log() - (p1 + 1e-8).log())).sum(1).mean())
    sharp = 0.5 * (entropy(p1).mean() + entropy(p2).mean())
    div = 0.5 * (entropy(p1.mean(0)) + entropy(p2.mean(0)))
    return kl + alpha * sharp - beta * div


def head(d, hidden, c):
    return torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.BatchNorm1d(hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, c), torch.nn.BatchNorm1d(c, affine=False))


def run(train, nbr, ev, ev_labels, a, seed):
    torch.manual_seed(seed)
    h = head(train.size(1), a.hidden, a.classes)
    opt = torch.optim.Adam(h.parameters(), lr=a.lr, weight_decay=1e-4)
    n, steps = len(train), a.epochs * (len(train) // a.batch)
    for step in range(steps):
        idx = torch.randint(0, n, (a.batch,))
        j = nbr[idx, torch.randint(0, nbr.size(1), (a.batch,))]
        loss = twist_loss(h(train[idx]), h(train[j]), a.tau, a.alpha, a.beta)
        opt.zero_grad()
        loss.backward()
        opt.step()
    h.eval()
    with torch.no_grad():
        pred = h(ev).argmax(1).numpy()
    return {"seed": seed, "acc": round(hungarian_accuracy(pred, ev_labels, a.classes), 4),
            "nmi": round(nmi(pred, ev_labels), 4), "clusters_used": int(len(np.unique(pred))),
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
    ap.add_argument("eval", nargs="?")
    ap.add_argument("--val-split", type=int, default=0)
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
    if a.val_split > 0:
        perm = val_permutation(len(train))
        ev, ev_labels = train[perm[:a.val_split]], tlab[perm[:a.val_split]].numpy()
        train, tlab = train[perm[a.val_split:]], tlab[perm[a.val_split:]]
    else:
        ev, ev_labels = norm(a.eval), np.load(a.eval[:-4] + ".labels.npy")
    t0 = time.time()
    nbr = neighbours(train, a.k)
    purity = float((tlab[nbr] == tlab[:, None]).float().mean())
    # kNN top-1 of the evaluation rows against the pool (k = 20, majority):
    # a check that the split is the run's (its summary's knn_top1 is close)
    sim = ev @ train.T
    votes = tlab[sim.topk(20, dim=1).indices]
    knn = float((torch.mode(votes, 1).values.numpy() == ev_labels).mean())
    print(json.dumps({"pool": len(train), "eval": len(ev), "knn20_majority": round(knn, 4)}), flush=True)
    for s in [int(x) for x in a.seeds.split(",")]:
        r = run(train, nbr, ev, ev_labels, a, s)
        r.update(k=a.k, neighbour_purity=round(purity, 4), seconds=round(time.time() - t0, 1))
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
