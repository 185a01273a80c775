"""The batch size of scripts that build their batches themselves (no DataLoader).

Benchmarks and LM scripts feed the model ``torch.randn(B, ...)`` or a ``get_batch()`` that stacks
``B`` windows; the batch size is then the leading dimension of the input the training loop feeds
the trained model, with its provenance, and the memory estimate follows from it.
"""

from __future__ import annotations

from pathlib import Path

from gpulens.analysis import Analysis, analyze

SCRIPTS = Path(__file__).resolve().parents[1] / "fixtures" / "scripts"


def _read(name: str, *args: str) -> Analysis:
    path = SCRIPTS / name
    return analyze(path.read_text(), str(path), script_args=args)


def test_randn_batch_with_argparse_default() -> None:
    a = _read("synthetic_batch_argparse.py")
    bf = a.facts["batch_size"]
    assert bf.value == 256
    assert bf.source.startswith(
        "first dimension of `torch.randn(args.batch_size, 3, 32, 32)`, line 25"
    )
    assert "argparse default of --batch-size" in bf.source
    assert bf.span is not None and bf.span.line == 10  # where the default is set
    # a step loop still counts its steps; the estimate is at the training batch, not the
    # batch of one of the summary pass before the loop
    assert (a.iterations.per_epoch, a.iterations.total) == (None, 50)
    assert a.memory is not None and a.memory.batch_size == 256
    uses = [m for m in a.mentions if m.kind == "batch_size"]
    assert {m.role for m in uses} == {"use", "definition"}
    assert any(m.span.line == 25 and m.detail == "model input" for m in uses)


def test_script_argument_changes_the_batch() -> None:
    small = _read("synthetic_batch_argparse.py", "--batch-size", "64")
    big = _read("synthetic_batch_argparse.py")
    assert small.facts["batch_size"].value == 64
    assert small.memory is not None and big.memory is not None
    assert small.memory.peak_allocated < big.memory.peak_allocated


def test_get_batch_stacks_b_windows() -> None:
    a = _read("synthetic_get_batch.py")
    bf = a.facts["batch_size"]
    assert bf.value == 12
    assert "first dimension of `torch.randint(len(data) - T, (B,))`" in bf.source
    assert "`B = 12`" in bf.source
    assert a.iterations.total == 30
    assert a.memory is not None and a.memory.batch_size == 12


def test_epochs_without_a_dataset_keep_per_epoch_unknown() -> None:
    a = _read("synthetic_epochs.py")
    assert a.facts["batch_size"].value == 48
    assert "size=(bs, 1, 28, 28)" in a.facts["batch_size"].source
    assert a.facts["epochs"].value == 3
    its = a.iterations
    assert its.per_epoch is None and its.total is None
    assert its.reason is not None and "dataset_size is unknown" in its.reason
    assert "batch_size" not in its.reason
    assert a.memory is not None and a.memory.batch_size == 48


def test_a_pragma_or_setting_still_wins() -> None:
    path = SCRIPTS / "synthetic_batch_argparse.py"
    a = analyze(path.read_text(), str(path), overrides={"batch_size": 8})
    assert a.facts["batch_size"].value == 8
    assert a.facts["batch_size"].source == "user setting"
    assert a.memory is not None and a.memory.batch_size == 8


def test_no_training_loop_no_batch_from_inputs() -> None:
    src = (
        "import torch\nimport torch.nn as nn\n"
        "model = nn.Linear(4, 2)\n"
        "print(model(torch.randn(16, 4)))\n"
    )
    a = analyze(src, "probe.py")
    assert not a.facts["batch_size"].known
    assert "no DataLoader" in (a.facts["batch_size"].reason or "")
