#!/usr/bin/env bash
# Checkout through the local stack: latency from POST /v1/orders to the saga's end (p50/p90/p99),
# orders per second, AWS calls and Lambda invocations per checkout, and the cost of 1,000 orders
# (ORDERS, default 300; CONCURRENCY, default 20; PRODUCTS and CUSTOMERS, default 20). Release build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo bench --quiet -p orders --bench checkout
