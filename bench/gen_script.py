"""Generate a realistic N-line PyTorch training script (for the latency benchmark)."""

from __future__ import annotations

MODEL_BLOCK = '''

class Block{i}(nn.Module):
    """Residual MLP block number {i}."""

    def __init__(self, dim: int = 256, hidden: int = 1024, p: float = 0.1) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.drop = nn.Dropout(p)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc2(self.drop(self.act(self.fc1(self.norm(x)))))
        return x + y


def metric_{i}(logits: torch.Tensor, targets: torch.Tensor) -> float:
    preds = logits.argmax(dim=-1)
    correct = (preds == targets).sum().item()
    total = targets.numel()
    if total == 0:
        return 0.0
    return correct / total


def schedule_{i}(step: int, warmup: int = 100, base: float = 3e-4) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * min(step, 10_000) / 10_000))
'''

HEADER = '''"""Generated training script for the gpulens latency benchmark."""

import argparse
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--lr", type=float, default=3e-4)
args = parser.parse_args()

NUM_SAMPLES = 1200
BATCH_SIZE = 100
'''

FOOTER = """

dataset = TensorDataset(torch.randn(NUM_SAMPLES, 256), torch.randint(0, 10, (NUM_SAMPLES,)))
loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True)
model = nn.Sequential(*[Block0() for _ in range(4)], nn.Linear(256, 10))
optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
criterion = nn.CrossEntropyLoss()

for epoch in range(args.epochs):
    model.train()
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.4f}")
"""


def generate(lines: int = 2000) -> str:
    parts = [HEADER]
    i = 0
    while sum(p.count("\n") for p in parts) + FOOTER.count("\n") + 40 < lines:
        parts.append(MODEL_BLOCK.format(i=i))
        i += 1
    body = "".join(parts)
    pad = lines - body.count("\n") - FOOTER.count("\n") - 1
    body += "\n" + "\n".join(f"# padding {n}" for n in range(max(pad, 0)))
    return body + FOOTER
