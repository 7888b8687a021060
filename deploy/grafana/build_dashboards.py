#!/usr/bin/env python3
"""Writes the Grafana dashboards of deploy/grafana/dashboards/ (the committed JSON is the
product; this script is how it is made, so the five dashboards share one layout and one set
of variables). Run it after changing a panel:

    python3 deploy/grafana/build_dashboards.py

Every dashboard has a Prometheus data source variable and an `instance` variable; every
query filters on `instance=~"$instance"`. scripts/test_observability.sh type-checks the
JSON against @grafana/schema, and e2e/test_observability.py runs every query against a real
Prometheus scraping a real server and checks every metric name exists."""

import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboards")
DS = {"type": "prometheus", "uid": "${datasource}"}
I = 'instance=~"$instance"'
R = "$__rate_interval"


class Layout:
    def __init__(self):
        self.panels = []
        self.x = 0
        self.y = 0
        self.row_h = 0

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.x = 0
            self.y += self.row_h
            self.row_h = 0
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)

    def row(self, title):
        if self.x:
            self.x = 0
            self.y += self.row_h
            self.row_h = 0
        self.panels.append({
            "id": len(self.panels) + 1,
            "type": "row",
            "title": title,
            "collapsed": False,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            "panels": [],
        })
        self.y += 1


def targets(queries):
    out = []
    for i, q in enumerate(queries):
        expr, legend = q if isinstance(q, tuple) else (q, "")
        t = {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "range": True}
        if legend:
            t["legendFormat"] = legend
        out.append(t)
    return out


def timeseries(title, queries, unit="short", description="", stack=False):
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "spanNulls": True}
    if stack:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets(queries),
        "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(title, queries, unit="short", description="", thresholds=None, mappings=None):
    steps = thresholds or [{"color": "green", "value": None}]
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets(queries),
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": {"mode": "absolute", "steps": steps},
                "mappings": mappings or [],
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "auto",
            "justifyMode": "auto",
            "orientation": "auto",
        },
    }


def gauge(title, queries, unit="percentunit", minimum=0, maximum=1, description=""):
    return {
        "type": "gauge",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets(queries),
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": minimum,
                "max": maximum,
                "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]},
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showThresholdLabels": False,
            "showThresholdMarkers": True,
        },
    }


def bad_if(limit, color="red"):
    return [{"color": "green", "value": None}, {"color": color, "value": limit}]


def good_if_at_least(limit):
    return [{"color": "red", "value": None}, {"color": "green", "value": limit}]


def p(q, metric, by="", extra=""):
    """A histogram quantile over the dashboard's instances."""
    sel = f"{I}{extra}"
    group = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{sel}}}[{R}])))"


def dashboard(uid, title, description, layout, tags):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["rustfs"] + tags,
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "links": [{"title": "rustfs dashboards", "type": "dashboards", "tags": ["rustfs"], "asDropdown": True,
                   "icon": "external link", "includeVars": True, "keepTime": True, "targetBlank": False,
                   "tooltip": "", "url": ""}],
        "annotations": {"list": []},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "hide": 0,
                },
                {
                    "name": "instance",
                    "label": "Server",
                    "type": "query",
                    "datasource": DS,
                    "query": {"query": "label_values(rustfs_build_info, instance)", "refId": "instance"},
                    "refresh": 2,
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "sort": 1,
                    "hide": 0,
                },
            ]
        },
        "panels": layout.panels,
    }


