//! `rustfs-admin migration gates`: gathers what the gates of `gates` judge. The traffic of
//! the last window comes from two samples of every node's counters taken `--window` seconds
//! apart (the nodes `info` lists, reached at their S3 addresses), or from Prometheus
//! (`--prometheus URL`: PromQL over the same window, no wait); the divergence from the last
//! validation (after running one with `--validate-sample`). This module only reads through
//! the admin API and Prometheus; it must never change the migration state.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use clap::Args;
use serde_json::Value;

use crate::admin::PREFIX;
use crate::admin_client::AdminClient;
use crate::gates::{self, LastValidation, MetricsSample, Thresholds, Verdict, Window};

/// The error `rustfs-admin` answers with exit code 3: a gate failed (the verdict is printed).
pub const GATES_FAILED: &str = "a gate failed";
pub const GATES_FAILED_EXIT: u8 = 3;

#[derive(Args, Debug, Clone)]
pub struct GatesArgs {
    /// Seconds of traffic to judge (the wait between the two samples; with --prometheus,
    /// the range of the queries).
    #[arg(long, default_value_t = 60.0)]
    pub window: f64,
    /// Highest share of requests answered 5xx (the guide's auto_expand_threshold.error_rate).
    #[arg(long, default_value_t = 0.0001)]
    pub max_error_rate: f64,
    /// Highest p99 request time in ms (auto_expand_threshold.latency_p99_ms).
    #[arg(long, default_value_t = 100.0)]
    pub max_p99_ms: f64,
    /// Most reads finding the tracks disagreeing in the window.
    #[arg(long, default_value_t = 0)]
    pub max_consistency_errors: u64,
    /// Most keys the last validation may have found out of sync (unrepaired).
    #[arg(long, default_value_t = 0)]
    pub max_divergence: u64,
    /// Fewest requests the window must hold (0: a quiet window passes).
    #[arg(long, default_value_t = 0)]
    pub min_requests: u64,
    /// Run a validation of this share of keys first (otherwise the last one is judged).
    #[arg(long)]
    pub validate_sample: Option<f64>,
    /// Leave the divergence gate out (a monitor's rounds between validations).
    #[arg(long, conflicts_with = "validate_sample")]
    pub skip_validation: bool,
    /// Judge the traffic from this Prometheus (http://host:9090) instead of sampling nodes.
    #[arg(long, env = "RUSTFS_PROMETHEUS_URL")]
    pub prometheus: Option<String>,
    /// PromQL label matchers that select this deployment's series, e.g. `namespace="rustfs"`.
    #[arg(long, default_value = "")]
    pub selector: String,
}

impl GatesArgs {
    fn thresholds(&self) -> Thresholds {
        Thresholds {
            max_error_rate: self.max_error_rate,
            max_p99_ms: self.max_p99_ms,
            max_consistency_errors: self.max_consistency_errors,
            max_divergence: self.max_divergence,
            min_requests: self.min_requests,
        }
    }
}

fn out(s: &str) {
    let _ = std::io::stdout().write_all(s.as_bytes());
}

/// The last validation of a `GET migration` answer.
fn last_validation(v: &Value) -> Option<LastValidation> {
    let r = &v["validation"];
    if !r.is_object() {
        return None;
    }
    let st = &r["stats"];
    let n = |k: &str| st[k].as_u64().unwrap_or(0);
    Some(LastValidation {
        running: r["running"].as_bool().unwrap_or(false),
        checked: n("checked"),
        not_in_sync: n("checked").saturating_sub(n("in_sync")),
        fs_only: n("fs_only"),
        repaired: n("repaired"),
        finished_ns: r["finished_ns"].as_i64(),
        error: r["error"].as_str().map(String::from),
    })
}

/// Every node's sample: the nodes `info` lists (or the endpoint alone on a single node).
async fn sample_all(c: &AdminClient, nodes: &[String]) -> Result<Vec<MetricsSample>, String> {
    let path = format!("{PREFIX}metrics/sample");
    if nodes.is_empty() {
        return Ok(vec![c.typed("GET", &path).await?]);
    }
    let calls = nodes.iter().map(|n| {
        let nc = c.for_endpoint(&format!("{}://{n}", c.scheme()));
        let path = path.clone();
        async move {
            nc.typed::<MetricsSample>("GET", &path).await.map_err(|e| {
                format!(
                    "cannot sample node {n}: {e} (a node down fails the gates; --prometheus judges from Prometheus)"
                )
            })
        }
    });
    futures::future::join_all(calls).await.into_iter().collect()
}

async fn window_from_nodes(c: &AdminClient, secs: f64) -> Result<Window, String> {
    let info: crate::admin::Info = c.typed("GET", &format!("{PREFIX}info")).await?;
    let nodes: Vec<String> = info.nodes.iter().map(|n| n.node.clone()).collect();
    let before = sample_all(c, &nodes).await?;
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let after = sample_all(c, &nodes).await?;
    gates::window(&before, &after)
}

/// One instant query's scalar: `None` when no series answered (or NaN).
async fn prom_query(c: &AdminClient, base: &str, q: &str) -> Result<Option<f64>, String> {
    let enc = percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC);
    let url = format!("{}/api/v1/query?query={enc}", base.trim_end_matches('/'));
    let (status, body) = c.get_url(&url).await?;
    let v: Value =
        serde_json::from_slice(&body).map_err(|e| format!("Prometheus answered {status} with no JSON ({e}) to {q}"))?;
    if v["status"] != "success" {
        return Err(format!("Prometheus refused {q}: {}", v["error"].as_str().unwrap_or("?")));
    }
    let Some(first) = v["data"]["result"].as_array().and_then(|r| r.first()) else { return Ok(None) };
    let x = first["value"][1].as_str().and_then(|s| s.parse::<f64>().ok());
    Ok(x.filter(|x| x.is_finite()))
}

