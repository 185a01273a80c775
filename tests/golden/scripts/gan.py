# ruff: noqa  (a training script as users write them: golden-test input, not project code)
"""Golden fixture: a GAN, two networks with their own optimizers, trained in one loop."""

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

LATENT = 100

generator = nn.Sequential(
    nn.Linear(LATENT, 256),
    nn.LeakyReLU(0.2),
    nn.Linear(256, 512),
    nn.LeakyReLU(0.2),
    nn.Linear(512, 784),
    nn.Tanh(),
)
discriminator = nn.Sequential(
    nn.Flatten(),
    nn.Linear(784, 512),
    nn.LeakyReLU(0.2),
    nn.Linear(512, 256),
    nn.LeakyReLU(0.2),
    nn.Linear(256, 1),
)

data = datasets.MNIST("data", train=True, download=True, transform=transforms.ToTensor())
loader = DataLoader(data, batch_size=128, shuffle=True, drop_last=True)
opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
bce = nn.BCEWithLogitsLoss()

for epoch in range(20):
    for real, _ in loader:
        z = torch.randn(real.size(0), LATENT)
        fake = generator(z)
        d_loss = bce(discriminator(real), torch.ones(real.size(0), 1)) + bce(
            discriminator(fake.detach()), torch.zeros(real.size(0), 1)
        )
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = bce(discriminator(fake), torch.ones(real.size(0), 1))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
