"""bench/accuracy measures the product end to end: every gpu-truth configuration is read by the
static reader from a training script and its arguments, and the reader sees the row's batch size,
precision and optimizer. Behaviour only; the accuracy itself is the bench's report."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "accuracy"
TRUTH = ROOT / ".." / "shared" / "gpu-truth" / "calib-h200.jsonl"

#: one configuration of every family and every precision / optimizer / mode calib.py measures
ROWS: list[tuple[str, int, str, str, str]] = [
    ("mlp_d2_w256", 32, "fp32", "adam", "train"),
    ("mlp_d4_w1024", 64, "fp32", "none", "eval"),
    ("mlp_d8_w4096_gelu_drop", 512, "amp_bf16", "adamw", "train"),
    ("mlp_d8_w4096_gelu_drop", 512, "bf16", "adamw", "train"),
    ("cifar_cnn_bn", 256, "amp_fp16", "sgd_momentum", "train"),
    ("cifar_cnn_nobn", 64, "fp32", "sgd_momentum", "train"),
    ("tiny_unet_128", 32, "fp32", "adam", "train"),
    ("resnet18", 32, "half", "sgd_momentum", "train"),
    ("resnet18", 32, "bf16", "adam", "train"),
    ("resnet18", 32, "fp32", "sgd", "train"),
    ("resnet18", 32, "fp32", "rmsprop", "train"),
    ("resnet50", 64, "fp32", "sgd_momentum", "train_keep_grads"),
    ("resnet50", 64, "amp_fp16", "none", "eval"),
    ("vit_b_16", 32, "amp_bf16", "adamw", "train"),
    ("encoder_lm_d256_l4_s512", 8, "fp32", "adamw", "train"),
    ("encoder_lm_d512_l6_s256", 32, "amp_bf16", "adamw", "train"),
    ("encoder_lm_d512_l6_s256_ckpt", 8, "fp32", "adamw", "train"),
    ("lstm_lm_h512_l2_s64", 128, "amp_fp16", "adam", "train"),
    ("lstm_lm_h512_l2_s64", 20, "fp32", "sgd", "train"),
    ("conv1d_audio_16k", 256, "fp32", "adam", "train"),
    ("gru_bi_h256_s128", 128, "fp32", "adam", "train"),
    ("densenet121", 16, "fp32", "sgd_momentum", "train"),
]
OPTIMIZER_CLASS = {
    "sgd": "SGD",
    "sgd_momentum": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
}


@pytest.fixture(scope="module")
def e2e() -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("end_to_end")
    finally:
        sys.path.remove(str(BENCH))


def _check(e2e: Any, row: dict[str, Any]) -> None:
    est = e2e.estimate(row)
    assert est.reason is None, (row, est.reason)
    assert est.peak_allocated is not None and est.peak_allocated > 0
    assert est.batch_size == row["batch"], (row, est.command)
    assert est.precision == {"half": "fp16"}.get(row["precision"], row["precision"]), est.command
    if row["mode"] == "eval":
        assert est.peak_phase == "eval (no_grad)" and est.peak_reserved is None
    else:
        assert est.optimizer == OPTIMIZER_CLASS[row["optimizer"]], est.command
        assert est.peak_reserved is not None and est.peak_reserved >= est.peak_allocated


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r[0]}-b{r[1]}-{r[2]}-{r[3]}-{r[4]}")
def test_row_is_read_from_its_script(e2e: Any, row: tuple[str, int, str, str, str]) -> None:
    fam, batch, prec, opt, mode = row
    _check(e2e, {"family": fam, "batch": batch, "precision": prec, "optimizer": opt, "mode": mode})


def test_keep_grads_and_checkpointing_reach_the_estimate(e2e: Any) -> None:
    def peak(fam: str, mode: str = "train") -> int:
        row = {"family": fam, "batch": 32, "precision": "fp32", "optimizer": "adamw", "mode": mode}
        est = e2e.estimate(row)
        assert est.peak_allocated is not None
        return int(est.peak_allocated)

    # activation checkpointing in the script (--checkpoint) lowers the estimate
    assert peak("encoder_lm_d512_l6_s256_ckpt") < 0.7 * peak("encoder_lm_d512_l6_s256")


@pytest.mark.skipif(not TRUTH.is_file(), reason="../shared/gpu-truth is not checked out")
def test_every_calib_row_is_estimated_end_to_end(e2e: Any) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        run = importlib.import_module("run")
        results = run.evaluate(TRUTH)
    finally:
        sys.path.remove(str(BENCH))
    rows = [json.loads(x) for x in TRUTH.read_text().splitlines() if x.strip()]
    calib = [r for r in rows if r.get("suite") == "calib" and "peak_alloc" in r]
    assert len(results) == len(calib) > 0
    cov = run.coverage(results)
    assert cov == {"end_to_end": len(calib), "not": 0, "reasons": {}}
    for r, row in zip(results, calib, strict=True):
        assert r["read_as"]["batch_size"] == row["batch"], r["command"]
        assert r["err_peak_alloc"] is not None


# --- max_batch.py: the measured largest batch and issue 4's targets ---------------------------


@pytest.fixture(scope="module")
def mb() -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("max_batch")
    finally:
        sys.path.remove(str(BENCH))


def _row(batch: int, alloc: int, reserved: int, family: str = "resnet18") -> dict[str, Any]:
    context = 800 << 20
    return {"suite": "calib", "family": family, "precision": "fp32", "optimizer": "sgd_momentum",
            "mode": "train", "batch": batch, "peak_alloc": alloc, "peak_reserved": reserved,
            "nvml_proc_used": reserved + context}  # fmt: skip


def test_truth_never_below_the_allocated_line(mb: Any, tmp_path: Path) -> None:
    """A reserved line that grows slower than the allocated one would cross below it (reserved
    < allocated, impossible): the truth is the larger of the two lines."""
    mib = 1 << 20
    rows = [_row(16, 1000 * mib, 1400 * mib), _row(64, 3000 * mib, 3200 * mib)]  # 37.5 < 41.7
    path = tmp_path / "calib.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    results = mb.evaluate(path, 0.03)
    assert results and all(r["verified"] for r in results)
    for r in results:
        room = r["card_memory"] - mb.DRIVER_RESERVED_BYTES - 800 * mib
        a_slope = 2000 * mib / 48
        a_line = int((room - (3000 * mib - a_slope * 64)) // a_slope)
        r_slope = 1800 * mib / 48
        r_line = int((room - (3200 * mib - r_slope * 64)) // r_slope)
        assert r["true_max"] == min(a_line, r_line) == a_line < r_line


def test_flat_step_is_unverified(mb: Any, tmp_path: Path) -> None:
    """A step whose measured peak hardly moves with the batch (an optimizer-step peak) is marked
    unverified: its reserved slope is segment packing, not memory per sample."""
    mib = 1 << 20
    rows = [_row(64, 2547 * mib, 2566 * mib, "mlp_d8_w4096_gelu_drop"),
            _row(512, 2552 * mib, 2728 * mib, "mlp_d8_w4096_gelu_drop")]  # fmt: skip
    path = tmp_path / "calib.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    results = mb.evaluate(path, 0.03)
    assert results and not any(r["verified"] for r in results)


@pytest.mark.skipif(not TRUTH.exists(), reason="../shared/gpu-truth is not laid beside the repo")
def test_suggested_batch_meets_issue_4_targets(mb: Any) -> None:
    """The batch the product suggests (fit.DEFAULT_BATCH_MARGIN) on the dev set: never more than
    5% above the measured largest batch; within 10% of it for all but the two families the
    memory model misses on the safe side (vgg11, checkpointed encoder: 10 pairs)."""
    results = [r for r in mb.evaluate(TRUTH, mb.DEFAULT_BATCH_MARGIN) if r["verified"]]
    assert len(results) >= 80
    assert max(r["err_margin"] for r in results) <= 0.05
    within = sum(1 for r in results if abs(r["err_margin"]) <= 0.10)
    assert within >= len(results) - 10
