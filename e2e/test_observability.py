"""Observability end to end: /metrics access and content after real traffic, a real
Prometheus (Debian package) scraping the server and evaluating the alert rules, every
metric name used by the rules and dashboards present on a live server, every dashboard
query parsed by promtool and run by Prometheus, and traces received by a real OTLP
receiver (HTTP and gRPC) with the request span, its children, traceparent propagation,
the sampler and the trace id in JSON logs."""

import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT, Server, free_port
from otlp import GrpcReceiver, HttpReceiver

TOKEN = "e2e-metrics-token-0123456789"
RULES = os.path.join(ROOT, "deploy", "prometheus", "rules", "metadata.yaml")
DASHBOARDS = sorted(glob.glob(os.path.join(ROOT, "deploy", "grafana", "dashboards", "*.json")))
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def get(url, headers=None, timeout=10):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(server, token=TOKEN):
    status, body = get(f"{server.endpoint}/metrics", {"Authorization": f"Bearer {token}"})
    assert status == 200, body
    return body


def samples(text):
    """{sample name: [(labels text, value)]} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        assert m, f"unparsable exposition line: {line!r}"
        out.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
    return out


def value(s, name, **labels):
    total = 0.0
    for lbl, v in s.get(name, []):
        if all(f'{k}="{v2}"' in lbl for k, v2 in labels.items()):
            total += v
    return total


def dashboard_exprs():
    out = []
    for path in DASHBOARDS:
        with open(path) as f:
            d = json.load(f)
        for panel in d["panels"]:
            for t in panel.get("targets", []):
                out.append((os.path.basename(path), panel["title"], t["expr"]))
    assert len(out) > 50, "the dashboards hold the queries"
    return out


def concrete(expr):
    """A dashboard query with Grafana's variables filled in as Grafana would."""
    return expr.replace("$__rate_interval", "1m").replace("$instance", ".*")


def rule_exprs():
    import yaml
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    return [(r["alert"], r["expr"]) for g in doc["groups"] for r in g["rules"]]


def metric_names(expr):
    return set(re.findall(r"\b((?:rustfs|process)_[a-zA-Z0-9_]+)", expr))


def traffic(server):
    """Some of every kind of request, including failures."""
    s3 = server.client()
    s3.create_bucket(Bucket="obs")
    s3.put_object(Bucket="obs", Key="small", Body=b"x" * 4096)
    s3.put_object(Bucket="obs", Key="big", Body=os.urandom(300 * 1024))  # erasure-coded
    assert s3.get_object(Bucket="obs", Key="big")["Body"].read()
    s3.head_object(Bucket="obs", Key="small")
    s3.list_objects_v2(Bucket="obs")
    s3.delete_object(Bucket="obs", Key="small")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="obs", Key="missing")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="no-such-bucket-here", Key="k")
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"
    return s3


@pytest.fixture(scope="module")
def dual():
    """A DualTrack server (xl.meta legacy track, fullout) that has served traffic and run the
    migrator, the validator and a heal job, so every subsystem has metrics to show."""
    s = Server(extra_args=["--metadata-engine", "legacy", "--dual-track-ratio", "1.0",
                           "--inventory-interval-secs", "2"],
               env={"RUSTFS_METRICS_TOKEN": TOKEN}).start()
    traffic(s)
    s.admin("migration", "start", "--wait")
    s.admin("validate")
    s.admin("heal")
    yield s
    s.cleanup()


def test_metrics_need_the_token_unless_public(fresh_server):
    fresh_server.env["RUSTFS_METRICS_TOKEN"] = TOKEN
    fresh_server.start()
    status, _ = get(f"{fresh_server.endpoint}/metrics")
    assert status == 401
    status, _ = get(f"{fresh_server.endpoint}/metrics", {"Authorization": "Bearer wrong-token-xyz"})
    assert status == 403
    assert "rustfs_drive_online" in scrape(fresh_server)
    # A bucket named "metrics" is still reachable with signed S3 requests.
    s3 = fresh_server.client()
    s3.create_bucket(Bucket="metrics")
    s3.put_object(Bucket="metrics", Key="k", Body=b"v")
    assert [o["Key"] for o in s3.list_objects(Bucket="metrics")["Contents"]] == ["k"]
    assert TOKEN not in fresh_server.logs(), "the token never appears in logs"
    fresh_server.stop()
    fresh_server.env.pop("RUSTFS_METRICS_TOKEN")
    fresh_server.env["RUSTFS_METRICS_AUTH"] = "public"
    fresh_server.start()
    status, body = get(f"{fresh_server.endpoint}/metrics")
    assert status == 200 and "process_resident_memory_bytes" in body


