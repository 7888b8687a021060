#!/usr/bin/env bash
# Issue 13's benchmark: an adopted MinIO deployment (12 drives, one 8+4 set, new objects in
# MinIO's format: GF(2^8) Reed-Solomon, HighwayHash-256 frames) against this server's own
# format on the legacy engine (same 8+4, reed-solomon-simd and xxh3 frames), both serving
# xl.meta: PUT and GET of 4 KiB (c=32), 1 MiB and 16 MiB (c=4); then the migrator's rate
# moving N keys of the adopted deployment into the KV. The MinIO format.json comes from the
# e2e suite's independent writer (e2e/minio_deploy.py).
# Usage: scripts/bench_adopted.sh [keys for the migrator, default 100000] [seconds per run, default 6]
set -euo pipefail
cd "$(dirname "$0")/.."
keys=${1:-100000}
secs=${2:-6}
cargo build --release --bins -q
root=$(mktemp -d)
export RUSTFS_ACCESS_KEY=bench-access RUSTFS_SECRET_KEY=bench-secret-key
cat >"$root/config.yaml" <<CFG
migration:
  migration:
    enabled: false
  consistency_check:
    enabled: false
CFG
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$root"' EXIT
minio_drives() { # folder -> a MinIO deployment's format.json on 12 drives under it
  python3 - "$1" <<'PY'
import sys
sys.path.insert(0, "e2e")
import minio_deploy as md
md.Deployment(sys.argv[1], sets=1, per_set=12).write_formats()
PY
}
start() { # name [--drives ...] -> sets $ep
  local name=$1 port
  shift
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  target/release/rustfs server --address "127.0.0.1:$port" --data "$root/$name" --metadata-engine legacy \
    --config "$root/config.yaml" "$@" >"$root/$name.log" 2>&1 &
  pids+=($!)
  ep="http://127.0.0.1:$port"
  for _ in $(seq 100); do curl -sf "$ep/health/ready" >/dev/null && return; sleep 0.1; done
  echo "server did not start"; cat "$root/$name.log"; exit 1
}
bench() { target/release/rustfs-admin --endpoint "$ep" bench "$@"; }
admin() { target/release/rustfs-admin --endpoint "$ep" "$@"; }
load() { # label
  local size c
  for size in 4KiB 1MiB 16MiB; do
    c=4
    [ "$size" = 4KiB ] && c=32
    echo "== $1: $size PUT, c=$c"
    bench --op put --size "$size" -c "$c" --duration "$secs" --bucket "p${size,,}"
    echo "== $1: $size GET, c=$c"
    bench --op get --size "$size" -c "$c" --duration "$secs" --bucket "g${size,,}" --objects 200
  done
}

minio_drives "$root/minio"
start adopted --drives "$root/minio/d{1...12}"
admin info | grep -A1 adopted
load "adopted (MinIO format)"
start ours
load "legacy engine, this server's format"

minio_drives "$root/minio-migrate"
start migrate --drives "$root/minio-migrate/d{1...12}"
echo "== adopted: writing $keys keys (c=32, MinIO format)"
t0=$(date +%s)
bench --op list --objects "$keys" -c 1 --count 0 --bucket list >/dev/null
echo "written in $(( $(date +%s) - t0 )) s"
admin migration phase fullout
echo "== migrator on the adopted deployment (default concurrency, unthrottled)"
admin migration start --wait
admin --json migration status | python3 -c '
import json, sys
m = json.load(sys.stdin)["migrator"]
c = m["checkpoint"]
secs = (c["updated_ns"] - c["started_ns"]) / 1e9
print("migrator: %d keys scanned, %d copied, %.1f s from pass start (incl. counting), %.0f keys/s while copying" % (c["scanned"], c["copied"], secs, m["rate"]))'
