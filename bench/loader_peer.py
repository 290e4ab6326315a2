#!/usr/bin/python3
"""The torchvision peer of build/loader_bench: images per second that
torchvision's ImageFolder + DataLoader (PIL decoding, worker processes)
decode and augment into two views per image, the paper's two global views
(the transforms of bench/reference_twist.py, imported: bicubic
RandomResizedCrop, flip, colour jitter 0.8, grayscale 0.2, PIL Gaussian blur
1.0 / 0.1, solarize 0 / 0.2, ToTensor; their one-channel Normalize replaced
by ImageNet's three-channel statistics).

    /usr/bin/python3 bench/loader_peer.py DIR [--workers 2] [--batch 64] [--batches 10]
                                          [--size 224] [--scale-min 0.08] [--seed 0]

The clock starts when the first batch arrives (worker start-up excluded, as
in loader_bench) and stops after `--batches` more; one JSON object on stdout.
"""
import argparse
import json
import os
import sys
import time

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_twist import view_transform  # noqa: E402

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class TwoViews:
    def __init__(self, size, scale_min):
        self.views = [view_transform(size, (scale_min, 1.0), 1.0, 0.0, 0, 1),
                      view_transform(size, (scale_min, 1.0), 0.1, 0.2, 0, 1)]
        for v in self.views:  # the reference normalizes one grey channel; these are RGB
            v.transforms[-1] = torchvision.transforms.Normalize(MEAN, STD)

    def __call__(self, img):
        return [v(img) for v in self.views]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batches", type=int, default=10, help="batches timed after the first")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--scale-min", type=float, default=0.08)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    data = torchvision.datasets.ImageFolder(a.dir, transform=TwoViews(a.size, a.scale_min))
    gen = torch.Generator().manual_seed(a.seed)
    loader = torch.utils.data.DataLoader(data, batch_size=a.batch, shuffle=True, num_workers=a.workers,
                                         drop_last=True, generator=gen)
    if len(loader) < a.batches + 1:
        sys.exit(f"loader_peer: {a.dir} holds {len(data)} images, fewer than {a.batches + 1} batches of {a.batch}")
    it = iter(loader)
    views, _ = next(it)
    t0 = time.perf_counter()
    for _ in range(a.batches):
        views, _ = next(it)
    seconds = time.perf_counter() - t0
    assert len(views) == 2 and tuple(views[0].shape) == (a.batch, 3, a.size, a.size)
    images = a.batches * a.batch
    print(json.dumps({"images_per_s": images / seconds, "seconds": seconds, "images": images,
                      "workers": a.workers, "batch": a.batch, "size": a.size, "scale_min": a.scale_min}))


if __name__ == "__main__":
    main()
