"""DistributedDataParallel in one process (world size 1), to measure what DDP adds per rank:
its allreduce buckets, a second copy of the gradients (gpulens' "DDP buckets" term). Run with
and without ``--ddp`` by the device check; the difference of the measured peaks is the term.

    python bench/device/ddp_single.py [--ddp] [--batch-size 256] [--steps 30]
"""

import argparse
import os

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

parser = argparse.ArgumentParser()
parser.add_argument("--ddp", action="store_true")
parser.add_argument("--batch-size", type=int, default=256)
parser.add_argument("--steps", type=int, default=30)
args = parser.parse_args()

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(
    nn.Flatten(),
    nn.Linear(4096, 4096), nn.ReLU(),
    nn.Linear(4096, 4096), nn.ReLU(),
    nn.Linear(4096, 4096), nn.ReLU(),
    nn.Linear(4096, 10),
).to(device)  # fmt: skip
if args.ddp:
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29517")
    dist.init_process_group("nccl" if device == "cuda" else "gloo", rank=0, world_size=1)
    model = DDP(model)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

for _step in range(args.steps):
    x = torch.randn(args.batch_size, 4096, device=device)
    y = torch.randint(0, 10, (args.batch_size,), device=device)
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

if args.ddp:
    dist.destroy_process_group()
