#!/usr/bin/env python3
"""A labelled folder of small RGB images: shapes on photo backgrounds.

A harder stand-in for a user's folder of photos than make_photo_crops.py,
whose classes are one photo each and so differ in colour and texture, which
pixels already tell apart. Here, as in a photo data set of objects, the class
is the shape of an object and nothing else: ten shapes (disk, square,
triangle, star, cross, ring, crescent, arrow, hexagon, bar pair), each drawn
with a random size (45-85% of the image side), position, rotation and aspect,
filled with a random crop of one photo, tinted, and laid with an
anti-aliased edge and a soft shadow on a random crop of another. The photos
are those Debian's python3-skimage ships in its data folder, so colour and
texture carry no label: a method must learn shape, invariant to colour,
texture and background. Not a benchmark of any published figure.

    make_objects.py OUT [--train 50000] [--test 10000] [--size 32] [--seed 0] [--label-by shape]

writes OUT/train/<class>/*.png and OUT/test/<class>/*.png (the folder:DIR
layout with a train/test split). `--label-by background` files the same
images (same seed, same pixels) by the photo behind the shape instead: with
`twist eval cluster --data folder:OUT` it tells whether a run's classes
follow the shapes or the backgrounds.
"""
import argparse
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from skimage import data

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png", "retina.jpg",
          "rocket.jpg", "motorcycle_left.png", "grass.png", "gravel.png", "brick.png", "camera.png",
          "coins.png", "moon.png", "page.png"]
SHAPES = ["disk", "square", "triangle", "star", "cross", "ring", "crescent", "arrow", "hexagon", "bars"]
SUPER = 4  # shapes are drawn at this many times the output size, then reduced: anti-aliased edges


def regular(n, r, phase=0.0):
    a = phase + np.arange(n) * 2 * np.pi / n
    return np.stack([r * np.cos(a), r * np.sin(a)], 1)


def outline(shape):
    """Polygons (lists of (x, y) in [-1, 1]) whose union is the shape, and holes cut from it."""
    if shape == "disk":
        return [regular(48, 1.0)], []
    if shape == "square":
        return [regular(4, 1.0, np.pi / 4)], []
    if shape == "triangle":
        return [regular(3, 1.0, -np.pi / 2)], []
    if shape == "star":
        outer, inner = regular(5, 1.0, -np.pi / 2), regular(5, 0.42, -np.pi / 2 + np.pi / 5)
        return [np.stack([outer, inner], 1).reshape(-1, 2)], []
    if shape == "cross":
        w = 0.32
        return [np.array([[-1, -w], [1, -w], [1, w], [-1, w]]), np.array([[-w, -1], [w, -1], [w, 1], [-w, 1]])], []
    if shape == "ring":
        return [regular(48, 1.0)], [regular(48, 0.55)]
    if shape == "crescent":
        return [regular(48, 1.0)], [regular(48, 0.85) + np.array([0.45, -0.15])]
    if shape == "arrow":
        return [np.array([[-1, -0.25], [0.15, -0.25], [0.15, -0.7], [1, 0], [0.15, 0.7], [0.15, 0.25], [-1, 0.25]])], []
    if shape == "hexagon":
        return [regular(6, 1.0)], []
    if shape == "bars":
        return [np.array([[-0.9, -1], [-0.25, -1], [-0.25, 1], [-0.9, 1]]),
                np.array([[0.25, -1], [0.9, -1], [0.9, 1], [0.25, 1]])], []
    raise ValueError(shape)


def mask(shape, side, rng):
    """The shape's coverage in [0, 255], side x side, randomly placed, scaled, stretched and rotated."""
    big = side * SUPER
    angle = rng.uniform(-np.pi, np.pi)
    stretch = np.exp(rng.uniform(np.log(0.75), np.log(1.33)))
    radius = rng.uniform(0.45, 0.85) * big / 2
    centre = big / 2 + rng.uniform(-0.15, 0.15, 2) * big
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    def place(p):
        q = (p * np.array([stretch, 1 / stretch])) @ rot.T * radius + centre
        return [tuple(v) for v in q]

    img = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(img)
    polys, holes = outline(shape)
    for p in polys:
        draw.polygon(place(p), fill=255)
    for p in holes:
        draw.polygon(place(p), fill=0)
    return img.resize((side, side), Image.BOX)


def crop(img, side, rng, lo=0.15, hi=0.6):
    w, h = img.size
    s = rng.uniform(lo, hi) * min(w, h)
    x, y = rng.uniform(0, w - s), rng.uniform(0, h - s)
    out = img.resize((side, side), Image.BILINEAR, box=(x, y, x + s, y + s))
    return out.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else out


def tint(img, rng):
    """Scales each channel and brightness at random: colour is no cue to the class."""
    x = np.asarray(img, dtype=np.float32) * rng.uniform(0.5, 1.5, 3) * rng.uniform(0.6, 1.4)
    return Image.fromarray(np.clip(x, 0, 255).astype(np.uint8))


def image(shape, photos, side, rng):
    """The image and the index of its background photo."""
    behind = rng.integers(len(photos))
    back = crop(photos[behind], side, rng, 0.2, 1.0)
    fill = tint(crop(photos[rng.integers(len(photos))], side, rng), rng)
    m = mask(shape, side, rng)
    shadow = m.filter(ImageFilter.GaussianBlur(side / 24)).transform(
        m.size, Image.AFFINE, (1, 0, -side / 20, 0, 1, -side / 20))
    dark = Image.fromarray((np.asarray(back, dtype=np.float32) * 0.45).astype(np.uint8))
    back = Image.composite(dark, back, shadow.point(lambda v: v * 0.7))
    return Image.composite(fill, back, m), behind


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=50000)
    ap.add_argument("--test", type=int, default=10000)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label-by", choices=["shape", "background"], default="shape")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    root = os.path.dirname(data.__file__)
    photos, names = [], []
    for name in PHOTOS:
        try:
            photos.append(Image.open(os.path.join(root, name)).convert("RGB"))
            names.append(os.path.splitext(name)[0])
        except OSError as e:  # a photo the installed version lacks
            print(f"skipping {name}: {e}")
    if len(photos) < 2:
        raise SystemExit(f"make_objects.py: fewer than 2 photos under {root} (apt install python3-skimage)")
    for split, n in (("train", a.train), ("test", a.test)):
        labels = rng.integers(0, len(SHAPES), n)
        for i, c in enumerate(labels):
            im, behind = image(SHAPES[c], photos, a.size, rng)
            d = os.path.join(a.out, split, SHAPES[c] if a.label_by == "shape" else names[behind])
            os.makedirs(d, exist_ok=True)
            im.save(os.path.join(d, f"{i:06d}.png"))
    classes = len(SHAPES) if a.label_by == "shape" else len(photos)
    print(f"{a.out}: {classes} classes by {a.label_by}, {a.train} train + {a.test} test, {a.size}x{a.size} RGB, "
          f"{len(photos)} photos")


if __name__ == "__main__":
    main()
