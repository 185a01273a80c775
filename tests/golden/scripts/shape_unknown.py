# ruff: noqa  (a training script as users write them: golden-test input, not project code)
"""Golden fixture: a known model whose input shape the reader cannot see (samples come from files)."""

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class Frames(Dataset):
    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return 10_000

    def __getitem__(self, i):
        return torch.load(self.paths[i])


model = nn.Sequential(
    nn.Conv2d(3, 64, kernel_size=3, padding=1),
    nn.BatchNorm2d(64),
    nn.ReLU(inplace=True),
    nn.AdaptiveAvgPool2d(1),
    nn.Flatten(),
    nn.Linear(64, 10),
)
loader = DataLoader(Frames(PATHS), batch_size=32)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)

for epoch in range(5):
    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