def test_metrics_count_real_traffic(fresh_server):
    fresh_server.env["RUSTFS_METRICS_AUTH"] = "public"
    fresh_server.start()
    before = samples(get(f"{fresh_server.endpoint}/metrics")[1])
    assert value(before, "rustfs_put_object_total") == 0
    traffic(fresh_server)
    s = samples(get(f"{fresh_server.endpoint}/metrics")[1])
    assert value(s, "rustfs_s3_requests_total", op="PutObject", status="200") == 2
    assert value(s, "rustfs_s3_requests_total", op="GetObject", status="200") == 1
    assert value(s, "rustfs_s3_requests_total", op="GetObject", status="404") == 2
    assert value(s, "rustfs_s3_errors_total", op="GetObject", code="NoSuchKey") == 1
    assert value(s, "rustfs_s3_errors_total", op="GetObject", code="NoSuchBucket") == 1
    assert value(s, "rustfs_s3_received_bytes_total", op="PutObject") == 4096 + 300 * 1024
    assert value(s, "rustfs_s3_sent_bytes_total", op="GetObject") >= 300 * 1024
    assert value(s, "rustfs_s3_request_duration_seconds_count", op="PutObject") == 2
    assert value(s, "rustfs_s3_requests_in_flight") == 0, "the scrape itself is not an S3 request"
    # The seed's names.
    assert value(s, "rustfs_put_object_total") == 2
    assert value(s, "rustfs_put_object_latency_ms_count") == 2
    assert value(s, "rustfs_get_object_total") == 3
    assert value(s, "rustfs_get_object_errors_total") == 0, "404s are not server errors"
    assert value(s, "rustfs_delete_object_total") == 1
    assert value(s, "rustfs_list_objects_total") == 1
    assert value(s, "rustfs_kv_write_latency_ms_count", op="put_object") == 2
    assert value(s, "rustfs_kv_read_latency_ms_count", op="get_object") >= 3
    # One-member replication group, drives, sets, process.
    assert value(s, "rustfs_metadata_replication_leader_id") == 1
    assert value(s, "rustfs_metadata_replication_node_count") == 1
    assert value(s, "rustfs_metadata_replication_committed_index") >= 4
    assert value(s, "rustfs_drive_online") == 12
    assert value(s, "rustfs_erasure_set_quorum", set="0") == 1
    assert value(s, "rustfs_drive_shard_commit_seconds_count") == 12, "one commit per shard of the big object"
    assert value(s, "process_resident_memory_bytes") > 0
    assert value(s, "process_open_fds") > 0
    # No secret in the exposition.
    text = get(f"{fresh_server.endpoint}/metrics")[1]
    assert "e2e-root-secret" not in text


def test_drive_offline_shows_in_metrics(fresh_server):
    fresh_server.env["RUSTFS_METRICS_AUTH"] = "public"
    fresh_server.start()
    s3 = fresh_server.client()
    s3.create_bucket(Bucket="drv")
    shutil.rmtree(fresh_server.drives()[2])
    # A write notices the removed drive.
    s3.put_object(Bucket="drv", Key="k", Body=os.urandom(300 * 1024))
    s = samples(get(f"{fresh_server.endpoint}/metrics")[1])
    assert value(s, "rustfs_drive_online") == 11
    assert value(s, "rustfs_erasure_set_online_drives", set="0") == 11
    assert value(s, "rustfs_erasure_set_quorum", set="0") == 1
    gone = fresh_server.drives()[2]
    assert [v for lbl, v in s["rustfs_drive_online"] if f'drive="{gone}"' in lbl] == [0.0]


def test_dualtrack_metrics(dual):
    s = samples(scrape(dual))
    assert value(s, "rustfs_migration_phase", phase="fullout") == 1
    assert value(s, "rustfs_migration_phase", phase="legacy") == 0
    assert value(s, "rustfs_migration_ratio") == 1.0
    assert value(s, "rustfs_migration_migrator_done") == 1
    assert value(s, "rustfs_migration_objects_scanned_total") >= 1
    assert value(s, "rustfs_validation_runs_total") >= 1
    assert value(s, "rustfs_validation_objects_total") >= 1
    assert value(s, "rustfs_fs_write_latency_ms_count", op="put_object") >= 2
    deadline = time.time() + 20
    while value(s, "rustfs_objects_in_fs") != value(s, "rustfs_objects_in_kv") or value(s, "rustfs_objects_in_kv") != 1:
        assert time.time() < deadline, "inventory counts both tracks"
        time.sleep(0.5)
        s = samples(scrape(dual))


