#!/usr/bin/env bash
# How far the background migration is (the migration guide's check_migration_progress.sh):
# prints the migrator's keys scanned of the total and exits 0 once a pass copied every
# legacy key into the KV (the server's migrator_done, which kv_primary needs), 4 before.
set -euo pipefail

# shellcheck source=scripts/lib/migration.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/migration.sh"

usage() {
  cat <<'EOF_USAGE'
Usage: check_migration_progress.sh ENVIRONMENT

Exit codes: 0 the migration is done; 1 a command failed; 2 usage; 4 not done yet.
EOF_USAGE
}

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then usage; exit 0; fi
if [[ $# -ne 1 ]]; then usage >&2; exit "$EXIT_USAGE"; fi
load_environment "$1"
read_state
pct=$(awk -v s="$SCANNED" -v t="$TOTAL" 'BEGIN { if (t > 0) printf "%.1f", 100 * s / t; else printf "0.0" }')
log "migration: phase $CUR_PHASE, migrator $MIGRATOR, $SCANNED of $TOTAL keys scanned ($pct%), done: $MIGRATOR_DONE"
case "$CUR_PHASE" in
  kv_primary | complete) exit 0 ;;
  *) ;;
esac
if [[ "$MIGRATOR_DONE" == true ]]; then exit 0; fi
if [[ "$MIGRATOR" == running ]]; then
  die "$EXIT_ORDER" "the migrator is still running ($pct%)"
fi
die "$EXIT_ORDER" "no finished migrator pass: start one (fullout applies deploy/k8s/migration-job.yaml)"