def overview():
    l = Layout()
    l.row("Health")
    l.add(stat("Servers", [f"count(rustfs_build_info{{{I}}})"], thresholds=good_if_at_least(1)), 4, 4)
    l.add(stat("Drives online", [f"sum(rustfs_drive_online{{{I}}})"], description="Online drives of all servers"), 4, 4)
    l.add(stat("Drives offline", [f"count(rustfs_drive_online{{{I}}} == 0) or vector(0)"], thresholds=bad_if(1)), 4, 4)
    l.add(stat("Erasure sets without quorum",
               [f"sum(rustfs_erasure_sets{{{I}}}) - sum(rustfs_erasure_sets_with_quorum{{{I}}})"],
               thresholds=bad_if(1)), 4, 4)
    l.add(stat("Metadata leader", [f"max(rustfs_metadata_replication_leader_id{{{I}}})"],
               thresholds=good_if_at_least(1), description="Node id of the metadata group's leader; 0 = none"), 4, 4)
    l.add(stat("Objects (KV)", [f"sum(rustfs_objects_in_kv{{{I}}})"], description="Keys at the last inventory"), 4, 4)
    l.row("Traffic")
    l.add(timeseries("S3 requests by operation", [(f"sum by (op) (rate(rustfs_s3_requests_total{{{I}}}[{R}]))", "{{op}}")],
                     unit="reqps", stack=True), 12, 8)
    l.add(timeseries("S3 5xx share", [(
        f'(sum(rate(rustfs_s3_requests_total{{{I},status=~"5.."}}[{R}])) or vector(0)) / sum(rate(rustfs_s3_requests_total{{{I}}}[{R}]))',
        "5xx")], unit="percentunit"), 12, 8)
    l.add(timeseries("Bytes in and out", [
        (f"sum(rate(rustfs_s3_received_bytes_total{{{I}}}[{R}]))", "received"),
        (f"sum(rate(rustfs_s3_sent_bytes_total{{{I}}}[{R}]))", "sent"),
    ], unit="Bps"), 12, 8)
    l.add(timeseries("p99 request time by operation",
                     [(p(0.99, "rustfs_s3_request_duration_seconds", "op"), "{{op}}")], unit="s"), 12, 8)
    l.row("Process")
    l.add(timeseries("Resident memory", [(f"process_resident_memory_bytes{{{I}}}", "{{instance}}")], unit="bytes"), 8, 7)
    l.add(timeseries("CPU", [(f"rate(process_cpu_seconds_total{{{I}}}[{R}])", "{{instance}}")], unit="percentunit"), 8, 7)
    l.add(timeseries("Open files", [(f"process_open_fds{{{I}}}", "{{instance}}")]), 8, 7)
    return dashboard("rustfs-overview", "rustfs / Cluster overview",
                     "Health, traffic and resources of every rustfs server.", l, ["overview"])


def s3_api():
    l = Layout()
    l.row("Requests")
    l.add(timeseries("Requests by operation", [(f"sum by (op) (rate(rustfs_s3_requests_total{{{I}}}[{R}]))", "{{op}}")],
                     unit="reqps"), 12, 8)
    l.add(timeseries("Requests by status", [(f"sum by (status) (rate(rustfs_s3_requests_total{{{I}}}[{R}]))", "{{status}}")],
                     unit="reqps"), 12, 8)
    l.add(timeseries("Errors by S3 code", [(f"sum by (code) (rate(rustfs_s3_errors_total{{{I}}}[{R}]))", "{{code}}")],
                     unit="reqps"), 12, 8)
    l.add(timeseries("In-flight requests", [(f"sum(rustfs_s3_requests_in_flight{{{I}}})", "in flight")]), 12, 8)
    l.row("Latency")
    l.add(timeseries("p50 by operation", [(p(0.5, "rustfs_s3_request_duration_seconds", "op"), "{{op}}")], unit="s"), 12, 8)
    l.add(timeseries("p99 by operation", [(p(0.99, "rustfs_s3_request_duration_seconds", "op"), "{{op}}")], unit="s"), 12, 8)
    l.add(timeseries("Object operations p99 (seed metrics)", [
        (p(0.99, "rustfs_put_object_latency_ms"), "put"),
        (p(0.99, "rustfs_get_object_latency_ms"), "get"),
        (p(0.99, "rustfs_delete_object_latency_ms"), "delete"),
        (p(0.99, "rustfs_list_objects_latency_ms"), "list"),
    ], unit="ms"), 12, 8)
    l.add(timeseries("Object operations and server errors (seed metrics)", [
        (f"sum(rate(rustfs_put_object_total{{{I}}}[{R}]))", "put"),
        (f"sum(rate(rustfs_get_object_total{{{I}}}[{R}]))", "get"),
        (f"sum(rate(rustfs_delete_object_total{{{I}}}[{R}]))", "delete"),
        (f"sum(rate(rustfs_list_objects_total{{{I}}}[{R}]))", "list"),
        (f"sum(rate(rustfs_put_object_errors_total{{{I}}}[{R}]) + rate(rustfs_get_object_errors_total{{{I}}}[{R}])"
         f" + rate(rustfs_delete_object_errors_total{{{I}}}[{R}]) + rate(rustfs_list_objects_errors_total{{{I}}}[{R}]))",
         "5xx"),
    ], unit="reqps"), 12, 8)
    l.row("Bytes")
    l.add(timeseries("Received by operation", [(f"sum by (op) (rate(rustfs_s3_received_bytes_total{{{I}}}[{R}]))", "{{op}}")],
                     unit="Bps"), 12, 8)
    l.add(timeseries("Sent by operation", [(f"sum by (op) (rate(rustfs_s3_sent_bytes_total{{{I}}}[{R}]))", "{{op}}")],
                     unit="Bps"), 12, 8)
    return dashboard("rustfs-s3-api", "rustfs / S3 API", "S3 requests, latency, errors and bytes.", l, ["s3"])


