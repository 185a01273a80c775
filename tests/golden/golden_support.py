"""Comparing rendered text with a golden file, or regenerating it on request."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: `GPULENS_UPDATE_GOLDEN=1 pytest tests/golden` rewrites the golden files.
UPDATE = os.environ.get("GPULENS_UPDATE_GOLDEN", "") not in ("", "0")


def check_golden(expected_file: Path, actual: str, what: str) -> None:
    """Fail with a unified diff when ``actual`` differs from ``expected_file``."""
    if UPDATE:
        expected_file.parent.mkdir(parents=True, exist_ok=True)
        expected_file.write_text(actual, encoding="utf-8")
        return
    if not expected_file.exists():
        pytest.fail(
            f"{expected_file.relative_to(REPO)} is missing; create it with "
            "GPULENS_UPDATE_GOLDEN=1 pytest tests/golden"
        )
    expected = expected_file.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=str(expected_file.relative_to(REPO)),
                tofile="actual",
            )
        )
        pytest.fail(
            f"{what} differ from the golden file (if intended, regenerate with "
            "GPULENS_UPDATE_GOLDEN=1 pytest tests/golden):\n" + diff
        )
