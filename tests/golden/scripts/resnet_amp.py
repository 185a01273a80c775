# ruff: noqa  (a training script as users write them: golden-test input, not project code)
"""Golden fixture: torchvision ResNet-18 on CIFAR-10 upsampled to 224, AMP bf16, SGD momentum."""

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, models, transforms

BATCH_SIZE = 128

transform = transforms.Compose([transforms.Resize(224), transforms.ToTensor()])
train_set = datasets.CIFAR10("data", train=True, download=True, transform=transform)
loader = DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True, num_workers=8)

model = models.resnet18(num_classes=10).cuda()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)

for epoch in range(30):
    for images, labels in loader:
        images, labels = images.cuda(), labels.cuda()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = criterion(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
