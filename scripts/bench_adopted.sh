#!/usr/bin/env bash
# Issue 13's benchmark: an adopted MinIO deployment (12 drives, one 8+4 set, new objects in
# MinIO's format: GF(2^8) Reed-Solomon, HighwayHash-256 frames) against this server's own
# format on the legacy engine (same 8+4, reed-solomon-simd and xxh3 frames), both serving
# xl.meta: PUT and GET of 4 KiB (c=32), 1 MiB and 16 MiB (c=4); then the migrator's rate
# moving N keys of the adopted deployment into the KV. The MinIO format.json comes from the
# e2e suite's independent writer (e2e/minio_deploy.py).
# A deployment of two pools (2 x 12 drives) shows what the lookup on every pool costs a
# 4 KiB PUT and GET.
# Usage: scripts/bench_adopted.sh [keys for the migrator, default 100000] [seconds per run, default 6]
set -euo pipefail
cd "$(dirname "$0")/.."
keys=${1:-100000}
secs=${2:-6}
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh
minio_drives() { # folder -> a MinIO deployment's format.json on 12 drives under it
  python3 - "$1" <<'PY'
import sys
sys.path.insert(0, "e2e")
import minio_deploy as md
md.Deployment(sys.argv[1], sets=1, per_set=12).write_formats()
PY
}
minio_pools() { # folder -> a MinIO deployment of two pools of 12 drives (p1/d1..12, p2/d1..12)
  python3 - "$1" <<'PY'
import sys
sys.path.insert(0, "e2e")
import minio_deploy as md
md.Pools(sys.argv[1], [(1, 12), (1, 12)]).write_formats()
PY
}
load() { # label
  local size c
  for size in 4KiB 1MiB 16MiB; do
    c=4
    [ "$size" = 4KiB ] && c=32
    echo "== $1: $size PUT, c=$c"
    bench --op put --size "$size" -c "$c" --duration "$secs" --bucket "p${size,,}"
    echo "== $1: $size GET, c=$c"
    bench --op get --size "$size" -c "$c" --duration "$secs" --bucket "g${size,,}" --objects 200
  done
}

minio_drives "$root/minio"
start adopted --metadata-engine legacy --drives "$root/minio/d{1...12}"
admin info | grep -A1 adopted
load "adopted (MinIO format)"
start ours --metadata-engine legacy
load "legacy engine, this server's format"
# Two pools: every lookup reads the key's xl.meta on both (a 4 KiB GET finds it on one).
minio_pools "$root/pools"
start pools --metadata-engine legacy --drives "$root/pools/p1/d{1...12}" "$root/pools/p2/d{1...12}"
for op in put get; do
  echo "== adopted, two pools: 4KiB ${op^^}, c=32"
  bench --op "$op" --size 4KiB -c 32 --duration "$secs" --bucket "pools-$op" --objects 200
done

minio_drives "$root/minio-migrate"
start migrate --metadata-engine legacy --drives "$root/minio-migrate/d{1...12}"
echo "== adopted: writing $keys keys (c=32, MinIO format)"
fill "$keys" list
migrate
