"""Two-layer LSTM language model (gpu-truth lstm_lm_h512_l2_s64), plain SGD (--optimizer
adam --amp: Adam with float16 autocast and a GradScaler)."""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB = 10000
SEQ_LEN = 64
parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
parser.add_argument("--amp", action="store_true")
args = parser.parse_args()
batch_size = args.batch_size
device = "cuda" if torch.cuda.is_available() else "cpu"


class LSTMLM(nn.Module):
    def __init__(self, vocab=VOCAB, emb=256, hidden=512, layers=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, layers, batch_first=True, dropout=0.2)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx):
        out, _ = self.rnn(self.emb(idx))
        return self.head(out)


model = LSTMLM().to(device)
if args.optimizer == "adam":
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
else:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scaler = torch.amp.GradScaler(device, enabled=args.amp)
for _step in range(200):
    idx = torch.randint(0, VOCAB, (batch_size, SEQ_LEN), device=device)
    target = torch.randint(0, VOCAB, (batch_size, SEQ_LEN), device=device)
    with torch.autocast(device_type=device, dtype=torch.float16, enabled=args.amp):
        logits = model(idx)
        loss = F.cross_entropy(logits.view(-1, VOCAB), target.view(-1))
    optimizer.zero_grad()
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
