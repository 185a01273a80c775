"""`gpulens check` (exit codes 0/1/3/2, the finding lines), `analyze --gpu`, the pre-commit hook."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gpulens.cli import main
from gpulens.gpu import DRIVER_RESERVED_BYTES, nvml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """\
import argparse
import torch
import torchvision

parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=64)
args = parser.parse_args()

model = torchvision.models.resnet50().cuda()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
data = torchvision.datasets.FakeData(1000, (3, 224, 224), 1000)
loader = torch.utils.data.DataLoader(data, batch_size=args.batch_size)
for epoch in range(2):
    for x, y in loader:
        loss = torch.nn.functional.cross_entropy(model(x.cuda()), y.cuda())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""
LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>note|warning|error): .+$")


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "train.py"
    path.write_text(SCRIPT)
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def memory(script: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, _ = run(["analyze", "--json", str(script)], capsys)
    assert code == 0
    mem: dict[str, Any] = json.loads(out)["memory"]
    assert mem is not None and mem["batch_size"] == 64
    return mem


def card_for(mem: dict[str, Any], ratio: float) -> str:
    """A --gpu size on which the script uses ``ratio`` of the usable memory."""
    total = int(mem["peak_reserved"] / ratio) + DRIVER_RESERVED_BYTES + mem["cuda_context"]
    return f"{total}B"


@pytest.mark.parametrize(
    ("ratio", "code", "severity"), [(0.5, 0, None), (0.95, 1, "warning"), (1.2, 3, "error")]
)
def test_exit_codes_and_lines(
    script: Path,
    capsys: pytest.CaptureFixture[str],
    ratio: float,
    code: int,
    severity: str | None,
) -> None:
    mem = memory(script, capsys)
    got, out, err = run(["check", str(script), "--gpu", card_for(mem, ratio)], capsys)
    assert got == code, (out, err)
    lines = out.splitlines()
    if severity is None:
        assert lines == []
        return
    [line] = lines
    m = LINE.match(line)
    assert m is not None, line
    assert m["path"] == str(script) and m["sev"] == severity
    assert (int(m["line"]), int(m["col"])) == (6, 55)  # the --batch-size default
    assert f"batch_size=64 needs ≈ {_gib(mem['peak_reserved'])}" in line
    assert f"({round(ratio * 100)}%)" in line
    assert "largest batch_size" in line


def _gib(n: int) -> str:
    from gpulens.units import fmt_bytes

    return fmt_bytes(n)


def test_warn_ratio_option(script: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gpu = card_for(memory(script, capsys), 0.8)
    assert run(["check", str(script), "--gpu", gpu], capsys)[0] == 0
    assert run(["check", str(script), "--gpu", gpu, "--warn-ratio", "0.75"], capsys)[0] == 1
    assert run(["check", str(script), "--gpu", gpu, "--error-ratio", "70%", "--warn-ratio", "0.6"],
               capsys)[0] == 3  # fmt: skip


def test_script_args_change_the_batch(script: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gpu = card_for(memory(script, capsys), 0.8)
    code, out, _ = run(["check", str(script), "--gpu", gpu, "--", "--batch-size", "256"], capsys)
    assert code == 3 and "batch_size=256 needs" in out


def test_worst_file_wins_and_other_files_pass(
    script: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "util.py"
    other.write_text("def add(a, b):\n    return a + b\n")
    gpu = card_for(memory(script, capsys), 1.2)
    code, out, _ = run(["check", str(other), str(script), "--gpu", gpu], capsys)
    assert code == 3 and len(out.splitlines()) == 1
    code, out, err = run(["check", str(other), "--gpu", "T4", "-v"], capsys)
    assert code == 0 and out == "" and "0 of 1 file(s)" in err


HF_SCRIPT = """\
from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

model = AutoModelForCausalLM.from_pretrained("gpt2")
args = TrainingArguments("out", per_device_train_batch_size=16)
Trainer(model=model, args=args).train()
"""


def test_strict_fails_training_scripts_without_an_estimate(
    script: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model built at run time has no static estimate: a pass by default (a CI gate that
    cannot know), a warning and exit 1 with --strict. Files that are not training scripts
    pass either way, and a script with an estimate is judged on it."""
    hf = tmp_path / "train_hf.py"
    hf.write_text(HF_SCRIPT)
    util = tmp_path / "util.py"
    util.write_text("def add(a, b):\n    return a + b\n")
    code, out, _ = run(["check", str(hf), str(util), "--gpu", "H200"], capsys)
    assert code == 0 and out == ""
    code, out, err = run(["check", str(hf), str(util), str(script), "--gpu", "H200", "--strict"],
                         capsys)  # fmt: skip
    assert code == 1
    (finding,) = out.splitlines()
    match = LINE.match(finding)
    assert match and match["path"] == str(hf) and match["sev"] == "warning"
    assert "memory not estimated" in finding and "from_pretrained" in finding
    assert "1 training script(s) not estimated (--strict)" in err and "1 fit" in err
    # a script that does not fit still wins over one without an estimate
    gpu = card_for(memory(script, capsys), 1.2)
    code, _, _ = run(["check", str(hf), str(script), "--gpu", gpu, "--strict"], capsys)
    assert code == 3


def test_verbose_reports_fitting_scripts(script: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["check", str(script), "--gpu", "H200", "-v"], capsys)
    assert code == 0
    assert LINE.match(out.strip()) and ": note: batch_size=64 needs" in out and "H200" in out
    assert "1 fit" in err


def test_bad_input(script: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["check", str(script), "--gpu", "rtx 4091"], capsys)
    assert code == 2 and out == ""
    assert "unknown GPU 'rtx 4091'" in err and "RTX 4090" in err
    missing = tmp_path / "missing.py"
    code, out, _ = run(["check", str(missing), str(script), "--gpu", "1GiB"], capsys)
    assert code == 2  # bad input wins: the check did not run on every file
    assert f"{missing}:1:1: error: cannot read the file" in out


def test_no_gpu_and_no_local_gpu(
    script: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fake_nvml_cli import NoGpu

    monkeypatch.setattr(nvml, "_DEFAULT", NoGpu())
    code, out, err = run(["check", str(script)], capsys)
    assert code == 2 and out == ""
    assert "no --gpu given and no local GPU found" in err and "--gpu 'RTX 4090'" in err


def test_local_gpu_by_default(
    script: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fake_nvml_cli import OneGpu

    monkeypatch.setattr(nvml, "_DEFAULT", OneGpu())
    code, out, err = run(["check", str(script), "-v"], capsys)
    assert code == 0, err
    assert "RTX 4090" in out
    code, _, err = run(["check", str(script), "--gpu", "local:3"], capsys)
    assert code == 2 and "no local GPU 3" in err


def test_analyze_json_gpu(script: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["analyze", "--json", str(script), "--gpu", "A100 80GB"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["gpu"]["name"] == "A100 80GB" and data["gpu"]["memory"] == 81_920 << 20
    assert data["gpu"]["usable"] < data["gpu"]["memory"] and data["gpu"]["source"]
    assert data["fits"] is True and 0 < data["usage_ratio"] < 0.9
    assert isinstance(data["max_batch_size"], int) and data["max_batch_size"] > 64
    code, out, _ = run(["analyze", "--json", str(script), "--gpu", "4GiB"], capsys)
    data = json.loads(out)
    assert data["fits"] is False and data["usage_ratio"] > 1
    assert data["max_batch_size"] < 64


def test_analyze_gpu_report_and_errors(script: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["analyze", str(script), "--gpu", "A100"], capsys)
    assert code == 0 and "GPU: A100 40GB" in out and "least memory" in out
    code, _, err = run(["analyze", str(script), "--gpu", "Z9000"], capsys)
    assert code == 2 and "unknown GPU" in err
    code, out, _ = run(["analyze", "--json", str(REPO / "examples" / "classic_train.py"),
                        "--gpu", "T4"], capsys)  # fmt: skip
    assert code == 0 and json.loads(out)["fits"] is True


def test_subprocess_exit_code(script: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gpulens", "check", str(script), "--gpu", "2GiB"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    assert LINE.match(result.stdout.strip()), result.stdout


def test_pre_commit_hook_file() -> None:
    text = (REPO / ".pre-commit-hooks.yaml").read_text()
    entries = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert entries[0] == "- id: gpulens-check"
    fields = dict(line.strip().lstrip("- ").split(": ", 1) for line in entries if ": " in line)
    assert fields["entry"] == "gpulens check"
    assert fields["language"] == "python"
    assert fields["types"] == "[python]"
    assert fields["args"] == "[]"
    assert "--gpu" in text
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return
    [hook] = yaml.safe_load(text)
    assert hook["id"] == "gpulens-check" and hook["types"] == ["python"]
