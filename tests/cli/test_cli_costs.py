"""`gpulens analyze` and issue 3: --batch-size / --precision, the models and memory JSON keys, and
the human report's models and memory sections."""

from __future__ import annotations

import pytest
from cli_support import CLASSIC, analyze_json, run_gpulens
from gpulens.analysis import analyze
from gpulens.analysis.facts import LayerSummary, ModelSummary
from gpulens.cli import format_report
from gpulens.estimate.graph import sequential_trace
from gpulens.estimate.layers import build
from gpulens.estimate.memory import estimate_training_memory

MEMORY_KEYS = {
    "tier",
    "batch_size",
    "precision",
    "optimizer",
    "weights",
    "gradients",
    "optimizer_state",
    "activations",
    "workspace",
    "peak_allocated",
    "peak_reserved",
    "cuda_context",
    "device_total",
}


def test_json_keeps_old_keys_and_adds_issue_3_keys() -> None:
    data = analyze_json(str(CLASSIC))
    assert {"file", "facts", "iterations", "error"} <= set(data)
    assert {"models", "params_total", "memory"} <= set(data)
    assert isinstance(data["models"], list)
    for model in data["models"]:
        assert {"name", "line", "params", "trainable_params", "layers"} <= set(model)
        for layer in model["layers"]:
            assert set(layer) >= {"name", "type", "line", "params", "output_shape"}
    if data["memory"] is not None:
        assert set(data["memory"]) >= MEMORY_KEYS
        assert data["memory"]["tier"] == "static"
    elif data["models"]:
        assert data["memory_reason"]  # a model but no estimate: the report says why


def test_batch_size_and_precision_flags_override_the_script() -> None:
    data = analyze_json(str(CLASSIC), "--batch-size", "64", "--precision", "amp_bf16")
    facts = data["facts"]
    assert facts["batch_size"]["value"] == 64
    assert facts["batch_size"]["source"] == "user setting"
    assert facts["precision"]["value"] == "amp_bf16"
    assert data["iterations"]["per_epoch"] == 19  # ceil(1200 / 64)
    if data["memory"] is not None:  # the overrides reach the estimate
        assert data["memory"]["batch_size"] == 64
        assert data["memory"]["precision"] == "amp_bf16"


def test_flags_win_over_set() -> None:
    data = analyze_json(str(CLASSIC), "--set", "batch_size=10", "--batch-size", "20")
    assert data["facts"]["batch_size"]["value"] == 20


@pytest.mark.parametrize(
    "args",
    [
        ("--batch-size", "0"),
        ("--batch-size", "many"),
        ("--precision", "fp8"),
    ],
)
def test_bad_flag_values_exit_2(args: tuple[str, str]) -> None:
    result = run_gpulens("analyze", str(CLASSIC), *args)
    assert result.returncode == 2
    assert "error" in result.stderr and "Traceback" not in result.stderr


def test_human_report_models_and_memory_sections() -> None:
    text = CLASSIC.read_text(encoding="utf-8")
    analysis = analyze(text, path="examples/classic_train.py")
    seq = build(
        "Sequential",
        (
            build("Linear", (20, 64)),
            build("ReLU"),
            build("Dropout", (0.1,)),
            build("Linear", (64, 2)),
        ),
    )
    trace = sequential_trace(seq, (20,))
    layers = [
        LayerSummary("0", "Linear", 22, 1344, (100, 64)),
        LayerSummary("1", "ReLU", 23, 0, (100, 64)),
        LayerSummary("2", "Dropout", 24, 0, (100, 64)),
        LayerSummary("3", "Linear", 25, 130, (100, 2)),
    ]
    analysis.models = [ModelSummary("model", 21, 1474, 1474, layers, None, True, trace)]
    analysis.params_total = 1474
    analysis.memory = estimate_training_memory(
        trace, 100, "fp32", analysis.facts["optimizer"].value
    )
    report = format_report(analysis)
    assert "models\n  model (line 21): 1,474 params (1.5K)" in report
    assert "    0      Linear    1,344  [100, 64]     22" in report
    assert "  parameters trained: 1,474" in report
    assert "memory (static estimate: from the source, not measured)" in report
    assert "  batch 100 · fp32 · Adam" in report
    for label in ("weights", "gradients", "optimizer state", "activations", "workspace",
                  "peak allocated", "peak reserved", "CUDA context", "device total"):  # fmt: skip
        assert f"\n  {label} " in report
    assert "  on a 24 GiB GPU: up to batch " in report
    assert "at batch 50: peak allocated ≈" in report
    assert "with amp_bf16: peak allocated ≈" in report


def test_human_report_says_why_memory_is_unknown() -> None:
    analysis = analyze(CLASSIC.read_text(encoding="utf-8"))
    analysis.memory = None
    analysis.memory_reason = "the model's input shape is unknown"
    report = format_report(analysis)
    assert "unknown because: the model's input shape is unknown" in report
    assert "input_shape=(3, 224, 224)" in report
