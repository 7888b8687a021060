#!/usr/bin/env bash
# Scale on one node (issue 16): one bucket filled to `total` objects (KV engine, `size`
# objects, keys spread over 100 folders) by `rustfs-admin bench --op fill`; at each
# checkpoint the fill's PUT rate, a GET rate over every key written, the latency of one
# LIST page of 1,000 keys (flat, and inside a folder with a delimiter), the server's RSS and
# the KV's bytes on disk per object; at the end the restart time. Prints one table row per
# checkpoint and the ratios of the last row to the first.
# Usage: scripts/bench_scale.sh [total, default 10000000] [size, default 2KiB] [seconds per measurement, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-10000000}
size=${2:-2KiB}
secs=${3:-5}
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh

checkpoints=()
for n in 10000 100000 1000000 2000000 5000000 10000000 20000000 50000000; do
  [ "$n" -lt "$total" ] && checkpoints+=("$n")
done
checkpoints+=("$total")

start scale
pid=${pids[-1]}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
rows="$root/rows"
: >"$rows"
printf '%10s %10s %10s %12s %12s %9s %12s\n' objects "PUT/s" "GET/s" "LIST p50 ms" "LIST/d p50" "RSS MiB" "KV B/object"
prev=0
for n in "${checkpoints[@]}"; do
  put=$(bench --json --op fill --size "$size" -c 32 --bucket scale --start "$prev" --objects $((n - prev)) \
    --report-every 1000000 | json ops_per_sec)
  get=$(bench --json --op get --no-fill --size "$size" -c 32 --duration "$secs" --bucket scale --objects "$n" | json ops_per_sec)
  list=$(bench --json --op list-page --no-fill -c 1 --duration "$secs" --bucket scale --objects "$n" | json p50_ms)
  listd=$(bench --json --op list-page --no-fill -c 1 --duration "$secs" --bucket scale --objects "$n" --delimiter / | json p50_ms)
  rss=$(awk '/VmRSS/ {print $2 / 1024}' "/proc/$pid/status")
  kv=$(du -sb "$root/scale/meta" 2>/dev/null | awk '{print $1}')
  printf '%10d %10.0f %10.0f %12.3f %12.3f %9.0f %12.0f\n' "$n" "$put" "$get" "$list" "$listd" "$rss" "$((${kv:-0} / n))" | tee -a "$rows"
  prev=$n
done
python3 - "$rows" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
a, b = rows[0], rows[-1]
print(f"at {int(b[0]):,} against {int(a[0]):,}: PUT {float(b[1]) / float(a[1]):.2f}x, GET {float(b[2]) / float(a[2]):.2f}x, "
      f"LIST page {float(b[3]) / float(a[3]):.2f}x, LIST page with delimiter {float(b[4]) / float(a[4]):.2f}x the latency")
PY
kill "$pid"
wait "$pid" 2>/dev/null || true
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
t0=$(date +%s.%N)
target/release/rustfs server --address "127.0.0.1:$port" --data "$root/scale" --config "$root/config.yaml" >>"$root/scale.log" 2>&1 &
pids+=($!)
until curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null; do sleep 0.05; done
python3 -c "print(f'restart with {int(\"$total\"):,} objects: {$(date +%s.%N) - $t0:.2f} s to ready')"
