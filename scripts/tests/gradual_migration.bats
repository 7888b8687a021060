#!/usr/bin/env bats
# scripts/gradual_migration.sh (with monitor_canary.sh and check_migration_progress.sh)
# against a real local `rustfs` server (the legacy engine, objects written with aws-cli)
# for every admin call, and the stand-in kubectl of tests/bin, which records its
# arguments. The tests run in file order: one migration, legacy to complete, with a
# dry run, a failing gate, refusals and rollbacks on the way. Run with
#   prove -e bats scripts/tests/      (or: bats scripts/tests/gradual_migration.bats)

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
SCRIPT=$ROOT/scripts/gradual_migration.sh
RUSTFS=${RUSTFS_BIN:-$ROOT/target/release/rustfs}
ADMIN=${RUSTFS_ADMIN_BIN:-$ROOT/target/release/rustfs-admin}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() {
  # $@: extra environment (NAME=value) for this start.
  env "$@" RUSTFS_METADATA_ENGINE="${ENGINE:-legacy}" "$RUSTFS" server --data "$WORK/data" \
    --address "127.0.0.1:$PORT" >>"$WORK/server.log" 2>&1 &
  echo $! >"$WORK/server.pid"
  for _ in $(seq 1 200); do
    if curl -fsS "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  cat "$WORK/server.log" >&2
  return 1
}

stop_server() {
  local pid
  pid=$(cat "$WORK/server.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

aws_s3() {
  AWS_ACCESS_KEY_ID=$RUSTFS_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$RUSTFS_SECRET_KEY AWS_DEFAULT_REGION=us-east-1 \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    aws --endpoint-url "$RUSTFS_ENDPOINT" "$@"
}

setup_file() {
  export WORK="$BATS_FILE_TMPDIR/work"
  mkdir -p "$WORK/env" "$WORK/objects"
  PORT=$(free_port)
  export PORT
  export RUSTFS_ACCESS_KEY=bats-admin RUSTFS_SECRET_KEY=bats-admin-secret RUSTFS_METRICS_TOKEN=bats-metrics-token
  export RUSTFS_ENDPOINT="http://127.0.0.1:$PORT"
  start_server
  aws_s3 s3 mb s3://photos >/dev/null
  for i in $(seq 1 20); do echo "object $i" >"$WORK/objects/o$i.txt"; done
  aws_s3 s3 cp --recursive --quiet "$WORK/objects" s3://photos/2026/
}

teardown_file() {
  stop_server
}

setup() {
  export PATH="$BATS_TEST_DIRNAME/bin:$PATH"
  export KUBECTL_LOG="$WORK/kubectl.log"
  export RUSTFS_ADMIN="$ADMIN"
  export RUSTFS_ENVIRONMENTS_DIR="$WORK/env"
  export GATE_WINDOW=1 VALIDATE_SAMPLE=1 MONITOR_INTERVAL=1 ROLLOUT_TIMEOUT=1m
  : >"$KUBECTL_LOG"
}

phase_is() {
  local line
  line=$("$ADMIN" migration status --short)
  [[ "$line" == *"phase=$1 "* ]] || { echo "state: $line" >&2; return 1; }
}

@test "--help, usage errors and exit code 2" {
  run "$SCRIPT" --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"canary"*"expand"*"fullout"*"complete"*"rollback"*"status"* ]]
  run "$SCRIPT"
  [ "$status" -eq 2 ]
  run "$SCRIPT" test nonsense
  [ "$status" -eq 2 ]
  [[ "$output" == *"unknown phase: nonsense"* ]]
  run "$SCRIPT" --frobnicate test canary
  [ "$status" -eq 2 ]
  run "$SCRIPT" '../etc' status
  [ "$status" -eq 2 ]
  run "$ROOT/scripts/monitor_canary.sh" --help
  [ "$status" -eq 0 ]
  run "$ROOT/scripts/check_migration_progress.sh"
  [ "$status" -eq 2 ]
}

