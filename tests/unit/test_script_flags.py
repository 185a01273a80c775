"""Settings chosen by script flags: code under an ``if`` that is false for the given arguments
does not set the precision or the optimizer, and ``zero_grad(set_to_none=False)`` keeps the
gradients allocated between steps."""

from __future__ import annotations

from gpulens.analysis import analyze

SRC = """
import argparse
import torch
import torch.nn as nn

parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--optimizer", default="sgd", choices=["sgd", "adam", "adamw"])
parser.add_argument("--half", action="store_true")
parser.add_argument("--bf16", action="store_true")
parser.add_argument("--keep-grads", action="store_true")
args = parser.parse_args()

model = nn.Sequential(nn.Linear(512, 2048), nn.ReLU(), nn.Linear(2048, 10))
if args.half:
    model = model.half()
if args.bf16:
    model = model.bfloat16()
if args.optimizer == "sgd":
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
elif args.optimizer == "adam":
    optimizer = torch.optim.Adam(model.parameters())
else:
    optimizer = torch.optim.AdamW(model.parameters())
for step in range(10):
    x = torch.randn(args.batch_size, 512)
    loss = model(x).square().mean()
    optimizer.zero_grad(set_to_none=not args.keep_grads)
    loss.backward()
    optimizer.step()
"""


def _opt(*args: str) -> str:
    v = analyze(SRC, "flags.py", script_args=args).facts["optimizer"].value
    assert isinstance(v, dict)
    return str(v["class"])


def test_optimizer_branch_follows_the_flag() -> None:
    assert _opt() == "SGD"
    assert _opt("--optimizer", "adam") == "Adam"
    assert _opt("--optimizer", "adamw") == "AdamW"


def test_precision_casts_under_false_ifs_do_not_count() -> None:
    assert analyze(SRC, "flags.py").facts["precision"].value == "fp32"
    assert analyze(SRC, "flags.py", script_args=["--half"]).facts["precision"].value == "fp16"
    assert analyze(SRC, "flags.py", script_args=["--bf16"]).facts["precision"].value == "bf16"


def test_set_to_none_false_keeps_gradients() -> None:
    free = analyze(SRC, "flags.py").memory
    kept = analyze(SRC, "flags.py", script_args=["--keep-grads"]).memory
    assert free is not None and kept is not None
    # the gradients are allocated when the next forward starts
    assert kept.peak_allocated >= free.peak_allocated
    grads = kept.gradients
    fwd_free = [v for k, v in free.phases.items() if k.startswith("forward")]
    fwd_kept = [v for k, v in kept.phases.items() if k.startswith("forward")]
    assert fwd_kept and fwd_free and fwd_kept[0] - fwd_free[0] == grads


def test_amp_switched_off_by_a_flag_says_so() -> None:
    """torchvision's reference script: `GradScaler() if args.amp else None` and
    `autocast(enabled=scaler is not None)` are fp32 without `--amp`, and the fact says which
    call is switched off (not "no autocast found")."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "fixtures" / "scripts" / "torchvision_reference.py"
    text = path.read_text()
    fact = analyze(text, str(path)).facts["precision"]
    assert fact.value == "fp32"
    assert "autocast` at line" in fact.source and "`enabled=False` here" in fact.source
    amp = analyze(text, str(path), script_args=["--amp"]).facts["precision"]
    assert amp.value == "amp_fp16" and "autocast" in amp.source


def test_accelerate_world_size_says_where_processes_come_from() -> None:
    """`python train.py` runs one process; under `accelerate launch` the prepared DataLoader is
    sharded over its processes: 1, with that said, and how to give another count."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "fixtures" / "scripts" / "accelerate_accum.py"
    fact = analyze(path.read_text(), str(path)).facts["world_size"]
    assert fact.value == 1
    assert "accelerate launch" in fact.source and "world_size=" in fact.source
    plain = analyze(SRC, "flags.py").facts["world_size"]
    assert plain.value == 1 and plain.source.startswith("single process")
