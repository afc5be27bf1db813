#!/usr/bin/env bash
# The notification consumer through the local stack: events per second (EVENTS, default 1000,
# straight to its queue, USERS default 50) and the delay from an order's confirmation to its
# email recorded as sent (ORDERS real checkouts, default 100, CONCURRENCY default 10): p50/p90/p99.
# Release build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo bench --quiet -p notifications --bench notifications
