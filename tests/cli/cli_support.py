"""Running the CLI as a user does: a real subprocess of `python -m gpulens`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CLASSIC = REPO / "examples" / "classic_train.py"


def run_gpulens(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpulens", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def analyze_json(*args: str) -> dict[str, Any]:
    """`gpulens analyze --json ARGS`, which must succeed, parsed."""
    result = run_gpulens("analyze", "--json", *args)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data
