#!/usr/bin/env bash
# The legacy-vs-KV benchmark of issue 3: the same `rustfs-admin bench` load against a legacy
# (xl.meta) server and a KV server (4 KiB PUT and HEAD at c=32), listings of N keys (flat,
# with a delimiter at the top, and inside one folder) on the legacy track, the migrator's
# rate copying those N keys into the KV (default concurrency, unthrottled), and the same
# listings answered by the KV afterwards (phase kv_primary, same data).
# Usage: scripts/bench_migration.sh [keys, default 100000] [seconds per run, default 6]
set -euo pipefail
cd "$(dirname "$0")/.."
keys=${1:-100000}
secs=${2:-6}
cargo build --release --bins -q
root=$(mktemp -d)
export RUSTFS_ACCESS_KEY=bench-access RUSTFS_SECRET_KEY=bench-secret-key
cat >"$root/config.yaml" <<EOF
migration:
  migration:
    enabled: false
  consistency_check:
    enabled: false
EOF
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$root"' EXIT
start() { # name engine -> sets $ep
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  target/release/rustfs server --address "127.0.0.1:$port" --data "$root/$1" --metadata-engine "$2" \
    --config "$root/config.yaml" >"$root/$1.log" 2>&1 &
  pids+=($!)
  ep="http://127.0.0.1:$port"
  for _ in $(seq 100); do curl -sf "$ep/health/ready" >/dev/null && return; sleep 0.1; done
  echo "server did not start"; cat "$root/$1.log"; exit 1
}
bench() { target/release/rustfs-admin --endpoint "$ep" bench "$@"; }
admin() { target/release/rustfs-admin --endpoint "$ep" "$@"; }
lists() { # label
  echo "== $1: listing $keys keys"
  bench --op list --objects "$keys" --no-fill -c 1 --count 1 --bucket list
  bench --op list --objects "$keys" --no-fill -c 1 --count 3 --bucket list --prefix bench/ --delimiter /
  bench --op list --objects "$keys" --no-fill -c 1 --count 3 --bucket list --prefix bench/d07/ --delimiter /
}

for engine in kv legacy; do
  start "$engine-ops" "$engine"
  echo "== $engine: 4 KiB PUT and HEAD, c=32"
  bench --op put --size 4KiB -c 32 --duration "$secs" --bucket small
  bench --op head --size 4KiB -c 32 --duration "$secs" --bucket small --objects 2000
done

start migrate legacy
echo "== legacy: writing $keys keys (c=32)"
t0=$(date +%s)
bench --op list --objects "$keys" -c 1 --count 0 --bucket list >/dev/null
echo "written in $(( $(date +%s) - t0 )) s"
lists "legacy (xl.meta)"
admin migration phase fullout
echo "== migrator (default concurrency, unthrottled)"
admin migration start --wait
admin --json migration status | python3 -c '
import json, sys
m = json.load(sys.stdin)["migrator"]
c = m["checkpoint"]
secs = (c["updated_ns"] - c["started_ns"]) / 1e9
print("migrator: %d keys scanned, %d copied, %.1f s from pass start (incl. counting), %.0f keys/s while copying" % (c["scanned"], c["copied"], secs, m["rate"]))'
admin migration phase kv_primary
lists "KV (phase kv_primary, same data)"