def metadata():
    l = Layout()
    l.row("Metadata tracks")
    l.add(timeseries("KV write p99 by operation", [(p(0.99, "rustfs_kv_write_latency_ms", "op"), "{{op}}")], unit="ms"), 12, 8)
    l.add(timeseries("KV read p99 by operation", [(p(0.99, "rustfs_kv_read_latency_ms", "op"), "{{op}}")], unit="ms"), 12, 8)
    l.add(timeseries("xl.meta write p99 by operation", [(p(0.99, "rustfs_fs_write_latency_ms", "op"), "{{op}}")],
                     unit="ms", description="Only on deployments with an xl.meta track (DualTrack)"), 12, 8)
    l.add(timeseries("xl.meta read p99 by operation", [(p(0.99, "rustfs_fs_read_latency_ms", "op"), "{{op}}")], unit="ms"), 12, 8)
    l.add(timeseries("Track failures", [
        (f"sum by (track, op) (rate(rustfs_metadata_track_errors_total{{{I}}}[{R}]))", "{{track}} {{op}}")], unit="ops"), 24, 7)
    l.row("Replication group")
    l.add(stat("Leader", [f"max(rustfs_metadata_replication_leader_id{{{I}}})"], thresholds=good_if_at_least(1)), 4, 4)
    l.add(stat("Members", [f"max(rustfs_metadata_replication_node_count{{{I}}})"]), 4, 4)
    l.add(stat("Healthy members", [f"min(rustfs_metadata_replication_healthy_nodes{{{I}}})"]), 4, 4)
    l.add(stat("Term", [f"max(rustfs_metadata_replication_term{{{I}}})"]), 4, 4)
    l.add(stat("Lag (entries)", [f"max(rustfs_metadata_replication_lag_entries{{{I}}})"], thresholds=bad_if(1000)), 4, 4)
    l.add(stat("Lag (ms)", [f"max(rustfs_metadata_replication_lag_time_ms{{{I}}})"], unit="ms", thresholds=bad_if(5000)), 4, 4)
    l.add(timeseries("Commit and read time p99", [
        (p(0.99, "rustfs_metadata_replication_write_latency_seconds"), "write"),
        (p(0.99, "rustfs_metadata_replication_read_latency_seconds"), "read"),
    ], unit="s"), 8, 8)
    l.add(timeseries("Operations per second", [
        (f"sum(rustfs_metadata_replication_ops_per_second{{{I}}})", "reported"),
        (f"sum by (kind) (rate(rustfs_metadata_replication_ops_total{{{I}}}[{R}]))", "{{kind}}"),
    ], unit="ops"), 8, 8)
    l.add(timeseries("Committed and applied index", [
        (f"max(rustfs_metadata_replication_committed_index{{{I}}})", "committed"),
        (f"min(rustfs_metadata_replication_applied_index{{{I}}})", "applied"),
    ]), 8, 8)
    return dashboard("rustfs-metadata", "rustfs / Metadata and replication",
                     "Latency of the KV and xl.meta tracks, and the metadata replication group.", l, ["metadata"])


