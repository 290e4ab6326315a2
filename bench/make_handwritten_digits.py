#!/usr/bin/env python3
"""Real handwriting as an IDX set: the 1,797 8x8 digits (43 writers) that
Debian's python3-sklearn ships (sklearn/datasets/data/digits.csv.gz),
enlarged to 20x20 (bicubic) and centred in 28x28 as MNIST's digits are.

The only real handwriting this machine can install: a check, on images
nobody generated, of what the generated digits (make_digits.py) suggest.
Not a benchmark of any published figure; the images are far smaller
than MNIST's, so their strokes are soft.

    make_handwritten_digits.py OUT [--test 297] [--seed 0]

writes OUT/{train,t10k}-{images,labels}-idx*-ubyte (a seeded split).
Needs python3-sklearn (apt), for its data file only.
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

from make_digits import write_idx

DATA = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"


def load():
    if not os.path.exists(DATA):
        raise SystemExit(f"make_handwritten_digits.py: {DATA} not found (apt install python3-sklearn)")
    with gzip.open(DATA, "rt") as f:
        rows = np.loadtxt(f, delimiter=",")
    return rows[:, :64].reshape(-1, 8, 8), rows[:, 64].astype(np.uint8)


def to_28(x8):
    big = Image.fromarray((x8 * (255.0 / 16.0)).astype(np.uint8)).resize((20, 20), Image.BICUBIC)
    out = np.zeros((28, 28), np.uint8)
    out[4:24, 4:24] = np.asarray(big)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--test", type=int, default=297)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    x8, y = load()
    images = np.stack([to_28(i) for i in x8])
    order = np.random.default_rng(a.seed).permutation(len(y))
    test, train = order[: a.test], order[a.test:]
    os.makedirs(a.out, exist_ok=True)
    for name, idx in (("train", train), ("t10k", test)):
        write_idx(os.path.join(a.out, f"{name}-images-idx3-ubyte"), images[idx])
        write_idx(os.path.join(a.out, f"{name}-labels-idx1-ubyte"), y[idx])
    print(f"{a.out}: {len(train)} training and {len(test)} test images, 28x28, 10 classes")


if __name__ == "__main__":
    main()
