#!/usr/bin/env bash
# Moves a deployment's object metadata from xl.meta to the KV in the migration guide's
# stages (seed 001): canary (5%), expand (25%), fullout (100% and the migration Job),
# complete (KV primary, then the cleanup Job); rollback goes back one stage. Before it
# advances it checks the gates (error rate, p99 latency, consistency errors, validator
# divergence) and refuses, naming the gate, when one fails. It changes the running server
# with `rustfs-admin migration phase` (no restart needed) and records the stage in the
# StatefulSet's env (RUSTFS_DUAL_TRACK_RATIO, RUSTFS_METADATA_ENGINE) so a restart keeps it.
set -euo pipefail

# shellcheck source=scripts/lib/migration.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/migration.sh"

usage() {
  cat <<'EOF'
Usage: gradual_migration.sh [options] ENVIRONMENT PHASE

Phases (in order):
  canary      legacy -> canary at 5%: the KV shadows the keys of the canary share
  expand      canary 5% -> 25%
  fullout     -> 100%, then the migration Job copies every key (deploy/k8s/migration-job.yaml)
  kv_primary  reads from the KV, xl.meta kept as a shadow (needs the migrator's pass done)
  complete    kv_primary if not yet, a whole validation, then the final phase and the
              cleanup Job (deploy/k8s/cleanup-job.yaml); asks for confirmation unless --yes
  rollback    back one phase (kv_primary -> fullout -> expand -> canary -> legacy);
              complete is final
  status      the migration state and the phase recorded in the StatefulSet

ENVIRONMENT names deploy/k8s/environments/ENVIRONMENT.env when it exists (settings below);
variables set by the caller win over it.

Options:
  -n, --dry-run       check the state and the gates, print what would change, change nothing
  -y, --yes           do not ask before complete (which cannot be undone)
  -m, --monitor SECS  after canary/expand, watch the gates for SECS (the guide's 172800 s);
                      a failed gate rolls the phase back
  -h, --help          this help

Settings (environment variables):
  RUSTFS_ADMIN        rustfs-admin command (default rustfs-admin; may be
                      "kubectl exec -n rustfs rustfs-0 -- rustfs-admin")
  RUSTFS_ENDPOINT, RUSTFS_ACCESS_KEY, RUSTFS_SECRET_KEY   as rustfs-admin reads them
  KUBECTL, KUBE_CONTEXT, NAMESPACE (rustfs), STATEFULSET (rustfs), ROLLOUT_TIMEOUT (15m)
  GATE_WINDOW (60 s), GATE_MAX_ERROR_RATE (0.0001), GATE_MAX_P99_MS (100),
  GATE_MAX_CONSISTENCY_ERRORS (0), GATE_MAX_DIVERGENCE (0), GATE_MIN_REQUESTS (0),
  VALIDATE_SAMPLE (0.01), PROMETHEUS_URL and PROMETHEUS_SELECTOR (judge traffic from
  Prometheus instead of the nodes' counters), MONITOR_SECONDS (0), MONITOR_INTERVAL (300)

Exit codes: 0 done; 1 a command failed; 2 usage; 3 a gate failed (nothing changed, or a
monitor rolled the phase back); 4 the phase cannot follow the current one.
EOF
}

ASSUME_YES=0
MONITOR_OPT=""
ARGS=()
while (($#)); do
  case "$1" in
    -n | --dry-run) DRY_RUN=1 ;;
    -y | --yes) ASSUME_YES=1 ;;
    -m | --monitor)
      [[ $# -ge 2 ]] || { usage >&2; exit "$EXIT_USAGE"; }
      MONITOR_OPT=$2
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "unknown option: $1" >&2; usage >&2; exit "$EXIT_USAGE" ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
if [[ ${#ARGS[@]} -ne 2 ]]; then
  usage >&2
  exit "$EXIT_USAGE"
fi
ENVIRONMENT=${ARGS[0]}
PHASE=${ARGS[1]}
load_environment "$ENVIRONMENT"
if [[ -n "$MONITOR_OPT" ]]; then MONITOR_SECONDS=$MONITOR_OPT; fi
[[ "$MONITOR_SECONDS" =~ ^[0-9]+$ ]] || die "$EXIT_USAGE" "--monitor takes whole seconds, not '$MONITOR_SECONDS'"
MIGRATION_JOB=${MIGRATION_JOB:-$REPO/deploy/k8s/migration-job.yaml}
CLEANUP_JOB=${CLEANUP_JOB:-$REPO/deploy/k8s/cleanup-job.yaml}

# Records the stage in the StatefulSet's env (a strategic merge on the container's env) and
# waits for the pods to roll, one at a time (the PodDisruptionBudget allows one down).
record() {
  local ratio=$1 engine=$2 patch
  patch=$(printf '{"spec":{"template":{"spec":{"containers":[{"name":"%s","env":[{"name":"RUSTFS_DUAL_TRACK_RATIO","value":"%s"},{"name":"RUSTFS_METADATA_ENGINE","value":"%s"}]}]}}}}' \
    "$CONTAINER" "$ratio" "$engine")
  log "recording RUSTFS_DUAL_TRACK_RATIO=$ratio RUSTFS_METADATA_ENGINE=$engine in statefulset/$STATEFULSET"
  kube_change patch statefulset "$STATEFULSET" --type strategic -p "$patch"
  kube_change rollout status "statefulset/$STATEFULSET" --timeout "$ROLLOUT_TIMEOUT"
}

# Refuses the phase unless the current one is one of the arguments.
require_from() {
  local want=$1 from
  shift
  from=$(script_phase)
  for p in "$@"; do
    if [[ "$from" == "$p" ]]; then return 0; fi
  done
  die "$EXIT_ORDER" "$want follows $* (the deployment is in $from)"
}

gates_or_refuse() {
  local target=$1
  shift
  log "checking the gates before $target (window ${GATE_WINDOW}s)"
  if ! run_gates "$@"; then
    die "$EXIT_GATE" "refusing to move to $target: a gate failed (see above); nothing was changed"
  fi
}

# After canary and expand: watch the gates; a failure rolls the phase back.
monitor_or_roll_back() {
  local phase=$1
  if [[ "$MONITOR_SECONDS" == 0 || "$DRY_RUN" == 1 ]]; then return 0; fi
  log "monitoring $phase for ${MONITOR_SECONDS}s"
  local rc=0
  "$SCRIPT_DIR/monitor_canary.sh" "$ENVIRONMENT" "$MONITOR_SECONDS" "$MONITOR_INTERVAL" || rc=$?
  if [[ $rc == 0 ]]; then return 0; fi
  if [[ $rc != "$EXIT_GATE" ]]; then die "$EXIT_FAILED" "the monitor failed (exit $rc)"; fi
  log "a gate failed while monitoring $phase: rolling back"
  read_state
  roll_back
  die "$EXIT_GATE" "$phase was rolled back after a failed gate"
}

phase_canary() {
  read_state
  if [[ $(script_phase) == canary ]]; then log "already in canary at ratio $CUR_RATIO"; return 0; fi
  require_from canary legacy
  gates_or_refuse canary
  log "enabling DualTrack for 5% of the keys"
  admin_change migration phase canary --ratio 0.05
  record 0.05 legacy
  monitor_or_roll_back canary
}

phase_expand() {
  read_state
  if [[ $(script_phase) == expand ]]; then log "already expanded (ratio $CUR_RATIO)"; return 0; fi
  require_from expand canary
  gates_or_refuse expand --validate-sample "$VALIDATE_SAMPLE"
  log "expanding the canary to 25% of the keys"
  admin_change migration phase canary --ratio 0.25
  record 0.25 legacy
  monitor_or_roll_back expand
}

phase_fullout() {
  read_state
  if [[ $(script_phase) != fullout ]]; then
    require_from fullout expand
    gates_or_refuse fullout --validate-sample "$VALIDATE_SAMPLE"
    log "rolling out to 100% of the keys"
    admin_change migration phase fullout
    record 1.0 legacy
  else
    log "already in fullout"
  fi
  log "starting the migration Job ($MIGRATION_JOB)"
  kube_change delete job rustfs-migration --ignore-not-found
  kube_change apply -f "$MIGRATION_JOB"
  log "follow it with: ${KUBE_CMD[*]} logs -f job/rustfs-migration, or $0 $ENVIRONMENT status"
}

to_kv_primary() {
  "$SCRIPT_DIR/check_migration_progress.sh" "$ENVIRONMENT" || die "$EXIT_ORDER" "kv_primary waits for the migration to finish"
  gates_or_refuse kv_primary --validate-sample "$VALIDATE_SAMPLE"
  log "switching reads to the KV (xl.meta stays a shadow)"
  admin_change migration phase kv_primary
  record 1.0 kv_primary
}

phase_kv_primary() {
  read_state
  if [[ $(script_phase) == kv_primary ]]; then log "already in kv_primary"; return 0; fi
  require_from kv_primary fullout
  to_kv_primary
}

phase_complete() {
  read_state
  if [[ $(script_phase) == complete ]]; then
    log "already complete"
  else
    require_from complete fullout kv_primary
    if [[ "$ASSUME_YES" != 1 && "$DRY_RUN" != 1 ]]; then
      if [[ ! -t 0 ]]; then die "$EXIT_USAGE" "complete cannot be undone: confirm with --yes"; fi
      read -r -p "complete cannot be undone (xl.meta files will be removed). Type 'complete' to go on: " answer
      [[ "$answer" == complete ]] || die "$EXIT_USAGE" "not confirmed; nothing was changed"
    fi
    if [[ $(script_phase) == fullout ]]; then to_kv_primary; fi
    # complete needs a clean validation of every key.
    gates_or_refuse complete --validate-sample 1
    log "completing the migration: the KV alone from now on"
    admin_change migration phase complete
    record 1.0 complete
  fi
  log "starting the cleanup Job ($CLEANUP_JOB)"
  kube_change delete job rustfs-cleanup --ignore-not-found
  kube_change apply -f "$CLEANUP_JOB"
}

# Back one phase from the state read last.
roll_back() {
  case "$(script_phase)" in
    complete) die "$EXIT_ORDER" "complete is final: the legacy track may already be cleaned up" ;;
    kv_primary)
      log "rolling back kv_primary -> fullout (reads from xl.meta again)"
      admin_change migration phase fullout
      record 1.0 legacy
      ;;
    fullout)
      log "rolling back fullout -> expand (25%)"
      kube_change delete job rustfs-migration --ignore-not-found
      admin_change migration stop
      admin_change migration phase canary --ratio 0.25
      record 0.25 legacy
      ;;
    expand)
      log "rolling back expand -> canary (5%)"
      admin_change migration phase canary --ratio 0.05
      record 0.05 legacy
      ;;
    canary)
      log "rolling back canary -> legacy (xl.meta alone)"
      admin_change migration phase legacy
      record 0 legacy
      ;;
    legacy) die "$EXIT_ORDER" "nothing to roll back: the deployment is in legacy" ;;
    *) die "$EXIT_FAILED" "unknown phase $CUR_PHASE" ;;
  esac
}

phase_rollback() {
  read_state
  roll_back
}

phase_status() {
  read_state
  echo "phase: $(script_phase) (server: $CUR_PHASE, ratio $CUR_RATIO, level $CUR_LEVEL)"
  admin migration status
  local recorded
  recorded=$(kube_read get statefulset "$STATEFULSET" -o \
    "jsonpath={range .spec.template.spec.containers[?(@.name==\"$CONTAINER\")].env[*]}{.name}={.value}{\"\\n\"}{end}" 2>/dev/null |
    grep -E '^RUSTFS_(DUAL_TRACK_RATIO|METADATA_ENGINE)=' || true)
  echo "recorded in statefulset/$STATEFULSET: ${recorded:-(unknown)}" | tr '\n' ' '
  echo
}

case "$PHASE" in
  canary | expand | fullout | kv_primary | complete | rollback | status) "phase_$PHASE" ;;
  *) echo "unknown phase: $PHASE" >&2; usage >&2; exit "$EXIT_USAGE" ;;
esac
if [[ "$PHASE" == status ]]; then exit 0; fi
if [[ "$DRY_RUN" == 1 ]]; then log "phase '$PHASE': dry run, nothing changed"; else log "phase '$PHASE' done"; fi
