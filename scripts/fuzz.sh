#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 30 s each) from its committed
# corpus (fuzz/corpus/<target>, read only; new inputs go to a temporary folder). A crash,
# a failed assertion or a leak fails the run; its input is left in fuzz/artifacts/<target>/
# to be added to the corpus once fixed. Needs the nightly toolchain and cargo-fuzz.
# Usage: scripts/fuzz.sh [seconds per target] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(xlmeta_decode aws_chunked ranges kv_records admin_query)
cargo +nightly fuzz build -O
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  echo "fuzz: $t for ${secs}s"
  if ! cargo +nightly fuzz run -O "$t" "$work" "fuzz/corpus/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$work.log" 2>&1; then
    tail -40 "$work.log"
    echo "fuzz: $t FAILED (input in fuzz/artifacts/$t/)"
    exit 1
  fi
  grep -E "stat::number_of_executed_units|Done" "$work.log" | tail -1
  rm -rf "$work" "$work.log"
done