def test_rules_and_dashboards_only_use_exported_metrics(dual):
    time.sleep(2.5)  # one inventory round
    exported = set(samples(scrape(dual)))
    used = {}
    for alert, expr in rule_exprs():
        for n in metric_names(expr):
            used.setdefault(n, []).append(f"alert {alert}")
    for dash, title, expr in dashboard_exprs():
        for n in metric_names(expr):
            used.setdefault(n, []).append(f"{dash}: {title}")
    assert len(used) > 60
    missing = {n: where for n, where in used.items() if n not in exported}
    assert not missing, f"rules or panels use metrics the server does not export: {missing}"


def test_dashboard_queries_parse_with_promtool(tmp_path):
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:query:{i}", "expr": concrete(expr)} for i, (_, _, expr) in enumerate(dashboard_exprs())
    ]}]}
    p = tmp_path / "dashboards.rules.yaml"
    p.write_text(json.dumps(rules))
    r = subprocess.run([PROMTOOL, "check", "rules", str(p)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


class Prometheus:
    def __init__(self, target, token):
        self.dir = tempfile.mkdtemp(prefix="rustfs-prom-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        with open(os.path.join(self.dir, "token"), "w") as f:
            f.write(token)
        with open(os.path.join(self.dir, "prometheus.yml"), "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {RULES}
scrape_configs:
  - job_name: rustfs
    authorization:
      type: Bearer
      credentials_file: {os.path.join(self.dir, "token")}
    static_configs:
      - targets: ["{target}"]
""")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen([
            PROMETHEUS, f"--config.file={self.dir}/prometheus.yml", f"--storage.tsdb.path={self.dir}/data",
            f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle",
        ], stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, expr):
        status, body = get(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        return status, json.loads(body) if body.startswith("{") else body

    def wait(self, expr, pred, timeout=60):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                status, last = self.query(expr)
                if status == 200 and pred(last["data"]["result"]):
                    return last["data"]["result"]
            except (OSError, KeyError, TypeError):
                pass
            time.sleep(0.5)
        with open(os.path.join(self.dir, "log")) as f:
            raise AssertionError(f"{expr}: {last}\n{f.read()[-3000:]}")

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def prometheus(dual):
    assert os.path.exists(PROMETHEUS), "Prometheus (Debian package `prometheus`) is needed: .ci/run installs it"
    p = Prometheus(f"127.0.0.1:{dual.port}", TOKEN)
    yield p
    p.close()


def test_prometheus_scrapes_and_queries_the_request_counter(dual, prometheus):
    up = prometheus.wait('up{job="rustfs"}', lambda r: r and r[0]["value"][1] == "1")
    assert up
    result = prometheus.wait('sum(rustfs_s3_requests_total{op="PutObject",status="200"})',
                             lambda r: r and float(r[0]["value"][1]) >= 2)
    before = float(result[0]["value"][1])
    dual.client().put_object(Bucket="obs", Key="through-prometheus", Body=b"p")
    prometheus.wait('sum(rustfs_s3_requests_total{op="PutObject",status="200"})',
                    lambda r: r and float(r[0]["value"][1]) >= before + 1)
    # The alert rules load and evaluate in a real Prometheus; none fires on a healthy server.
    status, rules = prometheus.query("ALERTS")
    assert status == 200
    deadline = time.time() + 30
    while True:
        status, body = get(f"{prometheus.url}/api/v1/rules")
        groups = json.loads(body)["data"]["groups"]
        rules_seen = [r for g in groups for r in g["rules"]]
        if len(rules_seen) == len(rule_exprs()) and all(r.get("health") == "ok" for r in rules_seen):
            break
        assert time.time() < deadline, f"rules not healthy: {rules_seen}"
        time.sleep(0.5)
    assert all(r["state"] == "inactive" for r in rules_seen), [r for r in rules_seen if r["state"] != "inactive"]


def test_every_dashboard_query_runs_in_prometheus(dual, prometheus):
    prometheus.wait("rustfs_build_info", lambda r: len(r) == 1)
    time.sleep(3)  # enough samples for rate()
    failures = []
    empty = []
    exprs = dashboard_exprs()
    for dash, title, expr in exprs:
        status, body = prometheus.query(concrete(expr))
        if status != 200 or body.get("status") != "success":
            failures.append((dash, title, expr, body))
        elif not body["data"]["result"]:
            empty.append((dash, title, expr))
    assert not failures, failures
    assert empty == [], f"{len(empty)} of {len(exprs)} queries returned no data: {empty}"


def _otlp_server(receiver, protocol, extra_env=None):
    env = {"RUSTFS_OTEL_ENDPOINT": receiver.endpoint, "RUSTFS_OTEL_PROTOCOL": protocol,
           "RUSTFS_LOG_FORMAT": "json", "RUST_LOG": "info,rustfs=debug,s3s=off"}
    env.update(extra_env or {})
    return Server(env=env).start()


@pytest.mark.parametrize("receiver_cls,protocol", [(HttpReceiver, "http/protobuf"), (GrpcReceiver, "grpc")])
def test_put_trace_reaches_an_otlp_receiver(receiver_cls, protocol):
    receiver = receiver_cls()
    server = _otlp_server(receiver, protocol)
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="traced")
        s3.put_object(Bucket="traced", Key="obj", Body=os.urandom(300 * 1024))
        root = receiver.wait_for(lambda s: s.name == "PutObject" and s.attributes.get("s3.bucket") == "traced")
        assert root.parent_span_id == "", "the request span is the root"
        assert root.kind == 2, "SERVER span"
        assert root.attributes["s3.key"] == "obj"
        assert str(root.attributes["http.response.status_code"]) == "200"
        assert root.resource.get("service.name") == "rustfs"
        receiver.wait_for(lambda s: s.trace_id == root.trace_id and s.name == "metadata"
                          and s.attributes.get("op") == "put_object")
        trace = receiver.trace(root.trace_id)
        children = [s for s in trace if s.parent_span_id == root.span_id]
        names = [s.name for s in children]
        assert "erasure_encode" in names
        commits = [s for s in children if s.name == "shard_commit"]
        assert len(commits) == 12, names
        assert len({s.attributes["drive"] for s in commits}) == 12, "one span per drive"
        meta = [s for s in children if s.name == "metadata" and s.attributes.get("op") == "put_object"]
        assert meta and meta[0].attributes["track"] == "kv"
        # The trace id is in the request's JSON log lines.
        server.stop()
        lines = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
        ids = {line.get("span", {}).get("trace_id") for line in lines if line.get("fields", {}).get("op") == "PutObject"}
        assert root.trace_id in ids, ids
    finally:
        server.cleanup()
        receiver.close()


def test_traceparent_is_followed_and_sampling_applies():
    receiver = HttpReceiver()
    server = _otlp_server(receiver, "http/protobuf", {"RUSTFS_OTEL_SAMPLING": "0"})
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="sampled")  # sampling 0: not exported
        trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

        def add_traceparent(request, **kwargs):
            request.headers["traceparent"] = f"00-{trace_id}-{parent}-01"

        s3.meta.events.register("before-send.s3.HeadBucket", add_traceparent)
        s3.head_bucket(Bucket="sampled")
        span = receiver.wait_for(lambda s: s.name == "HeadBucket")
        assert span.trace_id == trace_id, "the caller's trace continues"
        assert span.parent_span_id == parent
        time.sleep(1)
        assert not [s for s in receiver.spans if s.name == "CreateBucket"], "sampling 0 exports no new trace"
    finally:
        server.cleanup()
        receiver.close()


def test_migration_and_validation_batches_are_traced():
    receiver = HttpReceiver()
    server = Server(extra_args=["--metadata-engine", "legacy", "--dual-track-ratio", "1.0"],
                    env={"RUSTFS_OTEL_ENDPOINT": receiver.endpoint, "RUSTFS_OTEL_PROTOCOL": "http/protobuf",
                         "RUSTFS_OTEL_SAMPLING": "0"}).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="batches")
        for i in range(5):
            s3.put_object(Bucket="batches", Key=f"k{i}", Body=b"v")
        server.admin("migration", "start", "--wait")
        server.admin("validate")
        m = receiver.wait_for(lambda s: s.name == "migration_batch" and s.attributes.get("bucket") == "batches")
        assert str(m.attributes["keys"]) == "5" and m.parent_span_id == ""
        receiver.wait_for(lambda s: s.name == "validation_batch" and s.attributes.get("bucket") == "batches")
        assert not [s for s in receiver.spans if s.name == "PutObject"], "sampling 0: requests are not traced"
        assert not [s for s in receiver.trace(m.trace_id) if s.span_id != m.span_id], \
            "a batch's per-key operations are not exported"
    finally:
        server.cleanup()
        receiver.close()
