#!/usr/bin/env python3
"""Compute-only throughput of the reference recipe (bench/reference_twist.py):
its model, multi-crop loss and LARS on fixed synthetic views, one step as its
training loop runs it (forward, loss, zero_grad, backward, step, loss.item()),
the counterpart of `twist bench`'s compute-only mode. The recipe itself is
imported, not copied or changed. Prints one JSON object; images/s count source
images (a step of batch B counts B), as the recipe's own images_per_s does.
Its end-to-end figure is the recipe's own run: bench/side_by_side.sh."""
import argparse, importlib.util, json, os, time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--peer", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_twist.py"),
                help="path of the reference recipe (default: bench/reference_twist.py)")
ap.add_argument("--width", type=int, default=16); ap.add_argument("--hid", type=int, default=512)
ap.add_argument("--classes", type=int, default=10); ap.add_argument("--batch", type=int, default=256)
ap.add_argument("--local-crops", type=int, default=0); ap.add_argument("--local-size", type=int, default=14)
ap.add_argument("--size", type=int, default=28)
ap.add_argument("--lr", type=float, default=0.5); ap.add_argument("--wd", type=float, default=1.5e-6)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--steps", type=int, default=20); ap.add_argument("--warmup", type=int, default=3)
a = ap.parse_args()

spec = importlib.util.spec_from_file_location("reference_twist", a.peer)
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)

torch.manual_seed(0)
torch.set_num_threads(a.threads)
model = peer.TwistNet(a.width, a.hid, a.classes)
opt = peer.Lars(model.parameters(), lr=a.lr * a.batch / 256, weight_decay=a.wd)
views = [torch.randn(a.batch, 1, a.size, a.size) for _ in range(2)]
views += [torch.randn(a.batch, 1, a.local_size, a.local_size) for _ in range(a.local_crops)]
model.train()


def step():
    loss, _ = peer.twist_loss(model(views))
    opt.zero_grad(); loss.backward(); opt.step()
    return loss.item()


for _ in range(a.warmup):
    step()
t0 = time.time()
for _ in range(a.steps):
    step()
dt = time.time() - t0
print(json.dumps(dict(compute_images_per_s=a.steps * a.batch / dt, steps=a.steps, batch=a.batch,
                      threads=torch.get_num_threads())))
