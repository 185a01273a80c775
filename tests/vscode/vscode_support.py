"""Helpers for the VS Code tests: the .vsix, the code-server install, and skip-or-fail rules.

The real-VS-Code test needs what scripts/setup_vscode_e2e.sh installs (code-server under
.cache/e2e, /usr/bin/chromium). Without it the test is skipped, unless GPULENS_REQUIRE_E2E=1
(CI sets it), in which case a missing piece fails the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
BUILD_VSIX = ROOT / "scripts" / "build_vsix.sh"
SETUP_E2E = ROOT / "scripts" / "setup_vscode_e2e.sh"
E2E_CACHE = ROOT / ".cache" / "e2e"
CODE_SERVER = Path(os.environ.get("GPULENS_CODE_SERVER", E2E_CACHE / "code-server.sh"))
CHROMIUM = Path(os.environ.get("GPULENS_CHROMIUM", "/usr/bin/chromium"))
EXAMPLE = ROOT / "examples" / "classic_train.py"

#: What goes into the .vsix; a .vsix older than any of these is rebuilt.
VSIX_SOURCES = [
    ROOT / "package.json",
    ROOT / "package-lock.json",
    ROOT / ".vscodeignore",
    ROOT / "scripts" / "build_vsix.sh",
    ROOT / "scripts" / "bundled_requirements.txt",
    ROOT / "client" / "src",
    ROOT / "server" / "gpulens",
]


def e2e_required() -> bool:
    return os.environ.get("GPULENS_REQUIRE_E2E", "") not in ("", "0")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with the reason, or fail with it when GPULENS_REQUIRE_E2E is set."""
    if e2e_required():
        pytest.fail(f"{reason} (GPULENS_REQUIRE_E2E is set)", pytrace=False)
    pytest.skip(reason)


def _newest_source_mtime() -> float:
    newest = 0.0
    for source in VSIX_SOURCES:
        if source.is_file():
            newest = max(newest, source.stat().st_mtime)
        elif source.is_dir():
            for path in source.rglob("*"):
                if path.is_file() and "__pycache__" not in path.parts:
                    newest = max(newest, path.stat().st_mtime)
    return newest


def find_vsix() -> Path | None:
    found = sorted(DIST.glob("gpulens-*.vsix"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def build_or_reuse_vsix() -> Path:
    """The newest dist/gpulens-*.vsix, rebuilt with scripts/build_vsix.sh when sources changed."""
    vsix = find_vsix()
    if vsix is not None and vsix.stat().st_mtime >= _newest_source_mtime():
        return vsix
    if shutil.which("npm") is None:
        if vsix is not None:
            return vsix
        skip_or_fail("no dist/gpulens-*.vsix and no npm to build one (scripts/build_vsix.sh)")
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(BUILD_VSIX)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"scripts/build_vsix.sh failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}",
            pytrace=False,
        )
    built = Path(result.stdout.strip().splitlines()[-1])
    print(f"built {built} in {time.monotonic() - started:.1f} s")
    return built


def plain_python() -> str:
    """A Python >= 3.10 for the server, preferably one WITHOUT pygls, so that the test proves
    the .vsix's bundled libraries are what make the server run."""
    candidates: list[str] = []
    for name in ("python3", "python3.12", "python3.11", "python3.10", "/usr/bin/python3"):
        found = shutil.which(name)
        if found:
            candidates.append(found)
    probe = (
        "import sys, importlib.util as u; "
        "print(sys.executable, sys.version_info >= (3, 10), u.find_spec('pygls') is None)"
    )
    fallback: str | None = None
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for candidate in candidates:
        try:
            out = subprocess.run(
                [candidate, "-c", probe],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
                env=clean_env,
            ).stdout.split()
        except (OSError, subprocess.SubprocessError):
            continue
        if len(out) != 3 or out[1] != "True":
            continue
        if out[2] == "True":
            return out[0]
        fallback = fallback or out[0]
    return fallback or sys.executable
