"""Does a training step fit a GPU? The estimate against a card's usable memory (issue 4).

Like is compared with like, in bytes the caching allocator asks the driver for::

    needed = peak_reserved                      (the estimate: what PyTorch holds at its peak)
    usable = card memory                        (NVML's total)
             - driver reservation               (catalog cards: NVML "used" on an idle GPU)
             - cuda_context                     (the estimate's CUDA context + library kernels)
             - memory other processes hold      (local GPU only; includes the driver's share)
    usage_ratio = needed / usable               (= device_total / (card - driver - others))

``peak_reserved`` rather than ``peak_allocated``: an out-of-memory error happens when the
allocator cannot reserve a new segment, and reserved bytes are what it holds (gpu-truth: up to
2x allocated for convnets). ``device_total`` (= reserved + context, what nvidia-smi shows for
the process) against the card's free memory gives the same ratio's numerator.

Status: ``fits`` below ``warn_ratio`` (default 0.9), ``at_risk`` from it up to ``error_ratio``
(default 1.0), ``does_not_fit`` above.

The largest batch that fits (the hover, ``gpulens check``, the "set batch_size" quick fix) is
the largest whose estimated ``peak_reserved`` stays within ``usable * (1 - margin)``, with
:data:`DEFAULT_BATCH_MARGIN` = 3% by default. That margin is not the warn threshold: the two
answer different questions. ``warn_ratio`` says "this run is close to the limit, look at it";
the margin is the error the suggested batch must absorb so that it really fits, sized from how
far the memory model's per-sample slope is from the measured one (``bench/accuracy/
max_batch.py``, measured on an H200): the caching allocator's stranded blocks per dense
convolution output scatter about ±1 block around the model's 6 (up to +5% of the batch for the
nets at the top of the range), ViT-B/16's activations from the torchvision table are ~8% low,
half a logit block for language models is ±4%. Margins of 2-4% all keep every dev-set pair
within 5% above the measured largest batch with 75 of 85 within 10% of it (issue 4's targets);
3% is the middle of that plateau. The former default, ``1 - warn_ratio`` = 10%, left most
suggestions 10-20% below the truth. A suggested batch therefore usually needs more than 90%
of usable memory (at most 97%): the same check calls it ``at_risk``, which is what it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from gpulens.gpu.catalog import DRIVER_RESERVED_BYTES, GpuTarget
from gpulens.gpu.nvml import LocalGpu

if TYPE_CHECKING:
    from gpulens.analysis.facts import Analysis
    from gpulens.estimate.memory import MemoryEstimate

__all__ = [
    "DEFAULT_BATCH_MARGIN",
    "DEFAULT_ERROR_RATIO",
    "DEFAULT_WARN_RATIO",
    "FIT_LIMIT",
    "FitReport",
    "FitStatus",
    "assess_analysis",
    "assess_fit",
    "gpu_label",
    "usable_memory",
]

FitStatus = Literal["fits", "at_risk", "does_not_fit"]
DEFAULT_WARN_RATIO = 0.9
DEFAULT_ERROR_RATIO = 1.0
#: Headroom under usable memory for the largest batch that fits (see the module docstring).
DEFAULT_BATCH_MARGIN = 0.03
#: The largest batch the search tries (``≥ 65,536`` beyond).
FIT_LIMIT = 1 << 16
_ERRORS = (ValueError, TypeError, KeyError, ZeroDivisionError, ArithmeticError)


@dataclass(frozen=True)
class FitReport:
    """One estimate against one GPU.

    ``message`` is the diagnostic's text, e.g. ``batch_size=256 needs ≈ 21.4 GiB; RTX 4090:
    23.3 GiB usable (92%)``; ``hint`` the largest batch that fits, in words (None when unknown);
    ``usable_how`` how ``usable`` was computed. ``max_batch_size`` is None when the model's
    dependence on the batch is unknown (no trace), 0 when even batch 1 does not fit;
    ``max_batch_at_limit`` when the search stopped at :data:`FIT_LIMIT`.
    """

    gpu_name: str
    gpu_memory: int
    usable: int
    needed: int
    usage_ratio: float
    status: FitStatus
    max_batch_size: int | None
    message: str
    batch_size: int
    precision: str
    hint: str | None = None
    usable_how: str = ""
    gpu_source: str = ""
    gpu_note: str | None = None
    max_batch_at_limit: bool = False
    warn_ratio: float = DEFAULT_WARN_RATIO
    error_ratio: float = DEFAULT_ERROR_RATIO
    #: headroom the largest batch keeps: it stays under ``1 - margin`` of usable memory
    margin: float = DEFAULT_BATCH_MARGIN

    @property
    def fits(self) -> bool:
        """Within ``error_ratio`` of usable memory (``at_risk`` still fits)."""
        return self.status != "does_not_fit"

    def to_json(self) -> dict[str, Any]:
        """The fields ``gpulens analyze --json --gpu`` adds."""
        return {
            "gpu": {
                "name": self.gpu_name,
                "memory": self.gpu_memory,
                "usable": self.usable,
                "source": self.gpu_source,
            },
            "fits": self.fits,
            "fit_status": self.status,
            "usage_ratio": round(self.usage_ratio, 4),
            "needed": self.needed,
            "max_batch_size": self.max_batch_size,
            # the search stops at FIT_LIMIT: then the largest batch is at least that
            "max_batch_size_at_limit": self.max_batch_at_limit,
            "fit_message": self.message,
        }


def gpu_label(gpu: GpuTarget | LocalGpu) -> str:
    """``RTX 4090``; a local GPU as NVML names it, without the ``NVIDIA`` prefix."""
    if isinstance(gpu, LocalGpu):
        name = gpu.name
        for prefix in ("NVIDIA ", "GeForce "):
            if name.startswith(prefix):
                name = name[len(prefix) :]
        return name
    return gpu.name


def usable_memory(gpu: GpuTarget | LocalGpu, cuda_context: int) -> tuple[int, str]:
    """(bytes a training process can have for PyTorch's allocator, how it was computed)."""
    from gpulens.units import fmt_bytes

    if isinstance(gpu, LocalGpu):
        usable = gpu.total - gpu.used_by_others - cuda_context
        how = (
            f"{fmt_bytes(gpu.total)} on GPU {gpu.index} - {fmt_bytes(gpu.used_by_others)} in use "
            f"(other processes and the driver) - {fmt_bytes(cuda_context)} CUDA context"
        )
    else:
        usable = gpu.memory - DRIVER_RESERVED_BYTES - cuda_context
        how = (
            f"{fmt_bytes(gpu.memory)} - {fmt_bytes(DRIVER_RESERVED_BYTES)} the driver keeps "
            f"(NVML, idle H200) - {fmt_bytes(cuda_context)} CUDA context and libraries"
        )
    return max(0, usable), how


def _status(ratio: float, warn_ratio: float, error_ratio: float) -> FitStatus:
    if ratio > error_ratio:
        return "does_not_fit"
    if ratio >= warn_ratio:
        return "at_risk"
    return "fits"


def assess_fit(
    memory: MemoryEstimate,
    gpu: GpuTarget | LocalGpu,
    *,
    model: Any = None,
    optimizer: Any = "Adam",
    warn_ratio: float = DEFAULT_WARN_RATIO,
    error_ratio: float = DEFAULT_ERROR_RATIO,
    margin: float | None = None,
    limit: int = FIT_LIMIT,
) -> FitReport:
    """``memory`` against ``gpu``. ``model`` / ``optimizer``: the estimator inputs that produced
    ``memory`` (a trace, ModelCosts or a list), for the largest batch that fits; without them
    ``max_batch_size`` is None."""
    from gpulens.units import fmt_bytes

    if not 0 < warn_ratio <= error_ratio:
        raise ValueError(f"need 0 < warn_ratio <= error_ratio, got {warn_ratio}, {error_ratio}")
    cuda_context = int(memory.cuda_context)
    usable, how = usable_memory(gpu, cuda_context)
    needed = int(memory.peak_reserved)
    ratio = needed / usable if usable > 0 else float("inf")
    status = _status(ratio, warn_ratio, error_ratio)
    keep = DEFAULT_BATCH_MARGIN if margin is None else margin
    best: int | None = None
    if model is not None and usable > 0:
        best = _largest_batch(
            model, usable, str(memory.precision), optimizer, keep, limit, memory.options
        )
    label = gpu_label(gpu)
    pct = "over 999%" if ratio > 9.99 else f"{ratio:.0%}"
    message = (
        f"batch_size={memory.batch_size} needs ≈ {fmt_bytes(needed)}; "
        f"{label}: {fmt_bytes(usable)} usable ({pct})"
    )
    at_limit = best is not None and best >= limit
    hint: str | None = None
    if best is not None:
        under = (
            f"under {1.0 - keep:.0%} of usable memory"
            if margin is None
            else (f"with {keep:.0%} headroom")
        )
        if best == 0:
            hint = f"even batch_size=1 does not fit {label} {under}"
        else:
            hint = f"largest batch_size {under}: {'≥ ' if at_limit else ''}{best:,}"
    if isinstance(gpu, LocalGpu):
        source = f"local GPU {gpu.index} (NVML): {gpu.name}"
        note = None
    else:
        source, note = gpu.source, gpu.note
    return FitReport(
        gpu_name=label,
        gpu_memory=gpu.total if isinstance(gpu, LocalGpu) else gpu.memory,
        usable=usable,
        needed=needed,
        usage_ratio=ratio,
        status=status,
        max_batch_size=best,
        message=message,
        batch_size=int(memory.batch_size),
        precision=str(memory.precision),
        hint=hint,
        usable_how=how,
        gpu_source=source,
        gpu_note=note,
        max_batch_at_limit=at_limit,
        warn_ratio=warn_ratio,
        error_ratio=error_ratio,
        margin=keep,
    )


def _largest_batch(
    model: Any,
    usable: int,
    precision: str,
    optimizer: Any,
    margin: float,
    limit: int,
    options: dict[str, bool],
) -> int | None:
    from gpulens.estimate.memory import max_batch_size

    try:
        return max_batch_size(
            model, usable, precision, optimizer, margin=margin, limit=limit, **options
        )
    except _ERRORS:
        return None


def assess_analysis(
    analysis: Analysis,
    gpu: GpuTarget | LocalGpu,
    *,
    batch_size: int | None = None,
    precision: str | None = None,
    warn_ratio: float = DEFAULT_WARN_RATIO,
    error_ratio: float = DEFAULT_ERROR_RATIO,
    margin: float | None = None,
) -> FitReport | None:
    """The analysis' estimate against ``gpu``; with ``batch_size`` / ``precision``, the same
    script re-estimated at that batch size / precision (what a quick fix would give: compare
    ``needed`` with the baseline's for the predicted saving). None when the analysis has no
    memory estimate, or (for another batch / precision) when its estimator inputs cannot be
    reproduced."""
    from gpulens.whatif import baseline_inputs

    memory = analysis.memory
    if memory is None:
        return None
    inputs = baseline_inputs(analysis)
    model, optimizer = inputs if inputs is not None else (None, None)
    want_batch = int(memory.batch_size) if batch_size is None else batch_size
    want_precision = str(memory.precision) if precision is None else precision
    if (want_batch, want_precision) != (int(memory.batch_size), str(memory.precision)):
        if model is None:
            return None
        from gpulens.estimate.memory import estimate_training_memory

        try:
            memory = estimate_training_memory(
                model, want_batch, want_precision, optimizer, **memory.options
            )
        except _ERRORS:
            return None
    return assess_fit(
        memory,
        gpu,
        model=model,
        optimizer=optimizer,
        warn_ratio=warn_ratio,
        error_ratio=error_ratio,
        margin=margin,
    )
