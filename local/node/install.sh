#!/usr/bin/env bash
# Installs the pinned Node tools (package-lock.json) into local/node/node_modules, once.
#
#   local/node/install.sh       prints the directory of the installed binaries
#
# Safe to run concurrently (one installer at a time) and cheap when node_modules was already
# installed from the same lock file.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lock="$here/package-lock.json"
stamp="$here/node_modules/.installed"

command -v npm >/dev/null || { echo "install.sh: npm is not installed" >&2; exit 2; }

exec 9>"$here/.install.lock"
flock 9

want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing the pinned Node tools into $here/node_modules (first run only)..." >&2
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" > "$stamp"
fi
echo "$here/node_modules/.bin"
