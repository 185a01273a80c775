# ruff: noqa  (a training script as users write them: golden-test input, not project code)
"""Golden fixture for the OOM check: 8 residual MLP blocks, batch 66,560 (about 21 GiB)."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

BATCH_SIZE = 66560
EPOCHS = 3

dataset = TensorDataset(torch.randn(500_000, 1024), torch.randint(0, 10, (500_000,)))
loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True)


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Block(1024) for _ in range(8)])
        self.head = nn.Linear(1024, 10)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


device = torch.device("cuda")
model = Net()
model.to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

for epoch in range(EPOCHS):
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
