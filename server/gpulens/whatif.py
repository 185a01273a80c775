"""What-if figures for the memory hover and the CLI: the same model traces, estimated again at
another batch size or precision, and the largest batch that fits common GPU sizes.

No estimation logic here: this module only calls the estimator
(:func:`gpulens.estimate.memory.estimate_training_memory`, :func:`max_batch_size`) with the
analysis' own traces and optimizer, and refuses to answer (returns nothing) when re-running the
script's own settings does not reproduce the analysis' estimate, so a variant is never compared
with a different baseline.

The figures are computed once per analysis (:func:`what_if`); the language server computes them
in its analysis worker, so rendering a hover or an inlay-hint tooltip costs no estimator call.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from gpulens.analysis.facts import Analysis
from gpulens.estimate.fit import DEFAULT_BATCH_MARGIN

#: GPU memory sizes the "largest batch that fits" line reports, in GiB (consumer 24 GB cards,
#: A100/H100 80 GB).
DEVICE_GIB: tuple[int, ...] = (24, 80)
#: Headroom kept free on the device: the fraction passed to ``max_batch_size`` (the same as
#: the fit check's, see ``gpulens.estimate.fit``).
FIT_MARGIN = DEFAULT_BATCH_MARGIN
#: The largest batch the search tries: beyond it the answer is "at least this many" (a tiny model
#: on a big GPU), and nobody trains with a larger one.
FIT_LIMIT = 1 << 16
_ERRORS = (ValueError, TypeError, KeyError, ZeroDivisionError, ArithmeticError)


@dataclass(frozen=True)
class Variant:
    """One alternative setting and its estimate (``gpulens.estimate.memory.MemoryEstimate``)."""

    key: str
    batch_size: int
    precision: str
    estimate: Any


@dataclass(frozen=True)
class Fit:
    """The largest batch whose reserved peak fits ``device_gib`` GiB (minus the CUDA context and
    the margin); 0 when even batch 1 does not."""

    device_gib: int
    max_batch: int

    @property
    def at_limit(self) -> bool:
        """The search stopped at :data:`FIT_LIMIT`: the batch that fits is at least this."""
        return self.max_batch >= FIT_LIMIT


@dataclass(frozen=True)
class WhatIf:
    variants: list[Variant] = field(default_factory=list)
    fits: list[Fit] = field(default_factory=list)


@dataclass(frozen=True)
class _Baseline:
    model: Any
    optimizer: Any
    #: the estimator options of the script (``MemoryEstimate.options``: kept gradients, DDP)
    options: dict[str, bool] = field(default_factory=dict)


def _baseline(analysis: Analysis) -> _Baseline | None:
    """The estimator inputs that reproduce ``analysis.memory``, or None."""
    memory = analysis.memory
    if memory is None:
        return None
    traces = [m.trace for m in analysis.models if m.trained and m.trace is not None]
    if not traces:
        return None
    candidates: list[Any] = []
    fact = analysis.facts.get("optimizer")
    if fact is not None and fact.known:
        candidates.append(fact.value)
    names = getattr(memory, "optimizer", None)
    if isinstance(names, str) and names:
        parts = [p.strip() for p in names.split(",")]
        candidates.append(parts if len(parts) == len(traces) and len(parts) > 1 else parts[0])
    if names is None:
        candidates.append(None)
    from gpulens.estimate.memory import estimate_training_memory

    model: Any = traces if len(traces) > 1 else traces[0]
    for optimizer in candidates:
        try:
            base = estimate_training_memory(
                model, memory.batch_size, memory.precision, optimizer, **memory.options
            )
        except _ERRORS:
            continue
        if base.peak_allocated == memory.peak_allocated:
            return _Baseline(model, optimizer, dict(memory.options))
    return None


def baseline_inputs(analysis: Analysis) -> tuple[Any, Any] | None:
    """(model, optimizer): the estimator inputs that reproduce ``analysis.memory`` (the trained
    models' traces, one or a list, and the optimizer as the estimator takes it), or None."""
    base = _baseline(analysis)
    return None if base is None else (base.model, base.optimizer)


def rerun(analysis: Analysis, batch_size: int, precision: str) -> Any | None:
    """The analysis' estimate at another batch size / precision, or None when the baseline
    cannot be reproduced (then the analysis was built from inputs this module cannot see)."""
    base = _baseline(analysis)
    if base is None:
        return None
    return _estimate(base, batch_size, precision)


def _estimate(base: _Baseline, batch_size: int, precision: str) -> Any | None:
    from gpulens.estimate.memory import estimate_training_memory

    try:
        return estimate_training_memory(
            base.model, batch_size, precision, base.optimizer, **base.options
        )
    except _ERRORS:
        return None


def _compute(analysis: Analysis) -> WhatIf:
    memory = analysis.memory
    base = _baseline(analysis)
    if memory is None or base is None:
        return WhatIf()
    out: list[Variant] = []
    batch = int(memory.batch_size)
    precision = str(memory.precision)
    if batch >= 2:
        est = _estimate(base, batch // 2, precision)
        if est is not None:
            out.append(Variant("half_batch", batch // 2, precision, est))
    if precision == "fp32":
        est = _estimate(base, batch, "amp_bf16")
        if est is not None:
            out.append(Variant("amp_bf16", batch, "amp_bf16", est))
    fits: list[Fit] = []
    for gib in DEVICE_GIB:
        usable = (gib << 30) - int(memory.cuda_context)
        try:
            best = _max_batch(base, usable, precision)
        except _ERRORS:
            fits = []
            break
        fits.append(Fit(gib, best))
    return WhatIf(out, fits)


#: Largest batches already searched, by the traces (identity; they are kept alive here, so
#: their ids stay theirs), precision, optimizer and usable bytes. The search does not depend on
#: the script's batch size, and a document's traces survive edits that cannot change them
#: (``gpulens.analysis.modelcache``): typing a new batch size costs no search.
_FITS: OrderedDict[tuple[Any, ...], tuple[Any, int]] = OrderedDict()
_FITS_SIZE = 64


def _max_batch(base: _Baseline, usable: int, precision: str) -> int:
    from gpulens.estimate.memory import max_batch_size

    models = base.model if isinstance(base.model, list) else [base.model]
    key = (
        tuple(id(m) for m in models),
        precision,
        repr(base.optimizer),
        tuple(sorted(base.options.items())),
        usable,
    )
    with _LOCK:
        hit = _FITS.get(key)
        if hit is not None:
            _FITS.move_to_end(key)
            return hit[1]
    best = max_batch_size(
        base.model,
        usable,
        precision,
        base.optimizer,
        margin=FIT_MARGIN,
        limit=FIT_LIMIT,
        **base.options,
    )
    with _LOCK:
        _FITS[key] = (models, best)
        while len(_FITS) > _FITS_SIZE:
            _FITS.popitem(last=False)
    return best


_CACHE: OrderedDict[int, tuple[weakref.ref[Analysis], WhatIf]] = OrderedDict()
_CACHE_SIZE = 32
_LOCK = threading.Lock()


def what_if(analysis: Analysis) -> WhatIf:
    """The what-if figures of an analysis, computed once (thread-safe; recent analyses kept)."""
    key = id(analysis)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0]() is analysis:
            _CACHE.move_to_end(key)
            return hit[1]
    result = _compute(analysis)
    with _LOCK:
        _CACHE[key] = (weakref.ref(analysis), result)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def variants(analysis: Analysis) -> list[Variant]:
    """Half the batch, and AMP bf16 (when the script is not already in a 16-bit mode)."""
    return what_if(analysis).variants


__all__ = [
    "DEVICE_GIB",
    "FIT_LIMIT",
    "FIT_MARGIN",
    "Fit",
    "Variant",
    "WhatIf",
    "baseline_inputs",
    "rerun",
    "variants",
    "what_if",
]
