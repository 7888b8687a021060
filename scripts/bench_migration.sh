#!/usr/bin/env bash
# The legacy-vs-KV benchmark of issue 3: the same `rustfs-admin bench` load against a legacy
# (xl.meta) server and a KV server (4 KiB PUT and HEAD at c=32), listings of N keys (flat,
# with a delimiter at the top, and inside one folder) on the legacy track, the migrator's
# rate copying those N keys into the KV (default concurrency, unthrottled), and the same
# listings answered by the KV afterwards (phase kv_primary, same data).
# Usage: scripts/bench_migration.sh [keys, default 100000] [seconds per run, default 6]
set -euo pipefail
cd "$(dirname "$0")/.."
keys=${1:-100000}
secs=${2:-6}
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh
lists() { # label
  echo "== $1: listing $keys keys"
  bench --op list --objects "$keys" --no-fill -c 1 --count 1 --bucket list
  bench --op list --objects "$keys" --no-fill -c 1 --count 3 --bucket list --prefix bench/ --delimiter /
  bench --op list --objects "$keys" --no-fill -c 1 --count 3 --bucket list --prefix bench/d07/ --delimiter /
}

for engine in kv legacy; do
  start "$engine-ops" --metadata-engine "$engine"
  echo "== $engine: 4 KiB PUT and HEAD, c=32"
  bench --op put --size 4KiB -c 32 --duration "$secs" --bucket small
  bench --op head --size 4KiB -c 32 --duration "$secs" --bucket small --objects 2000
done

start migrate --metadata-engine legacy
echo "== legacy: writing $keys keys (c=32)"
fill "$keys" list
lists "legacy (xl.meta)"
migrate
admin migration phase kv_primary
lists "KV (phase kv_primary, same data)"
