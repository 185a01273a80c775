"""MLP on MNIST-sized inputs (gpu-truth families mlp_d2_w256, mlp_d4_w1024, and with
--in-shape 3 32 32 --act gelu --dropout 0.1 --depth 8 --width 4096 --optimizer adamw:
mlp_d8_w4096_gelu_drop; --amp: bfloat16 autocast, --bf16: bfloat16 weights)."""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=256)
parser.add_argument("--depth", type=int, default=2)
parser.add_argument("--width", type=int, default=256)
parser.add_argument("--in-shape", type=int, nargs=3, default=[1, 28, 28])
parser.add_argument("--act", choices=["relu", "gelu"], default="relu")
parser.add_argument("--dropout", type=float, default=0.0)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--optimizer", choices=["adam", "adamw"], default="adam")
parser.add_argument("--amp", action="store_true", help="bfloat16 autocast")
parser.add_argument("--bf16", action="store_true", help="bfloat16 weights")
parser.add_argument("--steps", type=int, default=100)
args = parser.parse_args()

device = "cuda" if torch.cuda.is_available() else "cpu"


def make_mlp(depth, width, d_in, d_out=10, act=nn.ReLU, p_drop=0.0):
    layers = [nn.Flatten()]
    d = d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), act()]
        if p_drop:
            layers.append(nn.Dropout(p_drop))
        d = width
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


c, h, w = args.in_shape
model = make_mlp(
    args.depth,
    args.width,
    c * h * w,
    act=nn.GELU if args.act == "gelu" else nn.ReLU,
    p_drop=args.dropout,
).to(device)
if args.bf16:
    model = model.to(torch.bfloat16)
if args.optimizer == "adamw":
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
else:
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

data = TensorDataset(torch.randn(2048, c, h, w), torch.randint(0, 10, (2048,)))
loader = DataLoader(data, batch_size=args.batch_size, shuffle=True, drop_last=True)

step = 0
while step < args.steps:
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        if args.bf16:
            x = x.to(torch.bfloat16)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=args.amp):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        if step >= args.steps:
            break
print("final loss", loss.item())
