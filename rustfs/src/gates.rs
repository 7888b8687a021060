//! Migration gates: whether a DualTrack deployment is healthy enough to move to its next
//! phase, by the migration guide's measures (seed 001: error rate, p99 latency, consistency
//! errors, validator divergence). A node answers a `MetricsSample` of its cumulative
//! counters (`GET /rustfs/admin/v1/metrics/sample`); `rustfs-admin migration gates` takes two
//! samples of every node a window apart (or asks Prometheus, see `gates_cli`) and this module
//! judges them. It only reads counters; it must never change any state.

use serde::{Deserialize, Serialize};

use crate::app::App;

/// One node's cumulative S3 counters at one moment (they restart from zero with the process).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsSample {
    /// `host:port` of a cluster node, `None` on a single node.
    pub node: Option<String>,
    pub uptime_ms: u64,
    /// S3 requests answered.
    pub requests: u64,
    /// Of them answered 5xx (the server's fault).
    pub server_errors: u64,
    /// Request time to the response head over every operation: cumulative counts of the
    /// requests at or under each bound (seconds), ascending, without the `+Inf` bucket.
    pub latency_buckets: Vec<(f64, u64)>,
    /// Requests the latency histogram counted (its `+Inf` bucket).
    pub latency_count: u64,
    /// Reads that found the two metadata tracks disagreeing (on a cluster, counted by the
    /// coordinator, which runs every DualTrack call).
    pub consistency_errors: u64,
}

/// This node's sample.
pub fn sample(app: &App) -> MetricsSample {
    use prometheus::core::Collector;
    let h = &*crate::metrics::HTTP;
    let (mut requests, mut server_errors) = (0u64, 0u64);
    for mf in h.requests.collect() {
        for m in mf.get_metric() {
            let n = m.get_counter().get_value() as u64;
            requests += n;
            let status = m.get_label().iter().find(|l| l.name() == "status").map(|l| l.value()).unwrap_or("");
            if status.starts_with('5') {
                server_errors += n;
            }
        }
    }
    let mut bounds: Vec<(f64, u64)> = Vec::new();
    let mut latency_count = 0u64;
    for mf in h.duration.collect() {
        for m in mf.get_metric() {
            let hist = m.get_histogram();
            latency_count += hist.get_sample_count();
            for (i, b) in hist.get_bucket().iter().enumerate() {
                if !b.upper_bound().is_finite() {
                    continue;
                }
                match bounds.get_mut(i) {
                    Some(slot) => slot.1 += b.cumulative_count(),
                    None => bounds.push((b.upper_bound(), b.cumulative_count())),
                }
            }
        }
    }
    let consistency_errors = app
        .dual
        .as_ref()
        .map(|d| d.router.counters.consistency_errors.load(std::sync::atomic::Ordering::Relaxed))
        .unwrap_or(0);
    MetricsSample {
        node: app.cfg.cluster.as_ref().map(|c| c.me.clone()),
        uptime_ms: app.started.elapsed().as_millis() as u64,
        requests,
        server_errors,
        latency_buckets: bounds,
        latency_count,
        consistency_errors,
    }
}

/// What the gates allow (the guide's `auto_expand_threshold` and no divergence).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Share of requests answered 5xx.
    pub max_error_rate: f64,
    pub max_p99_ms: f64,
    pub max_consistency_errors: u64,
    /// Keys the last validation found not in sync (and did not repair).
    pub max_divergence: u64,
    /// Requests the window must hold for the rates to count as evidence.
    pub min_requests: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            max_error_rate: 0.0001,
            max_p99_ms: 100.0,
            max_consistency_errors: 0,
            max_divergence: 0,
            min_requests: 0,
        }
    }
}

/// One gate's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    pub name: String,
    pub passed: bool,
    /// What was measured and against what, in words.
    pub detail: String,
}

/// Every gate's outcome over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub source: String,
    pub window_secs: f64,
    pub gates: Vec<Gate>,
    pub passed: bool,
}

impl Verdict {
    pub fn new(source: String, window_secs: f64, gates: Vec<Gate>) -> Self {
        let passed = gates.iter().all(|g| g.passed);
        Self { source, window_secs, gates, passed }
    }
}

/// The traffic of one window, summed over the nodes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    pub requests: u64,
    pub server_errors: u64,
    /// p99 request time in ms, `None` without requests.
    pub p99_ms: Option<f64>,
    pub consistency_errors: u64,
}

