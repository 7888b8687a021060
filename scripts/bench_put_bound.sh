#!/usr/bin/env bash
# Mid-size PUT against this machine's bound (issue 16), all measured in this one run:
#   - the disk: sequential O_DIRECT writes of 4 MiB blocks into the data folder (dd),
#     divided by 1.5 (8+4 erasure coding writes 1.5 bytes per byte);
#   - one core's MD5 rate (`rustfs-admin bench --op md5`, the crate the server hashes
#     ETags with): every byte of a PUT needs it;
#   - bound = the lower of the two; then 256 KiB, 1 MiB and 16 MiB PUT at c=4 (KV engine),
#     `rounds` runs each, and the median over the bound.
# Usage: scripts/bench_put_bound.sh [seconds per run, default 8] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
rounds=${2:-3}
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh

mkdir -p "$root/dd"
# 2 GiB of O_DIRECT writes, made durable: bytes / seconds.
direct=$(dd if=/dev/zero of="$root/dd/f" bs=4M count=512 oflag=direct conv=fsync 2>&1 |
  awk '/bytes/ {for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/) s = $(i-1); print $1 / s / 1048576}')
rm -rf "$root/dd"
md5=$(target/release/rustfs-admin --json bench --op md5 --size 1MiB --duration 3 |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["mib_per_sec"])')
bound=$(python3 -c "print(min($direct / 1.5, $md5))")
printf 'O_DIRECT write %.0f MiB/s (/1.5 = %.0f), one core MD5 %.0f MiB/s: bound %.0f MiB/s\n' \
  "$direct" "$(python3 -c "print($direct / 1.5)")" "$md5" "$bound"

start put
for size in 256KiB 1MiB 16MiB; do
  runs=()
  for r in $(seq "$rounds"); do
    m=$(bench --json --op put --size "$size" -c 4 --duration "$secs" --bucket "put-$r-$(echo "$size" | tr '[:upper:]' '[:lower:]')" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["mib_per_sec"])')
    runs+=("$m")
  done
  python3 - "$size" "$bound" "${runs[@]}" <<'PY'
import statistics, sys
size, bound, runs = sys.argv[1], float(sys.argv[2]), [float(x) for x in sys.argv[3:]]
m = statistics.median(runs)
print(f"PUT {size:>6} c=4: median {m:6.1f} MiB/s over {len(runs)} runs ({', '.join(f'{r:.1f}' for r in runs)}): {m / bound:.2f} of the bound")
PY
done
