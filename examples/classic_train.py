"""The classic example: 1,200 samples, batch size 100, 5 epochs.

1,200 / 100 = 12 iterations per epoch; 12 x 5 = 60 iterations (weight updates) in all.
Open it in VS Code with gpulens installed, or run `gpulens analyze examples/classic_train.py`.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

NUM_SAMPLES = 1200
BATCH_SIZE = 100
EPOCHS = 5
LEARNING_RATE = 1e-3

features = torch.randn(NUM_SAMPLES, 20)
labels = torch.randint(0, 2, (NUM_SAMPLES,))
dataset = TensorDataset(features, labels)
loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True)

model = nn.Sequential(
    nn.Linear(20, 64),
    nn.ReLU(),
    nn.Dropout(0.1),
    nn.Linear(64, 2),
)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)

for epoch in range(EPOCHS):
    model.train()
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
    scheduler.step()
    print(f"epoch {epoch + 1}/{EPOCHS}: loss {loss.item():.4f}")
