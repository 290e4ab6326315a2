#!/usr/bin/env python3
"""How much of the frame a data set's images fill: the ground for a crop
scale read from the data.

A random-resized crop of a fixed share of the frame keeps less of an
object the less of the frame the object fills: a 40% crop of a
garment that fills the frame keeps most of it, of a centred digit in
its 20x20 box often one loop. This measures, on a seeded sample of the
training images in grey, the share of the frame taken by the box
around every pixel that differs from the image's border (its median)
by more than a tenth of the range, and the share of such pixels.

    bench/content_fill.py idx:DIR | folder:DIR | fashion-mnist [--sample 1000]

(idx: DIR/train-images-idx3-ubyte[.gz]; folder: DIR/train/<class>/*.)
"""
import argparse
import glob
import os

import numpy as np
from PIL import Image

from reference_twist import read_idx  # IDX bytes, raw or gzipped

FASHION = "/usr/share/datasets/fashion-mnist"


def sample(spec, n, rng):
    if spec == "fashion-mnist" or spec.startswith("idx:"):
        d = FASHION if spec == "fashion-mnist" else spec[4:]
        path = next((p for p in (os.path.join(d, "train-images-idx3-ubyte" + z) for z in ("", ".gz"))
                     if os.path.exists(p)), None)
        if path is None:
            raise SystemExit(f"content_fill.py: no train-images-idx3-ubyte[.gz] in {d}")
        x = read_idx(path)
        return x[rng.choice(len(x), min(n, len(x)), replace=False)].astype(np.float32)
    files = sorted(glob.glob(os.path.join(spec[len("folder:"):], "train", "*", "*")))
    files = [files[i] for i in rng.choice(len(files), min(n, len(files)), replace=False)]
    return [np.asarray(Image.open(f).convert("L"), np.float32) for f in files]


def fill(x):
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    ink = np.abs(x - np.median(border)) > 0.1 * 255
    if not ink.any():
        return 0.0, 0.0
    ys, xs = np.nonzero(ink)
    return (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1) / x.size, ink.mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data")
    ap.add_argument("--sample", type=int, default=1000)
    a = ap.parse_args()
    box, ink = np.array([fill(x) for x in sample(a.data, a.sample, np.random.default_rng(0))]).mean(0)
    print(f"{a.data}: box {box:.3f} of the frame, differing pixels {ink:.3f}")


if __name__ == "__main__":
    main()
