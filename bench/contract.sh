#!/usr/bin/env bash
# Contract fuzzing at depth: the contract test (functions/platform/tests/contract.rs) with
# CONTRACT_MAX_EXAMPLES cases per operation and phase (default 100: over 5,000 cases in all),
# as a customer and as an admin, through the local stack. Prints the cases run and their outcome.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CONTRACT_MAX_EXAMPLES="${CONTRACT_MAX_EXAMPLES:-100}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
start=$(date +%s)
status=0
cargo test --quiet -p platform --test contract -- --nocapture generated_requests >"$log" 2>&1 || status=$?
elapsed=$(( $(date +%s) - start ))
echo "| caller | operations | cases generated | outcome |"
echo "|---|---|---|---|"
python3 - "$log" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
for who, block in re.findall(r"--- Schemathesis as (\w+) ---\n(.*?)(?=--- Schemathesis as |\Z)", text, re.S):
    ops = re.search(r"Tested: (\d+)", block)
    cases = re.search(r"Test cases:\n\s+(.*)", block)
    print(f"| {who} | {ops.group(1) if ops else '?'} | {cases.group(1).strip() if cases else '?'} | "
          f"{'no failures' if 'failed' not in (cases.group(1) if cases else 'failed') else 'FAILURES'} |")
PY
echo
echo "max examples per operation and phase: $CONTRACT_MAX_EXAMPLES; wall time ${elapsed}s (with the stack's start)"
if [ "$status" -ne 0 ]; then
  echo "the run failed; its output:" >&2
  tail -80 "$log" >&2
  exit "$status"
fi