def migration():
    phases = [{"type": "value", "options": {"0": {"text": "-"}}}]
    l = Layout()
    l.row("State")
    l.add(stat("Phase", [(f"max by (phase) (rustfs_migration_phase{{{I}}}) == 1", "{{phase}}")], mappings=phases,
               description="DualTrack phase: legacy, canary, fullout, kv_primary, complete"), 6, 4)
    l.add(gauge("Canary ratio", [f"max(rustfs_migration_ratio{{{I}}})"]), 4, 4)
    l.add(stat("Consistency level", [(f"max by (level) (rustfs_migration_consistency_level{{{I}}}) == 1", "{{level}}")]), 5, 4)
    l.add(stat("KV stale", [f"max(rustfs_migration_kv_stale{{{I}}})"], thresholds=bad_if(1, "orange")), 3, 4)
    l.add(stat("Migrator pass done", [f"min(rustfs_migration_migrator_done{{{I}}})"], thresholds=good_if_at_least(1)), 3, 4)
    l.add(stat("Last validation clean", [f"min(rustfs_validation_last_clean{{{I}}})"], thresholds=good_if_at_least(1)), 3, 4)
    l.row("Migrator")
    l.add(gauge("Pass progress", [
        f"sum(rustfs_migration_objects_scanned_total{{{I}}}) / clamp_min(sum(rustfs_migration_objects_estimated{{{I}}}), 1)"]), 6, 7)
    l.add(timeseries("Keys per second", [
        (f"sum(rustfs_migration_rate_objects_per_second{{{I}}})", "reported"),
        (f"sum(rate(rustfs_migration_objects_migrated_total{{{I}}}[{R}]))", "copied"),
        (f"sum(rate(rustfs_migration_objects_scanned_total{{{I}}}[{R}]))", "scanned"),
    ], unit="ops"), 9, 7)
    l.add(timeseries("Migrated objects", [
        (f"sum(rustfs_migration_objects_migrated_total{{{I}}})", "copied"),
        (f"sum(rustfs_migration_objects_in_sync_total{{{I}}})", "already in sync"),
        (f"sum(rustfs_migration_objects_purged_total{{{I}}})", "purged"),
        (f"sum(rustfs_migration_errors_total{{{I}}})", "errors"),
    ]), 9, 7)
    l.add(stat("Running", [f"max(rustfs_migration_running{{{I}}})"]), 4, 4)
    l.add(stat("Pass", [f"max(rustfs_migration_pass{{{I}}})"]), 4, 4)
    l.add(stat("Remaining keys", [f"sum(rustfs_migration_remaining_objects{{{I}}})"]), 4, 4)
    l.add(stat("ETA", [f"max(rustfs_migration_eta_seconds{{{I}}})"], unit="s"), 4, 4)
    l.add(stat("Checkpoint lag", [f"max(rustfs_migration_checkpoint_lag_seconds{{{I}}})"], unit="s",
               thresholds=bad_if(600, "orange")), 4, 4)
    l.add(stat("Objects in KV / xl.meta",
               [(f"sum(rustfs_objects_in_kv{{{I}}})", "KV"), (f"sum(rustfs_objects_in_fs{{{I}}})", "xl.meta")]), 4, 4)
    l.row("Shadow writes and reads")
    l.add(timeseries("Shadow queue", [
        (f"sum(rustfs_migration_shadow_queue_depth{{{I}}})", "depth"),
        (f"sum(rustfs_migration_shadow_queue_capacity{{{I}}})", "capacity"),
    ]), 8, 7)
    l.add(timeseries("Shadow lag", [
        (f"max(rustfs_migration_shadow_lag_ms{{{I}}}) / 1000", "last copy"),
        (f"max(rustfs_migration_shadow_oldest_seconds{{{I}}})", "oldest waiting"),
    ], unit="s"), 8, 7)
    l.add(timeseries("Shadow copies", [
        (f"sum by (result) (rate(rustfs_migration_shadow_copies_total{{{I}}}[{R}]))", "{{result}}")], unit="ops"), 8, 7)
    l.add(timeseries("Reads by track", [
        (f"sum by (track) (rate(rustfs_dualtrack_reads_total{{{I}}}[{R}]))", "{{track}}"),
        (f"sum(rate(rustfs_dualtrack_fallbacks_total{{{I}}}[{R}]))", "KV miss, served from xl.meta"),
        (f"sum(rate(rustfs_dualtrack_lazy_copies_total{{{I}}}[{R}]))", "copied on read"),
    ], unit="ops"), 12, 7)
    l.add(timeseries("Consistency errors", [
        (f"sum(rate(rustfs_consistency_errors_total{{{I}}}[{R}]))", "disagreeing reads")], unit="ops"), 12, 7)
    l.row("Validation")
    l.add(timeseries("Outcomes by class", [
        (f"sum by (class) (increase(rustfs_validation_objects_total{{{I}}}[{R}]))", "{{class}}")], stack=True), 12, 7)
    l.add(timeseries("Repairs and runs", [
        (f"sum(increase(rustfs_validation_repairs_total{{{I}}}[{R}]))", "repairs"),
        (f"sum(increase(rustfs_validation_runs_total{{{I}}}[{R}]))", "runs"),
    ]), 6, 7)
    l.add(stat("Last run", [f"max(rustfs_validation_last_finished_timestamp_seconds{{{I}}}) * 1000"], unit="dateTimeFromNow"), 3, 7)
    l.add(stat("Validating", [f"max(rustfs_validation_running{{{I}}})"]), 3, 7)
    return dashboard("rustfs-migration", "rustfs / Migration and validation",
                     "DualTrack: phase, migrator progress, shadow queue, validation outcomes.", l, ["migration"])


