#!/usr/bin/env python3
"""Compute-only throughput of the reference recipe on a GPU, the Python side
of bench/gpu_check.sh: the recipe's own loss (twist_loss of
bench/reference_twist.py, imported unchanged), its LARS and its head
(Linear-BN-ReLU twice, Linear, BN without affine), on the backbones of the issue's GPU
measurements: the recipe's small-stem ResNet-18 with 3 input channels, or
torchvision's ResNet-50. Synthetic views on the GPU; one step as the recipe's
training loop runs it (forward, loss, zero_grad, backward, step, loss.item()).
cuDNN autotuning on, as the official TWIST code sets it; bf16 through
torch.autocast. Prints one JSON object; images/s count source images."""
import argparse, importlib.util, json, os, time

import torch
import torch.nn as nn

ap = argparse.ArgumentParser()
ap.add_argument("--peer", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_twist.py"),
                help="path of the reference recipe (default: bench/reference_twist.py)")
ap.add_argument("--arch", choices=["resnet18", "resnet50"], default="resnet18")
ap.add_argument("--width", type=float, default=1.0, help="resnet18: channel multiplier of 64")
ap.add_argument("--hidden", type=int, default=512); ap.add_argument("--classes", type=int, default=10)
ap.add_argument("--batch", type=int, default=256)
ap.add_argument("--size", type=int, default=32)
ap.add_argument("--local-crops", type=int, default=0); ap.add_argument("--local-size", type=int, default=96)
ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
ap.add_argument("--lr", type=float, default=0.5); ap.add_argument("--wd", type=float, default=1.5e-6)
ap.add_argument("--steps", type=int, default=20); ap.add_argument("--warmup", type=int, default=5)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--device", default="cuda", help="cuda, or cpu for a dry run of the script")
a = ap.parse_args()

spec = importlib.util.spec_from_file_location("reference_twist", a.peer)
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)
torch.backends.cudnn.benchmark = True
dev = torch.device(a.device)
cuda = dev.type == "cuda"
sync = torch.cuda.synchronize if cuda else (lambda: None)


class Recipe(nn.Module):
    def __init__(self):
        super().__init__()
        if a.arch == "resnet18":
            self.backbone = peer.SmallResNet18(int(64 * a.width), in_channels=3)
            d = self.backbone.feature_dim
        else:
            import torchvision
            self.backbone = torchvision.models.resnet50()
            d = self.backbone.fc.in_features
            self.backbone.fc = nn.Identity()
        self.head = peer.projection_head(d, a.hidden, a.classes)

    forward = peer.TwistNet.forward  # crops of one size through the backbone together


torch.manual_seed(0)
model = Recipe().to(dev).train()
opt = peer.Lars(model.parameters(), lr=a.lr * a.batch / 256, weight_decay=a.wd)
views = [torch.randn(a.batch, 3, a.size, a.size, device=dev) for _ in range(2)]
views += [torch.randn(a.batch, 3, a.local_size, a.local_size, device=dev) for _ in range(a.local_crops)]


def step():
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
        outs = model(views)
    loss, _ = peer.twist_loss([o.float() for o in outs])
    opt.zero_grad(); loss.backward(); opt.step()
    return loss.item()


for _ in range(a.warmup):
    step()
rates = []
for _ in range(a.rounds):
    sync(); t0 = time.time()
    for _ in range(a.steps):
        step()
    sync()
    rates.append(a.steps * a.batch / (time.time() - t0))
rates.sort()
print(json.dumps(dict(compute_images_per_s=rates[len(rates) // 2], compute_images_per_s_rounds=rates,
                      arch=a.arch, batch=a.batch, precision=a.precision, torch=torch.__version__,
                      parameters=sum(p.numel() for p in model.parameters()),
                      peak_gpu_mb=torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
                      device=torch.cuda.get_device_name() if cuda else "cpu")))
