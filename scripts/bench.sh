#!/usr/bin/env bash
# The server load benchmark of the README: starts a release server on a free 127.0.0.1
# port over a temporary data folder, runs `rustfs-admin bench` for 4 KiB, 1 MiB and
# 16 MiB objects at concurrency 4 and 32 and a 10,000-key listing, and stops the server.
# Usage: scripts/bench.sh [seconds per run, default 8]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
cargo build --release --bins -q
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export RUSTFS_ACCESS_KEY=bench-access RUSTFS_SECRET_KEY=bench-secret-key
target/release/rustfs server --address "127.0.0.1:$port" --data "$data" >"$data/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.1; done
bench() { target/release/rustfs-admin --endpoint "http://127.0.0.1:$port" bench "$@"; }
for c in 4 32; do
  bench --op put --size 4KiB -c "$c" --duration "$secs" --bucket small
  bench --op get --size 4KiB -c "$c" --duration "$secs" --bucket small --objects 1000
done
for size in 1MiB 16MiB; do
  for c in 4 32; do
    bench --op put --size "$size" -c "$c" --duration "$secs" --bucket "b-$(echo "$size" | tr '[:upper:]' '[:lower:]')"
    bench --op get --size "$size" -c "$c" --duration "$secs" --bucket "b-$(echo "$size" | tr '[:upper:]' '[:lower:]')" --objects 16
  done
done
bench --op multipart --size 64MiB -c 4 --duration "$secs" --bucket multipart-bench
bench --op list --size 4KiB --objects 10000 -c 1 --duration "$secs" --bucket list10k
