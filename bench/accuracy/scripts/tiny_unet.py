"""Two-level U-Net on 128x128 images with a binary mask target (gpu-truth tiny_unet_128)."""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=8)
parser.add_argument("--steps", type=int, default=100)
args = parser.parse_args()
BATCH_SIZE = args.batch_size
STEPS = args.steps
device = "cuda" if torch.cuda.is_available() else "cpu"


class TinyUNet(nn.Module):
    def __init__(self, c: int = 32):
        super().__init__()
        self.enc1 = nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1), nn.ReLU()
        )
        self.enc2 = nn.Sequential(nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU())
        self.up = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec = nn.Sequential(nn.Conv2d(2 * c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, 1, 1))

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        return self.dec(torch.cat([self.up(e2), e1], dim=1))


model = TinyUNet(32).to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for _step in range(STEPS):
    images = torch.randn(BATCH_SIZE, 3, 128, 128, device=device)
    masks = torch.rand(BATCH_SIZE, 1, 128, 128, device=device)
    loss = F.binary_cross_entropy_with_logits(model(images), masks)
    opt.zero_grad()
    loss.backward()
    opt.step()