def drives():
    l = Layout()
    l.row("Drives")
    l.add(stat("Online", [f"sum(rustfs_drive_online{{{I}}})"]), 4, 4)
    l.add(stat("Offline", [f"count(rustfs_drive_online{{{I}}} == 0) or vector(0)"], thresholds=bad_if(1)), 4, 4)
    l.add(stat("Sets with quorum", [f"sum(rustfs_erasure_sets_with_quorum{{{I}}})"]), 4, 4)
    l.add(stat("Sets", [f"sum(rustfs_erasure_sets{{{I}}})"]), 4, 4)
    l.add(stat("Free", [f"sum(rustfs_drive_free_bytes{{{I}}})"], unit="bytes"), 4, 4)
    l.add(stat("Used", [f"sum(rustfs_drive_used_bytes{{{I}}}) / sum(rustfs_drive_total_bytes{{{I}}})"],
               unit="percentunit", thresholds=bad_if(0.85, "orange")), 4, 4)
    l.add(timeseries("Drive state", [(f"rustfs_drive_online{{{I}}}", "{{instance}} {{drive}}")]), 12, 8)
    l.add(timeseries("I/O errors", [
        (f"sum by (instance, drive) (increase(rustfs_drive_io_errors_total{{{I}}}[{R}]))", "{{instance}} {{drive}}")]), 12, 8)
    l.add(timeseries("Used bytes by drive", [(f"rustfs_drive_used_bytes{{{I}}}", "{{instance}} {{drive}}")], unit="bytes"), 12, 8)
    l.add(timeseries("Shard commit p99 by drive",
                     [(p(0.99, "rustfs_drive_shard_commit_seconds", "instance, drive"), "{{instance}} {{drive}}")], unit="s"), 12, 8)
    l.row("Erasure sets")
    l.add(timeseries("Online drives per set", [
        (f"rustfs_erasure_set_online_drives{{{I}}}", "{{instance}} set {{set}}"),
        (f"max(rustfs_erasure_set_write_quorum{{{I}}})", "write quorum"),
    ]), 12, 8)
    l.add(timeseries("Reads by outcome", [
        (f"sum by (outcome) (rate(rustfs_erasure_reads_total{{{I}}}[{R}]))", "{{outcome}}")], unit="ops"), 12, 8)
    l.row("Heal")
    l.add(timeseries("Objects", [
        (f"sum(rate(rustfs_heal_objects_scanned_total{{{I}}}[{R}]))", "scanned"),
        (f"sum(rate(rustfs_heal_objects_healed_total{{{I}}}[{R}]))", "healed"),
        (f"sum(rate(rustfs_heal_objects_failed_total{{{I}}}[{R}]))", "failed"),
    ], unit="ops"), 8, 8)
    l.add(timeseries("Bytes", [
        (f"sum(rate(rustfs_heal_bytes_scanned_total{{{I}}}[{R}]))", "scanned"),
        (f"sum(rate(rustfs_heal_bytes_healed_total{{{I}}}[{R}]))", "healed"),
    ], unit="Bps"), 8, 8)
    l.add(timeseries("Queue", [
        (f"sum(rustfs_heal_queue_length{{{I}}})", "waiting"),
        (f"sum(increase(rustfs_heal_queue_dropped_total{{{I}}}[{R}]))", "dropped"),
        (f"sum(increase(rustfs_heal_shards_healed_total{{{I}}}[{R}]))", "shards rebuilt"),
    ]), 8, 8)
    l.add(gauge("Heal job progress", [
        f"sum(rustfs_heal_job_objects_scanned{{{I}}}) / clamp_min(sum(rustfs_heal_job_objects_total{{{I}}}), 1)"]), 8, 6)
    l.add(stat("Heal job", [
        (f"max(rustfs_heal_job_running{{{I}}})", "running"),
        (f"sum(rustfs_heal_job_objects_healed{{{I}}})", "healed"),
        (f"sum(rustfs_heal_job_objects_failed{{{I}}})", "failed"),
        (f"sum(rustfs_heal_job_bytes_healed{{{I}}})", "bytes healed"),
    ]), 16, 6)
    return dashboard("rustfs-drives-heal", "rustfs / Drives and heal",
                     "Drive state and capacity, erasure sets, heal progress.", l, ["drives"])


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, d in [("overview", overview()), ("s3-api", s3_api()), ("metadata", metadata()),
                    ("migration", migration()), ("drives-heal", drives())]:
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(d, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
