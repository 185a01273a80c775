"""Bidirectional GRU sentence classifier on the last time step (gpu-truth gru_bi_h256_s128)."""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F

device = "cuda" if torch.cuda.is_available() else "cpu"


class GRUClassifier(nn.Module):
    def __init__(self, vocab=30000, emb=300, hidden=256):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.GRU(emb, hidden, 1, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, 2)

    def forward(self, idx):
        out, _ = self.rnn(self.emb(idx))
        return self.head(out[:, -1])


model = GRUClassifier().to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=32)
args = parser.parse_args()
batch_size = args.batch_size
for _epoch in range(3):
    for _ in range(100):
        idx = torch.randint(0, 30000, (batch_size, 128), device=device)
        labels = torch.randint(0, 2, (batch_size,), device=device)
        loss = F.cross_entropy(model(idx), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
