"""The CLI as a user runs it: a real subprocess of `python -m gpulens`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import CLASSIC, analyze_json, run_gpulens

REQUIRED_FACTS = {
    "batch_size",
    "epochs",
    "dataset_size",
    "drop_last",
    "grad_accum_steps",
    "world_size",
    "max_steps",
    "precision",
    "optimizer",
}


def test_classic_example_json_contract() -> None:
    data = analyze_json(str(CLASSIC))
    assert data["file"] == str(CLASSIC)
    assert set(data["facts"]) >= REQUIRED_FACTS
    for fact in data["facts"].values():
        assert set(fact) >= {"value", "line", "source", "reason"}
    assert data["facts"]["batch_size"]["value"] == 100
    assert data["facts"]["batch_size"]["line"] == 12  # BATCH_SIZE = 100
    assert data["facts"]["dataset_size"]["value"] == 1200
    assert data["facts"]["epochs"]["value"] == 5
    assert data["iterations"] == {
        "per_epoch": 12,
        "total": 60,
        "optimizer_steps": 60,
        "reason": None,
    }
    # the classic example never moves its model to a GPU: the estimate says what it is
    assert data["memory"] is not None and "trains on the CPU" in data["device_note"]


def test_human_report_shows_values_and_provenance() -> None:
    result = run_gpulens("analyze", str(CLASSIC))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "batch_size" in out and "100" in out
    assert "1,200" in out
    assert "per epoch        12" in out
    assert "total            60" in out
    assert "  note: The script as written trains on the CPU" in out


def test_set_overrides_a_fact(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "from torch.utils.data import DataLoader\n"
        "loader = DataLoader(my_dataset, batch_size=32)\n"
        "for epoch in range(3):\n"
        "    for batch in loader:\n"
        "        loss = model(batch).sum()\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
    )
    unknown = analyze_json(str(script))
    assert unknown["iterations"]["per_epoch"] is None
    assert "dataset_size" in unknown["iterations"]["reason"]

    known = analyze_json(str(script), "--set", "dataset_size=1000")
    assert known["facts"]["dataset_size"]["value"] == 1000
    assert known["iterations"]["per_epoch"] == 32  # ceil(1000 / 32)
    assert known["iterations"]["total"] == 96


def test_script_args_after_double_dash(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import argparse\n"
        "from torch.utils.data import DataLoader\n"
        "from torchvision import datasets\n"
        "parser = argparse.ArgumentParser()\n"
        "parser.add_argument('--batch-size', type=int, default=64)\n"
        "parser.add_argument('--epochs', type=int, default=14)\n"
        "args = parser.parse_args()\n"
        "train = datasets.MNIST('data', train=True, download=True)\n"
        "loader = DataLoader(train, batch_size=args.batch_size)\n"
        "for epoch in range(1, args.epochs + 1):\n"
        "    for x, y in loader:\n"
        "        loss = criterion(model(x), y)\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
    )
    defaults = analyze_json(str(script))
    assert defaults["facts"]["batch_size"]["value"] == 64
    assert defaults["iterations"]["per_epoch"] == 938  # ceil(60000 / 64)
    assert defaults["iterations"]["total"] == 938 * 14

    given = analyze_json(str(script), "--", "--batch-size", "100", "--epochs=2")
    assert given["facts"]["batch_size"]["value"] == 100
    assert given["facts"]["epochs"]["value"] == 2
    assert given["iterations"]["total"] == 1200


def test_world_size_divides_iterations(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "from torch.utils.data import DataLoader, DistributedSampler\n"
        "from torchvision.datasets import CIFAR10\n"
        "ds = CIFAR10('data', train=True)\n"
        "loader = DataLoader(ds, batch_size=128, sampler=DistributedSampler(ds))\n"
        "for epoch in range(10):\n"
        "    for x, y in loader:\n"
        "        loss = criterion(model(x), y)\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
    )
    data = analyze_json(str(script), "--world-size", "4")
    assert data["facts"]["world_size"]["value"] == 4
    assert data["iterations"]["per_epoch"] == 98  # ceil(50000 / (128 * 4))


@pytest.mark.parametrize("target", ["missing.py", "."])
def test_unreadable_file_exits_2_with_one_line(tmp_path: Path, target: str) -> None:
    result = run_gpulens("analyze", str(tmp_path / target))
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("gpulens: error:")


def test_non_utf8_and_syntax_errors_do_not_crash(tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_bytes(
        b"# caf\xe9 \xff\xfe\n"
        b"BATCH = 50\n"
        b"from torch.utils.data import DataLoader\n"
        b"loader = DataLoader(ds, batch_size=BATCH\n"  # unclosed call: half-typed
    )
    result = run_gpulens("analyze", "--json", str(script))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["error"]
    assert data["iterations"]["per_epoch"] is None


def test_empty_file(tmp_path: Path) -> None:
    script = tmp_path / "empty.py"
    script.write_text("")
    data = analyze_json(str(script))
    assert data["facts"]["batch_size"]["value"] is None
    assert data["facts"]["batch_size"]["reason"]
    assert data["iterations"]["reason"]
