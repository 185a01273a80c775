"""The device check: one run on a GPU machine that answers what this repo cannot without one.

    bash bench/device/run.sh                 # on the GPU machine ($OUT: where results go)
    bash bench/device/run.sh --dry-run       # anywhere: every code path that needs no CUDA

Steps, each in its own subprocess(es) with its own timeout, so one failing never stops the
others; all of them within ``--budget-s`` (default 330 s) of wall time:

1. ``nvml``: gpulens' NVML module (``gpulens.gpu.nvml.local_gpus``) on the real driver, raw
   pynvml and ``nvidia-smi`` beside it, the catalog's reading of the reported name against
   NVML's total, this process and a child on the GPU's process list, and the CLI against the
   local GPU (``gpulens analyze --json --gpu local``, ``gpulens check``).
2. ``profile``: scripts run for N optimizer steps under ``profile_script.py`` (the product has
   no profiler yet: ``server/gpulens/profile`` of the design is not written), measured peak,
   step time and utilization next to ``gpulens analyze --json`` of the same script and argv.
3. ``calib``: ``calib.measure`` (gpu-truth's method) for configurations the dev set lacks:
   (a) mlp slopes at large batches, (b) vgg11 and a checkpointed encoder above the dev set's
   batches, (c) allocator snapshots (what is live at the peak) for an mlp and resnet18.
   Each configuration carries gpulens' static estimate of the same script; one whose estimate
   needs more than ``--max-need-gib`` (70) is skipped.

Results: ``$OUT/device_checks.json`` (everything, rewritten after each step),
``$OUT/snapshots.json`` (step 3c summaries), ``$OUT/snap/*.pickle.gz`` (raw snapshots for
``torch.cuda._memory_viz``), and a short summary on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCRIPTS = ROOT / "bench" / "accuracy" / "scripts"
MIB = 1 << 20
GIB = 1 << 30

MLP_D8 = ["--depth", "8", "--width", "4096", "--in-shape", "3", "32", "32", "--act", "gelu"]


@dataclass
class Config:
    """One training configuration for ``calib.measure`` and the script that trains it."""

    family: str
    batch: int
    precision: str
    optimizer: str
    group: str
    script: str
    args: list[str]
    snapshot: bool = False
    mode: str = "train"

    @property
    def key(self) -> str:
        return f"{self.family}/b{self.batch}/{self.precision}/{self.optimizer}"

    def to_worker(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "family": self.family,
            "batch": self.batch,
            "precision": self.precision,
            "optimizer": self.optimizer,
            "mode": self.mode,
            "snapshot": self.snapshot,
        }


def calib_configs() -> list[Config]:
    """Step 3's configurations: (a) mlp slopes, (b) larger batches, (c) snapshots."""

    def cfg(group: str, family: str, batch: int, optimizer: str, script: str, args: list[str],
            snapshot: bool = False) -> Config:  # fmt: skip
        args = [*args, "--batch-size", str(batch)]
        return Config(family, batch, "fp32", optimizer, group, script, args, snapshot)

    mlp8 = [*MLP_D8, "--dropout", "0.1", "--optimizer", "adamw"]
    mlp4 = ["--depth", "4", "--width", "1024", "--optimizer", "adam"]
    vgg = ["--arch", "vgg11", "--optimizer", "sgd", "--momentum", "0.9"]
    r18 = ["--arch", "resnet18", "--optimizer", "sgd", "--momentum", "0.9"]
    mlp = "mlp_mnist.py"
    ckpt = ["--checkpoint"]
    return [
        *(cfg("3a", "mlp_d8_w4096_gelu_drop", b, "adamw", mlp, mlp8) for b in (4096, 16384, 65536)),
        *(cfg("3a", "mlp_d4_w1024", b, "adam", mlp, mlp4) for b in (8192, 32768)),
        *(cfg("3b", "vgg11", b, "sgd_momentum", "torchvision_train.py", vgg) for b in (128, 256)),
        *(
            cfg("3b", "encoder_lm_d512_l6_s256_ckpt", b, "adamw", "encoder_lm.py", ["--checkpoint"])
            for b in (64, 128)
        ),
        cfg("3c", "mlp_d8_w4096_gelu_drop", 1024, "adamw", mlp, mlp8, snapshot=True),
        cfg("3c", "resnet18", 64, "sgd_momentum", "torchvision_train.py", r18, snapshot=True),
        # a convnet that needs no torchvision
        cfg("3c", "cifar_cnn_bn", 256, "sgd_momentum", "cifar_cnn.py", [], snapshot=True),
        # nets without convolutions whose reserved memory the model under-estimates at small
        # batches (lstm b20 -34%, checkpointed encoder b8 -30%): what the extra 200-300 MiB is
        cfg("3c", "lstm_lm_h512_l2_s64", 20, "sgd", "lstm_lm.py", ["--optimizer", "sgd"], True),
        cfg("3c", "encoder_lm_d512_l6_s256_ckpt", 8, "adamw", "encoder_lm.py", ckpt, True),
    ]


