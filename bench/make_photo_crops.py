#!/usr/bin/env python3
"""A labelled folder of small RGB images with natural-photo statistics.

Each class is one of the photographs that Debian's python3-skimage ships in
its data folder (eight colour photos and two grey textures, read as RGB);
each image is a random crop of that photo (random
position, side 12-45% of the photo's shorter side, random aspect 3/4-4/3,
random horizontal flip) resized to SIZE x SIZE with bilinear filtering and
saved as PNG. The classes share nothing but natural-image statistics, so a
method that learns only from a data set's own images must find what tells
the photos' textures and colours apart. Not a benchmark of any published
figure: a stand-in for "a user's folder of photos" that any machine with
python3-skimage can make.

    make_photo_crops.py OUT [--train 10000] [--test 2000] [--size 32] [--seed 0]

writes OUT/train/<class>/*.png and OUT/test/<class>/*.png (the folder:DIR
layout with a train/test split).
"""
import argparse
import os

import numpy as np
from PIL import Image
from skimage import data

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
          "retina.jpg", "rocket.jpg", "motorcycle_left.png", "grass.png", "gravel.png"]


def photo(name):
    return Image.open(os.path.join(os.path.dirname(data.__file__), name)).convert("RGB")


def crop(img, size, rng):
    w, h = img.size
    side = rng.uniform(0.12, 0.45) * min(w, h)
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    cw, ch = min(w, side * np.sqrt(aspect)), min(h, side / np.sqrt(aspect))
    x, y = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    out = img.resize((size, size), Image.BILINEAR, box=(x, y, x + cw, y + ch))
    return out.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=10000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    photos = {}
    for name in PHOTOS:
        try:
            photos[os.path.splitext(name)[0]] = photo(name)
        except OSError as e:  # a photo the installed version lacks
            print(f"skipping {name}: {e}")
    names = sorted(photos)
    for split, n in (("train", a.train), ("test", a.test)):
        labels = rng.integers(0, len(names), n)
        for i, c in enumerate(labels):
            d = os.path.join(a.out, split, names[c])
            os.makedirs(d, exist_ok=True)
            crop(photos[names[c]], a.size, rng).save(os.path.join(d, f"{i:06d}.png"))
    print(f"{a.out}: {len(names)} classes ({', '.join(names)}), {a.train} train + {a.test} test, {a.size}x{a.size} RGB")


if __name__ == "__main__":
    main()
