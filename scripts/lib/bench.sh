# shellcheck shell=bash
# What the server benchmarks against local release servers share (bench_migration.sh,
# bench_adopted.sh): a release build, a temporary folder removed on exit with every server
# started, benchmark credentials and a config without the background migration jobs, a
# server started on a free 127.0.0.1 port, and the rustfs-admin calls against it.
# Sourced after `cd` to the repository, never run.

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
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$root"' EXIT

start() { # name [server arguments...] -> sets $ep (https when $BENCH_CA names the CA to trust)
  local name=$1 port scheme=http curl_ca=()
  shift
  if [ -n "${BENCH_CA:-}" ]; then scheme=https curl_ca=(--cacert "$BENCH_CA"); fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  target/release/rustfs server --address "127.0.0.1:$port" --data "$root/$name" \
    --config "$root/config.yaml" "$@" >"$root/$name.log" 2>&1 &
  pids+=($!)
  ep="$scheme://127.0.0.1:$port"
  for _ in $(seq 100); do curl -sf "${curl_ca[@]}" "$ep/health/ready" >/dev/null && return; sleep 0.1; done
  echo "server did not start"; cat "$root/$name.log"; exit 1
}
bench() { target/release/rustfs-admin --endpoint "$ep" bench "$@"; }
admin() { target/release/rustfs-admin --endpoint "$ep" "$@"; }

fill() { # keys bucket -> writes that many keys through the list benchmark's fill
  local t0
  t0=$(date +%s)
  bench --op list --objects "$1" -c 1 --count 0 --bucket "$2" >/dev/null
  echo "written in $(( $(date +%s) - t0 )) s"
}

migrate() { # runs the migrator's pass (phase fullout first) and prints its rate
  admin migration phase fullout
  echo "== migrator (default concurrency, unthrottled)"
  admin migration start --wait
  admin --json migration status | python3 -c '
import json, sys
m = json.load(sys.stdin)["migrator"]
c = m["checkpoint"]
secs = (c["updated_ns"] - c["started_ns"]) / 1e9
print("migrator: %d keys scanned, %d copied, %.1f s from pass start (incl. counting), %.0f keys/s while copying" % (c["scanned"], c["copied"], secs, m["rate"]))'
}