#: step 2: (name, script relative to the repo, its argv, optimizer steps to run)
PROFILE_SCRIPTS: list[tuple[str, str, list[str], int]] = [
    ("classic_example", "examples/classic_train.py", [], 20),
    (
        "mlp_d4_w1024_b256",
        "bench/accuracy/scripts/mlp_mnist.py",
        ["--depth", "4", "--width", "1024", "--batch-size", "256", "--steps", "40"],
        30,
    ),
    ("cifar_cnn_bn_b256", "bench/accuracy/scripts/cifar_cnn.py", ["--batch-size", "256"], 30),
    # the same MLP without and with DDP (one process): the difference is the bucket term
    ("mlp_w4096_single", "bench/device/ddp_single.py", ["--batch-size", "256"], 20),
    ("mlp_w4096_ddp", "bench/device/ddp_single.py", ["--ddp", "--batch-size", "256"], 20),
]


# ---------------------------------------------------------------- plumbing


@dataclass
class Ctx:
    out: Path
    py: str
    gpu: bool
    deadline: float
    max_need: int
    work: Path
    env: dict[str, str] = field(default_factory=dict)
    log: Callable[[str], None] = print

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def timeout(self, want: float) -> float:
        return max(1.0, min(want, self.left()))


def tail(text: str | bytes | None, n: int = 1500) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return text[-n:]


