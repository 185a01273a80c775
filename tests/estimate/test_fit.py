"""estimate/fit.py: usable memory, the warn/error thresholds, the largest batch with a margin."""

from __future__ import annotations

from pathlib import Path

import pytest
from gpulens.analysis import analyze
from gpulens.estimate.fit import (
    DEFAULT_BATCH_MARGIN,
    DEFAULT_WARN_RATIO,
    assess_analysis,
    assess_fit,
    usable_memory,
)
from gpulens.estimate.memory import (
    MemoryEstimate,
    estimate_training_memory,
    torchvision_costs,
)
from gpulens.gpu import DRIVER_RESERVED_BYTES, GpuTarget, resolve_gpu
from gpulens.sources import read_source_file

MIB = 1 << 20
GIB = 1 << 30
REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "fixtures" / "scripts" / "cifar_resnet.py"


def _resnet50(batch: int = 64) -> tuple[object, MemoryEstimate]:
    model = torchvision_costs("resnet50")
    assert model is not None
    return model, estimate_training_memory(model, batch, "fp32", "SGD")


def _card_for(est: MemoryEstimate, ratio: float) -> GpuTarget:
    """A card on which ``est`` uses ``ratio`` of the usable memory."""
    memory = int(est.peak_reserved / ratio) + DRIVER_RESERVED_BYTES + est.cuda_context
    return GpuTarget("Test GPU", memory, "test")


def test_usable_is_card_minus_driver_and_context() -> None:
    _, est = _resnet50()
    card = resolve_gpu("RTX 4090")
    usable, how = usable_memory(card, est.cuda_context)
    assert usable == 24_564 * MIB - DRIVER_RESERVED_BYTES - est.cuda_context
    assert "CUDA context" in how
    report = assess_fit(est, card)
    assert report.usable == usable and report.needed == est.peak_reserved
    # like with like: reserved bytes against what is left for the allocator
    assert report.usage_ratio == pytest.approx(est.peak_reserved / usable)
    assert report.gpu_memory == card.memory and report.fits


@pytest.mark.parametrize(
    ("ratio", "status"),
    [(0.5, "fits"), (0.89, "fits"), (0.91, "at_risk"), (0.995, "at_risk"), (1.02, "does_not_fit")],
)
def test_thresholds(ratio: float, status: str) -> None:
    _, est = _resnet50()
    report = assess_fit(est, _card_for(est, ratio))
    assert report.usage_ratio == pytest.approx(ratio, rel=1e-6)
    assert report.status == status
    assert report.fits == (status != "does_not_fit")


def test_thresholds_are_settings() -> None:
    _, est = _resnet50()
    card = _card_for(est, 0.8)
    assert assess_fit(est, card).status == "fits"
    assert assess_fit(est, card, warn_ratio=0.75).status == "at_risk"
    assert assess_fit(est, card, warn_ratio=0.5, error_ratio=0.7).status == "does_not_fit"
    with pytest.raises(ValueError):
        assess_fit(est, card, warn_ratio=0.9, error_ratio=0.8)


def test_message_in_the_issue_form() -> None:
    _, est = _resnet50(256)
    report = assess_fit(est, resolve_gpu("RTX 4090"))
    assert report.message.startswith("batch_size=256 needs ≈ ")
    assert "; RTX 4090: " in report.message and " GiB usable (" in report.message
    assert report.message.endswith("%)")
    assert report.to_json()["gpu"]["name"] == "RTX 4090"


def test_largest_batch_keeps_the_margin() -> None:
    model, est = _resnet50()
    card = resolve_gpu("RTX 4090")
    report = assess_fit(est, card, model=model, optimizer="SGD")
    best = report.max_batch_size
    assert best is not None and best > 1
    at_best = estimate_training_memory(model, best, "fp32", "SGD")  # type: ignore[arg-type]
    above = estimate_training_memory(model, best + 1, "fp32", "SGD")  # type: ignore[arg-type]
    keep = 1 - DEFAULT_BATCH_MARGIN
    assert at_best.peak_reserved <= report.usable * keep < above.peak_reserved
    # the margin is not the warn threshold: the suggested batch fits, and may be "at risk"
    assert report.margin == DEFAULT_BATCH_MARGIN < 1 - DEFAULT_WARN_RATIO
    assert assess_fit(at_best, card).status in ("fits", "at_risk")
    assert assess_fit(above, card).status in ("at_risk", "does_not_fit")
    assert report.hint is not None and f"{best:,}" in report.hint
    assert f"under {keep:.0%} of usable memory" in report.hint
    # an explicit margin is said as such
    tenth = assess_fit(est, card, model=model, optimizer="SGD", margin=0.1)
    assert tenth.hint is not None and "with 10% headroom" in tenth.hint
    assert tenth.max_batch_size is not None and tenth.max_batch_size < best
    # a larger margin, a smaller batch; without the model, no answer
    smaller = assess_fit(est, card, model=model, optimizer="SGD", margin=0.3).max_batch_size
    assert smaller is not None and smaller < best
    assert assess_fit(est, card).max_batch_size is None


def test_largest_batch_zero_when_nothing_fits() -> None:
    model, est = _resnet50()
    tiny = GpuTarget("Tiny", 3 * GIB // 2, "test")
    report = assess_fit(est, tiny, model=model, optimizer="SGD")
    assert report.status == "does_not_fit" and report.max_batch_size == 0
    assert report.hint is not None and "batch_size=1 does not fit" in report.hint


def test_analysis_at_another_batch_and_precision() -> None:
    path = str(SCRIPT)
    analysis = analyze(read_source_file(path), path=path)
    assert analysis.memory is not None
    card = resolve_gpu("T4")
    base = assess_analysis(analysis, card)
    assert base is not None and base.batch_size == analysis.memory.batch_size
    assert base.needed == analysis.memory.peak_reserved
    assert base.max_batch_size is not None and base.max_batch_size > base.batch_size
    bigger = assess_analysis(analysis, card, batch_size=base.batch_size * 8)
    assert bigger is not None and bigger.needed > base.needed and bigger.batch_size > 128
    bf16 = assess_analysis(analysis, card, batch_size=base.batch_size * 8, precision="amp_bf16")
    assert bf16 is not None and bf16.precision == "amp_bf16" and bf16.needed < bigger.needed
    assert bf16.max_batch_size is not None and bf16.max_batch_size > base.max_batch_size


def test_analysis_without_memory() -> None:
    analysis = analyze("x = 1\n", path="x.py")
    assert assess_analysis(analysis, resolve_gpu("T4")) is None
