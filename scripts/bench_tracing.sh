#!/usr/bin/env bash
# What metrics and tracing cost: 4 KiB PUT and GET ops/s (c=32) on a release server with
# trace export off, on with sampling 1.0 and on with sampling 0.01 (OTLP/HTTP to a local
# receiver that accepts and discards). Metrics are always on (they cannot be turned off).
# Each mode runs `rounds` times, interleaved; the medians are printed. With BASELINE_BIN set
# to a `rustfs` binary built from another commit (e.g. one before metrics existed), it runs
# as one more mode, `baseline`.
# MODES picks the modes (default "off s1 s001"); each mode's median is also printed as a
# ratio to tracing off.
# Usage: [BASELINE_BIN=path] [MODES="off s001"] scripts/bench_tracing.sh [seconds per run, default 6] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-6}
rounds=${2:-3}
cargo build --release --bins -q
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port)
python3 - "$rport" <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
rpid=$!
trap 'kill $rpid 2>/dev/null; rm -rf "$work"' EXIT
export RUSTFS_ACCESS_KEY=bench-access RUSTFS_SECRET_KEY=bench-secret-key
run_mode() { # mode -> "put get"
  local mode=$1 port data pid
  port=$(free_port); data="$work/$mode-$RANDOM"
  local env=() bin=target/release/rustfs
  case $mode in
    baseline) bin=$BASELINE_BIN ;;
    off) ;;
    s1) env=(RUSTFS_OTEL_ENDPOINT="http://127.0.0.1:$rport" RUSTFS_OTEL_PROTOCOL=http/protobuf RUSTFS_OTEL_SAMPLING=1.0) ;;
    s001) env=(RUSTFS_OTEL_ENDPOINT="http://127.0.0.1:$rport" RUSTFS_OTEL_PROTOCOL=http/protobuf RUSTFS_OTEL_SAMPLING=0.01) ;;
  esac
  env "${env[@]}" "$bin" server --address "127.0.0.1:$port" --data "$data" >"$data.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.1; done
  local b=(target/release/rustfs-admin --endpoint "http://127.0.0.1:$port" bench --json --size 4KiB -c 32 --duration "$secs")
  local put get
  put=$("${b[@]}" --op put --bucket bench-put | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["ops_per_sec"]))')
  get=$("${b[@]}" --op get --bucket bench-get --objects 1000 | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["ops_per_sec"]))')
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$data"
  echo "$put $get"
}
modes=${MODES:-off s1 s001}
[ -n "${BASELINE_BIN:-}" ] && modes="baseline $modes"
declare -A puts gets
for r in $(seq "$rounds"); do
  for mode in $modes; do
    read -r p g < <(run_mode "$mode")
    puts[$mode]+="$p "; gets[$mode]+="$g "
    echo "round $r $mode: PUT $p ops/s, GET $g ops/s" >&2
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-26s %10s %10s\n' "4 KiB, c=32 (median)" "PUT ops/s" "GET ops/s"
for mode in $modes; do
  case $mode in baseline) name="baseline ($BASELINE_BIN)";; off) name="tracing off";; s1) name="tracing on, sampling 1.0";; s001) name="tracing on, sampling 0.01";; esac
  p=$(echo "${puts[$mode]}" | median); g=$(echo "${gets[$mode]}" | median)
  p0=$(echo "${puts[off]}" | median); g0=$(echo "${gets[off]}" | median)
  printf '%-26s %10s %10s   (%s, %s of tracing off)\n' "$name" "$p" "$g" \
    "$(python3 -c "print(f'{$p / $p0:.3f}')")" "$(python3 -c "print(f'{$g / $g0:.3f}')")"
done
