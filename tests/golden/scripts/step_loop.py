# ruff: noqa  (a training script as users write them: golden-test input, not project code)
"""Golden fixture: a nanoGPT-style step loop with no DataLoader."""

import torch
from torch import nn

max_iters = 5000
batch_size = 12
learning_rate = 6e-4

model = nn.Sequential(nn.Embedding(50304, 768), nn.Linear(768, 50304))
optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, betas=(0.9, 0.95))
data = torch.randint(0, 50304, (1_000_000,))

iter_num = 0
while True:
    ix = torch.randint(len(data) - 1025, (batch_size,))
    x = torch.stack([data[i : i + 1024] for i in ix])
    logits = model(x)
    loss = nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), x.view(-1))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    iter_num += 1
    if iter_num > max_iters:
        break
