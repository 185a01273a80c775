# ruff: noqa  (a training script as users write them: golden-test input, not project code)
"""Golden fixture: argparse defaults, gradient accumulation, AdamW, cosine schedule, AMP."""

import argparse

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--accum-steps", type=int, default=4)
parser.add_argument("--lr", type=float, default=3e-4)
args = parser.parse_args()

data = TensorDataset(torch.randn(10_000, 128), torch.randint(0, 10, (10_000,)))
train_loader = DataLoader(data, batch_size=args.batch_size, shuffle=True, drop_last=True)

model = nn.Sequential(nn.Linear(128, 256), nn.GELU(), nn.Dropout(p=0.2), nn.Linear(256, 10)).cuda()
optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
scaler = torch.cuda.amp.GradScaler()

for epoch in range(args.epochs):
    for i, (x, y) in enumerate(train_loader):
        with torch.autocast("cuda", dtype=torch.float16):
            loss = F.cross_entropy(model(x.cuda()), y.cuda()) / args.accum_steps
        scaler.scale(loss).backward()
        if (i + 1) % args.accum_steps == 0:
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad()
    scheduler.step()