@test "status shows the server's phase and what the StatefulSet records" {
  run "$SCRIPT" test status
  [ "$status" -eq 0 ]
  [[ "$output" == *"phase: legacy"* ]]
  [[ "$output" == *"recorded in statefulset/rustfs: RUSTFS_DUAL_TRACK_RATIO=0 RUSTFS_METADATA_ENGINE=legacy"* ]]
  grep -q -- "-n rustfs get statefulset rustfs -o jsonpath=" "$KUBECTL_LOG"
}

@test "phases out of order are refused with exit code 4" {
  run "$SCRIPT" test expand
  [ "$status" -eq 4 ]
  [[ "$output" == *"expand follows canary (the deployment is in legacy)"* ]]
  run "$SCRIPT" test rollback
  [ "$status" -eq 4 ]
  [[ "$output" == *"nothing to roll back"* ]]
  run "$SCRIPT" --yes test complete
  [ "$status" -eq 4 ]
  phase_is legacy
  [ ! -s "$KUBECTL_LOG" ]
}

@test "--dry-run canary checks the gates, prints the changes and changes nothing" {
  run "$SCRIPT" --dry-run test canary
  [ "$status" -eq 0 ]
  [[ "$output" == *"PASS error_rate"* ]]
  [[ "$output" == *"DRY-RUN: $ADMIN migration phase canary --ratio 0.05"* ]]
  [[ "$output" == *"DRY-RUN: kubectl -n rustfs patch statefulset rustfs --type strategic -p"* ]]
  [[ "$output" == *"DRY-RUN: kubectl -n rustfs rollout status statefulset/rustfs"* ]]
  [[ "$output" == *"dry run, nothing changed"* ]]
  phase_is legacy
  [ ! -s "$KUBECTL_LOG" ]
}

@test "canary: 5% of the keys, recorded in the StatefulSet's env" {
  run "$SCRIPT" test canary
  [ "$status" -eq 0 ]
  phase_is canary
  "$ADMIN" migration status --short | grep -q "ratio=0.05"
  grep -qF -- '-n rustfs patch statefulset rustfs --type strategic -p {"spec":{"template":{"spec":{"containers":[{"name":"rustfs","env":[{"name":"RUSTFS_DUAL_TRACK_RATIO","value":"0.05"},{"name":"RUSTFS_METADATA_ENGINE","value":"legacy"}]}]}}}}' "$KUBECTL_LOG"
  grep -qF -- "-n rustfs rollout status statefulset/rustfs --timeout 1m" "$KUBECTL_LOG"
  # Again: nothing to do.
  run "$SCRIPT" test canary
  [ "$status" -eq 0 ]
  [[ "$output" == *"already in canary"* ]]
}

@test "a gate failing while a phase is monitored rolls the phase back" {
  REAL_RUSTFS_ADMIN=$ADMIN RUSTFS_ADMIN="$BATS_TEST_DIRNAME/bin/rustfs-admin-failing-monitor" \
    run "$SCRIPT" --monitor 5 test expand
  [ "$status" -eq 3 ]
  [[ "$output" == *"a gate failed while monitoring expand: rolling back"* ]]
  [[ "$output" == *"expand was rolled back after a failed gate"* ]]
  "$ADMIN" migration status --short | grep -q "phase=canary ratio=0.05 "
  grep -qF '"value":"0.25"' "$KUBECTL_LOG"
  [ "$(grep -c 'patch statefulset' "$KUBECTL_LOG")" -eq 2 ]
  tail -2 "$KUBECTL_LOG" | grep -qF '"value":"0.05"'
}

@test "a failing gate refuses to advance, names the gate and changes nothing" {
  # Traffic during the window, judged against a p99 no request can meet.
  "$ADMIN" bench --op head --size 1KiB -c 2 --duration 6 --bucket bats-load >/dev/null 2>&1 &
  local load=$!
  sleep 1
  GATE_WINDOW=2 GATE_MAX_P99_MS=0.000001 run "$SCRIPT" test expand
  wait "$load" || true
  [ "$status" -eq 3 ]
  [[ "$output" == *"FAIL latency_p99"* ]]
  [[ "$output" == *"refusing to move to expand: a gate failed"* ]]
  "$ADMIN" migration status --short | grep -q "phase=canary ratio=0.05 "
  run grep -q patch "$KUBECTL_LOG"
  [ "$status" -ne 0 ]
  # So does a window without the traffic a verdict needs.
  GATE_MIN_REQUESTS=1000000 run "$SCRIPT" test expand
  [ "$status" -eq 3 ]
  [[ "$output" == *"FAIL traffic"* ]]
}

