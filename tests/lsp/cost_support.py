"""Analyses with models and a memory estimate, built by hand (the reader's output shape), for
tests of the model/memory hints and hovers that must not depend on the reader's model reading."""

from __future__ import annotations

from pathlib import Path

from gpulens.analysis import analyze
from gpulens.analysis.facts import Analysis, LayerSummary, ModelSummary, Span
from gpulens.estimate.graph import sequential_trace
from gpulens.estimate.layers import build
from gpulens.estimate.memory import estimate_training_memory
from gpulens.lsp.documents import Inputs, Result, View, split_lines

REPO = Path(__file__).resolve().parents[2]
CLASSIC = REPO / "examples" / "classic_train.py"

CNN = """import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

train = datasets.MNIST("data", train=True, download=True, transform=transforms.ToTensor())
loader = DataLoader(train, batch_size=64, shuffle=True)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc2(torch.relu(self.fc1(x)))


model = Net()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(2):
    for x, y in loader:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
"""


def span_of(text: str, needle: str) -> Span:
    """The span of the first ``needle`` in ``text`` (1-based line, byte columns)."""
    index = text.index(needle)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1)
    return Span(line, col, line, col + len(needle))


def view_of(analysis: Analysis, text: str) -> View:
    result = Result(1, "", text, split_lines(text), analysis, Inputs())
    return View(result, result)


def classic_analysis(batch: int = 100, precision: str = "fp32") -> tuple[Analysis, str]:
    """examples/classic_train.py with its Sequential MLP and a real static estimate."""
    text = CLASSIC.read_text(encoding="utf-8")
    analysis = analyze(text, path="examples/classic_train.py")
    seq = build(
        "Sequential",
        (
            build("Linear", (20, 64)),
            build("ReLU"),
            build("Dropout", (0.1,)),
            build("Linear", (64, 2)),
        ),
    )
    trace = sequential_trace(seq, (20,))
    calls = ["nn.Linear(20, 64)", "nn.ReLU()", "nn.Dropout(0.1)", "nn.Linear(64, 2)"]
    kinds = ["Linear", "ReLU", "Dropout", "Linear"]
    params = [20 * 64 + 64, 0, 0, 64 * 2 + 2]
    shapes = [(batch, 64), (batch, 64), (batch, 64), (batch, 2)]
    layers = [
        LayerSummary(
            str(i), kinds[i], span_of(text, c).line, params[i], shapes[i], span_of(text, c)
        )
        for i, c in enumerate(calls)
    ]
    start = span_of(text, "model = nn.Sequential(")
    end = span_of(text, ")\ncriterion")
    analysis.models = [
        ModelSummary(
            "model",
            start.line,
            sum(params),
            sum(params),
            layers,
            Span(start.line, start.col, end.line, end.col + 1),
            True,
            trace,
        )
    ]
    analysis.params_total = sum(params)
    optimizer = analysis.facts["optimizer"].value
    analysis.memory = estimate_training_memory(trace, batch, precision, optimizer)
    return analysis, text


def cnn_analysis(batch: int = 64) -> tuple[Analysis, str]:
    """A PyTorch-examples style MNIST CNN (conv layers, a big fully connected layer)."""
    text = CNN
    analysis = analyze(text, path="cnn.py")
    defs = [
        ("conv1", "Conv2d", "nn.Conv2d(1, 32, 3)", 1 * 32 * 9 + 32, (batch, 32, 26, 26)),
        ("conv2", "Conv2d", "nn.Conv2d(32, 64, 3)", 32 * 64 * 9 + 64, (batch, 64, 24, 24)),
        ("pool", "MaxPool2d", "nn.MaxPool2d(2)", 0, (batch, 64, 12, 12)),
        ("fc1", "Linear", "nn.Linear(9216, 128)", 9216 * 128 + 128, (batch, 128)),
        ("fc2", "Linear", "nn.Linear(128, 10)", 128 * 10 + 10, (batch, 10)),
    ]
    layers = [
        LayerSummary(name, kind, span_of(text, call).line, params, shape, span_of(text, call))
        for name, kind, call, params, shape in defs
    ]
    seq = build(
        "Sequential",
        (
            build("Conv2d", (1, 32, 3)),
            build("ReLU"),
            build("Conv2d", (32, 64, 3)),
            build("ReLU"),
            build("MaxPool2d", (2,)),
            build("Flatten"),
            build("Linear", (9216, 128)),
            build("ReLU"),
            build("Linear", (128, 10)),
        ),
    )
    trace = sequential_trace(seq, (1, 28, 28))
    total = sum(d[3] for d in defs)
    analysis.models = [
        ModelSummary(
            "Net", 10, total, total, layers, span_of(text, "class Net(nn.Module):"), True, trace
        )
    ]
    analysis.params_total = total
    analysis.memory = estimate_training_memory(trace, batch, "fp32", "Adam")
    return analysis, text
