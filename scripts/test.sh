#!/usr/bin/env bash
# The project's test command: unit and integration tests (cargo nextest), then the
# end-to-end suite (pytest) against the release binaries with aws-cli, boto3 and the
# Rust aws-sdk-s3, and the observability assets (promtool, Grafana schema, a real
# Prometheus and OTLP receivers); formatting and clippy (workspace lints: no unwrap/expect
# outside tests, no unsafe) must pass first, and every fuzz target runs clean for 30 s
# (nightly toolchain + cargo-fuzz). Needs: Rust, cargo-nextest, Python 3 with pytest, boto3,
# awscli, opentelemetry-proto, grpcio, kubernetes-validate, msgpack, xxhash; Prometheus (promtool); Node.js
# with npm; kubectl (its kustomize), shellcheck and bats (deploy/k8s, the migration scripts).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --release --bins
cargo nextest run --workspace --no-fail-fast
# Fuzz targets (xl.meta, aws-chunked framing, ranges, KV records, admin queries), 30 s each.
scripts/fuzz.sh "${FUZZ_SECS:-30}"
scripts/test_observability.sh
# ShellCheck over every script and the bats tests of the staged migration script.
scripts/test_deploy.sh
python3 -m pytest e2e -q -p no:cacheprovider --timeout 900 "$@"
# The same S3 suite against the legacy metadata engine (MinIO-format xl.meta on the drives).
RUSTFS_METADATA_ENGINE=legacy python3 -m pytest e2e -q -p no:cacheprovider --timeout 900 \
  --deselect e2e/test_xlmeta_cli.py --deselect e2e/test_migration.py --deselect e2e/test_migration_ops.py \
  --deselect e2e/test_observability.py --deselect e2e/test_hardening.py --deselect e2e/test_lifecycle.py \
  --deselect e2e/test_cluster_metadata.py --deselect e2e/test_cluster_ops.py --deselect e2e/test_cluster_data.py --deselect e2e/test_cluster_migration.py \
  --deselect e2e/test_k8s_manifests.py --deselect e2e/test_k8s_pods.py --deselect e2e/test_minio_format.py --deselect e2e/test_minio_adopt_pools.py "$@"
