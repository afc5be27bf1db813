#!/usr/bin/env bash
# List and search latency through the local stack with the demo catalog (p50/p99 and DynamoDB
# calls per request, REQUESTS of each, default 200), and the delay from a product change to the
# cart's copy of it (CHANGES price changes, default 50). Release build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo bench --quiet -p catalog --bench listing
