#!/usr/bin/env bash
# Installs a pinned Python environment for the local stack's tools, once.
#
#   local/python/install.sh <name>     reads local/python/<name>.txt, installs into .local/<name>
#
# Safe to run concurrently (one installer at a time per environment) and cheap when the
# environment is already installed from the same requirements file.
set -euo pipefail

name="${1:?usage: install.sh <name>}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
requirements="$here/$name.txt"
prefix="${LOCAL_TOOLS_DIR:-$root/.local}"
venv="$prefix/$name"
python="${PYTHON:-python3}"

[ -f "$requirements" ] || { echo "install.sh: no requirements file $requirements" >&2; exit 2; }
mkdir -p "$prefix"

exec 9>"$prefix/.$name.lock"
flock 9

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "$want" ]; then
  exit 0
fi

echo "Installing the pinned Python environment '$name' into $venv (first run only)..." >&2
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
echo "$want" > "$venv/.installed"
echo "Installed '$name'." >&2
