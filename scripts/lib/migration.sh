# shellcheck shell=bash
# shellcheck disable=SC2034 # the state and exit codes are read by the scripts that source this
# What gradual_migration.sh, monitor_canary.sh and check_migration_progress.sh share: the
# settings of an environment, logging, and the calls to rustfs-admin and kubectl (printed
# instead of run under --dry-run when they would change something). Sourced, never run.

# Where the scripts and the repository are (this file is scripts/lib/migration.sh).
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)

# Exit codes of the migration scripts.
readonly EXIT_FAILED=1 # a command failed (rustfs-admin, kubectl)
readonly EXIT_USAGE=2  # bad arguments or settings
readonly EXIT_GATE=3   # a gate failed: the phase was not changed (or a monitor rolled back)
readonly EXIT_ORDER=4  # the phase cannot follow the current one (or the migration is not done)

log() { printf '[%s] %s\n' "$(date -u +'%Y-%m-%d %H:%M:%S')" "$*"; }
die() {
  local code=$1
  shift
  printf '[%s] error: %s\n' "$(date -u +'%Y-%m-%d %H:%M:%S')" "$*" >&2
  exit "$code"
}

# The settings, after the environment file (deploy/k8s/environments/ENVIRONMENT.env, if
# any) had its say; variables set by the caller win over both.
migration_settings() {
  : "${KUBECTL:=kubectl}"
  : "${KUBE_CONTEXT:=}"
  : "${NAMESPACE:=rustfs}"
  : "${STATEFULSET:=rustfs}"
  : "${CONTAINER:=rustfs}"
  : "${ROLLOUT_TIMEOUT:=15m}"
  : "${RUSTFS_ADMIN:=rustfs-admin}"
  : "${GATE_WINDOW:=60}"
  : "${GATE_MAX_ERROR_RATE:=0.0001}"
  : "${GATE_MAX_P99_MS:=100}"
  : "${GATE_MAX_CONSISTENCY_ERRORS:=0}"
  : "${GATE_MAX_DIVERGENCE:=0}"
  : "${GATE_MIN_REQUESTS:=0}"
  : "${VALIDATE_SAMPLE:=0.01}"
  : "${PROMETHEUS_URL:=}"
  : "${PROMETHEUS_SELECTOR:=}"
  : "${MONITOR_SECONDS:=0}"
  : "${MONITOR_INTERVAL:=300}"
  : "${DRY_RUN:=0}"
  # RUSTFS_ADMIN may be a command line (`kubectl exec -n rustfs rustfs-0 -- rustfs-admin`).
  read -r -a ADMIN_CMD <<<"$RUSTFS_ADMIN"
  KUBE_CMD=("$KUBECTL")
  if [[ -n "$KUBE_CONTEXT" ]]; then KUBE_CMD+=(--context "$KUBE_CONTEXT"); fi
  KUBE_CMD+=(-n "$NAMESPACE")
}

# Loads ENVIRONMENT's settings file when there is one.
load_environment() {
  local env_name=$1 dir=${RUSTFS_ENVIRONMENTS_DIR:-$REPO/deploy/k8s/environments}
  if [[ ! "$env_name" =~ ^[A-Za-z0-9_.-]+$ ]]; then
    die "$EXIT_USAGE" "environment name '$env_name' must be letters, digits, '.', '_' or '-'"
  fi
  if [[ -f "$dir/$env_name.env" ]]; then
    # shellcheck source=/dev/null
    source "$dir/$env_name.env"
  fi
  migration_settings
}

# Runs a command that changes something, or prints it under --dry-run.
change() {
  if [[ "$DRY_RUN" == 1 ]]; then
    printf 'DRY-RUN:'
    printf ' %q' "$@"
    printf '\n'
    return 0
  fi
  "$@"
}

admin() { "${ADMIN_CMD[@]}" "$@"; }
admin_change() { change "${ADMIN_CMD[@]}" "$@"; }
kube_change() { change "${KUBE_CMD[@]}" "$@"; }
kube_read() { "${KUBE_CMD[@]}" "$@"; }

# Reads the migration state into CUR_PHASE, CUR_RATIO, CUR_LEVEL, MIGRATOR_DONE, MIGRATOR,
# SCANNED, TOTAL and VALIDATION (from `rustfs-admin migration status --short`).
read_state() {
  local line word
  line=$(admin migration status --short) || die "$EXIT_FAILED" "cannot read the migration state through ${ADMIN_CMD[*]}"
  CUR_PHASE="" CUR_RATIO="" CUR_LEVEL="" MIGRATOR_DONE="" MIGRATOR="" SCANNED=0 TOTAL=0 VALIDATION=""
  for word in $line; do
    case "$word" in
      phase=*) CUR_PHASE=${word#phase=} ;;
      ratio=*) CUR_RATIO=${word#ratio=} ;;
      level=*) CUR_LEVEL=${word#level=} ;;
      migrator_done=*) MIGRATOR_DONE=${word#migrator_done=} ;;
      migrator=*) MIGRATOR=${word#migrator=} ;;
      scanned=*) SCANNED=${word#scanned=} ;;
      total=*) TOTAL=${word#total=} ;;
      validation=*) VALIDATION=${word#validation=} ;;
      *) ;;
    esac
  done
  [[ -n "$CUR_PHASE" ]] || die "$EXIT_FAILED" "unexpected answer from rustfs-admin: $line"
}

# The script's name for the server's state: legacy, canary (ratio up to 5%), expand
# (a larger canary), fullout, kv_primary or complete.
script_phase() {
  if [[ "$CUR_PHASE" == canary ]] && awk -v r="$CUR_RATIO" 'BEGIN { exit !(r > 0.05) }'; then
    echo expand
  else
    echo "$CUR_PHASE"
  fi
}

# Runs the gates; returns 0 when every gate passed, EXIT_GATE when one failed.
# Extra arguments go to `rustfs-admin migration gates` (--validate-sample, --skip-validation).
run_gates() {
  local args=(migration gates --window "$GATE_WINDOW" --max-error-rate "$GATE_MAX_ERROR_RATE"
    --max-p99-ms "$GATE_MAX_P99_MS" --max-consistency-errors "$GATE_MAX_CONSISTENCY_ERRORS"
    --max-divergence "$GATE_MAX_DIVERGENCE" --min-requests "$GATE_MIN_REQUESTS")
  if [[ -n "$PROMETHEUS_URL" ]]; then
    args+=(--prometheus "$PROMETHEUS_URL" --selector "$PROMETHEUS_SELECTOR")
  fi
  local rc=0
  admin "${args[@]}" "$@" || rc=$?
  case "$rc" in
    0) return 0 ;;
    3) return "$EXIT_GATE" ;;
    *) die "$EXIT_FAILED" "the gates could not be checked (rustfs-admin exited $rc)" ;;
  esac
}