/// The difference of two samples of the same nodes (matched by node name), or why not.
pub fn window(before: &[MetricsSample], after: &[MetricsSample]) -> Result<Window, String> {
    let mut w = Window::default();
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    let mut count = 0u64;
    for a in after {
        let name = a.node.clone().unwrap_or_else(|| "the server".into());
        let b = before
            .iter()
            .find(|b| b.node == a.node)
            .ok_or_else(|| format!("{name} answered only the second sample"))?;
        if a.uptime_ms < b.uptime_ms || a.requests < b.requests || a.latency_count < b.latency_count {
            return Err(format!("{name} restarted during the window: its counters started again"));
        }
        w.requests += a.requests - b.requests;
        w.server_errors += a.server_errors.saturating_sub(b.server_errors);
        w.consistency_errors += a.consistency_errors.saturating_sub(b.consistency_errors);
        count += a.latency_count - b.latency_count;
        for (i, (bound, c)) in a.latency_buckets.iter().enumerate() {
            let prev = b.latency_buckets.get(i).filter(|p| p.0 == *bound).map_or(0, |p| p.1);
            match buckets.get_mut(i) {
                Some(slot) => slot.1 += c.saturating_sub(prev),
                None => buckets.push((*bound, c.saturating_sub(prev))),
            }
        }
    }
    w.p99_ms = quantile(0.99, &buckets, count).map(|s| s * 1000.0);
    Ok(w)
}

/// The `q` quantile of a cumulative histogram as Prometheus's `histogram_quantile` estimates
/// it (linear within the bucket; the highest finite bound when it falls in `+Inf`).
pub fn quantile(q: f64, buckets: &[(f64, u64)], count: u64) -> Option<f64> {
    if count == 0 {
        return None;
    }
    let rank = q * count as f64;
    let (mut lower, mut below) = (0.0, 0u64);
    for &(bound, cum) in buckets {
        if cum as f64 >= rank {
            let inside = (cum - below) as f64;
            if inside == 0.0 {
                return Some(bound);
            }
            return Some(lower + (bound - lower) * (rank - below as f64) / inside);
        }
        (lower, below) = (bound, cum);
    }
    buckets.last().map(|b| b.0)
}

/// The gates on one window's traffic.
pub fn traffic_gates(w: &Window, t: &Thresholds) -> Vec<Gate> {
    let mut gates = Vec::new();
    if w.requests < t.min_requests {
        gates.push(Gate {
            name: "traffic".into(),
            passed: false,
            detail: format!(
                "{} requests in the window, fewer than the {} needed to judge the rates",
                w.requests, t.min_requests
            ),
        });
    }
    let rate = if w.requests == 0 { 0.0 } else { w.server_errors as f64 / w.requests as f64 };
    gates.push(Gate {
        name: "error_rate".into(),
        passed: rate <= t.max_error_rate,
        detail: format!(
            "{:.4}% of requests answered 5xx ({} of {}), limit {:.4}%",
            rate * 100.0,
            w.server_errors,
            w.requests,
            t.max_error_rate * 100.0
        ),
    });
    gates.push(match w.p99_ms {
        Some(p) => Gate {
            name: "latency_p99".into(),
            passed: p <= t.max_p99_ms,
            detail: format!("p99 request time {p:.1} ms, limit {} ms", t.max_p99_ms),
        },
        None => Gate { name: "latency_p99".into(), passed: true, detail: "no requests in the window".into() },
    });
    gates.push(Gate {
        name: "consistency_errors".into(),
        passed: w.consistency_errors <= t.max_consistency_errors,
        detail: format!(
            "{} reads found the xl.meta and KV tracks disagreeing, limit {}",
            w.consistency_errors, t.max_consistency_errors
        ),
    });
    gates
}

/// The last validation as the divergence gate needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct LastValidation {
    pub running: bool,
    pub checked: u64,
    pub not_in_sync: u64,
    /// Of them, keys only xl.meta holds: not yet copied, until a migrator pass finished.
    pub fs_only: u64,
    pub repaired: u64,
    pub finished_ns: Option<i64>,
    pub error: Option<String>,
}

