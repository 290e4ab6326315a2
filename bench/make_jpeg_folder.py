#!/usr/bin/python3
"""Writes a labelled image folder of small JPEGs for twist's streamed-evaluation
memory measurement: OUT/train/cK/*.jpg and OUT/test/cK/*.jpg, CLASSES classes of
noisy coloured shapes, SIDE x SIDE pixels, seeded.

    bench/make_jpeg_folder.py OUT TRAIN_IMAGES [--test N] [--classes 10] [--side 64]
"""
import argparse
import os
import random

from PIL import Image, ImageDraw


def draw(cls, classes, side, rng):
    hue = int(255 * cls / classes)
    img = Image.new("RGB", (side, side), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    d = ImageDraw.Draw(img)
    for _ in range(3):
        x0, y0 = rng.randrange(side // 2), rng.randrange(side // 2)
        size = rng.randrange(side // 4, side // 2)
        colour = (hue, 255 - hue, (hue * 7) % 256)
        box = [x0, y0, x0 + size, y0 + size]
        (d.ellipse if cls % 2 else d.rectangle)(box, fill=colour)
    return img


def write_split(out, split, n, classes, side, rng):
    for i in range(n):
        cls = i % classes
        folder = os.path.join(out, split, "c%02d" % cls)
        os.makedirs(folder, exist_ok=True)
        draw(cls, classes, side, rng).save(os.path.join(folder, "%07d.jpg" % i), quality=85)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("train", type=int)
    p.add_argument("--test", type=int, default=0, help="test images [train / 4]")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--side", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = random.Random(a.seed)
    write_split(a.out, "train", a.train, a.classes, a.side, rng)
    write_split(a.out, "test", a.test or a.train // 4, a.classes, a.side, rng)


if __name__ == "__main__":
    main()
