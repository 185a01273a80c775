"""Requests from the language server: mention roles; per-epoch counts with no training step."""

from __future__ import annotations

from gpulens.analysis import analyze

NO_STEP = """import torch
from torch.utils.data import DataLoader, TensorDataset
ds = TensorDataset(torch.randn(1200, 3))
BATCH_SIZE = 100
loader = DataLoader(ds, batch_size=BATCH_SIZE)
for x in loader:
    print(x)
"""


def test_batch_size_definition_and_use_have_roles() -> None:
    a = analyze(NO_STEP)
    roles = [(m.span.line, m.role) for m in a.mentions if m.kind == "batch_size"]
    assert roles == [(5, "use"), (4, "definition")]
    # Every other mention is a use; the default keeps old callers' behaviour.
    assert all(m.role == "use" for m in a.mentions if m.kind != "batch_size")


def test_epochs_definition_role() -> None:
    src = NO_STEP.replace(
        "for x in loader:\n    print(x)\n",
        "EPOCHS = 3\nfor epoch in range(EPOCHS):\n"
        "    for x in loader:\n        x.sum().backward()\n",
    )
    a = analyze(src)
    defs = [(m.kind, m.span.line) for m in a.mentions if m.role == "definition"]
    assert ("epochs", 6) in defs
    assert a.iterations.total == 36


def test_per_epoch_without_a_training_step() -> None:
    it = analyze(NO_STEP).iterations
    assert it.per_epoch == 12
    assert it.total is None
    assert it.optimizer_steps is None
    assert it.reason is not None and "no training loop found" in it.reason
    assert "12 per epoch" in it.explanation


def test_no_per_epoch_without_a_dataset_size() -> None:
    src = NO_STEP.replace("TensorDataset(torch.randn(1200, 3))", "load_somehow()")
    it = analyze(src).iterations
    assert it.per_epoch is None
    assert it.total is None