/// The PromQL of the traffic gates over `[range]` for the series `sel` selects.
pub fn promql(sel: &str, range: &str) -> [String; 4] {
    let with = |extra: &str| match (extra.is_empty(), sel.is_empty()) {
        (true, true) => String::new(),
        (true, false) => format!("{{{sel}}}"),
        (false, true) => format!("{{{extra}}}"),
        (false, false) => format!("{{{extra},{sel}}}"),
    };
    [
        format!("sum(increase(rustfs_s3_requests_total{}[{range}]))", with("")),
        format!("sum(increase(rustfs_s3_requests_total{}[{range}]))", with("status=~\"5..\"")),
        format!(
            "histogram_quantile(0.99, sum by (le) (rate(rustfs_s3_request_duration_seconds_bucket{}[{range}])))",
            with("")
        ),
        format!("sum(increase(rustfs_consistency_errors_total{}[{range}]))", with("")),
    ]
}

async fn window_from_prometheus(c: &AdminClient, base: &str, sel: &str, secs: f64) -> Result<Window, String> {
    let range = format!("{}s", secs.round().max(1.0) as u64);
    let [req, err, p99, ce] = promql(sel, &range);
    let requests = prom_query(c, base, &req).await?.unwrap_or(0.0);
    let errors = prom_query(c, base, &err).await?.unwrap_or(0.0);
    let p99 = prom_query(c, base, &p99).await?;
    let consistency = prom_query(c, base, &ce).await?.unwrap_or(0.0);
    Ok(Window {
        requests: requests.round() as u64,
        server_errors: errors.round() as u64,
        p99_ms: p99.filter(|_| requests > 0.0).map(|s| s * 1000.0),
        consistency_errors: consistency.round() as u64,
    })
}

/// Runs the gates and prints the verdict; `Ok(false)` when a gate failed.
pub async fn gates(c: &AdminClient, a: GatesArgs, json: bool) -> Result<bool, String> {
    if !(a.window > 0.0 && a.window <= 86_400.0) {
        return Err(format!("--window {} must be in (0, 86400] seconds", a.window));
    }
    if let Some(s) = a.validate_sample {
        crate::migration_cli::run_validation(c, None, s, None, true).await?;
    }
    let (w, source) = match &a.prometheus {
        Some(p) => (window_from_prometheus(c, p, &a.selector, a.window).await?, format!("prometheus {p}")),
        None => (window_from_nodes(c, a.window).await?, "the nodes' counters".to_string()),
    };
    let status = c.json("GET", &format!("{PREFIX}migration")).await?;
    let changed_ns = status["state"]["changed_ns"].as_i64().unwrap_or(0);
    let t = a.thresholds();
    let mut list = gates::traffic_gates(&w, &t);
    let pass = |detail: &str| gates::Gate { name: "validator_divergence".into(), passed: true, detail: detail.into() };
    list.push(match status["state"]["phase"].as_str() {
        _ if a.skip_validation => pass("not judged (--skip-validation)"),
        Some("legacy") => pass("phase legacy: the KV track holds nothing to validate yet"),
        _ => {
            let done = status["state"]["migrator_done"].as_bool().unwrap_or(false);
            gates::divergence_gate(last_validation(&status).as_ref(), changed_ns, done, &t)
        }
    });
    let v = Verdict::new(source, a.window, list);
    if json {
        out(&format!("{}\n", serde_json::to_string(&v).unwrap_or_default()));
    } else {
        let mut o = String::new();
        let _ = writeln!(o, "gates over {} s from {}:", v.window_secs, v.source);
        for g in &v.gates {
            let _ = writeln!(o, "  {} {:<20} {}", if g.passed { "PASS" } else { "FAIL" }, g.name, g.detail);
        }
        out(&o);
    }
    Ok(v.passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promql_selects_the_deployment() {
        let [req, err, p99, ce] = promql("", "60s");
        assert_eq!(req, "sum(increase(rustfs_s3_requests_total[60s]))");
        assert_eq!(err, "sum(increase(rustfs_s3_requests_total{status=~\"5..\"}[60s]))");
        assert!(
            p99.starts_with(
                "histogram_quantile(0.99, sum by (le) (rate(rustfs_s3_request_duration_seconds_bucket[60s])"
            )
        );
        assert_eq!(ce, "sum(increase(rustfs_consistency_errors_total[60s]))");
        let [req, err, ..] = promql("namespace=\"rustfs\"", "5m");
        assert_eq!(req, "sum(increase(rustfs_s3_requests_total{namespace=\"rustfs\"}[5m]))");
        assert_eq!(err, "sum(increase(rustfs_s3_requests_total{status=~\"5..\",namespace=\"rustfs\"}[5m]))");
    }

    #[test]
    fn the_last_validation_is_read_from_the_status() {
        let v: Value = serde_json::json!({"validation": {"running": false, "finished_ns": 7, "error": null,
            "stats": {"checked": 10, "in_sync": 8, "fs_only": 1, "repaired": 1}}});
        let l = last_validation(&v).unwrap();
        assert_eq!((l.checked, l.not_in_sync, l.fs_only, l.repaired, l.finished_ns), (10, 2, 1, 1, Some(7)));
        assert!(last_validation(&serde_json::json!({"validation": null})).is_none());
    }
}
