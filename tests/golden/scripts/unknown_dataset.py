# ruff: noqa  (a training script as users write them: golden-test input, not project code)
"""Golden fixture: a custom Dataset whose length the reader cannot know."""

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class ShardDataset(Dataset):
    def __init__(self, root):
        self.files = sorted(root.glob("*.pt"))

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return torch.load(self.files[i])


loader = DataLoader(ShardDataset(ROOT), batch_size=64, shuffle=True)
model = nn.Linear(512, 512)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
loss_fn = nn.MSELoss()

for epoch in range(10):
    for x in loader:
        optimizer.zero_grad()
        loss_fn(model(x), x).backward()
        optimizer.step()
