#!/usr/bin/env bash
# Watches a DualTrack phase (the migration guide's monitor_canary.sh): runs the traffic
# gates (error rate, p99 latency, consistency errors) every INTERVAL seconds for DURATION
# seconds, then a sampled validation (the divergence gate). Exits 3 at the first failed
# gate, naming it; gradual_migration.sh then rolls the phase back.
set -euo pipefail

# shellcheck source=scripts/lib/migration.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/migration.sh"

usage() {
  cat <<'EOF_USAGE'
Usage: monitor_canary.sh ENVIRONMENT DURATION [INTERVAL]

Runs `rustfs-admin migration gates` over windows of INTERVAL seconds (default
MONITOR_INTERVAL, 300) until the windows cover DURATION seconds, then once more with a validation of
VALIDATE_SAMPLE of the keys. The settings are gradual_migration.sh's (see its --help).
Exit codes: 0 every gate held; 1 a command failed; 2 usage; 3 a gate failed.
EOF_USAGE
}

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then usage; exit 0; fi
if [[ $# -lt 2 || $# -gt 3 ]]; then usage >&2; exit "$EXIT_USAGE"; fi
load_environment "$1"
DURATION=$2
INTERVAL=${3:-$MONITOR_INTERVAL}
[[ "$DURATION" =~ ^[0-9]+$ && "$INTERVAL" =~ ^[1-9][0-9]*$ ]] || die "$EXIT_USAGE" "DURATION and INTERVAL are whole seconds"

# The windows, not the wall clock, add up to DURATION: each round's gates cover the next
# INTERVAL seconds (the last one what is left), so the time spent running the gates
# themselves never shortens the watch or skips a round.
covered=0
round=0
while ((covered < DURATION)); do
  left=$((DURATION - covered))
  window=$((left < INTERVAL ? left : INTERVAL))
  round=$((round + 1))
  log "monitor round $round: gates over ${window}s (${left}s left)"
  GATE_WINDOW=$window
  if ! run_gates --skip-validation; then
    die "$EXIT_GATE" "gate failed in monitor round $round"
  fi
  covered=$((covered + window))
done
log "monitor: validating ${VALIDATE_SAMPLE} of the keys"
GATE_WINDOW=1
run_gates --validate-sample "$VALIDATE_SAMPLE" || die "$EXIT_GATE" "the closing validation found divergence"
log "monitor: every gate held for ${DURATION}s"
