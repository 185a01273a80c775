"""What-if figures for the memory hover and the CLI: the same model traces, estimated again at
another batch size or precision (the estimator is cheap: one step walk per call).

No estimation logic here: this module only calls
:func:`gpulens.estimate.memory.estimate_training_memory` with the analysis' own traces and
optimizer, and refuses to answer (returns nothing) when re-running the script's own settings does
not reproduce the analysis' estimate, so a variant is never compared with a different baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpulens.analysis.facts import Analysis


@dataclass(frozen=True)
class Variant:
    """One alternative setting and its estimate (``gpulens.estimate.memory.MemoryEstimate``)."""

    key: str
    batch_size: int
    precision: str
    estimate: Any


def _inputs(analysis: Analysis) -> tuple[list[Any], list[Any]] | None:
    """The traces of the trained models and the optimizer argument(s) candidates."""
    traces = [m.trace for m in analysis.models if m.trained and m.trace is not None]
    if not traces:
        return None
    candidates: list[Any] = []
    fact = analysis.facts.get("optimizer")
    if fact is not None and fact.known:
        candidates.append(fact.value)
    memory = analysis.memory
    names = getattr(memory, "optimizer", None)
    if isinstance(names, str) and names:
        parts = [p.strip() for p in names.split(",")]
        candidates.append(parts if len(parts) == len(traces) and len(parts) > 1 else parts[0])
    if names is None:
        candidates.append(None)
    return traces, candidates


def rerun(analysis: Analysis, batch_size: int, precision: str) -> Any | None:
    """The analysis' estimate at another batch size / precision, or None when the baseline
    cannot be reproduced (then the analysis was built from inputs this module cannot see)."""
    memory = analysis.memory
    found = _inputs(analysis)
    if memory is None or found is None:
        return None
    traces, candidates = found
    from gpulens.estimate.memory import estimate_training_memory

    model: Any = traces if len(traces) > 1 else traces[0]
    for optimizer in candidates:
        try:
            base = estimate_training_memory(model, memory.batch_size, memory.precision, optimizer)
        except (ValueError, TypeError, KeyError, ZeroDivisionError):
            continue
        if base.peak_allocated != memory.peak_allocated:
            continue
        try:
            return estimate_training_memory(model, batch_size, precision, optimizer)
        except (ValueError, TypeError, KeyError, ZeroDivisionError):
            return None
    return None


def variants(analysis: Analysis) -> list[Variant]:
    """Half the batch, and AMP bf16 (when the script is not already in a 16-bit mode)."""
    memory = analysis.memory
    if memory is None:
        return []
    out: list[Variant] = []
    batch = int(memory.batch_size)
    precision = str(memory.precision)
    if batch >= 2:
        est = rerun(analysis, batch // 2, precision)
        if est is not None:
            out.append(Variant("half_batch", batch // 2, precision, est))
    if precision == "fp32":
        est = rerun(analysis, batch, "amp_bf16")
        if est is not None:
            out.append(Variant("amp_bf16", batch, "amp_bf16", est))
    return out


__all__ = ["Variant", "rerun", "variants"]
