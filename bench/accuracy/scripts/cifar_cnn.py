"""Five 3x3 convolutions on CIFAR-10-sized images (gpu-truth cifar_cnn_bn; --no-bn:
cifar_cnn_nobn), SGD with momentum, optional AMP."""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=256)
parser.add_argument("--no-bn", action="store_true")
parser.add_argument("--amp", action="store_true")
parser.add_argument("--steps", type=int, default=100)
args = parser.parse_args()

device = "cuda" if torch.cuda.is_available() else "cpu"


def block(cin, cout, bn=True):
    mods = [nn.Conv2d(cin, cout, 3, padding=1)]
    if bn:
        mods.append(nn.BatchNorm2d(cout))
    mods.append(nn.ReLU(inplace=True))
    return mods


bn = not args.no_bn
model = nn.Sequential(
    *block(3, 64, bn),
    *block(64, 64, bn),
    nn.MaxPool2d(2),
    *block(64, 128, bn),
    *block(128, 128, bn),
    nn.MaxPool2d(2),
    *block(128, 256, bn),
    nn.AdaptiveAvgPool2d(1),
    nn.Flatten(),
    nn.Linear(256, 10),
).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
scaler = torch.amp.GradScaler(device, enabled=args.amp)

for _step in range(args.steps):
    x = torch.randn(args.batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (args.batch_size,), device=device)
    with torch.autocast(device_type=device, dtype=torch.float16, enabled=args.amp):
        loss = F.cross_entropy(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
