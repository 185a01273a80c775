"""Scripts and helpers shared by the OOM tests (diagnostics, quick fixes, the target GPU)."""

from __future__ import annotations

from lsprotocol import types

#: 8 residual MLP blocks of width 1024 at batch 61,440: ≈ 20 GiB, far above a T4's ~14 GiB
#: usable, well within an H200's 139 GiB. Activations dominate, so bf16 autocast helps.
BIG = """import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

BATCH_SIZE = 61440
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
"""

#: The same with the batch size and the accumulation steps from argparse defaults.
ARGPARSE = (
    BIG.replace(
        "import torch\n",
        "import argparse\n\nimport torch\n",
        1,
    )
    .replace(
        "BATCH_SIZE = 61440\nEPOCHS = 3\n",
        "parser = argparse.ArgumentParser()\n"
        'parser.add_argument("--batch-size", type=int, default=61440)\n'
        'parser.add_argument("--accum-steps", type=int, default=2)\n'
        "args = parser.parse_args()\nEPOCHS = 3\n",
    )
    .replace("batch_size=BATCH_SIZE", "batch_size=args.batch_size")
    .replace(
        "    for inputs, targets in loader:\n",
        "    for i, (inputs, targets) in enumerate(loader):\n",
    )
    .replace(
        "        loss = criterion(outputs, targets)\n        loss.backward()\n"
        "        optimizer.step()\n",
        "        loss = criterion(outputs, targets) / args.accum_steps\n        loss.backward()\n"
        "        if (i + 1) % args.accum_steps == 0:\n"
        "            optimizer.step()\n"
        "            optimizer.zero_grad()\n",
    )
)


def apply_lsp_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP text edits (UTF-16 columns; ASCII test scripts) as an editor would."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def offset(pos: types.Position) -> int:
        return starts[pos.line] + pos.character

    for edit in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text
