#!/usr/bin/env bash
# Local Step Functions: transitions per second through a chain of Pass states, and the
# overhead per Lambda task beyond the function's own time. Release builds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo run --quiet --release -p local-states --example pass_chain
cargo run --quiet --release -p local --example sfn_task_overhead
