//! Prometheus metrics of the metadata layer: latency of every `MetadataStore` call per track
//! (`rustfs_kv_*` for the KV, `rustfs_fs_*` for xl.meta, the seed's names), failures per
//! track, and the `rustfs_metadata_replication_*` family. Until the KV is replicated, the
//! local KV reports itself as a one-member group (leader 1, one healthy node, no lag), so
//! rules and dashboards work before and after replication.
//!
//! Metrics are recorded into process-wide handles; `register` adds them to the server's one
//! registry. This module must never label a metric by key, bucket or any unbounded value.

use std::sync::{Arc, LazyLock};

use crate::kv::KvLifecycle;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Milliseconds buckets for metadata operations (sub-millisecond KV reads to slow xl.meta
/// walks), a superset of the seed's `[1, 5, 10, 50, 100, 500, 1000]`.
pub const MS_BUCKETS: &[f64] =
    &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0];

/// Seconds buckets for KV commits and reads.
pub const SECONDS_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

fn hist_vec(name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn hist(name: &str, help: &str, buckets: &[f64]) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

/// The metadata track a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackLabel {
    Kv,
    Fs,
}

impl TrackLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackLabel::Kv => "kv",
            TrackLabel::Fs => "fs",
        }
    }
}

pub struct Metrics {
    pub kv_write_ms: HistogramVec,
    pub kv_read_ms: HistogramVec,
    pub fs_write_ms: HistogramVec,
    pub fs_read_ms: HistogramVec,
    /// Calls that failed for a reason other than "not found" or a failed precondition.
    pub track_errors: IntCounterVec,
    /// 1 when the KV refuses writes because a WAL sync failed (until a restart).
    pub kv_read_only: IntGauge,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    kv_write_ms: hist_vec(
        "rustfs_kv_write_latency_ms",
        "Latency of metadata writes on the KV track, in milliseconds, by operation",
        &["op"],
        MS_BUCKETS,
    ),
    kv_read_ms: hist_vec(
        "rustfs_kv_read_latency_ms",
        "Latency of metadata reads on the KV track, in milliseconds, by operation",
        &["op"],
        MS_BUCKETS,
    ),
    fs_write_ms: hist_vec(
        "rustfs_fs_write_latency_ms",
        "Latency of metadata writes on the xl.meta track, in milliseconds, by operation",
        &["op"],
        MS_BUCKETS,
    ),
    fs_read_ms: hist_vec(
        "rustfs_fs_read_latency_ms",
        "Latency of metadata reads on the xl.meta track, in milliseconds, by operation",
        &["op"],
        MS_BUCKETS,
    ),
    track_errors: counter_vec(
        "rustfs_metadata_track_errors_total",
        "Metadata calls that failed (not counting not-found and failed preconditions), by track and operation",
        &["track", "op"],
    ),
    kv_read_only: gauge(
        "rustfs_kv_read_only",
        "1 when the metadata KV refuses writes because a WAL sync failed (restart to recover)",
    ),
});

impl Metrics {
    pub fn latency(&self, track: TrackLabel, write: bool) -> &HistogramVec {
        match (track, write) {
            (TrackLabel::Kv, true) => &self.kv_write_ms,
            (TrackLabel::Kv, false) => &self.kv_read_ms,
            (TrackLabel::Fs, true) => &self.fs_write_ms,
            (TrackLabel::Fs, false) => &self.fs_read_ms,
        }
    }
}

/// Operations of one `Kv` instance (its own, never shared with another instance in the
/// same process): commit and read latency, operations by kind.
pub struct KvMetrics {
    pub write_seconds: Histogram,
    pub read_seconds: Histogram,
    pub ops: IntCounterVec,
    reads: IntCounter,
    writes: IntCounter,
}

impl KvMetrics {
    pub fn new() -> Arc<Self> {
        let ops = counter_vec(
            "rustfs_metadata_replication_ops_total",
            "Metadata KV operations served, by kind (read, write)",
            &["kind"],
        );
        Arc::new(Self {
            write_seconds: hist(
                "rustfs_metadata_replication_write_latency_seconds",
                "Time to commit a metadata write batch durably in the metadata group (and apply it on this node)",
                SECONDS_BUCKETS,
            ),
            read_seconds: hist(
                "rustfs_metadata_replication_read_latency_seconds",
                "Time of a metadata KV read (point read or range scan), its ReadIndex round included",
                SECONDS_BUCKETS,
            ),
            reads: ops.with_label_values(&["read"]),
            writes: ops.with_label_values(&["write"]),
            ops,
        })
    }

    /// Records one write this node's `Kv` acknowledged.
    pub fn committed(&self, started: Instant) {
        self.write_seconds.observe(started.elapsed().as_secs_f64());
        self.writes.inc();
    }

    pub fn read(&self, started: Instant) {
        self.read_seconds.observe(started.elapsed().as_secs_f64());
        self.reads.inc();
    }

