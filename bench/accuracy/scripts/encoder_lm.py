"""Transformer encoder language model over token ids (gpu-truth encoder_lm_d512_l6_s256;
--d-model 256 --heads 4 --ff 1024 --layers 4 --seq 512: encoder_lm_d256_l4_s512;
--checkpoint: encoder_lm_d512_l6_s256_ckpt). AdamW, optional bf16 autocast."""

import argparse
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


@dataclass
class Config:
    vocab: int = 8192
    d_model: int = 512
    heads: int = 8
    ff: int = 2048
    layers: int = 6
    seq: int = 256
    dropout: float = 0.1


class EncoderLM(nn.Module):
    def __init__(self, cfg: Config, use_checkpoint: bool = False):
        super().__init__()
        self.use_checkpoint = use_checkpoint
        self.tok = nn.Embedding(cfg.vocab, cfg.d_model)
        self.pos = nn.Embedding(cfg.seq, cfg.d_model)
        layer = nn.TransformerEncoderLayer(
            cfg.d_model, cfg.heads, cfg.ff, dropout=cfg.dropout, batch_first=True
        )
        self.enc = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab)

    def forward(self, idx):
        pos = torch.arange(idx.shape[1], device=idx.device)
        h = self.tok(idx) + self.pos(pos)
        if self.use_checkpoint:
            for layer in self.enc.layers:
                h = checkpoint(layer, h, use_reentrant=False)
        else:
            h = self.enc(h)
        return self.head(self.norm(h))


parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--d-model", type=int, default=512)
parser.add_argument("--heads", type=int, default=8)
parser.add_argument("--ff", type=int, default=2048)
parser.add_argument("--layers", type=int, default=6)
parser.add_argument("--seq", type=int, default=256)
parser.add_argument("--checkpoint", action="store_true")
parser.add_argument("--bf16", action="store_true")
parser.add_argument("--steps", type=int, default=100)
args = parser.parse_args()

device = "cuda" if torch.cuda.is_available() else "cpu"
cfg = Config(d_model=args.d_model, heads=args.heads, ff=args.ff, layers=args.layers, seq=args.seq)
model = EncoderLM(cfg, use_checkpoint=args.checkpoint).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)

for _step in range(args.steps):
    idx = torch.randint(0, cfg.vocab, (args.batch_size, cfg.seq), device=device)
    targets = torch.randint(0, cfg.vocab, (args.batch_size, cfg.seq), device=device)
    with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=args.bf16):
        logits = model(idx)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
