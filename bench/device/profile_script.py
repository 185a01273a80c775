"""Run a training script for N optimizer steps and measure it: the "measured" tier of
``../shared/design.md`` (``server/gpulens/profile/``), which the product does not have yet, as a
bench-side prototype.

    python3 bench/device/profile_script.py --steps 20 --out RESULT.json -- SCRIPT [ARGS...]

The script runs in this process (``runpy``, ``sys.argv`` = SCRIPT ARGS, its folder first on
``sys.path``). A global optimizer step post-hook (``register_optimizer_step_post_hook``) times
every step (after ``torch.cuda.synchronize()``), resets the peak counters after step 1 (the
warm-up: optimizer state and library workspaces appear there, as in calib.py) and stops the
script after N steps by raising :class:`StopProfiling` (a ``BaseException``, so a script's
``except Exception`` cannot swallow it). A thread samples NVML every 50 ms: GPU and memory
utilization and this process's memory as nvidia-smi shows it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import runpy
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any


class StopProfiling(BaseException):
    """Raised from the optimizer hook once N steps are measured."""


class Sampler(threading.Thread):
    """NVML samples (t, gpu %, memory %, this process's bytes) until stopped."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, int, int, int | None]] = []
        self.error: str | None = None
        self._stop_event = threading.Event()
        self._nv: Any = None
        self._h: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nv = pynvml
            self._h = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def run(self) -> None:
        if self._nv is None:
            return
        nv, h, me = self._nv, self._h, os.getpid()
        while not self._stop_event.is_set():
            try:
                u = nv.nvmlDeviceGetUtilizationRates(h)
                used = None
                for p in nv.nvmlDeviceGetComputeRunningProcesses(h):
                    if p.pid == me and isinstance(p.usedGpuMemory, int):
                        used = p.usedGpuMemory
                self.samples.append((time.perf_counter(), int(u.gpu), int(u.memory), used))
            except Exception as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                return
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(2)


def _summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "mean": round(statistics.fmean(values), 1),
        "max": round(max(values), 1),
        "n": len(values),
    }


def profile(script: Path, script_args: list[str], steps: int) -> dict[str, Any]:
    t_start = time.perf_counter()
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    cuda = torch.cuda.is_available()
    res: dict[str, Any] = {
        "script": str(script),
        "args": script_args,
        "steps_asked": steps,
        "torch": torch.__version__,
        "cuda_available": cuda,
        "import_torch_s": round(time.perf_counter() - t_start, 2),
    }
    times: list[float] = []
    state: dict[str, Any] = {}

    def hook(opt: Any, args: Any, kwargs: Any) -> None:
        if cuda and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        times.append(time.perf_counter())
        if len(times) == 1 and cuda and torch.cuda.is_initialized():
            state["warmup_peak_alloc"] = torch.cuda.max_memory_allocated()
            state["warmup_peak_reserved"] = torch.cuda.max_memory_reserved()
            torch.cuda.reset_peak_memory_stats()
        if len(times) >= steps:
            raise StopProfiling

    sampler = Sampler() if cuda else None
    if sampler is not None:
        sampler.start()
    handle = register_optimizer_step_post_hook(hook)
    old_argv, old_path = sys.argv[:], sys.path[:]
    sys.argv = [str(script), *script_args]
    sys.path.insert(0, str(script.parent))
    try:
        runpy.run_path(str(script), run_name="__main__")
        res["ended"] = "the script finished"
    except StopProfiling:
        res["ended"] = f"stopped after {steps} optimizer steps"
    except SystemExit as exc:
        res["ended"] = f"the script exited ({exc.code})"
    except BaseException as exc:
        res["ended"] = "error"
        res["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        if cuda and isinstance(exc, torch.cuda.OutOfMemoryError):
            res["error"] = "OOM: " + res["error"]
    finally:
        handle.remove()
        sys.argv, sys.path = old_argv, old_path
    t_end = time.perf_counter()
    if sampler is not None:
        sampler.stop()
    res["wall_s"] = round(t_end - t_start, 2)
    res["optimizer_steps"] = len(times)
    res["first_step_after_s"] = round(times[0] - t_start, 2) if times else None
    deltas = [b - a for a, b in itertools.pairwise(times)]
    steady = deltas[1:] if len(deltas) > 2 else deltas  # step 1->2 may still warm up
    res["step_ms_median"] = round(1000 * statistics.median(steady), 3) if steady else None
    res["step_ms_min"] = round(1000 * min(steady), 3) if steady else None
    used_gpu = cuda and torch.cuda.is_initialized()
    res["used_gpu"] = bool(used_gpu and torch.cuda.max_memory_reserved() > 0) or bool(
        state.get("warmup_peak_reserved")
    )
    if used_gpu:
        torch.cuda.synchronize()
        res.update(state)
        # after step 1 the counters were reset: these are the steady steps' peaks (as calib.py)
        res["peak_alloc"] = torch.cuda.max_memory_allocated()
        res["peak_reserved"] = torch.cuda.max_memory_reserved()
        res["overall_peak_alloc"] = max(res["peak_alloc"], state.get("warmup_peak_alloc", 0))
    elif not cuda:
        res["gpu"] = "skipped: no GPU (the script ran on the CPU)"
    else:
        res["gpu"] = "the script never initialised CUDA: it trains on the CPU"
    if sampler is not None:
        res["nvml_error"] = sampler.error
        t0 = times[0] if times else t_start
        during = [s for s in sampler.samples if t0 <= s[0] <= t_end]
        res["util_gpu_pct"] = _summary([float(s[1]) for s in during])
        res["util_mem_pct"] = _summary([float(s[2]) for s in during])
        procs = [s[3] for s in sampler.samples if s[3] is not None]
        res["nvml_proc_used_max"] = max(procs) if procs else None
        res["nvml_samples"] = len(sampler.samples)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("script", type=Path)
    ap.add_argument("script_args", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    script_args = args.script_args
    if script_args[:1] == ["--"]:
        script_args = script_args[1:]
    res = profile(args.script.resolve(), script_args, args.steps)
    args.out.write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