    fn total(&self) -> u64 {
        self.reads.get() + self.writes.get()
    }
}

/// The metadata group's state gauges, read from the server's own `Kv` backend at each scrape
/// (an instance of its own: several nodes in one process never mix their numbers).
struct GroupCollector {
    life: Arc<dyn KvLifecycle>,
    kv: Arc<KvMetrics>,
    leader_id: IntGauge,
    node_count: IntGauge,
    healthy_nodes: IntGauge,
    lag_entries: IntGauge,
    lag_time_ms: IntGauge,
    term: IntGauge,
    committed: IntGauge,
    applied: IntGauge,
    ops_per_second: Gauge,
    /// (time, ops) of the observation `ops_per_second` is measured from, and its last value.
    last: Mutex<(Instant, u64, f64)>,
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

impl GroupCollector {
    fn new(life: Arc<dyn KvLifecycle>) -> Self {
        Self {
            kv: life.metrics(),
            life,
            leader_id: gauge(
                "rustfs_metadata_replication_leader_id",
                "Node id of the metadata group's leader (0: none)",
            ),
            node_count: gauge("rustfs_metadata_replication_node_count", "Members of the metadata group"),
            healthy_nodes: gauge(
                "rustfs_metadata_replication_healthy_nodes",
                "Members of the metadata group that are reachable and up to date",
            ),
            lag_entries: gauge(
                "rustfs_metadata_replication_lag_entries",
                "Log entries the slowest member is behind the leader",
            ),
            lag_time_ms: gauge(
                "rustfs_metadata_replication_lag_time_ms",
                "How far behind the leader the slowest member is, in milliseconds",
            ),
            term: gauge("rustfs_metadata_replication_term", "Current term of the metadata group"),
            committed: gauge(
                "rustfs_metadata_replication_committed_index",
                "Index of the last committed metadata write (since this process started)",
            ),
            applied: gauge(
                "rustfs_metadata_replication_applied_index",
                "Index of the last metadata write applied by this node (since this process started)",
            ),
            ops_per_second: Gauge::new(
                "rustfs_metadata_replication_ops_per_second",
                "Metadata KV operations per second, averaged over at least the last 5 seconds",
            )
            .unwrap_or_else(|e| panic!("metric ops_per_second: {e}")),
            last: Mutex::new((Instant::now(), 0, 0.0)),
        }
    }

    fn parts(&self) -> [&dyn Collector; 12] {
        let k = self.kv.as_ref();
        [
            &k.write_seconds,
            &k.read_seconds,
            &k.ops,
            &self.leader_id,
            &self.node_count,
            &self.healthy_nodes,
            &self.lag_entries,
            &self.lag_time_ms,
            &self.term,
            &self.committed,
            &self.applied,
            &self.ops_per_second,
        ]
    }
}

impl Collector for GroupCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.parts().into_iter().flat_map(|c| c.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let st = self.life.status();
        let ops = self.kv.total();
        {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            let secs = last.0.elapsed().as_secs_f64();
            if secs >= 5.0 {
                last.2 = ops.saturating_sub(last.1) as f64 / secs;
                *last = (Instant::now(), ops, last.2);
            }
            self.ops_per_second.set(last.2);
        }
        let slowest_match = st.members.iter().map(|m| m.match_index).min().unwrap_or(st.committed_index);
        let lag_ms = st.members.iter().map(|m| m.lag_ms).filter(|l| *l != u64::MAX).max().unwrap_or(0);
        self.leader_id.set(st.leader_id as i64);
        self.node_count.set(st.members.len() as i64);
        self.healthy_nodes.set(st.members.iter().filter(|m| m.healthy).count() as i64);
        self.lag_entries.set(st.committed_index.saturating_sub(slowest_match) as i64);
        self.lag_time_ms.set(lag_ms as i64);
        self.term.set(st.term as i64);
        self.committed.set(st.committed_index as i64);
        self.applied.set(st.applied_index as i64);
        self.parts().into_iter().flat_map(|c| c.collect()).collect()
    }
}

/// Whether a snapshot family is a counter (monotonic since some start) or a gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// A metric family whose values are read from the running system at each scrape.
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
}

impl Family {
    pub const fn new(name: &'static str, help: &'static str, kind: Kind, labels: &'static [&'static str]) -> Self {
        Self { name, help, kind, labels }
    }
}

/// The values one scrape reads, by family name.
#[derive(Default)]
pub struct Snapshot {
    samples: std::collections::HashMap<&'static str, Vec<(Vec<String>, f64)>>,
}

impl Snapshot {
    /// Sets one sample; `labels` are the values of the family's label names, in order.
    pub fn set(&mut self, name: &'static str, labels: &[&str], value: f64) {
        self.samples.entry(name).or_default().push((labels.iter().map(|l| l.to_string()).collect(), value));
    }
}

type Fill = Box<dyn Fn(&mut Snapshot) + Send + Sync>;