def run_cmd(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` in the repo root; rc, output tails, wall time; never raises."""
    t0 = time.monotonic()
    try:
        p = subprocess.run(
            cmd,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
        )
        return {
            "rc": p.returncode,
            "stdout": p.stdout,
            "stderr": tail(p.stderr),
            "wall_s": round(time.monotonic() - t0, 2),
        }
    except subprocess.TimeoutExpired as exc:
        return {
            "rc": None,
            "timed_out": True,
            "stdout": tail(exc.stdout),
            "stderr": tail(exc.stderr),
            "wall_s": round(time.monotonic() - t0, 2),
        }
    except OSError as exc:
        return {"rc": None, "error": f"{type(exc).__name__}: {exc}", "wall_s": 0.0}


def run_jsonl_worker(
    make_cmd: Callable[[list[dict[str, Any]], Path], list[str]],
    items: list[dict[str, Any]],
    per_item_s: float,
    ctx: Ctx,
    env: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run a worker over ``items`` (dicts with ``key``); it appends ``begin``/``result`` JSON
    lines to a file. One item running longer than ``per_item_s``, or the worker dying, costs
    that item only: it is recorded and a new worker resumes with the items after it."""
    results: dict[str, dict[str, Any]] = {}
    pending = list(items)
    while pending:
        if ctx.left() < 5:
            for it in pending:
                results[it["key"]] = {"skipped": "no time left in the check's budget"}
            break
        path = ctx.work / f"worker-{os.getpid()}-{time.monotonic_ns()}.jsonl"
        cmd = make_cmd(pending, path)
        # stderr to a file, not a pipe: a pipe nobody reads can fill up and stall the worker
        err_file = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            text=True,
            start_new_session=True,
        )
        reason = None
        current: str | None = None
        launched = begun = time.monotonic()
        while True:
            try:
                proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                pass
            lines = _read_lines(path)
            started = [x for x in lines if x.get("event") == "begin"]
            done = {x["key"] for x in lines if x.get("event") == "result"}
            if started and started[-1]["key"] not in done and started[-1]["key"] != current:
                current, begun = started[-1]["key"], time.monotonic()
            if current is not None and time.monotonic() - begun > per_item_s:
                reason = f"timed out after {per_item_s:.0f} s"
            elif current is None and time.monotonic() - launched > per_item_s:
                reason = f"the worker began nothing in {per_item_s:.0f} s"
            elif ctx.left() < 2:
                reason = "killed: the check's budget ran out"
            if reason:
                _kill(proc)
                break
        err_file.seek(0)
        stderr = err_file.read()
        err_file.close()
        lines = _read_lines(path)
        for x in lines:
            if x.get("event") == "result":
                x.pop("event", None)
                results[x["key"]] = x
        started_keys = [x["key"] for x in lines if x.get("event") == "begin"]
        unfinished = [it for it in pending if it["key"] not in results]
        # the first unfinished item that began is the one that hung or crashed the worker
        culprit = next((it for it in unfinished if it["key"] in started_keys), None)
        if unfinished and culprit is None:  # it began nothing: it cannot run here at all
            why = reason or f"the worker exited rc={proc.returncode} before any configuration"
            for it in unfinished:
                results[it["key"]] = {"error": why, "stderr": tail(stderr, 1200)}
            break
        if culprit is not None:
            why = reason or f"the worker exited rc={proc.returncode} during this configuration"
            results[culprit["key"]] = {"error": why, "stderr": tail(stderr, 1200)}
            unfinished.remove(culprit)
        pending = unfinished
    return results


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line being written
    return out


def static_estimate(script: Path, args: list[str]) -> dict[str, Any]:
    """gpulens' static estimate, in process (``gpulens analyze --json`` reads the same)."""
    try:
        from gpulens.analysis import analyze

        a = analyze(script.read_text(), str(script), script_args=args)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    m = a.memory
    if m is None:
        return {"reason": a.memory_reason}
    return {
        "batch_size": m.batch_size,
        "precision": m.precision,
        "optimizer": m.optimizer,
        "peak_allocated": m.peak_allocated,
        "peak_reserved": m.peak_reserved,
        "device_total": m.device_total,
        "peak_phase": m.peak_phase,
    }


def rel(est: int | None, meas: int | None) -> float | None:
    if not est or not meas:
        return None
    return round((est - meas) / meas, 4)


def gib(n: int | None) -> str:
    return "—" if n is None else f"{n / GIB:.2f}G"


# ---------------------------------------------------------------- step 1


def step_nvml(ctx: Ctx) -> dict[str, Any]:
    res: dict[str, Any] = {}
    out_file = ctx.work / "nvml.json"
    r = run_cmd(
        [ctx.py, str(HERE / "worker.py"), "nvml", "--out", str(out_file)],
        ctx.timeout(75),
        ctx.env,
    )
    try:
        res["worker"] = json.loads(out_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        res["worker"] = {"error": f"no result ({exc})"}
    res["worker_run"] = {k: v for k, v in r.items() if k != "stdout"}
    smi = shutil.which("nvidia-smi")
    if smi is None:
        res["nvidia_smi"] = "skipped: no nvidia-smi here"
    else:
        q = "name,memory.total,memory.used,memory.free,driver_version,utilization.gpu"
        s1 = run_cmd(
            [smi, "--query-gpu=name,memory.total,memory.used", "--format=csv"], ctx.timeout(20)
        )
        s2 = run_cmd([smi, f"--query-gpu={q}", "--format=csv,noheader,nounits"], ctx.timeout(20))
        s3 = run_cmd([smi, "--query-compute-apps=pid,used_memory", "--format=csv"], ctx.timeout(20))
        res["nvidia_smi"] = {
            "csv": s1.get("stdout", "").strip(),
            "detail": s2.get("stdout", "").strip(),
            "apps": s3.get("stdout", "").strip(),
            "rc": [s1.get("rc"), s2.get("rc"), s3.get("rc")],
        }
        gpus = res["worker"].get("product_idle", {}).get("gpus") or []
        fields = (
            [x.strip() for x in s2.get("stdout", "").splitlines()[0].split(",")]
            if s2.get("stdout")
            else []
        )
        if gpus and len(fields) >= 3:
            with contextlib.suppress(ValueError):
                res["nvidia_smi"]["total_mib_vs_nvml"] = {
                    "nvidia_smi": int(fields[1]),
                    "gpulens_nvml": gpus[0]["total"] // MIB,
                }
    # the CLI against the local GPU (and the catalog card of the same name)
    cli = [ctx.py, "-m", "gpulens"]
    ex = "examples/classic_train.py"
    name = None
    gpus = res["worker"].get("product_idle", {}).get("gpus") or []
    if gpus:
        name = gpus[0]["name"]
    runs: dict[str, Any] = {}
    cmds: list[tuple[str, list[str]]] = [
        ("analyze_json_gpu_local", [*cli, "analyze", "--json", "--gpu", "local", ex]),
        ("check_local", [*cli, "check", "-v", ex]),
        (
            "check_local_vgg11_b256",
            [
                *cli,
                "check",
                "-v",
                str(SCRIPTS / "torchvision_train.py"),
                "--",
                "--arch",
                "vgg11",
                "--batch-size",
                "256",
            ],
        ),
    ]
    if name:
        cmds.append(("analyze_json_gpu_name", [*cli, "analyze", "--json", "--gpu", name, ex]))
    for key, cmd in cmds:
        r = run_cmd(cmd, ctx.timeout(30), ctx.env)
        entry: dict[str, Any] = {"cmd": " ".join(cmd[1:]), "rc": r.get("rc"), "wall_s": r["wall_s"]}
        if "--json" in cmd and r.get("rc") == 0:
            try:
                d = json.loads(r["stdout"])
                entry.update(
                    {
                        k: d.get(k)
                        for k in (
                            "gpu",
                            "fits",
                            "fit_status",
                            "usage_ratio",
                            "needed",
                            "max_batch_size",
                            "fit_message",
                        )
                    }
                )
            except json.JSONDecodeError:
                entry["stdout"] = tail(r["stdout"], 800)
        else:
            entry["stdout"] = tail(r.get("stdout"), 800)
        entry["stderr"] = tail(r.get("stderr"), 600)
        runs[key] = entry
    res["cli"] = runs
    return res


def summary_nvml(res: dict[str, Any]) -> list[str]:
    w = res.get("worker", {})
    idle = w.get("product_idle", {})
    lines = []
    if idle.get("gpus"):
        g = idle["gpus"][0]
        lines.append(
            f"  gpulens NVML: {g['name']}, total {g['total'] / MIB:,.0f} MiB, used "
            f"{g['used'] / MIB:,.0f} MiB, {len(g['processes'])} processes, poll "
            f"{w.get('poll_us')} µs, driver {idle.get('driver')}"
        )
    else:
        lines.append(f"  gpulens NVML: no GPU ({idle.get('reason') or w.get('error')})")
    raw = w.get("pynvml", {})
    if "util_gpu" in raw:
        lines.append(
            f"  pynvml: util {raw['util_gpu']}% / mem {raw['util_mem']}%, v2 {raw.get('v2')}"
        )
    for c in w.get("catalog", []):
        if "resolved" not in c:
            lines.append(f"  catalog: {c['query']!r} unknown: {c.get('error')}")
            continue
        diff = f"; NVML total diff {c['diff_mib']} MiB" if "diff_mib" in c else ""
        lines.append(
            f"  catalog: {c['query']!r} -> {c['resolved']} {c.get('memory_mib')} MiB "
            f"({c.get('basis')}){diff}"
        )
    own = w.get("own_process")
    if isinstance(own, dict):
        lines.append(
            f"  own process listed: {own.get('listed_by_pid')}, used_by_others "
            f"{(own.get('used_by_others') or 0) / MIB:,.0f} MiB"
        )
    if w.get("own_process_error"):
        lines.append(f"  own process on the GPU failed: {w['own_process_error']}")
    oth = w.get("other_process")
    if isinstance(oth, dict):
        lines.append(
            f"  child listed: {oth.get('child_listed')}, used_by_others "
            f"{(oth.get('used_by_others') or 0) / MIB:,.0f} MiB"
        )
    smi = res.get("nvidia_smi")
    lines.append(f"  nvidia-smi: {smi.get('detail') if isinstance(smi, dict) else smi}")
    for key, r in res.get("cli", {}).items():
        extra = r.get("fit_status") or (r.get("stdout") or r.get("stderr") or "").strip()[:150]
        lines.append(f"  {key}: rc={r.get('rc')} {extra}")
    return lines


# ---------------------------------------------------------------- step 2


def step_profile(ctx: Ctx) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for name, script, args, steps in PROFILE_SCRIPTS:
        if ctx.left() < 10:
            res[name] = {"skipped": "no time left in the check's budget"}
            continue
        entry: dict[str, Any] = {"script": script, "args": args}
        r = run_cmd(
            [ctx.py, "-m", "gpulens", "analyze", "--json", script, "--", *args],
            ctx.timeout(30),
            ctx.env,
        )
        if r.get("rc") == 0:
            try:
                d = json.loads(r["stdout"])
                m = d.get("memory") or {}
                entry["static"] = {
                    k: m.get(k)
                    for k in (
                        "batch_size",
                        "precision",
                        "optimizer",
                        "peak_allocated",
                        "peak_reserved",
                        "device_total",
                    )
                }
                if not m:
                    entry["static"]["reason"] = d.get("memory_reason")
            except json.JSONDecodeError:
                entry["static"] = {"error": tail(r["stdout"], 300)}
        else:
            entry["static"] = {"error": f"rc={r.get('rc')}", "stderr": tail(r.get("stderr"), 400)}
        out_file = ctx.work / f"profile-{name}.json"
        steps_here = steps if ctx.gpu else 3
        cmd = [
            ctx.py,
            str(HERE / "profile_script.py"),
            "--steps",
            str(steps_here),
            "--out",
            str(out_file),
            script,
            *args,
        ]
        r = run_cmd(cmd, ctx.timeout(90), ctx.env)
        try:
            entry["measured"] = json.loads(out_file.read_text())
        except (OSError, json.JSONDecodeError):
            entry["measured"] = {
                "error": "no result",
                "rc": r.get("rc"),
                "timed_out": r.get("timed_out", False),
                "stderr": tail(r.get("stderr"), 800),
            }
        meas, st = entry["measured"], entry["static"]
        entry["error_vs_measured"] = {
            "peak_allocated": rel(st.get("peak_allocated"), meas.get("peak_alloc")),
            "peak_reserved": rel(st.get("peak_reserved"), meas.get("peak_reserved")),
            "device_total": rel(st.get("device_total"), meas.get("nvml_proc_used_max")),
        }
        res[name] = entry
    return res


def summary_profile(res: dict[str, Any]) -> list[str]:
    lines = []
    for name, e in res.items():
        if not isinstance(e, dict):
            continue
        if "skipped" in e:
            lines.append(f"  {name}: {e['skipped']}")
            continue
        m, s = e.get("measured", {}), e.get("static", {})
        util = (m.get("util_gpu_pct") or {}).get("mean")
        lines.append(
            f"  {name}: {m.get('ended') or m.get('error')}; steps {m.get('optimizer_steps')}, "
            f"{m.get('step_ms_median')} ms/step, util {util}%; "
            f"peak alloc {gib(m.get('peak_alloc'))} (static {gib(s.get('peak_allocated'))}), "
            f"reserved {gib(m.get('peak_reserved'))} (static {gib(s.get('peak_reserved'))}), "
            f"nvml {gib(m.get('nvml_proc_used_max'))} (static {gib(s.get('device_total'))})"
            f"{'' if m.get('used_gpu') else '; ' + str(m.get('gpu'))}"
        )
    return lines


# ---------------------------------------------------------------- step 3


def step_calib(ctx: Ctx) -> dict[str, Any]:
    configs = calib_configs()
    res: dict[str, Any] = {"configs": {}}
    runnable: list[Config] = []
    for c in configs:
        est = static_estimate(SCRIPTS / c.script, c.args)
        rec: dict[str, Any] = {
            "group": c.group,
            "command": f"bench/accuracy/scripts/{c.script} {' '.join(c.args)}",
            "static": est,
        }
        need = est.get("device_total")
        if isinstance(need, int) and need > ctx.max_need:
            rec["skipped"] = (
                f"the static estimate needs {need / GIB:.1f} GiB > {ctx.max_need / GIB:.0f} GiB"
            )
        else:
            runnable.append(c)
        res["configs"][c.key] = rec
    snap_dir = ctx.out / "snap"
    items = [c.to_worker() for c in runnable]

    def make_cmd(pending: list[dict[str, Any]], path: Path) -> list[str]:
        cfg = ctx.work / f"configs-{time.monotonic_ns()}.json"
        cfg.write_text(json.dumps(pending))
        cmd = [ctx.py, str(HERE / "worker.py"), "calib", "--configs", str(cfg), "--out", str(path)]
        if ctx.gpu:
            cmd += ["--snapshot-dir", str(snap_dir)]
        else:
            cmd += ["--device", "cpu", "--smoke"]
        return cmd

    measured = run_jsonl_worker(make_cmd, items, 90 if ctx.gpu else 120, ctx, ctx.env)
    for key, m in measured.items():
        rec = res["configs"][key]
        rec["measured"] = m
        if ctx.gpu and "peak_alloc" in m:
            st = rec["static"]
            rec["error_vs_measured"] = {
                "peak_allocated": rel(st.get("peak_allocated"), m.get("peak_alloc")),
                "peak_reserved": rel(st.get("peak_reserved"), m.get("peak_reserved")),
                "device_total": rel(st.get("device_total"), m.get("nvml_proc_used")),
            }
    res["slopes"] = slopes(res["configs"])
    snaps = {
        k: v["measured"]["snapshot"]
        for k, v in res["configs"].items()
        if isinstance(v.get("measured"), dict) and "snapshot" in v["measured"]
    }
    if snaps:
        (ctx.out / "snapshots.json").write_text(json.dumps(snaps, indent=1))
        for k, v in res["configs"].items():  # keep device_checks.json compact
            if k in snaps:
                s = v["measured"].pop("snapshot")
                v["measured"]["snapshot_peak_mib"] = s.get("replayed_peak_mib")
                v["measured"]["snapshot_top"] = s.get("top_blocks", [])[:3]
    tv_missing = [
        k
        for k, v in res["configs"].items()
        if "torchvision" in str((v.get("measured") or {}).get("skipped", ""))
    ]
    if tv_missing:
        res["torchvision_note"] = f"torchvision is not installed: skipped {', '.join(tv_missing)}"
    if not ctx.gpu:
        res["note"] = "skipped: no GPU. Ran each configuration at batch 2 for 1 step on the CPU"
    return res


def slopes(configs: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-sample slopes between consecutive batches of a family (measured and static)."""
    by_fam: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for key, rec in configs.items():
        m = rec.get("measured") or {}
        if "peak_alloc" not in m or m.get("smoke"):
            continue
        by_fam.setdefault(key.split("/b")[0] + "/" + key.split("/", 2)[2], []).append(
            (int(m["batch"]), rec)
        )
    out = []
    for fam, rows in by_fam.items():
        rows.sort(key=lambda r: r[0])
        for (b1, r1), (b2, r2) in itertools.pairwise(rows):
            m1, m2, s1, s2 = r1["measured"], r2["measured"], r1["static"], r2["static"]
            item: dict[str, Any] = {"family": fam, "batches": [b1, b2]}
            for field_m, field_s in (
                ("peak_alloc", "peak_allocated"),
                ("peak_reserved", "peak_reserved"),
            ):
                item[f"{field_m}_per_sample"] = (m2[field_m] - m1[field_m]) / (b2 - b1)
                if isinstance(s1.get(field_s), int) and isinstance(s2.get(field_s), int):
                    item[f"static_{field_s}_per_sample"] = (s2[field_s] - s1[field_s]) / (b2 - b1)
            out.append(item)
    return out


def summary_calib(res: dict[str, Any]) -> list[str]:
    lines = []
    if res.get("note"):
        lines.append("  " + res["note"])
    if res.get("torchvision_note"):
        lines.append("  " + res["torchvision_note"])
    for key, rec in res.get("configs", {}).items():
        m = rec.get("measured") or {}
        st = rec.get("static", {})
        if "skipped" in rec or "skipped" in m:
            lines.append(f"  {key}: skipped ({rec.get('skipped') or m.get('skipped')})")
        elif "error" in m:
            lines.append(f"  {key}: {m['error']} {str(m.get('detail', ''))[:120]}")
        elif m.get("smoke"):
            lines.append(f"  {key}: code path ok ({m['smoke']}, {m.get('wall_s')} s)")
        elif "peak_alloc" in m:
            e = rec.get("error_vs_measured", {})
            snap = (
                f", snapshot peak {m['snapshot_peak_mib']} MiB" if "snapshot_peak_mib" in m else ""
            )
            lines.append(
                f"  {key}: alloc {gib(m['peak_alloc'])} (static {gib(st.get('peak_allocated'))}, "
                f"{_pct(e.get('peak_allocated'))}), reserved {gib(m['peak_reserved'])} "
                f"({_pct(e.get('peak_reserved'))}), nvml {gib(m.get('nvml_proc_used'))} "
                f"({_pct(e.get('device_total'))}), {m.get('step_ms_median')} ms/step{snap}"
            )
        else:
            lines.append(f"  {key}: no result")
    for s in res.get("slopes", []):
        lines.append(
            f"  slope {s['family']} b{s['batches'][0]}->{s['batches'][1]}: alloc "
            f"{s['peak_alloc_per_sample'] / 1024:.1f} KiB/sample (static "
            f"{_kib(s.get('static_peak_allocated_per_sample'))}), reserved "
            f"{s['peak_reserved_per_sample'] / 1024:.1f} KiB/sample (static "
            f"{_kib(s.get('static_peak_reserved_per_sample'))})"
        )
    return lines


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:+.1%}"


def _kib(x: float | None) -> str:
    return "—" if x is None else f"{x / 1024:.1f}"


# ---------------------------------------------------------------- main


def detect_gpu() -> tuple[bool, str]:
    smi = shutil.which("nvidia-smi")
    if smi is None:  # ask torch instead
        code = "import torch; print(torch.cuda.is_available() and torch.cuda.get_device_name(0))"
        r = run_cmd([sys.executable, "-c", code], 60)
        name = (r.get("stdout") or "").strip().splitlines()[-1:] or [""]
        if r.get("rc") == 0 and name[0] not in ("", "False"):
            return True, f"{name[0]} (torch; no nvidia-smi on PATH)"
        return False, "no nvidia-smi on PATH and torch sees no CUDA device"
    r = run_cmd([smi, "-L"], 20)
    if r.get("rc") != 0 or "GPU" not in (r.get("stdout") or ""):
        return False, f"nvidia-smi -L failed: {tail(r.get('stderr'), 200)}"
    return True, (r.get("stdout") or "").strip()


STEPS: list[tuple[str, str, float, Callable[[Ctx], dict[str, Any]], Callable[..., list[str]]]] = [
    ("1_nvml", "NVML, catalog and CLI on the local GPU", 75, step_nvml, summary_nvml),
    ("2_profile", "scripts measured vs. the static estimate", 100, step_profile, summary_profile),
    ("3_calib", "calib.measure beyond the dev set", 400, step_calib, summary_calib),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="act as if there were no GPU")
    ap.add_argument(
        "--out", type=Path, default=Path(os.environ.get("OUT") or "/tmp/gpulens-device-out")
    )
    ap.add_argument("--budget-s", type=float, default=330.0, help="wall time for all steps")
    ap.add_argument("--max-need-gib", type=float, default=70.0)
    ap.add_argument("--only", default="", help="comma list of step names (1_nvml,...)")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    gpu, gpu_info = (False, "--dry-run") if args.dry_run else detect_gpu()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "server"), str(HERE), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("PYTHONWARNINGS", "ignore")
    sys.path[:0] = [str(ROOT / "server"), str(HERE)]
    work = Path(tempfile.mkdtemp(prefix="gpulens-device-"))
    ctx = Ctx(
        args.out, sys.executable, gpu, t0 + args.budget_s, int(args.max_need_gib * GIB), work, env
    )
    results: dict[str, Any] = {
        "meta": {
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "gpu": gpu,
            "gpu_info": gpu_info,
            "python": sys.version.split()[0],
            "executable": sys.executable,
            "host": platform.node(),
            "git_head": run_cmd(["git", "rev-parse", "--short", "HEAD"], 10)
            .get("stdout", "")
            .strip(),
            "budget_s": args.budget_s,
        },
        "steps": {},
    }
    out_json = args.out / "device_checks.json"
    print(f"gpulens device check: gpu={gpu} ({gpu_info.splitlines()[0] if gpu_info else ''})")
    only = set(filter(None, args.only.split(",")))
    for name, title, cap, fn, summarize in STEPS:
        if only and name not in only:
            continue
        s0 = time.monotonic()
        step_deadline = min(ctx.deadline, s0 + cap)
        sub = Ctx(ctx.out, ctx.py, ctx.gpu, step_deadline, ctx.max_need, ctx.work, ctx.env)
        try:
            res = fn(sub)
        except Exception as exc:  # a bug in this script: record it and go on
            import traceback

            res = {
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()[-2000:],
            }
        res["wall_s"] = round(time.monotonic() - s0, 1)
        results["steps"][name] = res
        out_json.write_text(json.dumps(results, indent=1, default=str))
        print(f"\n[{name}] {title} ({res['wall_s']} s)")
        try:
            for line in summarize(res) if "error" not in res or "traceback" not in res else []:
                print(line)
        except Exception as exc:
            print(f"  (summary failed: {type(exc).__name__}: {exc})")
        if "traceback" in res:
            print(f"  step failed: {res['error']}")
        sys.stdout.flush()
    results["meta"]["wall_s"] = round(time.monotonic() - t0, 1)
    out_json.write_text(json.dumps(results, indent=1, default=str))
    shutil.rmtree(work, ignore_errors=True)
    print(f"\ndone in {results['meta']['wall_s']} s -> {out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
