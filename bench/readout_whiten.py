#!/usr/bin/env python3
"""kNN top-1 of feature rows, raw and whitened, on a validation split.

Cosine kNN is ruled by the few directions of largest variance. ZCA
whitening with the bank's mean and covariance (eigenvalues floored at eps
times the largest) lets every direction count. This prints kNN top-1 on the
rows as they are, centred, and whitened at several eps (and the bank's
participation ratio, the number of directions its variance is spread
over: twist's `--spread-weight` term), for the features
`twist embed` writes or for a data set's pixels (the baseline):

    build/twist embed --run RUN --data fashion-mnist@train --out f.npy
    bench/readout_whiten.py f.npy                     (labels from f.labels.npy)
    bench/readout_whiten.py pixels:fashion-mnist      (Debian's Fashion-MNIST)
    bench/readout_whiten.py pixels:idx:DIR            (DIR/train-images-idx3-ubyte[.gz])

The split is a validation split of the rows (embed the training images: the
test split is never read): a seeded permutation's first fifth (at most
10,000) are the queries, the rest the bank. kNN as twist's: k = 20, votes
weighted exp(cosine / 0.07). twist's own whitened kNN (summary.json's
knn_top1_whitened, `twist eval knn`) uses eps = 1e-4.
"""
import argparse
import gzip
import os

import numpy as np
import torch

FASHION = "/usr/share/datasets/fashion-mnist/"


def read_idx(path):
    raw = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def idx_file(folder, name):
    for candidate in (os.path.join(folder, name), os.path.join(folder, name + ".gz")):
        if os.path.exists(candidate):
            return candidate
    raise SystemExit("no %s in %s" % (name, folder))


def load(spec):
    if spec.startswith("pixels:"):
        folder = FASHION if spec == "pixels:fashion-mnist" else spec[len("pixels:idx:"):]
        x = read_idx(idx_file(folder, "train-images-idx3-ubyte"))
        y = read_idx(idx_file(folder, "train-labels-idx1-ubyte"))
        return torch.tensor(x.reshape(len(x), -1), dtype=torch.float32) / 255, torch.tensor(y, dtype=torch.int64)
    labels = spec[:-len(".npy")] + ".labels.npy"
    return torch.tensor(np.load(spec), dtype=torch.float32), torch.tensor(np.load(labels), dtype=torch.int64)


def knn_top1(bank, bank_labels, query, query_labels, k=20, temperature=0.07):
    unit = torch.nn.functional.normalize
    bank, query = unit(bank, dim=1), unit(query, dim=1)
    classes = int(bank_labels.max()) + 1
    correct = 0
    for i in range(0, len(query), 1000):
        sims, index = (query[i:i + 1000] @ bank.T).topk(k, dim=1)
        votes = torch.zeros(len(sims), classes).scatter_add_(1, bank_labels[index], (sims / temperature).exp())
        correct += int((votes.argmax(1) == query_labels[i:i + 1000]).sum())
    return correct / len(query)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rows", help="FILE.npy (with FILE.labels.npy beside it), pixels:fashion-mnist or pixels:idx:DIR")
    ap.add_argument("--eps", default="1e-1,1e-2,1e-3,1e-4,1e-5", help="comma-separated eigenvalue floors")
    args = ap.parse_args()
    torch.set_num_threads(1)
    x, y = load(args.rows)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    n_query = min(10000, len(x) // 5)
    q, b = order[:n_query], order[n_query:]
    mean = x[b].mean(0)
    centred = x[b] - mean
    evals, evecs = torch.linalg.eigh((centred.T @ centred / len(b)).double())
    out = {"raw": knn_top1(x[b], y[b], x[q], y[q]), "centred": knn_top1(centred, y[b], x[q] - mean, y[q])}
    for eps in (float(e) for e in args.eps.split(",")):
        w = (evecs @ torch.diag((evals.clamp(min=0) + eps * evals.max()).rsqrt()) @ evecs.T).float()
        out["whitened eps %g" % eps] = knn_top1(centred @ w, y[b], (x[q] - mean) @ w, y[q])
    print("%s: %d rows x %d, %d queries" % (args.rows, len(x), x.shape[1], n_query))
    spectrum = evals.clamp(min=0).flip(0)
    print("  participation ratio %.1f of %d dimensions; the 10 largest eigenvalues hold %.0f%% of the variance" %
          (float(spectrum.sum() ** 2 / (spectrum ** 2).sum()), x.shape[1], 100 * float(spectrum[:10].sum() / spectrum.sum())))
    for name, value in out.items():
        print("  %-20s %.4f" % (name, value))


if __name__ == "__main__":
    main()
