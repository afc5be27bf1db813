#!/usr/bin/env bash
# Cold start of release-built function binaries: process start to the first Runtime API
# /next poll, and to the first response; peak RSS. The health function beside a bare
# lambda_runtime echo (fixture-echo). Median of N runs (default 25).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-25}"
cargo run --quiet --release -p local -- cold-start --runs "$runs" \
  --binary health=events/health.json \
  --binary not-found=events/not-found.json \
  --binary fixture-echo=events/health.json
