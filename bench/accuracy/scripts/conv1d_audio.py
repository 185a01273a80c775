"""1-D convolutions over one second of 16 kHz audio, 35 keyword classes (gpu-truth
conv1d_audio_16k)."""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F

device = "cuda" if torch.cuda.is_available() else "cpu"


class ConvAudio(nn.Module):
    def __init__(self, n_classes=35):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(1, 64, 80, stride=4),
            nn.BatchNorm1d(64),
            nn.ReLU(),
            nn.MaxPool1d(4),
            nn.Conv1d(64, 128, 3),
            nn.BatchNorm1d(128),
            nn.ReLU(),
            nn.MaxPool1d(4),
            nn.Conv1d(128, 256, 3),
            nn.BatchNorm1d(256),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Linear(256, n_classes),
        )

    def forward(self, x):
        return self.net(x)


model = ConvAudio().to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=64)
args = parser.parse_args()
BATCH = args.batch_size
for _step in range(100):
    wave = torch.randn(BATCH, 1, 16000, device=device)
    label = torch.randint(0, 35, (BATCH,), device=device)
    loss = F.cross_entropy(model(wave), label)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