@test "expand: 25%, validated first, then watched by monitor_canary.sh" {
  run "$SCRIPT" --monitor 2 test expand
  [ "$status" -eq 0 ]
  [[ "$output" == *"PASS validator_divergence"* ]]
  [[ "$output" == *"monitor round 2"* ]]
  [[ "$output" == *"every gate held for 2s"* ]]
  "$ADMIN" migration status --short | grep -q "phase=canary ratio=0.25 "
  grep -qF '"value":"0.25"' "$KUBECTL_LOG"
}

@test "fullout: 100% and the migration Job" {
  run "$SCRIPT" test fullout
  [ "$status" -eq 0 ]
  phase_is fullout
  grep -qF '"value":"1.0"' "$KUBECTL_LOG"
  grep -qF -- "-n rustfs delete job rustfs-migration --ignore-not-found" "$KUBECTL_LOG"
  grep -qF -- "-n rustfs apply -f $ROOT/deploy/k8s/migration-job.yaml" "$KUBECTL_LOG"
}

@test "kv_primary waits for the migration (check_migration_progress.sh)" {
  run "$SCRIPT" test kv_primary
  [ "$status" -eq 4 ]
  [[ "$output" == *"kv_primary waits for the migration to finish"* ]]
  phase_is fullout
}

@test "rollback from fullout goes back to expand and removes the migration Job" {
  run "$SCRIPT" test rollback
  [ "$status" -eq 0 ]
  "$ADMIN" migration status --short | grep -q "phase=canary ratio=0.25 "
  grep -qF -- "-n rustfs delete job rustfs-migration --ignore-not-found" "$KUBECTL_LOG"
  grep -qF '"value":"0.25"' "$KUBECTL_LOG"
  run "$SCRIPT" test fullout
  [ "$status" -eq 0 ]
}

@test "the migration Job's command copies every key; progress reports it done" {
  local cmd
  cmd=$(python3 -c 'import sys, yaml; print(" ".join(yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]["command"][1:]))' "$ROOT/deploy/k8s/migration-job.yaml")
  # shellcheck disable=SC2086 # the Job's argv
  run "$ADMIN" $cmd
  [ "$status" -eq 0 ]
  run "$ROOT/scripts/check_migration_progress.sh" test
  [ "$status" -eq 0 ]
  [[ "$output" == *"done: true"* ]]
}

@test "kv_primary, and a restart with the recorded env keeps it" {
  run "$SCRIPT" test kv_primary
  [ "$status" -eq 0 ]
  phase_is kv_primary
  grep -qF '{"name":"RUSTFS_METADATA_ENGINE","value":"kv_primary"}' "$KUBECTL_LOG"
  stop_server
  ENGINE=kv_primary start_server RUSTFS_DUAL_TRACK_RATIO=1.0
  phase_is kv_primary
  run grep -q "wins over the start-up configuration" "$WORK/server.log"
  [ "$status" -ne 0 ]
  aws_s3 s3 cp s3://photos/2026/o7.txt - | grep -q "object 7"
}

@test "rollback from kv_primary goes back to fullout" {
  run "$SCRIPT" test rollback
  [ "$status" -eq 0 ]
  phase_is fullout
  grep -qF '{"name":"RUSTFS_METADATA_ENGINE","value":"legacy"}' "$KUBECTL_LOG"
}

@test "complete needs confirmation" {
  run "$SCRIPT" test complete </dev/null
  [ "$status" -eq 2 ]
  [[ "$output" == *"confirm with --yes"* ]]
  phase_is fullout
}

