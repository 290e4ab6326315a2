#!/usr/bin/env python3
"""Recipe exploration with the reference recipe (a Python port of the official code, given by path)
on a validation split carved from Fashion-MNIST's training set: the first
50,000 training images train (and form the kNN bank), the last 10,000 are the
validation set. The test split is never read. Used to pick which knobs of the
default recipe are worth trying in `twist train`; the recipe itself is then
confirmed with `twist train --val-split` (see configs/fashion-mnist.json).

  /usr/bin/python3 bench/peer_val_sweep.py --epochs 2 --wd 5e-4 --scale-min 0.2
"""
import argparse, json, math, os, sys, time
import numpy as np
import torch
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "shared", "peers"))
import twist_peer as P

ap = argparse.ArgumentParser()
ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
ap.add_argument("--width", type=int, default=16); ap.add_argument("--hid", type=int, default=512)
ap.add_argument("--classes", type=int, default=10); ap.add_argument("--batch", type=int, default=256)
ap.add_argument("--epochs", type=float, default=2.0)
ap.add_argument("--lr", type=float, default=0.5); ap.add_argument("--wd", type=float, default=1.5e-6)
ap.add_argument("--scale-min", type=float, default=0.4)
ap.add_argument("--threads", type=int, default=2); ap.add_argument("--workers", type=int, default=2)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
torch.manual_seed(a.seed); np.random.seed(a.seed); P.random.seed(a.seed)
torch.set_num_threads(a.threads)
x, y = P.load_idx(a.data, "train")
xtr, ytr, xva, yva = x[:50000], y[:50000], x[50000:], y[50000:]

class DS(torch.utils.data.Dataset):
    def __init__(self, x):
        self.x = x
        self.t = [P.view(28, (a.scale_min, 1.0), 1.0, 0.0), P.view(28, (a.scale_min, 1.0), 0.1, 0.2)]
    def __len__(self): return len(self.x)
    def __getitem__(self, i):
        img = P.Image.fromarray(self.x[i], mode="L")
        return [t(img) for t in self.t]

dl = torch.utils.data.DataLoader(DS(xtr), a.batch, shuffle=True, drop_last=True, num_workers=a.workers,
                                 persistent_workers=True)
model = P.Twist(a.width, a.hid, a.classes)
lr = a.lr * a.batch / 256
opt = P.LARS(model.parameters(), lr, a.wd)
total = int(a.epochs * len(dl)); warm = max(1, total // 10)
step, t0, losses = 0, time.time(), []
model.train()
while step < total:
    for views in dl:
        if step >= total: break
        cur = lr * step / warm if step < warm else lr * (0.001 + 0.999 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm))))
        for g in opt.param_groups: g["lr"] = cur
        loss = P.twist_multicrop(model(views))
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(loss.item()); step += 1
ftr, _ = P.features(model, xtr); fva, pva = P.features(model, xva)
res = dict(vars(a), steps=step, train_s=round(time.time() - t0), final_loss=float(np.mean(losses[-20:])),
           val_knn=float(P.knn(ftr, ytr, fva, yva)))
res.update({"val_" + k: float(v) for k, v in P.cluster_metrics(pva.argmax(1).numpy(), yva).items()})
print(json.dumps(res), flush=True)
