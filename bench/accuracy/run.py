"""Accuracy of the static memory estimate against gpu-truth measurements, end to end.

    .venv/bin/python bench/accuracy/run.py [--truth PATH] [--json] [--bridge] [--only FAMILY]

For every ``suite == "calib"`` row of the calibration file (default ``$GPULENS_TRUTH`` or
``../shared/gpu-truth/calib-h200.jsonl`` relative to the repository) the static reader reads the
matching training script in ``scripts/`` with the row's settings as script arguments
(``end_to_end.py``: ``gpulens.analysis.analyze``, the ``memory`` of ``gpulens analyze --json``)
and the bench prints, per configuration and overall, the relative error of ``peak_allocated``
(the target: ``torch.cuda.max_memory_allocated()`` of a steady step), with ``peak_reserved`` and
``device_total`` (vs NVML's per-process figure) as secondary columns. ``--bridge`` also runs the
hand-built traces of ``families.py`` through the estimator and shows where the two differ.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import end_to_end
from gpulens.estimate.memory import estimate_training_memory

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TRUTH = REPO / ".." / "shared" / "gpu-truth" / "calib-h200.jsonl"
MIB = 1 << 20


def _precision(p: str) -> str:
    return {"half": "fp16"}.get(p, p)


def _rel(e: int | None, m: int | None) -> float | None:
    return None if not m or e is None else (e - m) / m


def bridge_estimate(r: dict[str, Any], cache: dict[str, Any]) -> tuple[Any, Any]:
    """The hand-built trace of ``families.py`` through the estimator (the pre-reader bridge)."""
    from families import model_for

    fam = r["family"]
    if fam not in cache:
        cache[fam] = model_for(fam)
    mode = r["mode"]
    kw: dict[str, Any] = {"keep_grads": mode == "train_keep_grads", "train": mode != "eval"}
    opt = None if r["optimizer"] == "none" else r["optimizer"]
    est = estimate_training_memory(cache[fam], r["batch"], _precision(r["precision"]), opt, **kw)
    replay = estimate_training_memory(
        cache[fam], r["batch"], _precision(r["precision"]), opt, allocator_replay=True, **kw
    )
    return est, replay


def evaluate(truth: Path, bridge: bool = False, only: str | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in truth.read_text().splitlines() if line.strip()]
    out: list[dict[str, Any]] = []
    cache: dict[str, Any] = {}
    for r in rows:
        if r.get("suite") != "calib" or "peak_alloc" not in r:
            continue
        if only is not None and r["family"] != only:
            continue
        fam, mode = r["family"], r["mode"]
        t0 = time.perf_counter()
        e2e = end_to_end.estimate(r)
        ms = (time.perf_counter() - t0) * 1000
        row: dict[str, Any] = {
            "config": f"{fam} b{r['batch']} {r['precision']} {r['optimizer']} {mode}",
            "family": fam,
            "command": e2e.command,
            "end_to_end": e2e.peak_allocated is not None,
            "not_estimated_reason": e2e.reason,
            "read_as": {
                "batch_size": e2e.batch_size,
                "precision": e2e.precision,
                "optimizer": e2e.optimizer,
            },
            "measured_peak_alloc": r["peak_alloc"],
            "estimated_peak_alloc": e2e.peak_allocated,
            "err_peak_alloc": _rel(e2e.peak_allocated, r["peak_alloc"]),
            "measured_peak_reserved": r.get("peak_reserved"),
            "estimated_peak_reserved": e2e.peak_reserved,
            "err_peak_reserved": _rel(e2e.peak_reserved, r.get("peak_reserved")),
            "measured_device_total": r.get("nvml_proc_used"),
            "estimated_device_total": e2e.device_total,
            "err_device_total": _rel(e2e.device_total, r.get("nvml_proc_used")),
            "peak_phase": e2e.peak_phase,
            "read_ms": round(ms, 3),
        }
        if bridge:
            est, replay = bridge_estimate(r, cache)
            row["bridge_peak_alloc"] = est.peak_allocated
            row["err_bridge_peak_alloc"] = _rel(est.peak_allocated, r["peak_alloc"])
            row["err_bridge_peak_reserved"] = _rel(est.peak_reserved, r.get("peak_reserved"))
            row["err_peak_reserved_replay"] = _rel(replay.peak_reserved, r.get("peak_reserved"))
        out.append(row)
    return out


def summary(results: list[dict[str, Any]], key: str) -> dict[str, float]:
    errs = [abs(r[key]) for r in results if r.get(key) is not None]
    if not errs:
        return {"median": float("nan"), "max": float("nan"), "n": 0}
    return {"median": statistics.median(errs), "max": max(errs), "n": len(errs)}


def coverage(results: list[dict[str, Any]]) -> dict[str, Any]:
    """How many configurations the static reader estimated end to end, and why not the rest."""
    missing: dict[str, int] = defaultdict(int)
    for r in results:
        if not r["end_to_end"]:
            missing[str(r["not_estimated_reason"])] += 1
    done = sum(1 for r in results if r["end_to_end"])
    return {"end_to_end": done, "not": len(results) - done, "reasons": dict(missing)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--truth", default=os.environ.get("GPULENS_TRUTH", str(DEFAULT_TRUTH)))
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--bridge", action="store_true", help="also run families.py's hand-built traces"
    )
    ap.add_argument("--only", metavar="FAMILY", help="one family")
    ap.add_argument("--no-max-batch", action="store_true", help="skip the largest-batch report")
    args = ap.parse_args()
    results = evaluate(Path(args.truth), args.bridge, args.only)
    keys = ["peak_alloc", "peak_reserved", "device_total"]
    if args.bridge:
        keys += ["bridge_peak_alloc", "bridge_peak_reserved", "peak_reserved_replay"]
    overall = {k: summary(results, f"err_{k}") for k in keys}
    fams: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        fams[r["family"]].append(r)
    per_family = {f: summary(rs, "err_peak_alloc") for f, rs in fams.items()}
    cov = coverage(results)
    if args.json:
        print(
            json.dumps(
                {
                    "overall": overall,
                    "per_family": per_family,
                    "coverage": cov,
                    "configs": results,
                },
                indent=1,
            )
        )
        return 0

    def pct(x: float | None) -> str:
        return "   n/a" if x is None else f"{100 * x:+6.1f}%"

    head = ("configuration", "measured", "estimate", "alloc", "reserved", "device")
    line = f"{head[0]:55s} {head[1]:>9s} {head[2]:>9s} {head[3]:>7s} {head[4]:>8s} {head[5]:>7s}"
    print(line + ("  bridge" if args.bridge else ""))
    for r in results:
        measured = r["measured_peak_alloc"] / MIB
        if not r["end_to_end"]:
            print(f"{r['config']:55s} {measured:8.0f}M  not estimated: {r['not_estimated_reason']}")
            continue
        estimate = r["estimated_peak_alloc"] / MIB
        errs = [pct(r["err_peak_alloc"]), pct(r["err_peak_reserved"]), pct(r["err_device_total"])]
        extra = f"  {pct(r['err_bridge_peak_alloc'])}" if args.bridge else ""
        print(
            f"{r['config']:55s} {measured:8.0f}M {estimate:8.0f}M {errs[0]} {errs[1]}  {errs[2]}"
            + extra
        )
        print(f"{'':55s} {r['command']}  (peak in {r['peak_phase']})")
    print("\nper family, |relative error| of peak_allocated (median / max):")
    for f, s in per_family.items():
        print(f"  {f:32s} {100 * s['median']:5.1f}% / {100 * s['max']:5.1f}%  (n={s['n']})")
    print()
    for k, s in overall.items():
        print(
            f"overall {k:20s} median {100 * s['median']:5.1f}%  "
            f"max {100 * s['max']:5.1f}%  (n={s['n']})"
        )
    reasons = "; ".join(f"{n}x {why}" for why, n in cov["reasons"].items())
    print(
        f"end to end: {cov['end_to_end']} of {len(results)} configurations estimated by the"
        f" static reader from their script, {cov['not']} not" + (f" ({reasons})" if reasons else "")
    )
    if args.bridge:
        diff = [
            r
            for r in results
            if r["end_to_end"] and r["estimated_peak_alloc"] != r["bridge_peak_alloc"]
        ]
        print(f"end to end differs from the families.py bridge on {len(diff)} configurations")
        for r in diff:
            d = (r["estimated_peak_alloc"] - r["bridge_peak_alloc"]) / MIB
            print(f"  {r['config']:55s} {d:+9.2f} MiB")
    times = [r["read_ms"] for r in results]
    if times:
        print(
            f"read + estimate per configuration: median {statistics.median(times):.1f} ms,"
            f" max {max(times):.1f} ms (the first read includes gpulens' own imports)"
        )
    if args.no_max_batch or args.only:
        return 0
    # issue 4: the largest batch that fits common cards, against the measured memory slope
    import max_batch

    print()
    margin = max_batch.DEFAULT_BATCH_MARGIN
    print("\n".join(max_batch.report(max_batch.evaluate(Path(args.truth), margin), margin)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
