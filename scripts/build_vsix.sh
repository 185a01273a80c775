#!/usr/bin/env bash
# Builds the VS Code extension package: dist/gpulens-<version>.vsix.
#   1. npm dependencies (npm ci, skipped when node_modules matches package-lock.json),
#   2. the client: type check + esbuild bundle into client/out/extension.js,
#   3. the server: pure-Python deps (scripts/bundled_requirements.txt) + the gpulens package
#      into bundled/libs, which the client puts first on the server's PYTHONPATH (never torch),
#   4. vsce package --no-dependencies.
# Idempotent; prints the .vsix path on its last line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$(date +%s)
log() { printf '[build_vsix] %s\n' "$*" >&2; }

# 1. npm dependencies.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# 2. Client.
log "compiling the client"
npm run --silent compile >&2

# 3. Server and its pure-Python dependencies.
PY="${GPULENS_BUILD_PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY="python3"; fi
fi
LIBS="$ROOT/bundled/libs"
REQS="$ROOT/scripts/bundled_requirements.txt"
# The stamp lives outside bundled/ so that it does not end up in the .vsix.
STAMP="$ROOT/.cache/build_vsix/bundled-$(sha256sum "$REQS" | cut -c1-16).stamp"
if [ ! -f "$STAMP" ] || [ ! -d "$LIBS/pygls" ]; then
  log "installing server dependencies into bundled/libs with $PY"
  rm -rf "$ROOT/bundled"
  mkdir -p "$LIBS"
  "$PY" -m pip install --quiet --disable-pip-version-check --no-compile --no-deps \
    --only-binary=:all: --target "$LIBS" -r "$REQS" >&2
  rm -rf "$LIBS/bin"
  mkdir -p "$(dirname "$STAMP")" && rm -f "$(dirname "$STAMP")"/bundled-*.stamp
  touch "$STAMP"
fi
log "copying server/gpulens into bundled/libs/gpulens"
rm -rf "$LIBS/gpulens"
cp -r "$ROOT/server/gpulens" "$LIBS/gpulens"
find "$LIBS" -name __pycache__ -type d -prune -exec rm -rf {} +
find "$LIBS" -name '*.pyc' -delete
if find "$LIBS" -maxdepth 1 -iname 'torch*' | grep -q .; then
  log "error: torch ended up in bundled/libs"
  exit 1
fi

# 4. Package, from a staging folder that holds only what ships: vsce lists every file under
#    its working folder before it filters, which takes long with .venv/, node_modules/, .cache/.
VERSION="$(node -p "require('./package.json').version")"
OUT="$ROOT/dist/gpulens-$VERSION.vsix"
STAGE="$ROOT/.cache/build_vsix/stage"
rm -rf "$STAGE"
mkdir -p "$STAGE/client/out" "$ROOT/dist"
cp -r "$ROOT/bundled" "$STAGE/bundled"
cp "$ROOT/client/out/extension.js" "$STAGE/client/out/"
cp "$ROOT/LICENSE" "$ROOT/.vscodeignore" "$STAGE/"
for doc in README.md CHANGELOG.md; do
  if [ -f "$ROOT/$doc" ]; then cp "$ROOT/$doc" "$STAGE/"; fi
done
# The staged manifest has no scripts: the client is compiled already (step 2).
node -e '
  const fs = require("fs");
  const m = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  delete m.scripts; delete m.devDependencies;
  fs.writeFileSync(process.argv[2], JSON.stringify(m, null, 2) + "\n");
' "$ROOT/package.json" "$STAGE/package.json"
rm -f "$OUT"
log "packaging $OUT"
(cd "$STAGE" && "$ROOT/node_modules/.bin/vsce" package --no-dependencies --out "$OUT" >&2)
log "done in $(( $(date +%s) - start )) s, $(du -h "$OUT" | cut -f1)"
echo "$OUT"
