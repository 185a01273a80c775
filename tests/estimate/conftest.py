"""tests/estimate compare the catalog with torch itself: under CI a missing torch is an error.

Locally the torch-based modules skip (pytest.importorskip) so the rest of the suite still runs;
``scripts/setup.sh`` is expected to install CPU torch into .venv.
"""

from __future__ import annotations

import importlib.util
import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") == "true" and importlib.util.find_spec("torch") is None:
        raise pytest.UsageError(
            "tests/estimate need torch to compare the layer catalog with it: install CPU torch "
            "into .venv (.venv/bin/pip install torch==2.13.0); under CI they must not skip"
        )
