#!/usr/bin/env bash
# The migrator over xl.meta that is not cached (issue 16): a legacy server is filled with
# `keys` keys (1 KiB objects), the phase goes to fullout, the page cache, dentries and
# inodes are dropped (`echo 3 > /proc/sys/vm/drop_caches`, as root), and a migrator pass
# copies every key into the KV at the first concurrency given; each further concurrency
# runs another pass after another drop (the keys are then in sync: the pass reads every
# xl.meta again and the KV, and writes nothing). Prints keys/s of each pass.
# Usage: sudo scripts/bench_migration_cold.sh [keys, default 100000] [concurrency..., default 64 8]
set -euo pipefail
cd "$(dirname "$0")/.."
keys=${1:-100000}
shift || true
concs=("$@")
[ ${#concs[@]} -gt 0 ] || concs=(64 8)
if [ ! -w /proc/sys/vm/drop_caches ]; then
  echo "dropping the page cache needs root (/proc/sys/vm/drop_caches)"; exit 1
fi
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh

start cold --metadata-engine legacy
echo "== legacy: writing $keys keys"
fill "$keys" cold
admin migration phase fullout >/dev/null
pass=copy
for c in "${concs[@]}"; do
  sync
  echo 3 >/proc/sys/vm/drop_caches
  admin migration start --wait --concurrency "$c" >/dev/null
  admin --json migration status | python3 -c '
import json, sys
m = json.load(sys.stdin)["migrator"]
c = m["checkpoint"]
print("cold %s pass, concurrency %s: %d keys scanned, %d copied, %d in sync, %d errors: %.0f keys/s" % (
    sys.argv[1], sys.argv[2], c["scanned"], c["copied"], c["in_sync"], c["errors"], m["rate"]))' "$pass" "$c"
  pass=in-sync
done
