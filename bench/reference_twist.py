#!/usr/bin/env python3
"""The reference recipe: TWIST trained the way the official PyTorch code
(github.com/bytedance/TWIST) trains it, scaled down to Fashion-MNIST on a CPU.
It is the Python side of twist's side-by-side benchmarks (bench/side_by_side.sh,
bench/peer_compute.py, bench/gpu_peer.py) and of bench/peer_val_sweep.py:
plain Python PyTorch, PIL/torchvision augmentation in DataLoader worker
processes, one optimizer step per batch, nothing of twist's C++ code.

What it keeps from the official code:
  * the loss in its form (objective.py's EntLoss): the consistency KL on
    softmax(z), the two entropy terms on softmax(z / tau), eps 1e-5 inside
    every log; total = kl + alpha * sharpness - beta * diversity (the
    official code writes alpha as 1 + lam1); multi-crop pairs (0,1) and
    (g, j) for each global view g and local view j, averaged;
  * the head: Linear-BN-ReLU, Linear-BN-ReLU, Linear, then BatchNorm without
    affine parameters (NBS);
  * LARS as its lars.py computes it: trust ratio eta*|w| / (|g| + wd*|w|),
    the learning rate inside the momentum buffer, biases and other 1-D
    parameters neither decayed nor adapted;
  * the augmentation of its MultiCropAugmentation: random resized crop
    (bicubic), flip, colour jitter (0.4, 0.4, 0.2, 0.1) with p 0.8,
    grey p 0.2, Gaussian blur p 1.0 / 0.1 (global views) and 0.5 (local),
    solarize p 0.2 on the second view;
  * linear warm-up, then cosine decay to 0.001 of the peak learning rate.

What it changes to suit 28-pixel grey images on a CPU: a ResNet-18 with a
small stem (3x3 stride-1 convolution, no max-pool) and a base width of 16,
a head of 512 hidden units and C = 10, views of the images' own size (28),
the blur's sigma scaled by size / 224 (the official code blurs a 96-pixel
local crop with the sigma of a 224-pixel one), normalization with the
training images' own mean and standard deviation, and one process (no
distributed statistics). twist's own differences from the official code are
listed in docs/design.md, section 4.

At the end it embeds the held-out images with the backbone (eval mode, no
augmentation) and prints one JSON object on stdout: steps, images_per_s,
final_loss, knn_top1 (k = 20, cosine, votes weighted by exp(cos / 0.07),
as twist's evaluation) and, when C equals the number of classes, the
cluster accuracy (Hungarian matching), NMI and ARI of the head's argmax.
Progress (the loss every --log-every steps) goes to stderr.

  /usr/bin/python3 bench/reference_twist.py --steps 200
  /usr/bin/python3 bench/reference_twist.py --epochs 5 --lr 0.5
  /usr/bin/python3 bench/reference_twist.py --data idx:/data/mnist --val-split 10000

Needs Debian's python3-torch, python3-torchvision and python3-numpy;
python3-scipy for the cluster accuracy (left out without it).
"""
import argparse
import gzip
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image, ImageFilter, ImageOps

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
EPS = 1e-5  # inside every log, as the official code (--EPS)

# --- data ----------------------------------------------------------------------


def read_idx(path):
    """An IDX file of unsigned bytes (raw or gzipped) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise SystemExit(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    if len(raw) != header + int(np.prod(dims)):
        raise SystemExit(f"{path}: {len(raw) - header} bytes of data, its header declares {int(np.prod(dims))}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def data_dir(spec):
    """The directory a data spec names: fashion-mnist, idx:DIR or DIR."""
    if spec == "fashion-mnist":
        return FASHION_MNIST
    return spec[4:] if spec.startswith("idx:") else spec


def find_file(root, prefixes, kind):
    for prefix in prefixes:
        for suffix in ("", ".gz"):
            p = os.path.join(root, f"{prefix}-{kind}-idx{1 if kind == 'labels' else 3}-ubyte{suffix}")
            if os.path.exists(p):
                return p
    return None


def load_split(root, split):
    """(images N x H x W uint8, labels N int64 or None) of 'train' or 'test'
    (t10k-* or test-*) in an MNIST-format directory."""
    prefixes = ["train"] if split == "train" else ["t10k", "test"]
    images = find_file(root, prefixes, "images")
    if images is None:
        raise SystemExit(f"no {split} images in {root} (expected {prefixes[0]}-images-idx3-ubyte[.gz])")
    x = read_idx(images)
    labels = find_file(root, prefixes, "labels")
    y = read_idx(labels).astype(np.int64) if labels else None
    if y is not None and len(y) != len(x):
        raise SystemExit(f"{labels}: {len(y)} labels for {len(x)} images")
    return x, y


# --- augmentation (the official MultiCropAugmentation, per image, in PIL) ---------


class RandomBlur:
    """Gaussian blur with probability p, sigma uniform in [0.1, 2] * size / 224."""

    def __init__(self, p, size):
        self.p, self.scale = p, size / 224.0

    def __call__(self, img):
        if random.random() >= self.p:
            return img
        return img.filter(ImageFilter.GaussianBlur(radius=random.uniform(0.1, 2.0) * self.scale))


class RandomSolarize:
    """PIL's solarize (pixels at or above 128 inverted) with probability p."""

    def __init__(self, p):
        self.p = p

    def __call__(self, img):
        return ImageOps.solarize(img) if random.random() < self.p else img


