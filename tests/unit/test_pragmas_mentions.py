"""Pragmas, user settings, and the concept mentions hovers and hints anchor to."""

from __future__ import annotations

from pathlib import Path

from gpulens.analysis import analyze
from gpulens.analysis.pragmas import find_pragmas, parse_value

ROOT = Path(__file__).resolve().parents[2]
CLASSIC = (ROOT / "examples" / "classic_train.py").read_text(encoding="utf-8")


def test_parse_pragmas() -> None:
    lines = [
        "x = 1  # gpulens: dataset_size=1200",
        "# gpulens: world_size=8, precision='amp_bf16' drop_last=True",
        "# gpulens:epochs=2.5,optimizer={'class': 'SGD'}",
        "# not a pragma: dataset_size=3",
    ]
    got = {(p.name, repr(p.value), p.line) for p in find_pragmas(lines)}
    assert got == {
        ("dataset_size", "1200", 1),
        ("world_size", "8", 2),
        ("precision", "'amp_bf16'", 2),
        ("drop_last", "True", 2),
        ("epochs", "2.5", 3),
        ("optimizer", "{'class': 'SGD'}", 3),
    }
    p = find_pragmas(lines)[0]
    assert lines[0][p.span.col : p.span.end_col] == "dataset_size=1200"


def test_parse_value() -> None:
    assert parse_value("1200") == 1200
    assert parse_value("bf16") == "bf16"
    assert parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2]


def test_pragma_and_setting_provenance() -> None:
    src = CLASSIC.replace("NUM_SAMPLES = 1200", "NUM_SAMPLES = 1200  # gpulens: epochs=2")
    a = analyze(src, path="x.py")
    assert a.facts["epochs"].value == 2
    assert a.facts["epochs"].source == "pragma, line 11"
    assert a.iterations.total == 24
    a = analyze(src, path="x.py", overrides={"epochs": "3"})
    assert a.facts["epochs"].value == 3
    assert a.facts["epochs"].source == "user setting"
    assert a.iterations.total == 36


def test_override_any_fact_name() -> None:
    a = analyze(CLASSIC, overrides={"precision": "amp_bf16", "note": "mine"})
    assert a.facts["precision"].value == "amp_bf16"
    assert a.facts["note"].value == "mine"


def kinds(src: str) -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {}
    for m in analyze(src).mentions:
        out.setdefault(m.kind, []).append((m.span.line, m.detail))
    return out


def test_classic_mentions() -> None:
    k = kinds(CLASSIC)
    # batch_size: first where the DataLoader uses it, then where it is defined.
    assert k["batch_size"] == [(19, "torch.utils.data.DataLoader"), (12, "definition")]
    assert k["epoch_loop"] == [(31, "epoch")]
    assert k["epochs"] == [(13, "definition")]
    assert k["dataset"] == [(18, "torch.utils.data.TensorDataset")]
    assert k["dataloader"] == [(19, "torch.utils.data.DataLoader")]
    assert k["optimizer"] == [(28, "torch.optim.Adam")]
    assert k["learning_rate"] == [(28, "torch.optim.Adam")]
    assert k["weight_decay"] == [(28, "torch.optim.Adam")]
    assert k["loss"] == [(27, "torch.nn.CrossEntropyLoss")]
    assert k["lr_scheduler"] == [(29, "torch.optim.lr_scheduler.StepLR")]
    assert k["dropout"] == [(24, "torch.nn.Dropout")]
    assert k["activation"] == [(23, "torch.nn.ReLU")]


def test_mention_spans_cover_the_code() -> None:
    a = analyze(CLASSIC)
    lines = CLASSIC.splitlines()
    by_kind = {}
    for m in a.mentions:
        by_kind.setdefault(m.kind, m)  # the first of each kind
    bs = by_kind["batch_size"].span
    assert lines[bs.line - 1][bs.col : bs.end_col] == "BATCH_SIZE"
    loop = by_kind["epoch_loop"].span
    assert lines[loop.line - 1][loop.col : loop.end_col] == "for epoch in range(EPOCHS):"
    lr = by_kind["learning_rate"].span
    assert lines[lr.line - 1][lr.col : lr.end_col] == "lr=LEARNING_RATE"
    assert a.mentions_at(19, 45)[0].kind == "batch_size"


def test_functional_and_precision_mentions() -> None:
    src = """import torch
import torch.nn.functional as F
scaler = torch.cuda.amp.GradScaler()
def f(x):
    with torch.autocast('cuda', dtype=torch.bfloat16):
        x = F.gelu(x)
        x = torch.relu(x)
        x = F.dropout(x, 0.1)
        return F.cross_entropy(x, x)
"""
    k = kinds(src)
    assert [d for _, d in k["activation"]] == ["torch.nn.functional.gelu", "torch.relu"]
    assert [d for _, d in k["dropout"]] == ["torch.nn.functional.dropout"]
    assert [d for _, d in k["loss"]] == ["torch.nn.functional.cross_entropy"]
    assert {d for _, d in k["precision"]} == {"torch.cuda.amp.GradScaler", "torch.autocast"}


def test_step_loop_and_accumulation_mentions() -> None:
    src = (ROOT / "tests/fixtures/scripts/accum_modulo_floor.py").read_text(encoding="utf-8")
    k = kinds(src)
    assert k["epoch_loop"] == [(10, "epoch")]
    assert k["grad_accum"][0][0] == 16
    src = (ROOT / "tests/fixtures/scripts/while_true_ge.py").read_text(encoding="utf-8")
    assert kinds(src)["step_loop"] == [(7, "while")]


def test_trainer_anchor() -> None:
    src = (ROOT / "tests/fixtures/scripts/hf_trainer.py").read_text(encoding="utf-8")
    k = kinds(src)
    assert k["epoch_loop"] == [(22, "trainer")]


def test_trainer_and_step_loop_batch_mentions() -> None:
    src = (ROOT / "tests/fixtures/scripts/hf_trainer.py").read_text(encoding="utf-8")
    k = kinds(src)
    assert k["batch_size"] == [(13, "transformers.TrainingArguments")]
    assert k["epochs"] == [(12, "trainer")]
    src = (ROOT / "tests/fixtures/scripts/nanogpt/train.py").read_text(encoding="utf-8")
    k = kinds(src)
    assert "batch_size" not in k
    assert k["max_steps"] == [(26, "definition")]
    assert k["step_loop"] == [(97, "while")]


def test_gpu_count_setting_wins_over_pragma() -> None:
    src = (ROOT / "tests/fixtures/scripts/pragma_multi.py").read_text(encoding="utf-8")
    assert analyze(src).facts["world_size"].value == 2
    a = analyze(src, world_size=4)
    assert a.facts["world_size"].value == 4
    assert a.facts["world_size"].source == "user setting (number of GPUs)"
    assert analyze(src, world_size=4, overrides={"world_size": 8}).facts["world_size"].value == 8
