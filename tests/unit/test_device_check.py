"""bench/device (the one-call GPU check): the parts that must work the first time on the GPU
machine but can be checked here: the snapshot replay and the worker runner's recovery from a
configuration that hangs or crashes its process."""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

DEVICE = Path(__file__).resolve().parents[2] / "bench" / "device"


def _load(name: str) -> ModuleType:
    """bench/device/NAME.py under a name of its own (no sys.path change, no clash)."""
    spec = importlib.util.spec_from_file_location(f"gpulens_device_{name}", DEVICE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


check = _load("check")
snapshot = _load("snapshot")

MIB = 1 << 20


def _frames(*names: str) -> list[dict[str, Any]]:
    return [{"filename": f, "line": 7, "name": "fn"} for f in names]


def test_snapshot_replay_finds_the_peak_and_what_was_live() -> None:
    model = "/home/u/train.py"
    inner = "/opt/venv/lib/python3.12/site-packages/torch/nn/modules/linear.py"
    events = [
        {"action": "free_completed", "addr": 99, "size": 512},  # allocated before recording
        {"action": "alloc", "addr": 1, "size": 4 * MIB, "frames": _frames(inner, model)},
        {"action": "alloc", "addr": 2, "size": 2 * MIB, "frames": []},
        {"action": "free_requested", "addr": 2, "size": 2 * MIB},
        {"action": "free_completed", "addr": 2, "size": 2 * MIB},
        {"action": "alloc", "addr": 3, "size": 3 * MIB, "frames": _frames(inner)},
        {"action": "alloc", "addr": 4, "size": 1 * MIB, "frames": _frames(model)},  # peak: 8 MiB
        {"action": "free_completed", "addr": 1, "size": 4 * MIB},
        {"action": "alloc", "addr": 5, "size": 3 * MIB, "frames": []},
    ]
    s = snapshot.summarize({"device_traces": [events], "segments": []}, top=2)
    assert s["replayed_peak_bytes"] == 8 * MIB
    assert s["peak_event_index"] == 6
    assert s["live_blocks_at_peak"] == 3
    assert [b["mib"] for b in s["top_blocks"]] == [4.0, 3.0]
    # the innermost frame (the op) and the first frame outside torch (its caller)
    assert s["top_blocks"][0]["where"] == "torch/nn/modules/linear.py:7 fn < u/train.py:7 fn"
    assert s["top_blocks"][1]["where"] == "torch/nn/modules/linear.py:7 fn"
    assert s["by_where"][0]["where"] == s["top_blocks"][0]["where"]
    full = snapshot.summarize({"device_traces": [events]})
    assert full["by_where"][-1] == {
        "where": "u/train.py:7 fn",
        "bytes": MIB,
        "mib": 1.0,
        "blocks": 1,
    }
    assert s["actions"]["alloc"] == 5
    assert snapshot.label(None) == snapshot.NO_FRAME


FAKE_WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    items, out = json.load(open(sys.argv[1])), sys.argv[2]
    with open(out, "a") as f:
        for it in items:
            f.write(json.dumps({"event": "begin", "key": it["key"]}) + "\\n"); f.flush()
            if it["do"] == "hang":
                time.sleep(60)
            if it["do"] == "crash":
                os._exit(3)
            f.write(json.dumps({"event": "result", "key": it["key"], "v": 1}) + "\\n"); f.flush()
    """
)


def test_worker_runner_survives_a_hang_and_a_crash(tmp_path: Path) -> None:
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    items = [
        {"key": k, "do": k.rstrip("0123456789")} for k in ("ok1", "hang", "ok2", "crash", "ok3")
    ]
    ctx = check.Ctx(tmp_path, sys.executable, False, time.monotonic() + 60, 0, tmp_path)

    def make_cmd(pending: list[dict[str, Any]], path: Path) -> list[str]:
        cfg = tmp_path / f"cfg-{time.monotonic_ns()}.json"
        cfg.write_text(json.dumps(pending))
        return [sys.executable, str(script), str(cfg), str(path)]

    t0 = time.monotonic()
    res = check.run_jsonl_worker(make_cmd, items, 1.0, ctx)
    assert time.monotonic() - t0 < 20
    assert {k: res[k].get("v") for k in ("ok1", "ok2", "ok3")} == {"ok1": 1, "ok2": 1, "ok3": 1}
    assert res["hang"]["error"] == "timed out after 1 s"
    assert "rc=3" in res["crash"]["error"]


def test_worker_runner_gives_up_when_nothing_can_begin(tmp_path: Path) -> None:
    ctx = check.Ctx(tmp_path, sys.executable, False, time.monotonic() + 60, 0, tmp_path)
    items = [{"key": "a"}, {"key": "b"}]
    res = check.run_jsonl_worker(
        lambda pending, path: [sys.executable, "-c", "raise SystemExit(5)"], items, 5.0, ctx
    )
    assert set(res) == {"a", "b"}
    assert all("rc=5 before any configuration" in r["error"] for r in res.values())


@pytest.mark.parametrize("config", check.calib_configs(), ids=lambda c: c.key)
def test_calib_configs_name_a_script_with_their_batch(config: check.Config) -> None:
    assert (check.SCRIPTS / config.script).exists()
    assert config.args[config.args.index("--batch-size") + 1] == str(config.batch)


def test_gpu_shaped_results_summarize() -> None:
    """The summaries and slopes of results as a GPU run returns them (shapes of calib.measure
    and profile_script), which the CPU dry run never produces."""

    def row(batch: int, alloc: int, reserved: int) -> dict[str, Any]:
        static = {
            "peak_allocated": alloc + MIB,
            "peak_reserved": reserved,
            "device_total": 2 * alloc,
        }
        measured = {"batch": batch, "peak_alloc": alloc, "peak_reserved": reserved,
                    "nvml_proc_used": alloc + 600 * MIB, "step_ms_median": 3.2}  # fmt: skip
        return {"group": "3a", "static": static, "measured": measured}

    configs = {
        "mlp/b1024/fp32/adamw": row(1024, 3000 * MIB, 3100 * MIB),
        "mlp/b4096/fp32/adamw": row(4096, 4000 * MIB, 4200 * MIB),
        "vgg11/b128/fp32/sgd_momentum": {"static": {}, "measured": {"error": "OOM"}},
    }
    configs["mlp/b1024/fp32/adamw"]["measured"]["snapshot_peak_mib"] = 3000.0
    slopes = check.slopes(configs)
    assert slopes == [
        {
            "family": "mlp/fp32/adamw",
            "batches": [1024, 4096],
            "peak_alloc_per_sample": 1000 * MIB / 3072,
            "static_peak_allocated_per_sample": 1000 * MIB / 3072,
            "peak_reserved_per_sample": 1100 * MIB / 3072,
            "static_peak_reserved_per_sample": 1100 * MIB / 3072,
        }
    ]
    text = "\n".join(check.summary_calib({"configs": configs, "slopes": slopes}))
    assert "snapshot peak 3000.0 MiB" in text and "OOM" in text and "KiB/sample" in text
    profile = {
        "mlp": {
            "static": {"peak_allocated": 2 * MIB},
            "measured": {"ended": "stopped after 30 optimizer steps", "used_gpu": True,
                         "peak_alloc": MIB, "util_gpu_pct": {"mean": 40.0}},
        },
        "wall_s": 3.0,
    }  # fmt: skip
    assert "util 40.0%" in check.summary_profile(profile)[0]
    gpu = {
        "name": "NVIDIA H100 80GB HBM3",
        "total": 81559 * MIB,
        "used": 615 * MIB,
        "processes": [],
    }
    nvml = {
        "worker": {
            "product_idle": {"gpus": [gpu], "driver": "580"},
            "catalog": [{"query": gpu["name"], "resolved": "H100 SXM", "diff_mib": 0.0}],
            "own_process": {"listed_by_pid": True, "used_by_others": 0},
        },
        "nvidia_smi": {"detail": "NVIDIA H100 80GB HBM3, 81559, 0"},
        "cli": {"check_local": {"rc": 0, "stdout": "x.py:1:1: note: fits"}},
    }
    assert "NVML total diff 0.0 MiB" in "\n".join(check.summary_nvml(nvml))
