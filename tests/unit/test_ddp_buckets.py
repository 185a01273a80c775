"""DistributedDataParallel's allreduce buckets: a second copy of the gradients on every rank,
counted when a DDP wrapping runs in the script's configuration, and carried into every rerun
(what-ifs, the largest batch, the OOM check)."""

from __future__ import annotations

from gpulens.analysis import analyze
from gpulens.estimate.memory import estimate_training_memory, max_batch_size
from gpulens.whatif import what_if

SRC = """
import argparse
import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

parser = argparse.ArgumentParser()
parser.add_argument("--distributed", action="store_true")
parser.add_argument("--keep-grads", action="store_true")
args = parser.parse_args()

model = nn.Sequential(nn.Linear(1024, 4096), nn.ReLU(), nn.Linear(4096, 1024)).cuda()
if args.distributed:
    model = DDP(model, device_ids=[0]{view})
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
for step in range(100):
    x = torch.randn(64, 1024, device="cuda")
    loss = model(x).square().mean()
    optimizer.zero_grad(set_to_none=not args.keep_grads)
    loss.backward()
    optimizer.step()
"""
PARAMS = 1024 * 4096 + 4096 + 4096 * 1024 + 1024


def _memory(args: tuple[str, ...] = (), view: str = "") -> object:
    a = analyze(SRC.replace("{view}", view), script_args=args)
    assert a.memory is not None, a.memory_reason
    return a


def test_buckets_only_where_ddp_runs() -> None:
    single = _memory().memory  # type: ignore[attr-defined]
    ddp = _memory(("--distributed",)).memory  # type: ignore[attr-defined]
    assert single.communication == 0 and single.options == {}
    assert ddp.communication == ddp.gradients == PARAMS * 4
    assert ddp.options == {"ddp_buckets": True}
    # held from the wrapping on: every phase of the step carries them
    for phase, total in ddp.phases.items():
        assert total == single.phases[phase] + ddp.communication, phase
    assert ddp.peak_breakdown["communication"] == ddp.communication
    assert sum(ddp.peak_breakdown.values()) == ddp.peak_allocated
    assert "allreduce buckets" in ddp.how["communication"]
    shared = _memory(("--distributed",), ", gradient_as_bucket_view=True").memory  # type: ignore[attr-defined]
    assert shared.communication == 0


def test_reruns_keep_the_scripts_options() -> None:
    """The what-ifs and the largest batch are the same script's, with DDP and with kept
    gradients: every rerun is made with the estimate's own options."""
    for args in (("--distributed",), ("--keep-grads",), ("--distributed", "--keep-grads")):
        a = _memory(args)
        memory = a.memory  # type: ignore[attr-defined]
        report = what_if(a)  # type: ignore[arg-type]
        half = next(v for v in report.variants if v.key == "half_batch")
        assert half.estimate.options == memory.options, args
        again = estimate_training_memory(
            a.models[0].trace,  # type: ignore[attr-defined]
            memory.batch_size,
            memory.precision,
            "AdamW",
            **memory.options,
        )
        assert again.peak_allocated == memory.peak_allocated
        assert report.fits, args


def test_buckets_lower_the_largest_batch() -> None:
    trace = _memory().models[0].trace  # type: ignore[attr-defined]
    usable = 2 << 30
    plain = max_batch_size(trace, usable, "fp32", "AdamW")
    ddp = max_batch_size(trace, usable, "fp32", "AdamW", ddp_buckets=True)
    assert 0 < ddp < plain


WRAPPED = """
import argparse
import torch
import torch.nn as nn

parser = argparse.ArgumentParser()
parser.add_argument("--fsdp", action="store_true")
args = parser.parse_args()

model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)).cuda()
{wrap}
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(10):
    loss = model(torch.randn(32, 256, device="cuda")).sum()
    loss.backward()
    optimizer.step()
"""


def test_wrappers_the_estimate_does_not_model_say_so() -> None:
    """torch.compile, FSDP and nn.DataParallel keep the same parameters (the estimate reads
    the model through them) but change the memory: each adds a note with its line; FSDP
    under a false ``if`` adds none."""
    cases = {
        "model = torch.compile(model)": "eager mode",
        "model = nn.DataParallel(model)": "splits each batch over the visible GPUs",
        "from torch.distributed.fsdp import FullyShardedDataParallel as FSDP\n"
        "model = FSDP(model)": "an upper bound per rank",
    }
    plain = analyze(WRAPPED.replace("{wrap}", "")).memory
    assert plain is not None and plain.reasons == []
    for wrap, words in cases.items():
        memory = analyze(WRAPPED.replace("{wrap}", wrap)).memory
        assert memory is not None, wrap
        (note,) = memory.reasons
        line = 10 + len(wrap.splitlines())  # the wrapping is the last line of `wrap`
        assert words in note and f"at line {line}" in note, note
        assert memory.peak_allocated == plain.peak_allocated  # the same model, read through
    gated = "if args.fsdp:\n    model = torch.distributed.fsdp.FullyShardedDataParallel(model)"
    memory = analyze(WRAPPED.replace("{wrap}", gated)).memory
    assert memory is not None and memory.reasons == []
    memory = analyze(WRAPPED.replace("{wrap}", gated), script_args=("--fsdp",)).memory
    assert memory is not None and "upper bound per rank" in memory.reasons[0]