@test "complete: kv_primary, a whole validation, the final phase, the cleanup Job" {
  run "$SCRIPT" --yes test complete
  [ "$status" -eq 0 ]
  phase_is complete
  grep -qF '{"name":"RUSTFS_METADATA_ENGINE","value":"kv_primary"}' "$KUBECTL_LOG"
  grep -qF '{"name":"RUSTFS_METADATA_ENGINE","value":"complete"}' "$KUBECTL_LOG"
  grep -qF -- "-n rustfs apply -f $ROOT/deploy/k8s/cleanup-job.yaml" "$KUBECTL_LOG"
  # The cleanup Job's command, then every object still reads from the KV alone.
  local cmd
  cmd=$(python3 -c 'import sys, yaml; print(" ".join(yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]["command"][1:]))' "$ROOT/deploy/k8s/cleanup-job.yaml")
  # shellcheck disable=SC2086 # the Job's argv
  run "$ADMIN" $cmd
  [ "$status" -eq 0 ]
  [ -z "$(find "$WORK/data" -name xl.meta -path '*photos*' | head -1)" ]
  aws_s3 s3 cp s3://photos/2026/o13.txt - | grep -q "object 13"
}

@test "complete is final: rollback is refused, a restart keeps it" {
  run "$SCRIPT" test rollback
  [ "$status" -eq 4 ]
  [[ "$output" == *"complete is final"* ]]
  stop_server
  ENGINE=complete start_server RUSTFS_DUAL_TRACK_RATIO=1.0
  phase_is complete
  [ "$(aws_s3 s3 ls --recursive s3://photos/ | wc -l)" -eq 20 ]
}

@test "gates from a real Prometheus scraping the server" {
  command -v prometheus >/dev/null || skip "needs prometheus (Debian package prometheus; .ci/run installs it)"
  local pport
  pport=$(free_port)
  printf 'global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: rustfs\n    metrics_path: /metrics\n    authorization: {credentials: %s}\n    static_configs: [{targets: ["127.0.0.1:%s"]}]\n' \
    "$RUSTFS_METRICS_TOKEN" "$PORT" >"$WORK/prometheus.yml"
  prometheus --config.file "$WORK/prometheus.yml" --storage.tsdb.path "$WORK/tsdb" \
    --web.listen-address "127.0.0.1:$pport" >"$WORK/prometheus.log" 2>&1 &
  local prom=$!
  "$ADMIN" bench --op head --size 1KiB -c 2 --duration 30 --bucket bats-prom >/dev/null 2>&1 &
  local load=$!
  # Until Prometheus holds 6 scrapes of the server under load (a rate over the 5 s window
  # needs two inside it), however long it takes to start on a busy machine (60 s at most).
  local scrapes=0
  for _ in $(seq 120); do
    scrapes=$(curl -fsS "http://127.0.0.1:$pport/api/v1/query" \
      --data-urlencode 'query=count_over_time(up{job="rustfs"}[10s])' 2>/dev/null |
      python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)' 2>/dev/null || echo 0)
    [ "$scrapes" -ge 6 ] && break
    sleep 0.5
  done
  echo "prometheus holds $scrapes scrapes"
  run "$ADMIN" migration gates --prometheus "http://127.0.0.1:$pport" --selector 'job="rustfs"' --window 5 --skip-validation
  local ok_status=$status ok_output=$output
  run "$ADMIN" migration gates --prometheus "http://127.0.0.1:$pport" --selector 'job="rustfs"' --window 5 --skip-validation --max-p99-ms 0.000001
  kill "$load" 2>/dev/null || true
  wait "$load" || true
  kill "$prom" && wait "$prom" || true
  echo "$ok_output"
  [ "$ok_status" -eq 0 ]
  [[ "$ok_output" == *"from prometheus http://127.0.0.1:$pport"* ]]
  [[ "$ok_output" =~ answered\ 5xx\ \(0\ of\ [1-9][0-9]*\) ]]
  [ "$status" -eq 3 ]
  [[ "$output" == *"FAIL latency_p99"* ]]
}