/// The divergence gate: a validation finished since the phase last changed (`changed_ns`)
/// that found no more keys out of sync (unrepaired) than allowed. Before a migrator pass
/// finished (`migrator_done`), keys only xl.meta holds are the migrator's work still to do
/// (a canary's keys written before it began), not a disagreement, and are not counted.
pub fn divergence_gate(v: Option<&LastValidation>, changed_ns: i64, migrator_done: bool, t: &Thresholds) -> Gate {
    let gate = |passed, detail: String| Gate { name: "validator_divergence".into(), passed, detail };
    let Some(v) = v else {
        return gate(false, "no validation has run: run `rustfs-admin validate --sample R`".into());
    };
    if v.running {
        return gate(false, "a validation is still running".into());
    }
    if let Some(e) = &v.error {
        return gate(false, format!("the last validation failed: {e}"));
    }
    if v.finished_ns.is_none_or(|f| f < changed_ns) {
        return gate(false, "no validation finished since the phase last changed".into());
    }
    let pending = if migrator_done { 0 } else { v.fs_only };
    let open = v.not_in_sync.saturating_sub(v.repaired).saturating_sub(pending);
    let not_migrated =
        if pending > 0 { format!(", {pending} not migrated yet (only in xl.meta) not counted") } else { String::new() };
    gate(
        open <= t.max_divergence,
        format!(
            "the last validation found {open} of {} keys not in sync ({} repaired{not_migrated}), limit {}",
            v.checked, v.repaired, t.max_divergence
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(node: &str, up: u64, req: u64, err: u64, buckets: &[(f64, u64)], ce: u64) -> MetricsSample {
        MetricsSample {
            node: Some(node.into()),
            uptime_ms: up,
            requests: req,
            server_errors: err,
            latency_buckets: buckets.to_vec(),
            latency_count: req,
            consistency_errors: ce,
        }
    }

    #[test]
    fn quantile_interpolates_like_prometheus() {
        // 100 requests: 90 under 10 ms, 10 between 10 and 100 ms.
        let b = [(0.01, 90), (0.1, 100), (1.0, 100)];
        let p99 = quantile(0.99, &b, 100).unwrap();
        assert!((p99 - 0.091).abs() < 1e-9, "{p99}");
        assert!((quantile(0.5, &b, 100).unwrap() - 0.01 * 50.0 / 90.0).abs() < 1e-9);
        assert_eq!(quantile(0.99, &b, 0), None);
        // Past the highest finite bound: that bound.
        assert_eq!(quantile(0.99, &[(0.01, 1)], 100), Some(0.01));
    }

    #[test]
    fn windows_sum_the_nodes_and_refuse_a_restart() {
        let before = [s("a:9000", 1000, 100, 0, &[(0.01, 100), (0.1, 100)], 0), s("b:9000", 1000, 0, 0, &[], 0)];
        let after = [
            s("a:9000", 2000, 1100, 1, &[(0.01, 1090), (0.1, 1100)], 2),
            s("b:9000", 2000, 1000, 0, &[(0.01, 1000), (0.1, 1000)], 0),
        ];
        let w = window(&before, &after).unwrap();
        assert_eq!((w.requests, w.server_errors, w.consistency_errors), (2000, 1, 2));
        // 1990 of 2000 answered within 10 ms: the p99 falls in the first bucket.
        let p99 = w.p99_ms.unwrap();
        assert!((p99 - 10.0 * 1980.0 / 1990.0).abs() < 1e-9, "{p99}");
        let t = Thresholds::default();
        let g = traffic_gates(&w, &t);
        let by = |n: &str| g.iter().find(|x| x.name == n).unwrap().clone();
        assert!(!by("error_rate").passed, "1 in 2000 is above 0.01%: {:?}", by("error_rate"));
        assert!(by("latency_p99").passed);
        assert!(!by("consistency_errors").passed);
        assert!(by("error_rate").detail.contains("1 of 2000"));
        let restarted = [s("a:9000", 10, 5, 0, &[], 0), after[1].clone()];
        assert!(window(&before, &restarted).unwrap_err().contains("restarted"));
        assert!(window(&before[..1], &after).unwrap_err().contains("b:9000"));
        let quiet = window(&before, &before).unwrap();
        assert!(traffic_gates(&quiet, &t).iter().all(|g| g.passed), "no traffic, nothing failed");
        let needs = Thresholds { min_requests: 10, ..t };
        assert!(!traffic_gates(&quiet, &needs)[0].passed);
    }

    #[test]
    fn divergence_needs_a_fresh_clean_validation() {
        let t = Thresholds::default();
        let v = LastValidation {
            running: false,
            checked: 50,
            not_in_sync: 0,
            fs_only: 0,
            repaired: 0,
            finished_ns: Some(200),
            error: None,
        };
        assert!(divergence_gate(Some(&v), 100, true, &t).passed);
        assert!(!divergence_gate(Some(&v), 300, true, &t).passed, "older than the phase change");
        assert!(!divergence_gate(None, 0, true, &t).passed);
        let bad = LastValidation { not_in_sync: 3, ..v.clone() };
        let g = divergence_gate(Some(&bad), 100, true, &t);
        assert!(!g.passed && g.detail.contains("3 of 50"), "{g:?}");
        let fixed = LastValidation { repaired: 3, ..bad.clone() };
        assert!(divergence_gate(Some(&fixed), 100, true, &t).passed);
        assert!(!divergence_gate(Some(&LastValidation { running: true, ..v }), 100, true, &t).passed);
        // Keys only in xl.meta are the migrator's work until its pass finished.
        let unmigrated = LastValidation { fs_only: 3, ..bad };
        let g = divergence_gate(Some(&unmigrated), 100, false, &t);
        assert!(g.passed && g.detail.contains("3 not migrated yet"), "{g:?}");
        assert!(!divergence_gate(Some(&unmigrated), 100, true, &t).passed);
    }
}
