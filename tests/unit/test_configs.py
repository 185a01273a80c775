"""exec()-ed config files: plain settings files and nanoGPT's configurator conventions."""

from __future__ import annotations

from pathlib import Path

from gpulens.analysis import analyze

NANO = Path(__file__).resolve().parents[1] / "fixtures" / "scripts" / "nanogpt" / "train.py"


def run(*args: str, path: Path = NANO) -> dict[str, object]:
    a = analyze(path.read_text(encoding="utf-8"), path=str(path), script_args=args)
    return {k: f.value for k, f in a.facts.items()} | {"_total": a.iterations.total}


def test_overrides_apply_in_order() -> None:
    got = run("--max_iters=10", "--max_iters=20")
    assert got["max_steps"] == 20 and got["_total"] == 21


def test_config_file_then_override() -> None:
    got = run("config/train_tiny.py", "--max_iters=7")
    assert got["max_steps"] == 7
    assert got["batch_size"] == 64  # from the config file


def test_override_then_config_file_wins() -> None:
    got = run("--batch_size=8", "config/train_tiny.py")
    assert got["batch_size"] == 64


def test_unknown_key_and_missing_config_are_ignored() -> None:
    got = run("--not_a_setting=3", "config/missing.py")
    assert got["max_steps"] == 600000
    assert got["_total"] == 600001


def test_string_override() -> None:
    got = run("--dtype=float16")
    assert got["precision"] == "amp_fp16"


def test_script_without_configurator_file(tmp_path: Path) -> None:
    """configurator.py absent: the --key=value convention still applies (and says so)."""
    script = tmp_path / "train.py"
    script.write_text(
        "max_iters = 100\nexec(open('configurator.py').read())\n"
        "import torch\nit = 0\nwhile True:\n    torch.randn(1).backward()\n    it += 1\n"
        "    if it > max_iters:\n        break\n",
        encoding="utf-8",
    )
    text = script.read_text(encoding="utf-8")
    a = analyze(text, path=str(script), script_args=("--max_iters=5",))
    assert a.facts["max_steps"].value == 5
    assert "not found" in a.facts["max_steps"].source
    assert a.iterations.total == 6
    a = analyze(script.read_text(encoding="utf-8"), path=str(script))
    assert a.iterations.total == 101


def test_exec_of_unknown_path_is_harmless() -> None:
    src = "import sys\nexec(open(sys.argv[1]).read())\nbatch_size = 4\n"
    a = analyze(src, path="x.py")
    assert a.error is None
