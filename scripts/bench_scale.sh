#!/usr/bin/env bash
# Scale on one node (issue 16): one bucket filled to `total` objects (KV engine, `size`
# objects, keys spread over 10 folders, so that a folder holds a full page at 10,000) by
# `rustfs-admin bench --op fill`; at each checkpoint the fill's PUT rate and its p999 and
# longest PUT (stalls of the KV's flushes and compactions show there) and the share of the
# server's CPU time during the fill that its KV flushes and compactions took (threads
# `kv-background`: what grows with the object count), a GET rate over every
# key written, the latency of one LIST page of 1,000 keys (flat, and inside a folder with a
# delimiter), the server's RSS and the KV's bytes on disk per object; at the end the restart
# time. Right after a fill the KV still compacts what it wrote, and GET competes with that;
# so each checkpoint also waits until the server is idle (under 5% of a core over 2 s, at most
# SETTLE_MAX seconds, default 1800) and measures GET again: the steady state of a bucket that
# size. Prints one table row per checkpoint and the ratios of the last row to the first.
# Usage: scripts/bench_scale.sh [total, default 10000000] [size, default 1KiB] [seconds per measurement, default 5]
# The KV's cache and memtable sizes: RUSTFS_KV_CACHE_MB, RUSTFS_KV_MEMTABLE_MB (server defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-10000000}
size=${2:-1KiB}
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
settle_max=${SETTLE_MAX:-1800}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
bg_ticks() { # pid -> CPU ticks of its `kv-background` threads
  local t sum=0
  for t in /proc/"$1"/task/*; do
    if [ "$(cat "$t/comm" 2>/dev/null)" = kv-background ]; then
      sum=$((sum + $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)))
    fi
  done
  echo "$sum"
}
settle() { # pid -> waits until the server is idle; prints the seconds it took
  local t0 a b hz idle
  hz=$(getconf CLK_TCK)
  idle=$((hz * 2 / 20))
  t0=$(date +%s)
  while [ $(($(date +%s) - t0)) -lt "$settle_max" ]; do
    a=$(cpu_ticks "$1")
    sleep 2
    b=$(cpu_ticks "$1")
    [ $((b - a)) -le "$idle" ] && break
  done
  echo $(($(date +%s) - t0))
}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
rows="$root/rows"
: >"$rows"
printf '%10s %8s %9s %9s %9s %8s %8s %10s %11s %11s %8s %11s\n' objects "PUT/s" "PUT p999" "PUT max" "KV bg %" \
  "GET/s" "settle s" "GET/s idle" "LIST p50" "LIST/d p50" "RSS MiB" "KV B/obj"
prev=0
b=(--bucket scale --folders 10)
for n in "${checkpoints[@]}"; do
  cpu0=$(cpu_ticks "$pid")
  bg0=$(bg_ticks "$pid")
  bench --json --op fill --size "$size" -c 32 "${b[@]}" --start "$prev" --objects $((n - prev)) \
    --report-every 1000000 >"$root/fill.json"
  put=$(json ops_per_sec <"$root/fill.json")
  p999=$(json p999_ms <"$root/fill.json")
  pmax=$(json max_ms <"$root/fill.json")
  bgpct=$((100 * ($(bg_ticks "$pid") - bg0) / ($(cpu_ticks "$pid") - cpu0 + 1)))
  get=$(bench --json --op get --no-fill --size "$size" -c 32 --duration "$secs" "${b[@]}" --objects "$n" | json ops_per_sec)
  waited=$(settle "$pid")
  gets=$(bench --json --op get --no-fill --size "$size" -c 32 --duration "$secs" "${b[@]}" --objects "$n" | json ops_per_sec)
  list=$(bench --json --op list-page --no-fill -c 1 --duration "$secs" "${b[@]}" --objects "$n" | json p50_ms)
  listd=$(bench --json --op list-page --no-fill -c 1 --duration "$secs" "${b[@]}" --objects "$n" --delimiter / | json p50_ms)
  rss=$(awk '/VmRSS/ {print $2 / 1024}' "/proc/$pid/status")
  kv=$(du -sb "$root/scale/meta" 2>/dev/null | awk '{print $1}')
  printf '%10d %8.0f %9.1f %9.1f %9d %8.0f %8d %10.0f %11.3f %11.3f %8.0f %11.0f\n' "$n" "$put" "$p999" "$pmax" \
    "$bgpct" "$get" \
    "$waited" "$gets" "$list" "$listd" \
    "$rss" "$((${kv:-0} / n))" | tee -a "$rows"
  prev=$n
done
python3 - "$rows" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
a, b = rows[0], rows[-1]
print(f"at {int(b[0]):,} against {int(a[0]):,}: PUT {float(b[1]) / float(a[1]):.2f}x, GET {float(b[5]) / float(a[5]):.2f}x "
      f"(idle server: {float(b[7]) / float(a[7]):.2f}x), "
      f"LIST page {float(b[8]) / float(a[8]):.2f}x, LIST page with delimiter {float(b[9]) / float(a[9]):.2f}x the latency")
PY
kill "$pid"
wait "$pid" 2>/dev/null || true
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
t0=$(date +%s.%N)
target/release/rustfs server --address "127.0.0.1:$port" --data "$root/scale" --config "$root/config.yaml" >>"$root/scale.log" 2>&1 &
pids+=($!)
until curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null; do sleep 0.05; done
python3 -c "print(f'restart with {int(\"$total\"):,} objects: {$(date +%s.%N) - $t0:.2f} s to ready')"
# Then a crash: 100,000 more objects (their WAL not yet written out as tables), kill -9, start.
ep="http://127.0.0.1:$port"
bench --json --op fill --size "$size" -c 32 "${b[@]}" --start "$total" --objects 100000 --report-every 0 >/dev/null
kill -9 "${pids[-1]}"
wait "${pids[-1]}" 2>/dev/null || true
t0=$(date +%s.%N)
target/release/rustfs server --address "127.0.0.1:$port" --data "$root/scale" --config "$root/config.yaml" >>"$root/scale.log" 2>&1 &
pids+=($!)
until curl -sf "$ep/health/ready" >/dev/null; do sleep 0.05; done
python3 -c "print(f'restart after kill -9 (WAL replayed): {$(date +%s.%N) - $t0:.2f} s to ready')"
bench --op get --no-fill --size "$size" -c 32 --duration "$secs" "${b[@]}" --objects $((total + 100000))
echo "RSS after the restart and a GET run: $(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/${pids[-1]}/status") MiB"
