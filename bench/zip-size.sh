#!/usr/bin/env bash
# Deployment package size of each function, built as `sam build` builds it: cargo-lambda,
# release profile, zipped bootstrap. Builds for arm64 when that Rust target is installed,
# else for x86_64 (the size differs little between the two).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="$(pwd)/.local/lambda-build"
local/python/install.sh lambda-build
export PATH="$venv/bin:$PATH"
if rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu; then
  arch_flag=(--arm64); arch=arm64
else
  arch_flag=(--x86-64); arch=x86_64
fi
out="$(mktemp -d /tmp/storefront-zips.XXXXXX)"
binaries=$(grep -A3 'BuildProperties:' template.yaml | sed -n 's/^ *Binary: *//p' | sort -u)
args=()
for b in $binaries; do args+=(--bin "$b"); done
cargo lambda build --release "${arch_flag[@]}" --output-format zip --lambda-dir "$out" "${args[@]}" >&2
printf '%-24s %10s  (%s)\n' function "zip bytes" "$arch"
for b in $binaries; do
  size=$(stat -c %s "$out/$b/bootstrap.zip")
  printf '%-24s %10s  %s MB\n' "$b" "$size" "$(python3 -c "print(round($size/1e6, 2))")"
done