/// A collector of snapshot families: `fill` reads the system's state (atomics, status
/// structs) at scrape time. It must be cheap: a scrape must never walk the data.
pub struct SnapshotCollector {
    families: Vec<Family>,
    descs: Vec<Desc>,
    fill: Fill,
}

impl SnapshotCollector {
    pub fn new(
        families: Vec<Family>,
        fill: impl Fn(&mut Snapshot) + Send + Sync + 'static,
    ) -> prometheus::Result<Self> {
        let descs = families
            .iter()
            .map(|f| {
                Desc::new(
                    f.name.to_string(),
                    f.help.to_string(),
                    f.labels.iter().map(|l| l.to_string()).collect(),
                    Default::default(),
                )
            })
            .collect::<prometheus::Result<Vec<_>>>()?;
        Ok(Self { families, descs, fill: Box::new(fill) })
    }
}

impl Collector for SnapshotCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        use prometheus::proto::{LabelPair, Metric, MetricType};
        let mut snap = Snapshot::default();
        (self.fill)(&mut snap);
        let mut out = Vec::new();
        for f in &self.families {
            let Some(samples) = snap.samples.remove(f.name) else { continue };
            let mut mf = MetricFamily::default();
            mf.set_name(f.name.to_string());
            mf.set_help(f.help.to_string());
            mf.set_field_type(match f.kind {
                Kind::Counter => MetricType::COUNTER,
                Kind::Gauge => MetricType::GAUGE,
            });
            for (values, v) in samples {
                if values.len() != f.labels.len() {
                    continue;
                }
                let mut m = Metric::default();
                m.set_label(
                    f.labels
                        .iter()
                        .zip(values)
                        .map(|(n, v)| {
                            let mut l = LabelPair::default();
                            l.set_name(n.to_string());
                            l.set_value(v);
                            l
                        })
                        .collect(),
                );
                match f.kind {
                    Kind::Counter => {
                        let mut c = prometheus::proto::Counter::default();
                        c.set_value(v);
                        m.set_counter(c);
                    }
                    Kind::Gauge => {
                        let mut g = prometheus::proto::Gauge::default();
                        g.set_value(v);
                        m.set_gauge(g);
                    }
                }
                mf.mut_metric().push(m);
            }
            out.push(mf);
        }
        out
    }
}

/// Adds the metadata layer's metrics to `reg`; the group gauges come from `life`.
pub fn register(reg: &Registry, life: Arc<dyn KvLifecycle>) -> prometheus::Result<()> {
    let m = &*METRICS;
    for c in [&m.kv_write_ms, &m.kv_read_ms, &m.fs_write_ms, &m.fs_read_ms] {
        reg.register(Box::new(c.clone()))?;
    }
    // Failures start at zero for every track and operation, so rates exist before one.
    for track in [TrackLabel::Kv, TrackLabel::Fs] {
        for op in crate::timed::OPS.iter().chain(["recover"].iter()) {
            m.track_errors.with_label_values(&[track.as_str(), op]);
        }
    }
    reg.register(Box::new(m.track_errors.clone()))?;
    reg.register(Box::new(m.kv_read_only.clone()))?;
    reg.register(Box::new(GroupCollector::new(life)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauge_of(reg: &Registry, name: &str) -> f64 {
        let fams = reg.gather();
        let f = fams.iter().find(|f| f.name() == name).unwrap_or_else(|| panic!("{name} missing"));
        f.get_metric()[0].get_gauge().get_value()
    }

    /// The seed's names are registered; the group gauges are those of the instance given
    /// (two stores in one process do not mix their numbers).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn registers_the_seed_names_and_each_instances_group() {
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let kv1 = Arc::new(crate::LocalKv::open(d1.path()).unwrap());
        let kv2 = Arc::new(crate::LocalKv::open(d2.path()).unwrap());
        for i in 0..3u8 {
            let mut b = crate::WriteBatch::new();
            b.put(vec![i], vec![i]);
            crate::Kv::write(kv1.as_ref(), b).await.unwrap();
        }
        let (r1, r2) = (Registry::new(), Registry::new());
        register(&r1, kv1.clone()).unwrap();
        register(&r2, kv2.clone()).unwrap();
        METRICS.kv_write_ms.with_label_values(&["put_object"]).observe(1.0);
        let names: Vec<String> = r1.gather().iter().map(|f| f.name().to_string()).collect();
        for n in [
            "rustfs_kv_write_latency_ms",
            "rustfs_metadata_replication_leader_id",
            "rustfs_metadata_replication_committed_index",
            "rustfs_metadata_replication_write_latency_seconds",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
        assert_eq!(gauge_of(&r1, "rustfs_metadata_replication_committed_index"), 3.0);
        assert_eq!(gauge_of(&r2, "rustfs_metadata_replication_committed_index"), 0.0);
        assert_eq!(gauge_of(&r1, "rustfs_metadata_replication_node_count"), 1.0);
        assert_eq!(gauge_of(&r1, "rustfs_metadata_replication_leader_id"), 1.0);
    }
}
