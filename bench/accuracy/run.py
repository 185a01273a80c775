"""Accuracy of the static memory estimate against gpu-truth measurements.

    .venv/bin/python bench/accuracy/run.py [--truth PATH] [--json]

Runs gpulens' estimator over every ``suite == "calib"`` row of the calibration file (default
``$GPULENS_TRUTH`` or ``../shared/gpu-truth/calib-h200.jsonl`` relative to the repository) and
prints, per configuration and overall, the relative error of ``peak_allocated`` (the target:
``torch.cuda.max_memory_allocated()`` of a steady step), with ``peak_reserved`` and
``device_total`` (vs NVML's per-process figure) as secondary columns.
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
from families import model_for
from gpulens.estimate.memory import estimate_training_memory

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TRUTH = REPO / ".." / "shared" / "gpu-truth" / "calib-h200.jsonl"
MIB = 1 << 20


def _precision(p: str) -> str:
    return {"half": "fp16"}.get(p, p)


def evaluate(truth: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in truth.read_text().splitlines() if line.strip()]
    out: list[dict[str, Any]] = []
    cache: dict[str, Any] = {}
    for r in rows:
        if r.get("suite") != "calib" or "peak_alloc" not in r:
            continue
        fam = r["family"]
        if fam not in cache:
            cache[fam] = model_for(fam)
        model = cache[fam]
        mode = r["mode"]
        opt = None if r["optimizer"] == "none" else r["optimizer"]
        t0 = time.perf_counter()
        est = estimate_training_memory(
            model,
            r["batch"],
            _precision(r["precision"]),
            opt,
            keep_grads=mode == "train_keep_grads",
            train=mode != "eval",
        )
        ms = (time.perf_counter() - t0) * 1000
        replay = estimate_training_memory(
            model,
            r["batch"],
            _precision(r["precision"]),
            opt,
            keep_grads=mode == "train_keep_grads",
            train=mode != "eval",
            allocator_replay=True,
        )

        def rel(e: int, m: int | None) -> float | None:
            return None if not m else (e - m) / m

        out.append(
            {
                "config": f"{fam} b{r['batch']} {r['precision']} {r['optimizer']} {mode}",
                "family": fam,
                "measured_peak_alloc": r["peak_alloc"],
                "estimated_peak_alloc": est.peak_allocated,
                "err_peak_alloc": rel(est.peak_allocated, r["peak_alloc"]),
                "measured_peak_reserved": r.get("peak_reserved"),
                "estimated_peak_reserved": est.peak_reserved,
                "err_peak_reserved": rel(est.peak_reserved, r.get("peak_reserved")),
                "err_peak_reserved_replay": rel(replay.peak_reserved, r.get("peak_reserved")),
                "measured_device_total": r.get("nvml_proc_used"),
                "estimated_device_total": est.device_total,
                "err_device_total": rel(est.device_total, r.get("nvml_proc_used")),
                "peak_phase": est.peak_phase,
                "estimate_ms": round(ms, 3),
            }
        )
    return out


def summary(results: list[dict[str, Any]], key: str) -> dict[str, float]:
    errs = [abs(r[key]) for r in results if r[key] is not None]
    return {"median": statistics.median(errs), "max": max(errs), "n": len(errs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--truth", default=os.environ.get("GPULENS_TRUTH", str(DEFAULT_TRUTH)))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = evaluate(Path(args.truth))
    keys = ("peak_alloc", "peak_reserved", "peak_reserved_replay", "device_total")
    overall = {k: summary(results, f"err_{k}") for k in keys}
    fams: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        fams[r["family"]].append(r)
    per_family = {f: summary(rs, "err_peak_alloc") for f, rs in fams.items()}
    if args.json:
        print(
            json.dumps({"overall": overall, "per_family": per_family, "configs": results}, indent=1)
        )
        return 0
    head = ("configuration", "measured", "estimate", "alloc", "reserved", "device")
    print(f"{head[0]:55s} {head[1]:>9s} {head[2]:>9s} {head[3]:>7s} {head[4]:>8s} {head[5]:>7s}")
    for r in results:

        def pct(x: float | None) -> str:
            return "   n/a" if x is None else f"{100 * x:+6.1f}%"

        measured, estimate = r["measured_peak_alloc"] / MIB, r["estimated_peak_alloc"] / MIB
        errs = [pct(r["err_peak_alloc"]), pct(r["err_peak_reserved"]), pct(r["err_device_total"])]
        print(f"{r['config']:55s} {measured:8.0f}M {estimate:8.0f}M {errs[0]} {errs[1]}  {errs[2]}")
        print(f"{'':55s} peak in {r['peak_phase']}")
    print("\nper family, |relative error| of peak_allocated (median / max):")
    for f, s in per_family.items():
        print(f"  {f:32s} {100 * s['median']:5.1f}% / {100 * s['max']:5.1f}%  (n={s['n']})")
    print()
    for k, s in overall.items():
        print(
            f"overall {k:14s} median {100 * s['median']:5.1f}%  "
            f"max {100 * s['max']:5.1f}%  (n={s['n']})"
        )
    slow = max(r["estimate_ms"] for r in results)
    print(f"slowest estimate: {slow:.2f} ms")
    # issue 4: the largest batch that fits common cards, against the measured memory slope
    import max_batch

    print()
    print("\n".join(max_batch.report(max_batch.evaluate(Path(args.truth), 0.1), 0.1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
