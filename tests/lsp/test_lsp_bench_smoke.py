"""The latency benchmark still runs (tiny sizes; it checks its own answers, not its timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_runs() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "lsp_latency.py"),
            "--lines",
            "300",
            "--edits",
            "5",
            "--spawns",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result = json.loads(proc.stdout)
    assert result["edit_to_hints"]["n"] == 5
    for key in ("edit_typing", "edit_add_line", "edit_syntax_error", "reader_incremental_cpu"):
        assert result[key]["n"] > 0
    assert result["spawn_to_first_hints"]["p50_ms"] > 0
