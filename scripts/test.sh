#!/usr/bin/env bash
# README command 2: run every test (setting up first if needed).
#   static checks (ruff, mypy, eslint, prettier), then pytest: reader unit tests, golden hints
#   and hovers, the server over stdio (pytest-lsp), headless Neovim, and real VS Code
#   (code-server + headless Chromium). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/setup_vscode_e2e.sh
# The catalog and activation tests compare with torch itself (CPU build; the server never
# imports it). 2.13.0 is the CPU wheel this machine kind keeps on disk: no multi-GB download.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    echo "==> installing CPU torch for the tests"
    .venv/bin/python -m pip install --quiet torch==2.13.0
fi

echo "==> static checks"
.venv/bin/ruff check .
.venv/bin/ruff format --check server tests bench
.venv/bin/mypy
npm run --silent lint
npm run --silent format:check

echo "==> tests"
# Under CI a missing editor for the end-to-end tests is a failure, not a skip.
if [ "${CI:-}" = "true" ]; then
    export GPULENS_REQUIRE_E2E=1
fi
.venv/bin/python -m pytest "$@"
