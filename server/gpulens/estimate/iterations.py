"""Iteration counts from facts (pure arithmetic, no AST).

per epoch  = ceil(samples per process / batch)   (floor with drop_last)
             where samples per process = ceil(N / world) when a DistributedSampler splits data
total      = per epoch x epochs, or the exact count a step-based loop runs
optimizer steps = weight updates after gradient accumulation
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gpulens.analysis.facts import Fact, Iterations

HOW_TO_SUPPLY = "add `# gpulens: {name}=...` to the script or pass `--set {name}=...`"


@dataclass(frozen=True)
class LoopPlan:
    """How the script's training loop turns facts into iterations.

    ``mode``: "epochs" (an epoch loop over a DataLoader), "steps" (a loop bounded by a step
    count: ``while True ... if iter_num > max_iters: break``, ``for step in range(max_steps)``),
    "lightning", "hf" (the trainers' own rules), or "none" (no training loop found).
    """

    mode: str
    #: steps mode: the exact number of times the loop body runs for a given bound value.
    step_count: Callable[[int], int] | None = None
    #: steps mode: how the count follows from the bound, in words ("max_iters + 1").
    step_words: str = ""
    #: True when each iteration is one weight update already (micro-steps inside it).
    accum_inside: bool = False
    #: "floor" (``if (i + 1) % k == 0``), "ceil" (``... or last batch``, Lightning).
    accum_rounding: str = "floor"
    #: A DistributedSampler (or a trainer) splits the dataset across ``world_size`` processes.
    shards: bool = False
    #: Why no loop was found (mode "none").
    reason: str = ""
    #: Lightning ``limit_train_batches``: int (batches) or float (fraction).
    limit_batches: float | int | None = None
    #: epochs mode: a ``max_steps`` budget that breaks out early counts "updates" or
    #: "batches" ("" when there is none); ``cap_offset`` 1 when the test is ``>``.
    cap_counts: str = ""
    cap_offset: int = 0


def _fmt(n: float) -> str:
    if isinstance(n, float) and not n.is_integer():
        return f"{n:,.2f}"
    return f"{int(n):,}"


def _need(facts: Mapping[str, Fact], name: str) -> tuple[int | None, str | None]:
    f = facts.get(name)
    if f is None or not f.known:
        why = f.reason if f is not None and f.reason else "not found in the script"
        if "gpulens:" in why:
            return None, f"{name} is unknown: {why}"
        return None, f"{name} is unknown ({why}); {HOW_TO_SUPPLY.format(name=name)}"
    v = f.value
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None, f"{name} = {v!r} is not a number; {HOW_TO_SUPPLY.format(name=name)}"
    if isinstance(v, float) and not v.is_integer() and name != "epochs":
        return None, f"{name} = {v} is not a whole number"
    return (int(v) if float(v).is_integer() else v), None  # type: ignore[return-value]


def batches_per_epoch(
    n: int, batch: int, world: int, drop_last: bool, shards: bool
) -> tuple[int, str]:
    """DataLoader length on one process, and the arithmetic in words."""
    if shards and world > 1:
        per_proc = math.ceil(n / world)  # DistributedSampler pads to equal shards
        words = f"{n:,} samples / {world} processes = {per_proc:,} each; "
    else:
        per_proc = n
        words = f"{n:,} samples"
    per = per_proc // batch if drop_last else math.ceil(per_proc / batch)
    if shards and world > 1:
        words += f"{per_proc:,} / batch {batch} = {per:,} per epoch"
    else:
        words += f" / batch {batch} = {per:,} per epoch"
    if drop_last and per_proc % batch:
        words += " (drop_last drops the partial batch)"
    return per, words


def compute_iterations(facts: Mapping[str, Fact], plan: LoopPlan) -> Iterations:
    if plan.mode == "none":
        return Iterations(None, None, None, plan.reason or "no training loop found", "")
    accum, accum_reason = _need(facts, "grad_accum_steps")
    accum = 1 if accum is None else max(1, accum)
    world_f = facts.get("world_size")
    if plan.mode == "steps":
        return _steps(facts, plan, accum, accum_reason)
    reasons: list[str] = []
    n, r = _need(facts, "dataset_size")
    if r:
        reasons.append(r)
    b, r = _need(facts, "batch_size")
    if r:
        reasons.append(r)
    world = 1
    if plan.shards:
        w, r = _need(facts, "world_size")
        if r:
            reasons.append(r)
        else:
            world = max(1, w or 1)
    elif world_f is not None and world_f.known and isinstance(world_f.value, int):
        world = world_f.value
    drop_f = facts.get("drop_last")
    drop = bool(drop_f.value) if drop_f is not None and drop_f.known else False
    epochs_f = facts.get("epochs")
    epochs: float | None = None
    e_reason: str | None = None
    if (
        epochs_f is not None
        and epochs_f.known
        and isinstance(epochs_f.value, int | float)
        and not isinstance(epochs_f.value, bool)
    ):
        epochs = epochs_f.value
    else:
        why = epochs_f.reason if epochs_f is not None and epochs_f.reason else "not found"
        e_reason = (
            f"epochs is unknown: {why}"
            if "gpulens:" in why
            else f"epochs is unknown ({why}); {HOW_TO_SUPPLY.format(name='epochs')}"
        )
    max_steps_f = facts.get("max_steps")
    max_steps = (
        max_steps_f.value
        if plan.mode in ("lightning", "hf")
        and max_steps_f is not None
        and max_steps_f.known
        and isinstance(max_steps_f.value, int)
        and max_steps_f.value > 0
        else None
    )
    if n is None or b is None or b <= 0 or reasons:
        if b is not None and b <= 0:
            reasons.append(f"batch_size = {b} is not positive")
        return Iterations(None, None, None, "; ".join(reasons), "")
    per, words = batches_per_epoch(n, b, world, drop, plan.shards)
    if plan.limit_batches is not None:
        lim = plan.limit_batches
        if isinstance(lim, float) and lim <= 1.0:
            per = int(per * lim)
            words += f"; limit_train_batches={lim} → {per:,}"
        else:
            per = min(per, int(lim))
            words += f"; limit_train_batches={int(lim)} → {per:,}"
    # Weight updates per epoch.
    if accum > 1 and not plan.accum_inside:
        if plan.mode == "hf":
            upd = max(per // accum, 1)
            upd_words = f"{per:,} // {accum} accumulation steps = {upd:,} updates per epoch"
        elif plan.accum_rounding == "ceil":
            upd = math.ceil(per / accum)
            upd_words = f"ceil({per:,} / {accum} accumulation steps) = {upd:,} updates per epoch"
        else:
            upd = per // accum
            upd_words = f"{per:,} // {accum} accumulation steps = {upd:,} updates per epoch"
    else:
        upd = per
        upd_words = ""
    if plan.mode in ("lightning", "hf") and max_steps is not None:
        # The trainers stop at max_steps optimizer steps (or at max_epochs, whichever is first).
        # Lightning stops at whichever comes first; HF's max_steps overrides num_train_epochs.
        cap_total = (
            upd * epochs if plan.mode == "lightning" and epochs is not None and epochs > 0 else None
        )
        steps = max_steps if cap_total is None else min(max_steps, math.floor(cap_total))
        if upd > 0:
            full, rest = divmod(steps, upd)
            total = full * per + rest * (accum if accum > 1 and not plan.accum_inside else 1)
        else:
            total = 0
        expl = f"{words}; stops after max_steps={max_steps:,} weight updates"
        if cap_total is not None and cap_total < max_steps:
            expl = f"{words}; max_epochs ends it first"
        expl += f" = {total:,} iterations ({steps:,} weight updates)"
        return Iterations(per, total, steps, None, expl)
    if epochs is None:
        return Iterations(per, None, None, e_reason, words)
    cap_m = None
    if plan.mode == "epochs" and plan.cap_counts and max_steps_f is not None:
        ms = max_steps_f.value
        if max_steps_f.known and isinstance(ms, int) and not isinstance(ms, bool) and ms >= 0:
            cap_m = ms + plan.cap_offset
    if cap_m is not None and upd > 0 and per > 0:
        acc = accum if accum > 1 and not plan.accum_inside else 1
        e = int(epochs)
        if plan.cap_counts == "updates" and cap_m < upd * e:
            full, rest = divmod(cap_m, upd)
            total = full * per + rest * acc
            expl = (
                f"{words}; the loop breaks after {cap_m:,} weight updates (max_steps)"
                f" = {total:,} iterations ({cap_m:,} weight updates)"
            )
            return Iterations(per, total, cap_m, None, expl)
        if plan.cap_counts == "batches" and cap_m < per * e:
            full, rest = divmod(cap_m, per)
            rest_upd = rest // acc if plan.accum_rounding == "floor" else math.ceil(rest / acc)
            opt = full * upd + rest_upd
            expl = (
                f"{words}; the loop breaks after {cap_m:,} iterations (max_steps)"
                f" ({opt:,} weight updates)"
            )
            return Iterations(per, cap_m, opt, None, expl)
    if plan.mode == "hf" and not float(epochs).is_integer():
        upd_total = math.ceil(epochs * upd)
        total = upd_total * (accum if accum > 1 else 1)
        expl = (
            f"{words}; × {_fmt(epochs)} epochs = {upd_total:,} weight updates"
            f" ({total:,} iterations)"
        )
        return Iterations(per, total, upd_total, None, expl)
    e = int(epochs)
    total = per * e
    opt = upd * e
    expl = f"{words}; × {e:,} epoch{'s' if e != 1 else ''} = {total:,} iterations"
    if opt != total or upd_words:
        expl += (
            f"; {upd_words}, × {e:,} = {opt:,} weight updates"
            if upd_words
            else (f" ({opt:,} weight updates)")
        )
    else:
        expl += f" ({opt:,} weight updates)"
    return Iterations(per, total, opt, None, expl)


def _steps(
    facts: Mapping[str, Fact], plan: LoopPlan, accum: int, accum_reason: str | None
) -> Iterations:
    m, r = _need(facts, "max_steps")
    if m is None:
        return Iterations(None, None, None, r, "")
    assert plan.step_count is not None
    count = plan.step_count(m)
    per: int | None = None
    pf: list[str] = []
    n, _ = _need(facts, "dataset_size")
    b, _ = _need(facts, "batch_size")
    if n is not None and b is not None and b > 0:
        drop_f = facts.get("drop_last")
        drop = bool(drop_f.value) if drop_f is not None and drop_f.known else False
        per, words = batches_per_epoch(n, b, 1, drop, False)
        pf.append(f"{words.replace(' per epoch', ' per pass over the data')}")
    expl = f"the step loop runs {plan.step_words or count} = {count:,} iterations"
    if plan.accum_inside:
        opt = count
        if accum > 1:
            expl += f", each {accum} micro-batches accumulated into one weight update"
        expl += f" ({opt:,} weight updates)"
    elif accum > 1:
        opt = count // accum if plan.accum_rounding == "floor" else math.ceil(count / accum)
        expl += f"; / {accum} accumulation steps = {opt:,} weight updates"
    else:
        opt = count
        expl += f" ({opt:,} weight updates)"
    if pf:
        expl = "; ".join([*pf, expl])
    return Iterations(per, count, opt, None, expl)
