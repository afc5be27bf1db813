#!/usr/bin/env bash
# Time per argon2id hash at the functions' cost (release build). Override the cost like the
# functions do: ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM; HASHES sets the sample.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo bench --quiet -p identity --bench password
