#!/usr/bin/env bash
# A newcomer's first run, each on a fresh clone of this repository with an empty target dir:
#   1. README command 1 (`cargo run -p local -- up --seed`): seconds to the first answered request,
#      and to the end of seeding;
#   2. a one-line change in shared/, then `up` again: seconds to the first answered request;
#   3. `.ci/run` (fmt, clippy, the README's test command) on another fresh clone: seconds.
# The package registry cache (~/.cargo) is shared with the machine, so downloads are not counted;
# the pinned Python and Node tools are installed into each clone, so they are.
# Usage: bench/first-run.sh [up|ci|all]   (default all; LOCAL_EMULATOR=moto runs the stack on moto)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
what="${1:-all}"
work="$(mktemp -d /tmp/storefront-first-run.XXXXXX)"
port="${PORT:-3900}"
echo "(work dir: $work; its logs stay, its clones and target dirs are removed at the end)" >&2
# A cold target dir takes several GB: keep only the logs once the figures are printed.
trap 'rm -rf "$work/up" "$work/ci" "$work/up-target" "$work/ci-target"' EXIT

# Starts `cargo run -p local -- up $*` in the clone, waits for the first answered request and the
# end of seeding (when seeding), prints both times, and stops the stack.
up_until_answered() {
  local log="$1"; shift
  local start; start=$(date +%s.%N)
  cargo run -q -p local -- up --port "$port" "$@" > "$log" 2>&1 &
  local pid=$!
  local answered=""
  while kill -0 "$pid" 2>/dev/null; do
    if [ -z "$answered" ] && curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null 2>&1; then
      answered=$(echo "$(date +%s.%N) - $start" | bc)
      echo "  first answered request: ${answered} s" >&2
      if [ "$*" != "--seed" ]; then break; fi
    fi
    if [ -n "$answered" ] && grep -q "^Seeded" "$log"; then
      echo "  seeded: $(echo "$(date +%s.%N) - $start" | bc) s" >&2
      break
    fi
    sleep 0.5
  done
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -n "$answered" ] || { echo "the stack never answered; see $log" >&2; tail -20 "$log" >&2; exit 1; }
  printf '%s' "$answered"
}

if [ "$what" = up ] || [ "$what" = all ]; then
  git clone -q "$root" "$work/up"
  cd "$work/up"
  export CARGO_TARGET_DIR="$work/up-target"
  echo "1. README command 1 on a fresh clone:" >&2
  first=$(up_until_answered "$work/up.log" --seed)
  echo "// first-run benchmark: one-line change" >> shared/src/lib.rs
  echo "2. after a one-line change in shared/:" >&2
  again=$(up_until_answered "$work/up-again.log")
  git checkout -q shared/src/lib.rs
  echo "command 1 to the first answered request: ${first} s; after a one-line change in shared/: ${again} s"
fi

if [ "$what" = ci ] || [ "$what" = all ]; then
  git clone -q "$root" "$work/ci"
  cd "$work/ci"
  export CARGO_TARGET_DIR="$work/ci-target"
  echo "3. .ci/run on a fresh clone (log: $work/ci.log):" >&2
  start=$(date +%s)
  if CI=true bash .ci/run < /dev/null > "$work/ci.log" 2>&1; then status=passed; else status=FAILED; fi
  echo ".ci/run: $(( $(date +%s) - start )) s ($status); $(grep -E '^test result' "$work/ci.log" | awk '{p+=$4; f+=$6; i+=$8} END {print p " passed, " f " failed, " i " ignored"}')"
fi
