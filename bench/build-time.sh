#!/usr/bin/env bash
# Release build time of the whole workspace: cold (empty target dir), then after a one-line
# change in shared/. Uses its own target dir so it never disturbs the development build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target="${BENCH_TARGET_DIR:-$(mktemp -d /tmp/storefront-build-bench.XXXXXX)}"
export CARGO_TARGET_DIR="$target"
cargo fetch --quiet

start=$(date +%s)
cargo build --release --workspace --quiet
cold=$(( $(date +%s) - start ))

file=shared/src/lib.rs
cp "$file" "$file.bench-backup"
trap 'mv "$file.bench-backup" "$file"' EXIT
echo "// build-time benchmark: one-line change $(date +%s%N)" >> "$file"
start=$(date +%s)
cargo build --release --workspace --quiet
incremental=$(( $(date +%s) - start ))

echo "release build, whole workspace ($(nproc) cores): cold ${cold} s, after a one-line change in shared/ ${incremental} s"
echo "(target dir: $target; remove it when done)"
