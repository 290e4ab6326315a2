#!/usr/bin/env python3
"""kNN top-1 of one trained backbone under several feature read-outs.

twist's features are the last stage's global average (what the paper and
every evaluation here use). This asks whether the same weights give better
neighbours when the read-out keeps some layout: a 2 x 2 grid of averages of
the last stage (4x the dimensions), or its global maximum. Nothing is
trained: the backbone is `twist export`'s file of a small-stem ResNet-18 of
any width.

    build/twist export --run RUN --out backbone.pth
    bench/readout_pool.py backbone.pth fashion-mnist
    bench/readout_pool.py backbone.pth folder:DIR      (DIR/train/<class>/*.png)

The split is a validation split of the training images (the test split is
never read): a seeded permutation, its last fifth (at most 10,000) are the
queries, the rest the bank. It is not twist's --val-split (a different seeded
choice), so some queries may have been among a run's unlabelled training
images: compare read-outs of one backbone, not runs. kNN as twist's: cosine,
k = 20, votes weighted exp(similarity / 0.07). Inputs are normalized by the
bank's per-channel mean and standard deviation; a folder's images are
resized to round(side / 0.875) and centre-cropped to side, as twist
evaluates them.
"""
import argparse
import glob
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from reference_twist import BasicBlock, read_idx  # the same blocks; their shortcut is twist's downsample

FASHION = "/usr/share/datasets/fashion-mnist/"


def load_fashion():
    x = torch.tensor(read_idx(FASHION + "train-images-idx3-ubyte.gz")).unsqueeze(1)
    y = torch.tensor(read_idx(FASHION + "train-labels-idx1-ubyte.gz")).long()
    return x.float().div(255), y


def load_folder(root, side):
    from PIL import Image
    files, labels = [], []
    for k, c in enumerate(sorted(os.listdir(root + "/train"))):
        names = sorted(glob.glob(root + "/train/" + c + "/*.png"))
        files += names
        labels += [k] * len(names)
    big = round(side / 0.875)
    off = (big - side) // 2

    def load(p):
        im = Image.open(p).convert("RGB").resize((big, big), Image.BILINEAR)
        return np.asarray(im.crop((off, off, off + side, off + side)))

    x = torch.tensor(np.stack([load(p) for p in files])).permute(0, 3, 1, 2)
    return x.float().div(255), torch.tensor(labels)


class SmallStemResNet18(nn.Module):
    """twist's resnet18 with stem small (3x3 stride-1 conv, no max-pool); returns the last stage's map."""

    def __init__(self, channels, width):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        cin = width
        for i in range(4):
            cout = width << i
            blocks = [BasicBlock(cin, cout, 1 if i == 0 else 2), BasicBlock(cout, cout, 1)]
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
            cin = cout

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


READOUTS = {
    "global average (twist's)": lambda m: m.mean((2, 3)),
    "2x2 grid of averages": lambda m: F.adaptive_avg_pool2d(m, 2).flatten(1),
    "global maximum": lambda m: m.amax((2, 3)),
}


def knn_top1(feats, labels, n_bank, k=20, temperature=0.07):
    f = F.normalize(feats, dim=1)
    bank, queries = f[:n_bank], f[n_bank:]
    classes = int(labels.max()) + 1
    correct = 0
    for i in range(0, len(queries), 1000):
        sim, idx = (queries[i:i + 1000] @ bank.T).topk(k, dim=1)
        votes = torch.zeros(len(idx), classes).scatter_add_(1, labels[:n_bank][idx], (sim / temperature).exp())
        correct += (votes.argmax(1) == labels[n_bank + i:n_bank + i + len(idx)]).sum().item()
    return correct / len(queries)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("backbone", help="twist export's file")
    ap.add_argument("data", help="fashion-mnist or folder:DIR")
    ap.add_argument("--side", type=int, default=32, help="a folder's image side (the run's image size)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.data == "fashion-mnist":
        x, y = load_fashion()
    elif args.data.startswith("folder:"):
        x, y = load_folder(args.data[len("folder:"):], args.side)
    else:
        ap.error("data must be fashion-mnist or folder:DIR")
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))
    x, y = x[perm], y[perm]
    n_bank = len(x) - min(10000, len(x) // 5)
    mean = x[:n_bank].mean((0, 2, 3), keepdim=True)
    std = x[:n_bank].std((0, 2, 3), keepdim=True)
    sd = {k.replace(".downsample.", ".shortcut."): v for k, v in torch.load(args.backbone).items()}
    net = SmallStemResNet18(sd["conv1.weight"].shape[1], sd["conv1.weight"].shape[0])
    missing, unexpected = net.load_state_dict(sd, strict=False)
    if missing or [u for u in unexpected if not u.endswith("num_batches_tracked")]:
        raise SystemExit("not a small-stem resnet18 export: missing %s, unexpected %s" % (missing, unexpected))
    net.eval()
    feats = {name: [] for name in READOUTS}
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            m = net((x[i:i + 1000] - mean) / std)
            for name, readout in READOUTS.items():
                feats[name].append(readout(m))
    print("bank %d, queries %d" % (n_bank, len(x) - n_bank))
    for name, parts in feats.items():
        f = torch.cat(parts)
        print("%-26s %5d dims  kNN top-1 %.4f" % (name, f.shape[1], knn_top1(f, y, n_bank)))
    pixels = x.flatten(1) - x[:n_bank].flatten(1).mean(0)
    print("%-26s %5d dims  kNN top-1 %.4f" % ("centred pixels", pixels.shape[1], knn_top1(pixels, y, n_bank)))


if __name__ == "__main__":
    main()
