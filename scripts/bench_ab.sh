#!/usr/bin/env bash
# This build's server against another build's on the same load (issue 16): each fills its
# own bucket of `objects` objects of `size` (KV engine, 10 folders, c=32), then the two are
# alternated for `rounds` rounds, each started on its own data: GET (c=32, 5 s warm-up then
# `secs` s) and one LIST page of 1,000 keys (c=1, `secs` s). The client is this build's
# rustfs-admin for both. Prints each run, then the fill and the medians as ratios (this
# build over the other).
# Usage: scripts/bench_ab.sh OTHER_RUSTFS_BINARY [objects, default 2000000] [size, default 1KiB] [secs, default 10] [rounds, default 2]
# The other build, e.g.: git worktree add /tmp/base f8e6b6f && (cd /tmp/base && cargo build --release --bin rustfs)
set -euo pipefail
cd "$(dirname "$0")/.."
other=$(realpath "${1:?the rustfs binary of the other build}")
objects=${2:-2000000}
size=${3:-1KiB}
secs=${4:-10}
rounds=${5:-2}
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh
this=$(realpath target/release/rustfs)

serve() { # binary name -> starts it on $root/name, sets $ep and $pid
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$1" server --address "127.0.0.1:$port" --data "$root/$2" --config "$root/config.yaml" >>"$root/$2.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  ep="http://127.0.0.1:$port"
  for _ in $(seq 300); do curl -sf "$ep/health/ready" >/dev/null && return; sleep 0.1; done
  echo "server did not start"; cat "$root/$2.log"; exit 1
}
halt() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
b=(--bucket abtest --folders 10 --objects "$objects")
results="$root/results"
: >"$results"
for side in other this; do
  bin=$other
  [ "$side" = this ] && bin=$this
  serve "$bin" "$side"
  put=$(bench --json --op fill --size "$size" -c 32 --bucket abtest --folders 10 --start 0 --objects "$objects" | json ops_per_sec)
  echo "$side fill $put" | tee -a "$results"
  halt
done
for r in $(seq "$rounds"); do
  for side in other this; do
    bin=$other
    [ "$side" = this ] && bin=$this
    serve "$bin" "$side"
    bench --op get --no-fill --size "$size" -c 32 --duration 5 "${b[@]}" >/dev/null
    get=$(bench --json --op get --no-fill --size "$size" -c 32 --duration "$secs" "${b[@]}" | json ops_per_sec)
    list=$(bench --json --op list-page --no-fill -c 1 --duration "$secs" "${b[@]}" | json p50_ms)
    echo "$side get $get" | tee -a "$results"
    echo "$side list_p50_ms $list" | tee -a "$results"
    halt
  done
  echo "round $r done"
done
python3 - "$results" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    side, what, value = line.split()
    runs.setdefault((side, what), []).append(float(value))
for what, unit in (("fill", "PUT/s"), ("get", "GET/s"), ("list_p50_ms", "ms, LIST page p50")):
    o, t = statistics.median(runs[("other", what)]), statistics.median(runs[("this", what)])
    print(f"{what}: other {o:,.2f}, this {t:,.2f} {unit}: {t / o:.2f}x")
PY
