#!/usr/bin/env bash
# Deployment package of each function, built as `sam build` builds it (cargo-lambda, release
# profile): the zipped and the unzipped size of every function's bootstrap, the time of the build,
# and the cold start of two of the packaged binaries (`health`, no AWS SDK; `register`, which
# loads the SDK configuration and a DynamoDB client, answering a malformed request that needs no
# call), so a smaller package is never a slower one. Builds for arm64 when that Rust target is
# installed, else for x86_64 (the size differs little between the two).
#
#   bench/zip-size.sh            COLD_STARTS=25 by default; COLD_STARTS=0 skips them
#   CARGO_TARGET_DIR=/tmp/empty bench/zip-size.sh    a cold build
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="$(pwd)/.local/lambda-build"
local/python/install.sh lambda-build
export PATH="$venv/bin:$PATH"
if rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu; then
  arch_flag=(--arm64); arch=arm64; triple=aarch64-unknown-linux-gnu
else
  arch_flag=(--x86-64); arch=x86_64; triple=x86_64-unknown-linux-gnu
fi
out="$(mktemp -d /tmp/storefront-zips.XXXXXX)"
trap 'rm -rf "$out"' EXIT
binaries=$(grep -A3 'BuildProperties:' template.yaml | sed -n 's/^ *Binary: *//p' | sort -u)
args=()
for b in $binaries; do args+=(--bin "$b"); done
started=$(date +%s)
cargo lambda build --release "${arch_flag[@]}" --output-format zip --lambda-dir "$out" "${args[@]}" >&2
built=$(( $(date +%s) - started ))

printf '%-30s %10s %12s  (%s)\n' function "zip bytes" "bootstrap" "$arch"
for b in $binaries; do
  zip_bytes=$(stat -c %s "$out/$b/bootstrap.zip")
  raw_bytes=$(unzip -p "$out/$b/bootstrap.zip" bootstrap | wc -c)
  printf '%-30s %10s %12s\n' "$b" "$zip_bytes" "$raw_bytes"
done | tee "$out/sizes" | sort -k2 -n -r
python3 - "$out/sizes" "$built" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
zips = sorted(int(r[1]) for r in rows)
mb = lambda b: f"{b / 1e6:.2f} MB"
print(f"\n{len(rows)} functions: zip min {mb(zips[0])}, median {mb(statistics.median(zips))}, "
      f"max {mb(zips[-1])} (goal 4 MB: {sum(z > 4e6 for z in zips)} over); "
      f"the build took {int(sys.argv[2])} s")
PY

runs="${COLD_STARTS:-25}"
if [ "$runs" -gt 0 ]; then
  echo >&2 "cold starts of the packaged binaries..."
  cargo run --quiet -p local -- cold-start --runs "$runs" \
    --dir "${CARGO_TARGET_DIR:-target}/$triple/release" \
    --env TABLE_NAME=Identity \
    --binary health=events/health.json \
    --binary register=bench/events/register-invalid.json
fi
