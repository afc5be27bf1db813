#!/usr/bin/env bash
# Login latency through the local stack (p50/p90/p99 of LOGINS sequential logins, default 200)
# and the authorizer binary's cold start, reading its public keys (JWKS) from the stack's Secrets
# Manager (COLD_STARTS runs, default 25). Release build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo bench --quiet -p identity --bench auth
