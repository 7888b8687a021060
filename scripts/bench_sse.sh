#!/usr/bin/env bash
# Issue 15's benchmarks, on one server (KV engine):
#   - SSE-S3 vs none: 16 MiB PUT/GET at c=4 and 4 KiB PUT/GET at c=32, into a bucket whose
#     default encryption is SSE-S3 and a plain one, interleaved over `rounds` rounds; the
#     medians and their ratios are printed;
#   - the lifecycle scanner's rate: `objects` objects written, then a rule expiring them all
#     (a 1-second lifecycle day, no rate bound): objects per second of the scan, from
#     `rustfs-admin lifecycle`.
# Usage: scripts/bench_sse.sh [seconds per run, default 6] [rounds, default 3 (0: the scan only)] [objects, default 100000]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-6}
rounds=${2:-3}
objects=${3:-100000}
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh

start sse --lifecycle-day-secs 1 --lifecycle-interval-secs 2 --lifecycle-rate 0
for b in plain enc; do bench --op put --count 0 --bucket "$b" >/dev/null; done
python3 - "$ep" <<'PY'
import os, sys
import boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=os.environ["RUSTFS_ACCESS_KEY"],
                  aws_secret_access_key=os.environ["RUSTFS_SECRET_KEY"], region_name="us-east-1")
s3.put_bucket_encryption(Bucket="enc", ServerSideEncryptionConfiguration={"Rules": [
    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
PY
results="$root/results"
: >"$results"
run() { # bucket op size concurrency
  local out extra=()
  [ "$2" = get ] && extra=(--no-fill)
  out=$(bench --json --op "$2" --size "$3" -c "$4" --duration "$secs" --bucket "$1" --objects 64 "${extra[@]}")
  python3 -c '
import json, sys
r = json.loads(sys.argv[1])
print(sys.argv[2], sys.argv[3], sys.argv[4], r["ops_per_sec"], r.get("mib_per_sec", 0), r["errors"])
' "$out" "$1" "$2" "$3" >>"$results"
}
# (rounds 0: only the lifecycle scan)
[ "$rounds" -gt 0 ] && for size in 16MiB 4KiB; do
  c=4; [ "$size" = 4KiB ] && c=32
  for b in plain enc; do bench --op get --size "$size" -c "$c" --count 1 --bucket "$b" --objects 64 >/dev/null; done
  for _ in $(seq "$rounds"); do
    for op in put get; do
      run plain "$op" "$size" "$c"
      run enc "$op" "$size" "$c"
    done
  done
  echo "$size done"
done
[ "$rounds" -gt 0 ] && python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    b, op, size, ops, mib, errors = line.split()
    rows.setdefault((size, op, b), []).append((float(ops), float(mib), int(errors)))
print(f"{'size':<6} {'op':<4} {'bucket':<6} {'ops/s':>9} {'MiB/s':>8} {'errors':>7}")
for (size, op, b), v in sorted(rows.items()):
    print(f"{size:<6} {op:<4} {b:<6} {statistics.median(x[0] for x in v):>9.0f} "
          f"{statistics.median(x[1] for x in v):>8.1f} {sum(x[2] for x in v):>7}")
for (size, op, b), v in sorted(rows.items()):
    if b == "enc":
        base = statistics.median(x[0] for x in rows[(size, op, "plain")])
        print(f"SSE-S3 vs none, {size} {op}: {statistics.median(x[0] for x in v) / base:.2f}x")
PY

# The lifecycle scanner over `objects` objects.
fill "$objects" lcbench >/dev/null
python3 - "$ep" <<'PY'
import os, sys
import boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=os.environ["RUSTFS_ACCESS_KEY"],
                  aws_secret_access_key=os.environ["RUSTFS_SECRET_KEY"], region_name="us-east-1")
s3.put_bucket_lifecycle_configuration(Bucket="lcbench", LifecycleConfiguration={"Rules": [
    {"ID": "all", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]})
PY
# Objects are a day (1 s) old at once. The scan that expires them is the first to start
# after the rule: of the next two completed scans, the one that examined the most.
sleep 1
for _ in 1 2; do admin --json lifecycle --wait; done >"$root/scans"
python3 - "$root/scans" <<'PY'
import json, sys
scans = [json.loads(line) for line in open(sys.argv[1])]
s = max(scans, key=lambda s: s["scan_versions"])
rate = s["scan_versions"] / max(s["last_scan_seconds"], 1e-9)
print(f"lifecycle scan: {s['scan_versions']} versions in {s['last_scan_seconds']:.2f} s ({rate:.0f} versions/s), "
      f"{s['current_expired']} expired in total")
PY
