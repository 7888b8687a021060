#!/usr/bin/env bash
# The server benchmark of a baseline `rustfs` binary against this tree's, in one run:
# 4 KiB PUT and GET at c=32, 16 MiB PUT and GET at c=4, and a whole listing of 10,000 keys
# (p50 latency of one full listing). Rounds alternate between the two binaries; medians are
# printed. Client and server share the machine.
# Usage: BASELINE_BIN=path/to/rustfs scripts/bench_compare.sh [seconds per run, default 6] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-6}
rounds=${2:-3}
: "${BASELINE_BIN:?set BASELINE_BIN to the rustfs binary to compare with}"
cargo build --release --bins -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export RUSTFS_ACCESS_KEY=bench-access RUSTFS_SECRET_KEY=bench-secret-key
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(round(d$1, 2))"; }
run() { # bin -> "put4k get4k put16m get16m list_p50_ms"
  local bin=$1 port data pid
  port=$(free_port); data="$work/d-$RANDOM"
  "$bin" server --address "127.0.0.1:$port" --data "$data" >"$data.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.1; done
  local b=(target/release/rustfs-admin --endpoint "http://127.0.0.1:$port" bench --json --duration "$secs")
  local p4 g4 p16 g16 l
  p4=$("${b[@]}" --op put --size 4KiB -c 32 --bucket small | field '["ops_per_sec"]')
  g4=$("${b[@]}" --op get --size 4KiB -c 32 --bucket small --objects 1000 | field '["ops_per_sec"]')
  p16=$("${b[@]}" --op put --size 16MiB -c 4 --bucket big | field '["mib_per_sec"]')
  g16=$("${b[@]}" --op get --size 16MiB -c 4 --bucket big --objects 16 | field '["mib_per_sec"]')
  l=$("${b[@]}" --op list --size 4KiB -c 1 --objects 10000 --bucket list10k | field '["p50_ms"]')
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$data"
  echo "$p4 $g4 $p16 $g16 $l"
}
declare -A res
for r in $(seq "$rounds"); do
  for who in baseline current; do
    bin=target/release/rustfs
    [ "$who" = baseline ] && bin=$BASELINE_BIN
    line=$(run "$bin")
    res[$who]+="$line;"
    echo "round $r $who: $line" >&2
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { echo "${res[$1]}" | tr ';' '\n' | grep -v '^$' | awk -v c="$2" '{print $c}' | median; }
printf "%-9s %14s %14s %16s %16s %18s\n" "" "4KiB PUT op/s" "4KiB GET op/s" "16MiB PUT MiB/s" "16MiB GET MiB/s" "LIST 10k p50 ms"
for who in baseline current; do
  printf "%-9s %14s %14s %16s %16s %18s\n" "$who" "$(col $who 1)" "$(col $who 2)" "$(col $who 3)" "$(col $who 4)" "$(col $who 5)"
done
