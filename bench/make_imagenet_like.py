#!/usr/bin/python3
"""Writes an ImageNet-like folder of JPEGs for the loader benchmark
(bench/loader_side_by_side.sh): OUT/<class>/*.jpg, one class per photograph
that Debian's python3-skimage ships in its data folder.

ImageNet's training images average about 400 x 350 pixels and 110 KB. Each
image here is a random crop of its class's photo (side 35-100% of the
photo's shorter side, aspect 3/4-4/3, random horizontal flip) resized with
bicubic filtering to a random size (width 300-500, height 260-440: mean
400 x 350; both times --size-scale, e.g. 3 for photos of about 1200 x 1050
as a camera's, downsized), with Gaussian grain (sigma --noise grey levels) added, as a
resampled photo is smoother than a camera's, and saved as baseline JPEG at
--quality with 4:2:0 chroma subsampling (as most of ImageNet). The defaults
give files of about 110 KB; the script prints the mean size and pixel count.
Speed only: the classes are not meant to be learnt.

    bench/make_imagenet_like.py OUT [--images 1000] [--quality 96] [--noise 14] [--size-scale 1] [--seed 0]
"""
import argparse
import os

import numpy as np
from PIL import Image
from skimage import data

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
          "retina.jpg", "rocket.jpg", "motorcycle_left.png", "grass.png", "gravel.png"]


def photos():
    out = {}
    for name in PHOTOS:
        try:
            img = Image.open(os.path.join(os.path.dirname(data.__file__), name)).convert("RGB")
        except OSError as e:  # a photo the installed version lacks
            print(f"skipping {name}: {e}")
            continue
        out[os.path.splitext(name)[0]] = img
    return out


def sample(img, rng, noise, size_scale):
    w, h = img.size
    side = rng.uniform(0.35, 1.0) * min(w, h)
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    cw, ch = min(w, side * np.sqrt(aspect)), min(h, side / np.sqrt(aspect))
    x, y = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    size = (int(rng.integers(300, 501) * size_scale), int(rng.integers(260, 441) * size_scale))
    out = img.resize(size, Image.BICUBIC, box=(x, y, x + cw, y + ch))
    if rng.random() < 0.5:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
    pixels = np.asarray(out, dtype=np.float32) + rng.normal(0, noise, (size[1], size[0], 3))
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--images", type=int, default=1000, help="images in all, spread evenly over the classes")
    ap.add_argument("--quality", type=int, default=96, help="JPEG quality (PIL's scale)")
    ap.add_argument("--noise", type=float, default=14.0, help="grain: Gaussian sigma in grey levels")
    ap.add_argument("--size-scale", type=float, default=1.0, help="multiplies both sides of every image")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    by_class = photos()
    names = sorted(by_class)
    total_bytes = total_pixels = 0
    for i in range(a.images):
        name = names[i % len(names)]
        os.makedirs(os.path.join(a.out, name), exist_ok=True)
        img = sample(by_class[name], rng, a.noise, a.size_scale)
        path = os.path.join(a.out, name, f"{i:07d}.jpg")
        img.save(path, "JPEG", quality=a.quality, subsampling="4:2:0")
        total_bytes += os.path.getsize(path)
        total_pixels += img.size[0] * img.size[1]
    print(f"{a.images} images in {len(names)} classes under {a.out}: mean {total_bytes / a.images / 1000:.1f} KB, "
          f"{total_pixels / a.images / 1000:.1f} kilopixels")


if __name__ == "__main__":
    main()
