"""The torch side of the device check, run by ``check.py`` as subprocesses (one per step or
group, so a crash, a hang or a CUDA error in one cannot take the others down).

    python3 bench/device/worker.py nvml  --out RESULT.json
    python3 bench/device/worker.py calib --configs CONFIGS.json --out RESULTS.jsonl
                                         [--device cpu --smoke] [--snapshot-dir DIR]

``nvml``: gpulens' own NVML module (``gpulens.gpu.nvml.local_gpus``) against the real driver,
raw pynvml beside it (utilization, which gpulens does not read), the catalog's reading of the
reported name, and the process list with this process and a child holding GPU memory.

``calib``: ``calib.measure`` (the method of ``../shared/gpu-truth/calib.py``: fresh model and
optimizer, warm-up step, steps 1-3 measured) for each configuration, one JSON line before
(``begin``) and after (``result``) each, flushed, so the caller knows which one hung or crashed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import importlib.util
import json
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "server"), str(HERE)]

MIB = 1 << 20
GIB = 1 << 30
TORCHVISION_FAMILIES = {
    "resnet18",
    "resnet50",
    "mobilenet_v3_small",
    "vgg11",
    "efficientnet_b0",
    "vit_b_16",
    "densenet121",
    "convnext_tiny",
}


def _err(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


# ---------------------------------------------------------------- nvml


def _report_json(report: Any) -> dict[str, Any]:
    return {
        "gpus": [g.to_json() for g in report.gpus],
        "reason": report.reason,
        "driver": report.driver,
    }


def _raw_pynvml() -> dict[str, Any]:
    """What pynvml says directly (utilization and versions are not read by gpulens)."""
    out: dict[str, Any] = {}
    try:
        import pynvml
    except ImportError as exc:
        return {"error": _err(exc)}
    out["module"] = getattr(pynvml, "__file__", None)
    try:
        from importlib.metadata import version

        out["nvidia_ml_py"] = version("nvidia-ml-py")
    except Exception as exc:
        out["nvidia_ml_py"] = _err(exc)
    try:
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        m = pynvml.nvmlDeviceGetMemoryInfo(h)
        u = pynvml.nvmlDeviceGetUtilizationRates(h)
        name = pynvml.nvmlDeviceGetName(h)
        out.update(
            name=name.decode() if isinstance(name, bytes) else name,
            total=int(m.total),
            free=int(m.free),
            used=int(m.used),
            util_gpu=int(u.gpu),
            util_mem=int(u.memory),
            count=int(pynvml.nvmlDeviceGetCount()),
            procs=[
                [int(p.pid), p.usedGpuMemory]
                for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h)
            ],
        )
        for key, fn in (
            ("nvml_version", "nvmlSystemGetNVMLVersion"),
            ("cuda_driver_version", "nvmlSystemGetCudaDriverVersion"),
        ):
            try:
                v = getattr(pynvml, fn)()
                out[key] = v.decode() if isinstance(v, bytes) else v
            except Exception as exc:
                out[key] = _err(exc)
        try:  # memory_v2 reports "reserved" separately on newer drivers
            m2 = pynvml.nvmlDeviceGetMemoryInfo(h, version=pynvml.nvmlMemory_v2)
            out["v2"] = {k: int(getattr(m2, k)) for k in ("total", "reserved", "free", "used")}
        except Exception as exc:
            out["v2"] = _err(exc)
    except Exception as exc:
        out["error"] = _err(exc)
    return out


def _catalog(name: str, nvml_total: int | None) -> dict[str, Any]:
    from gpulens.gpu.catalog import UnknownGpuError, resolve_gpu

    try:
        t = resolve_gpu(name)
    except UnknownGpuError as exc:
        return {"query": name, "error": str(exc), "suggestions": exc.suggestions}
    spec = t.spec
    rec: dict[str, Any] = {
        "query": name,
        "resolved": t.name,
        "memory": t.memory,
        "memory_mib": t.memory // MIB,
        "basis": spec.basis if spec else None,
        "note": t.note,
        "source": t.source,
    }
    if nvml_total is not None:
        rec["nvml_total"] = nvml_total
        rec["diff_bytes"] = t.memory - nvml_total
        rec["diff_mib"] = round((t.memory - nvml_total) / MIB, 1)
        rec["matches_nvml_total"] = t.memory == nvml_total
    return rec


def _child_holding(mib: int, timeout: float) -> tuple[subprocess.Popen[str] | None, str]:
    code = (
        "import sys, torch\n"
        f"x = torch.empty({mib} * 2**20, dtype=torch.uint8, device='cuda')\n"
        "torch.cuda.synchronize(); print('ready', flush=True); sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line: list[str] = []
    t = threading.Thread(target=lambda: line.append(proc.stdout.readline() if proc.stdout else ""))
    t.start()
    t.join(timeout)
    if not line or "ready" not in line[0]:
        proc.kill()
        return None, "the child process did not get its GPU memory in time"
    return proc, "ok"


def cmd_nvml(out_path: Path) -> int:
    res: dict[str, Any] = {"pid": os.getpid()}
    from gpulens.gpu import nvml as gnvml

    t0 = time.perf_counter()
    first = gnvml.local_gpus()
    res["first_poll_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    res["product_idle"] = _report_json(first)
    if first.gpus:
        t0 = time.perf_counter()
        for _ in range(50):
            gnvml.local_gpus()
        res["poll_us"] = round((time.perf_counter() - t0) / 50 * 1e6, 1)
    res["pynvml"] = _raw_pynvml()
    gpu0 = first.gpus[0] if first.gpus else None
    names = [gpu0.name] if gpu0 else []
    names += [n for n in ("NVIDIA H100 80GB HBM3", "NVIDIA H200") if n not in names]
    res["catalog"] = [_catalog(n, gpu0.total if gpu0 and n == gpu0.name else None) for n in names]
    out_path.write_text(json.dumps(res, indent=1, default=str))
    if gpu0 is None:
        res["own_process"] = "skipped: no GPU"
        out_path.write_text(json.dumps(res, indent=1, default=str))
        return 0
    try:  # this process on the GPU: listed by its pid, its memory not counted as others'
        import torch

        x = torch.empty(GIB, dtype=torch.uint8, device="cuda")
        torch.cuda.synchronize()
        rep = gnvml.local_gpus()
        g = rep.gpus[0]
        mine = [p.used for p in g.processes if p.pid == os.getpid()]
        res["own_process"] = {
            "torch_reserved": torch.cuda.memory_reserved(),
            "mem_get_info": list(torch.cuda.mem_get_info()),
            "product": _report_json(rep),
            "listed_by_pid": bool(mine),
            "nvml_used_by_me": mine[0] if mine else None,
            "used_by_others": g.used_by_others,
        }
        child, why = _child_holding(2048, 60)
        if child is None:
            res["other_process"] = why
        else:
            try:
                rep = gnvml.local_gpus()
                g = rep.gpus[0]
                res["other_process"] = {
                    "child_pid": child.pid,
                    "product": _report_json(rep),
                    "child_listed": any(p.pid == child.pid for p in g.processes),
                    "used_by_others": g.used_by_others,
                }
            finally:
                child.kill()
                child.wait(10)
        del x
    except Exception as exc:
        res["own_process_error"] = _err(exc)
    out_path.write_text(json.dumps(res, indent=1, default=str))
    return 0


# ---------------------------------------------------------------- calib


#: Raw snapshot files written (the first configurations'); the rest keep their summaries only.
MAX_RAW_SNAPSHOTS = 3


def _snapshot_start() -> None:
    import torch

    torch.cuda.memory._record_memory_history(max_entries=500_000, stacks="python")


def _snapshot_stop(key: str, snap_dir: Path | None) -> dict[str, Any]:
    import torch
    from snapshot import summarize

    snap = torch.cuda.memory._snapshot()
    torch.cuda.memory._record_memory_history(enabled=None)
    summary = summarize(snap)
    if snap_dir is not None:
        data = gzip.compress(pickle.dumps(snap), 6)
        name = key.replace("/", "_") + ".pickle.gz"
        kept = len(list(snap_dir.glob("*.pickle.gz"))) if snap_dir.is_dir() else 0
        if kept >= MAX_RAW_SNAPSHOTS:  # the device tool returns at most 8 files in all
            summary["raw_file"] = f"not written: {MAX_RAW_SNAPSHOTS} raw snapshots kept already"
        elif len(data) < 15 * MIB:
            snap_dir.mkdir(parents=True, exist_ok=True)
            (snap_dir / name).write_bytes(data)
            summary["raw_file"] = name
        else:
            summary["raw_file"] = f"not written: {len(data) / MIB:.1f} MiB compressed"
    return summary


def cmd_calib(
    configs: list[dict[str, Any]], out_path: Path, device: str, smoke: bool, snap_dir: Path | None
) -> int:
    import calib
    import torch

    cuda = device == "cuda"
    nvml = calib.Nvml() if cuda else None
    has_tv = importlib.util.find_spec("torchvision") is not None
    with out_path.open("a") as f:

        def emit(rec: dict[str, Any]) -> None:
            f.write(json.dumps(rec, default=str) + "\n")
            f.flush()

        for cfg in configs:
            key = cfg["key"]
            emit({"event": "begin", "key": key, "t": time.time()})
            t0 = time.time()
            rec: dict[str, Any] = {"event": "result", "key": key}
            fam = cfg["family"]
            if fam in TORCHVISION_FAMILIES and not has_tv:
                rec["skipped"] = "torchvision is not installed here"
                emit(rec)
                continue
            batch = 2 if smoke else int(cfg["batch"])
            snapshot = bool(cfg.get("snapshot")) and cuda
            try:
                if snapshot:
                    _snapshot_start()
                m = calib.measure(
                    fam,
                    batch,
                    cfg["precision"],
                    cfg["optimizer"],
                    cfg.get("mode", "train"),
                    device,
                    nvml if nvml is not None else _no_nvml(calib),
                    steps=1 if smoke else 3,
                )
                rec.update(m)
                if snapshot:
                    rec["snapshot"] = _snapshot_stop(key, snap_dir)
            except torch.cuda.OutOfMemoryError as exc:
                rec.update(error="OOM", detail=str(exc)[:300])
            except Exception as exc:
                rec.update(error=type(exc).__name__, detail=_err(exc))
            finally:
                if snapshot and "snapshot" not in rec:
                    with contextlib.suppress(Exception):
                        torch.cuda.memory._record_memory_history(enabled=None)
                gc.collect()
                if cuda:
                    torch.cuda.empty_cache()
            if smoke:
                rec["smoke"] = f"batch {batch}, 1 step on {device}: the code path only"
            rec["wall_s"] = round(time.time() - t0, 2)
            emit(rec)
    return 0


def _no_nvml(calib: Any) -> Any:
    n = calib.Nvml.__new__(calib.Nvml)
    n.ok = False
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("nvml")
    a.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("calib")
    c.add_argument("--configs", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--device", default="cuda")
    c.add_argument("--smoke", action="store_true")
    c.add_argument("--snapshot-dir", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "nvml":
        return cmd_nvml(args.out)
    configs = json.loads(args.configs.read_text())
    return cmd_calib(configs, args.out, args.device, args.smoke, args.snapshot_dir)


if __name__ == "__main__":
    sys.exit(main())
