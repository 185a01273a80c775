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
    assert result["spawn_to_first_hints"]["p50_ms"] > 0


def test_incremental_parse_experiment_builds_the_same_tree() -> None:
    import ast
    import importlib.util

    sys.path.insert(0, str(REPO / "bench"))
    try:
        from gen_script import generate
    finally:
        sys.path.pop(0)
    from gpulens.analysis import reader

    original = reader._parse
    spec = importlib.util.spec_from_file_location(
        "gpulens_incremental_parse_experiment",
        REPO / "bench" / "experiments" / "incremental_parse" / "sitecustomize.py",
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        reader._parse = original  # the experiment swaps it; keep this process unchanged
    texts = [
        generate(400),
        (REPO / "examples" / "classic_train.py").read_text(encoding="utf-8"),
        '@dec\ndef f():\n    pass\nx = """\ny = 1\n"""\nif a:\n    b\nelse:\n    c\n(\n1\n)\n',
        "try:\n    x\nexcept E:\n    y\nfinally:\n    z\nclass A:\n    pass\n",
    ]
    for text in texts:
        want = ast.dump(ast.parse(text), include_attributes=True)
        assert ast.dump(module.incremental_parse(text), include_attributes=True) == want
        # Twice: the second time every statement comes from the cache.
        assert ast.dump(module.incremental_parse(text), include_attributes=True) == want
