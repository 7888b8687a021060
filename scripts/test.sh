#!/usr/bin/env bash
# The project's test command: unit and integration tests (cargo nextest), then the
# end-to-end suite (pytest) against the release binaries with aws-cli, boto3 and the
# Rust aws-sdk-s3. Needs: Rust, cargo-nextest, Python 3 with pytest, boto3, awscli.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
cargo build --release --bins
cargo nextest run --workspace --no-fail-fast
python3 -m pytest e2e -q -p no:cacheprovider --timeout 900 "$@"