def view_transform(size, scale, blur_p, solarize_p, mean, std):
    return T.Compose([
        T.RandomResizedCrop(size, scale=scale, interpolation=T.InterpolationMode.BICUBIC),
        T.RandomHorizontalFlip(p=0.5),
        T.RandomApply([T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        RandomBlur(blur_p, size),
        RandomSolarize(solarize_p),
        T.ToTensor(),
        T.Normalize((mean,), (std,)),
    ])


def multicrop_transforms(size, local_crops, local_size, mean, std, global_scale=(0.4, 1.0),
                         local_scale=(0.05, 0.4)):
    """Two global views (blur 1.0 / 0.1, solarize 0 / 0.2), then the local ones (blur 0.5)."""
    views = [view_transform(size, global_scale, 1.0, 0.0, mean, std),
             view_transform(size, global_scale, 0.1, 0.2, mean, std)]
    return views + [view_transform(local_size, local_scale, 0.5, 0.0, mean, std)] * local_crops


class Views(torch.utils.data.Dataset):
    """Every view of one grey image, each drawn independently."""

    def __init__(self, images, transforms):
        self.images, self.transforms = images, transforms

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = Image.fromarray(self.images[i], mode="L")
        return [t(img) for t in self.transforms]


# --- model ----------------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class SmallResNet18(nn.Module):
    """ResNet-18 for small images: 3x3 stride-1 stem, no max-pool, stages of
    base, 2*base, 4*base and 8*base channels; globally pooled features."""

    def __init__(self, base=16, in_channels=1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, base, 3, 1, 1, bias=False), nn.BatchNorm2d(base), nn.ReLU())
        blocks, cin = [], base
        for stage in range(4):
            cout = base << stage
            for b in range(2):
                blocks.append(BasicBlock(cin, cout, 2 if (b == 0 and stage > 0) else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.feature_dim = cin

    def forward(self, x):
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


def projection_head(in_dim, hidden, classes):
    """The official head: two Linear-BN-ReLU layers, a Linear to C, and NBS."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, classes), nn.BatchNorm1d(classes, affine=False))


class TwistNet(nn.Module):
    def __init__(self, base=16, hidden=512, classes=10, in_channels=1):
        super().__init__()
        self.backbone = SmallResNet18(base, in_channels)
        self.head = projection_head(self.backbone.feature_dim, hidden, classes)

    def forward(self, views):
        """Logits of every view. Consecutive views of one size share a backbone
        pass; the head sees all of them at once, so NBS mixes their statistics
        (the official code's forward)."""
        features, start = [], 0
        while start < len(views):
            end = start
            while end < len(views) and views[end].shape[-2:] == views[start].shape[-2:]:
                end += 1
            features.append(self.backbone(torch.cat(views[start:end])))
            start = end
        return self.head(torch.cat(features)).chunk(len(views))


# --- the loss (official form) ------------------------------------------------------


def kl_div(a, b):
    """mean over samples of KL(a || b), eps inside the logs."""
    return (a * ((a + EPS).log() - (b + EPS).log())).sum(1).mean()


def mean_entropy(p):
    """Sharpness: the mean over samples of each distribution's entropy."""
    return -(p * (p + EPS).log()).sum(1).mean()


def entropy_of_mean(p):
    """Diversity: the entropy of the batch's mean distribution."""
    m = p.mean(0)
    return -(m * (m + EPS).log()).sum()


def pair_loss(z1, z2, alpha=1.0, beta=1.0, tau=1.0):
    """TWIST loss of two views' logits and its three terms."""
    p1, p2 = F.softmax(z1, 1), F.softmax(z2, 1)
    s1, s2 = F.softmax(z1 / tau, 1), F.softmax(z2 / tau, 1)
    consistency = 0.5 * (kl_div(p1, p2) + kl_div(p2, p1))
    sharpness = 0.5 * (mean_entropy(s1) + mean_entropy(s2))
    diversity = 0.5 * (entropy_of_mean(s1) + entropy_of_mean(s2))
    return consistency + alpha * sharpness - beta * diversity, (consistency, sharpness, diversity)


def twist_loss(logits, alpha=1.0, beta=1.0, tau=1.0):
    """Multi-crop: pairs (0, 1) and (g, j) for g in {0, 1}, j >= 2, averaged.
    Returns the total and the averaged terms."""
    pairs = [(0, 1)] + [(g, j) for g in (0, 1) for j in range(2, len(logits))]
    total, terms = 0.0, [0.0, 0.0, 0.0]
    for i, j in pairs:
        loss, t = pair_loss(logits[i], logits[j], alpha, beta, tau)
        total = total + loss
        terms = [a + b for a, b in zip(terms, t)]
    return total / len(pairs), [t / len(pairs) for t in terms]


# --- optimizers ---------------------------------------------------------------------


class Lars(torch.optim.Optimizer):
    """LARS as the official lars.py (LARS_OPENSELF) computes it. For a weight
    (more than one dimension): local_lr = eta * |w| / (|g| + wd * |w|),
    d = (g + wd * w) * local_lr * lr; buf = momentum * buf + d; w -= buf.
    1-D parameters (biases, BatchNorm): local_lr 1 and no weight decay.
    adapt=False is SGD with momentum in the same form (local_lr 1)."""

    def __init__(self, params, lr=0.0, weight_decay=1.5e-6, momentum=0.9, eta=0.001, adapt=True):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, eta=eta, adapt=adapt))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = w.grad
                if w.ndim > 1:
                    wd = group["weight_decay"]
                    local_lr = 1.0
                    if group["adapt"]:
                        wn, gn = w.norm(), g.norm()
                        denom = gn + wd * wn
                        local_lr = torch.where((wn > 0) & (denom > 0), group["eta"] * wn / denom, torch.ones_like(wn))
                    d = g.add(w, alpha=wd).mul(local_lr * group["lr"])
                else:
                    d = g.mul(group["lr"])
                state = self.state[w]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = d.clone()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(d)
                w.sub_(state["momentum_buffer"])


def learning_rate(step, total, warmup, peak):
    """Linear warm-up from 0, then cosine from peak to 0.001 * peak (the
    official utils.adjust_learning_rate without its self-labeling phase)."""
    if step < warmup:
        return peak * step / warmup
    q = 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
    return peak * (q + 0.001 * (1 - q))


# --- evaluation -----------------------------------------------------------------------


@torch.no_grad()
def embed(model, images, mean, std, batch=1000):
    """Backbone features and head logits of un-augmented images, in eval mode."""
    was_training = model.training
    model.eval()
    feats, logits = [], []
    for i in range(0, len(images), batch):
        x = torch.tensor(images[i:i + batch], dtype=torch.float32).div(255).sub(mean).div(std)  # a copy
        f = model.backbone(x.unsqueeze(1))
        feats.append(f)
        logits.append(model.head(f))
    model.train(was_training)
    return torch.cat(feats), torch.cat(logits)


def knn_top1(bank, bank_labels, query, query_labels, k=20, temperature=0.07):
    """Cosine kNN, votes weighted by exp(cos / temperature)."""
    bank, query = F.normalize(bank, dim=1), F.normalize(query, dim=1)
    bank_labels = torch.from_numpy(bank_labels)
    classes = int(max(bank_labels.max().item(), query_labels.max())) + 1
    correct = 0
    for i in range(0, len(query), 500):
        sim, idx = (query[i:i + 500] @ bank.T).topk(k, dim=1)
        votes = torch.zeros(len(sim), classes).scatter_add_(1, bank_labels[idx], (sim / temperature).exp())
        correct += int((votes.argmax(1).numpy() == query_labels[i:i + 500]).sum())
    return correct / len(query)


def cluster_metrics(pred, labels):
    """NMI (arithmetic mean of the entropies), ARI and, with scipy, the accuracy
    after one-to-one Hungarian matching of clusters to classes."""
    k = int(max(pred.max(), labels.max())) + 1
    n = len(labels)
    table = np.zeros((k, k), np.float64)
    np.add.at(table, (pred, labels), 1)
    pi, pj = table.sum(1) / n, table.sum(0) / n
    nz = table > 0
    mi = (table[nz] / n * np.log(table[nz] / n / np.outer(pi, pj)[nz])).sum()
    h = lambda p: -(p[p > 0] * np.log(p[p > 0])).sum()
    denom = 0.5 * (h(pi) + h(pj))
    out = dict(nmi=float(mi / denom) if denom > 0 else 0.0)
    pairs = lambda v: (v * (v - 1) / 2).sum()
    index, rows, cols = pairs(table), pairs(table.sum(1)), pairs(table.sum(0))
    expected = rows * cols / (n * (n - 1) / 2)
    span = 0.5 * (rows + cols) - expected
    out["ari"] = float((index - expected) / span) if span != 0 else 0.0
    try:
        from scipy.optimize import linear_sum_assignment
        r, c = linear_sum_assignment(-table)
        out["acc"] = float(table[r, c].sum() / n)
    except ImportError:
        pass
    return out


# --- training -------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="TWIST as the official PyTorch code trains it, scaled to Fashion-MNIST on a CPU "
                    "(twist's reference recipe; see the module docstring).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--data", default="fashion-mnist",
                    help="fashion-mnist (Debian's dataset-fashion-mnist), idx:DIR or DIR (MNIST-format files)")
    ap.add_argument("--val-split", type=int, default=0,
                    help="> 0: hold out the last N training images and evaluate on them instead of the test split")
    ap.add_argument("--width", type=int, default=16, help="base channels of the ResNet-18")
    ap.add_argument("--hidden", type=int, default=512, help="hidden width of the projection head")
    ap.add_argument("--classes", type=int, default=10, help="C, the number of classes the head predicts")
    ap.add_argument("--batch", type=int, default=256, help="images per step")
    ap.add_argument("--local-crops", type=int, default=0, help="local views besides the two global ones")
    ap.add_argument("--local-size", type=int, default=14, help="side of the local views")
    ap.add_argument("--global-scale-min", type=float, default=0.4, help="smallest area fraction of a global crop")
    ap.add_argument("--alpha", type=float, default=1.0, help="weight of the sharpness term (official: 1 + lam1)")
    ap.add_argument("--beta", type=float, default=1.0, help="weight of the diversity term (official: lam2)")
    ap.add_argument("--tau", type=float, default=1.0, help="temperature of the two entropy terms")
    ap.add_argument("--optimizer", choices=["lars", "sgd"], default="lars",
                    help="lars (the official optimizer for ResNets) or sgd (momentum 0.9, no adaptation)")
    ap.add_argument("--lr", type=float, default=0.5, help="peak learning rate per 256 images")
    ap.add_argument("--wd", type=float, default=1.5e-6, help="weight decay of weights (not biases or norms)")
    ap.add_argument("--warmup-epochs", type=float, default=1.0,
                    help="linear warm-up, in epochs, at most a quarter of the run")
    ap.add_argument("--epochs", type=float, default=1.0, help="run length when --steps is 0")
    ap.add_argument("--steps", type=int, default=0, help="> 0: run exactly this many steps (overrides --epochs)")
    ap.add_argument("--max-steps", dest="steps", type=int, default=argparse.SUPPRESS, help="the same as --steps")
    ap.add_argument("--log-every", type=int, default=50, help="steps between loss lines on stderr")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (0: augment in this process)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch intra-op threads")
    ap.add_argument("--seed", type=int, default=0, help="seeds initialisation, shuffling and augmentation")
    ap.add_argument("--eval", dest="eval", action="store_true", default=True,
                    help="evaluate at the end (kNN top-1; cluster metrics when C equals the classes)")
    ap.add_argument("--no-eval", dest="eval", action="store_false", default=argparse.SUPPRESS, help="skip the evaluation (speed runs)")
    ap.add_argument("--eval-images", type=int, default=0,
                    help="> 0: evaluate on the first N held-out images against the first 5N training images "
                         "(a quick look; 0: all)")
    return ap.parse_args(argv)


def run(a):
    """Trains per `a` (parse_args' result) and returns the result dict."""
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(max(1, a.threads))
    root = data_dir(a.data)
    x, y = load_split(root, "train")
    if a.val_split > 0:
        if a.val_split >= len(x):
            raise SystemExit(f"--val-split {a.val_split}: the training split has only {len(x)} images")
        cut = len(x) - a.val_split
        xe, ye = x[cut:], (y[cut:] if y is not None else None)
        x, y = x[:cut], (y[:cut] if y is not None else None)
        eval_split = "val"
    else:
        xe, ye = load_split(root, "test") if find_file(root, ["t10k", "test"], "images") else (None, None)
        eval_split = "test"
    if x.ndim != 3:
        raise SystemExit(f"{root}: expected grey images N x H x W, got shape {x.shape}")
    if len(x) < a.batch:
        raise SystemExit(f"{len(x)} training images, fewer than one batch of {a.batch}")
    mean, std = float(x.mean() / 255.0), float(x.std() / 255.0)
    size = x.shape[1]
    transforms = multicrop_transforms(size, a.local_crops, a.local_size, mean, std,
                                      global_scale=(a.global_scale_min, 1.0))
    loader = torch.utils.data.DataLoader(
        Views(x, transforms), batch_size=a.batch, shuffle=True, drop_last=True, num_workers=a.workers,
        persistent_workers=a.workers > 0, generator=torch.Generator().manual_seed(a.seed))
    model = TwistNet(a.width, a.hidden, a.classes)
    peak = a.lr * a.batch / 256
    opt = Lars(model.parameters(), weight_decay=a.wd, adapt=a.optimizer == "lars")
    per_epoch = len(loader)
    total = a.steps if a.steps and a.steps > 0 else max(1, round(a.epochs * per_epoch))
    warmup = min(round(a.warmup_epochs * per_epoch), total // 4)
    print(f"reference_twist: {len(x)} images {size}x{size} from {root}, {total} steps of {a.batch} "
          f"({per_epoch} per epoch), {2 + a.local_crops} views, C={a.classes}, {a.optimizer} lr {peak:g}, "
          f"tau {a.tau}, {torch.get_num_threads()} threads, {a.workers} workers", file=sys.stderr, flush=True)

    step, losses, t0, timed_from = 0, [], time.time(), None
    model.train()
    while step < total:
        for views in loader:
            if step >= total:
                break
            if step == 3:
                timed_from = time.time()  # throughput leaves out the first steps (workers starting)
            lr = learning_rate(step, total, warmup, peak)
            for group in opt.param_groups:
                group["lr"] = lr
            loss, (kl, sharp, div) = twist_loss(model(views), a.alpha, a.beta, a.tau)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
            if step % a.log_every == 0 or step == total:
                print(f"step {step}/{total} loss {losses[-1]:.4f} (kl {kl.item():.3f} H {sharp.item():.3f} "
                      f"Hmean {div.item():.3f}) lr {lr:.4g}", file=sys.stderr, flush=True)
    end = time.time()
    result = dict(steps=step, train_s=round(end - t0, 1),
                  images_per_s=(step - 3) * a.batch / (end - timed_from) if timed_from and step > 3 else None,
                  final_loss=float(np.mean(losses[-20:])))
    if a.eval and xe is not None and ye is not None and y is not None:
        xb, yb = x, y
        if a.eval_images > 0:
            xe, ye = xe[:a.eval_images], ye[:a.eval_images]
            xb, yb = x[:5 * a.eval_images], y[:5 * a.eval_images]
        bank, _ = embed(model, xb, mean, std)
        query, logits = embed(model, xe, mean, std)
        result["eval_split"] = eval_split
        result["knn_top1"] = knn_top1(bank, yb, query, ye)
        if a.classes == int(max(yb.max(), ye.max())) + 1:
            result.update(cluster_metrics(logits.argmax(1).numpy(), ye))
    return result


def main(argv=None):
    print(json.dumps(run(parse_args(argv))), flush=True)


if __name__ == "__main__":
    main()
