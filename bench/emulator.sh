#!/usr/bin/env bash
# The two AWS API emulators side by side, MiniStack (the default) and moto: the install of each
# pinned environment from the package registry (no pip cache), then start time, memory and the
# rates of the DynamoDB, SQS and SNS calls the functions make (local/examples/emulator.rs).
#   EMULATORS=ministack,moto  CONCURRENCY=16  bash bench/emulator.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
emulators="${EMULATORS:-ministack,moto}"

tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
echo "| emulator | install (fresh environment, no pip cache) | environment size |"
echo "|---|---:|---:|"
for kind in ${emulators//,/ }; do
  start=$(date +%s%N)
  LOCAL_TOOLS_DIR="$tools" PIP_NO_CACHE_DIR=1 bash local/python/install.sh "$kind" 2>/dev/null
  end=$(date +%s%N)
  size="$(du -sm "$tools/$kind" | cut -f1)"
  echo "| $kind | $(( (end - start) / 1000000 )) ms | $size MiB |"
done
echo

EMULATORS="$emulators" cargo run --quiet --release -p local --example emulator
