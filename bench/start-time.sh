#!/usr/bin/env bash
# Local stack start time: from running `local up` to the first answered GET /v1/health,
# with the binaries already built. Prints each run and the median.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-5}"

cargo build --quiet -p local -p platform >&2
target_dir="$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
local_bin="$target_dir/debug/local"
local/python/install.sh "${LOCAL_EMULATOR:-ministack}"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
results=()
for i in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  "$local_bin" up --port "$port" >/dev/null 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "local up exited early" >&2; exit 1; fi
    sleep 0.02
  done
  end=$(date +%s%N)
  kill -INT "$pid"; wait "$pid" || true
  ms=$(( (end - start) / 1000000 ))
  results+=("$ms")
  echo "run $i: ${ms} ms" >&2
done
printf '%s\n' "${results[@]}" | sort -n | python3 -c '
import sys
values = [int(line) for line in sys.stdin]
values.sort()
median = values[len(values) // 2]
print(f"local stack start to first answered request: median {median} ms, min {values[0]} ms, max {values[-1]} ms over {len(values)} runs")
'
