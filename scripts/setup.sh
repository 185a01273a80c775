#!/usr/bin/env bash
# README command 1: set everything up on a fresh machine and run the main job.
#   - .venv/ with gpulens installed (so .venv/bin/gpulens exists) and its dev tools
#   - the VS Code extension built into dist/gpulens-<version>.vsix (npm deps included)
#   - `gpulens analyze` on the bundled classic example (1,200 samples, batch 100, 5 epochs)
# Idempotent: a second run reuses what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.gpulens-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "==> installing gpulens and its dev tools into .venv"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[dev]'
    touch "$stamp"
fi

# Bytecode for the server's own modules: Python reads it even where it is told not to write any
# (PYTHONDONTWRITEBYTECODE), and compiling them on every language-server start costs ~0.2 s.
.venv/bin/python -m compileall -q server/gpulens

echo "==> building the VS Code extension"
bash scripts/build_vsix.sh

echo "==> gpulens analyze examples/classic_train.py"
.venv/bin/gpulens analyze examples/classic_train.py
