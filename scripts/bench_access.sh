#!/usr/bin/env bash
# Issue 14's benchmark: what the access model and TLS cost a small request. A user (not
# root) PUTs and GETs 4 KiB objects at c=32
#   - own:    in a bucket it owns, no bucket policy (the owner rule decides);
#   - policy: in the root user's bucket through a bucket policy of 20 statements (four of
#             them denies with conditions that do not match, IP and prefix conditions on the
#             allows), every one evaluated on every request;
#   - tls:    in its own bucket over HTTPS (rustls, ECDSA P-256 certificate of a test CA);
#   - root:   the root user in its own bucket (no evaluation at all).
# Each case runs `rounds` times interleaved; the medians of ops/s and of the server's CPU
# time per request (utime+stime of the server process from /proc, over the run) are printed.
# Usage: scripts/bench_access.sh [seconds per run, default 6] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-6}
rounds=${2:-3}
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh

# A test CA and a certificate for 127.0.0.1 signed by it (MinIO's certs-dir layout).
certs="$root/certs"
mkdir -p "$certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=bench CA" \
  -keyout "$root/ca.key" -out "$root/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$certs/private.key" -out "$root/leaf.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$root/leaf.ext"
openssl x509 -req -in "$root/leaf.csr" -CA "$root/ca.crt" -CAkey "$root/ca.key" -CAcreateserial -days 2 \
  -extfile "$root/leaf.ext" -out "$certs/public.crt" 2>/dev/null

# Two servers on their own data: one over HTTPS, one plain.
BENCH_CA="$root/ca.crt" start tls --certs-dir "$certs"
tls_ep=$ep tls_pid=${pids[-1]}
start plain
plain_ep=$ep plain_pid=${pids[-1]}
export RUSTFS_CA_CERT="$root/ca.crt"

# On each: the user alice, and the root user's bucket `shared` with a 20-statement policy
# granting alice (the other buckets are made by their first benchmark).
python3 - "$root/policy.json" <<'PY'
import json, sys
st = []
for i in range(20):
    if i % 5 == 4:
        st.append({"Sid": f"deny{i}", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                   "Resource": ["arn:aws:s3:::shared/*"],
                   "Condition": {"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8", f"10.{i}.0.0/16"]}}})
    else:
        prefix = "bench" if i == 18 else f"p{i}"
        st.append({"Sid": f"allow{i}", "Effect": "Allow",
                   "Principal": {"AWS": [f"arn:aws:iam:::user/u{i}", "arn:aws:iam:::user/alice"]},
                   "Action": ["s3:GetObject", "s3:PutObject", "s3:List*"],
                   "Resource": [f"arn:aws:s3:::shared/{prefix}/*", "arn:aws:s3:::shared"],
                   "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", f"10.{i}.0.0/16"]},
                                 "StringLikeIfExists": {"s3:prefix": [f"{prefix}/*", ""]}}})
json.dump({"Version": "2012-10-17", "Statement": st}, open(sys.argv[1], "w"))
PY
for e in "$tls_ep" "$plain_ep"; do
  ep=$e
  admin user add alice --secret alice-secret-key >/dev/null
  bench --op put --count 0 --bucket shared >/dev/null
  python3 - "$e" "$root/policy.json" "$RUSTFS_CA_CERT" <<'PY'
import os, sys
import boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=os.environ["RUSTFS_ACCESS_KEY"],
                  aws_secret_access_key=os.environ["RUSTFS_SECRET_KEY"], region_name="us-east-1",
                  verify=sys.argv[3])
s3.put_bucket_policy(Bucket="shared", Policy=open(sys.argv[2]).read())
PY
done

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)
results="$root/results"
: >"$results"
run() { # case op endpoint pid bucket user secret
  local before after out extra=()
  [ "$2" = get ] && extra=(--no-fill)
  before=$(cpu "$4")
  out=$(target/release/rustfs-admin --endpoint "$3" --access-key "$6" --secret-key "$7" --json bench \
    --op "$2" --size 4KiB -c 32 --duration "$secs" --bucket "$5" --objects 500 "${extra[@]}")
  after=$(cpu "$4")
  python3 -c '
import json, sys
r = json.loads(sys.argv[1]); ticks = int(sys.argv[2]) - int(sys.argv[3])
print(sys.argv[5], sys.argv[6], r["ops_per_sec"], ticks / int(sys.argv[4]) / max(r["ops"], 1) * 1e6, r["errors"])
' "$out" "$after" "$before" "$tick" "$1" "$2" >>"$results"
}
ALICE=(alice alice-secret-key)
ROOT=("$RUSTFS_ACCESS_KEY" "$RUSTFS_SECRET_KEY")
# Fill the GET keys once per case.
for c in "own $plain_ep own ${ALICE[*]}" "policy $plain_ep shared ${ALICE[*]}" \
  "tls $tls_ep own ${ALICE[*]}" "root $plain_ep rootown ${ROOT[*]}"; do
  read -r name e b u s <<<"$c"
  target/release/rustfs-admin --endpoint "$e" --access-key "$u" --secret-key "$s" bench --op get --size 4KiB \
    -c 32 --count 1 --bucket "$b" --objects 500 >/dev/null
  echo "filled $name"
done
for r in $(seq "$rounds"); do
  for op in put get; do
    run own "$op" "$plain_ep" "$plain_pid" own "${ALICE[@]}"
    run policy "$op" "$plain_ep" "$plain_pid" shared "${ALICE[@]}"
    run tls "$op" "$tls_ep" "$tls_pid" own "${ALICE[@]}"
    run root "$op" "$plain_ep" "$plain_pid" rootown "${ROOT[@]}"
  done
  echo "round $r done"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    case, op, ops, cpu_us, errors = line.split()
    rows.setdefault((case, op), []).append((float(ops), float(cpu_us), int(errors)))
print(f"{'case':<8} {'op':<4} {'ops/s (median)':>15} {'server CPU us/op':>17} {'errors':>7}")
base = {}
for (case, op), v in sorted(rows.items(), key=lambda kv: (kv[0][1], ["root", "own", "policy", "tls"].index(kv[0][0]))):
    ops = statistics.median(x[0] for x in v)
    cpu = statistics.median(x[1] for x in v)
    if case == "own":
        base[op] = (ops, cpu)
    print(f"{case:<8} {op:<4} {ops:>15.0f} {cpu:>17.1f} {sum(x[2] for x in v):>7}")
for (case, op), v in sorted(rows.items()):
    if case in ("policy", "tls") and op in base:
        ops = statistics.median(x[0] for x in v)
        cpu = statistics.median(x[1] for x in v)
        print(f"{case} vs own, {op}: {ops / base[op][0]:.2f}x ops/s, {cpu - base[op][1]:+.1f} us CPU/op")
PY
