from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vscode_support import build_or_reuse_vsix


@pytest.fixture(scope="session")
def vsix() -> Path:
    """dist/gpulens-<version>.vsix, built (or rebuilt when stale) with scripts/build_vsix.sh."""
    return build_or_reuse_vsix()
