//! Prometheus metrics of the erasure-coded store: drives (online, capacity, I/O errors,
//! shard commit latency), erasure sets (online drives, quorum) and heal (objects and bytes
//! scanned, healed, failed; queue length). State is read at scrape time; latencies are
//! recorded as they happen.
//!
//! Labels name drives by their path (bounded by the configuration); this module must never
//! label by bucket, key or any other unbounded value.

use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Weak};

use metadata::metrics::{Family, Kind, Snapshot, SnapshotCollector};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::EcStore;
use crate::drives::DriveState;

pub struct Metrics {
    /// Commit of one shard file into place (rename and the file system's flush), per drive.
    pub shard_commit_seconds: HistogramVec,
    /// Erasure-coded reads of an object range, by outcome.
    pub reads: IntCounterVec,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    Metrics {
    shard_commit_seconds: HistogramVec::new(
        HistogramOpts::new(
            "rustfs_drive_shard_commit_seconds",
            "Time to move one shard file into place and make it durable (on this node: rename, then the file system flush it shares with concurrent writes), per drive",
        )
        .buckets(metadata::metrics::SECONDS_BUCKETS.to_vec()),
        &["drive"],
    )
    .unwrap_or_else(|e| panic!("metric rustfs_drive_shard_commit_seconds: {e}")),
    reads: IntCounterVec::new(
        Opts::new(
            "rustfs_erasure_reads_total",
            "Object range reads from an erasure set, by outcome: clean, degraded (shards rebuilt on the fly), failed",
        ),
        &["outcome"],
    )
    .unwrap_or_else(|e| panic!("metric rustfs_erasure_reads_total: {e}")),
}
});

const DRIVE: &[&str] = &["drive", "set", "index"];

fn families() -> Vec<Family> {
    use Kind::{Counter, Gauge};
    let fam = Family::new;
    vec![
        fam("rustfs_drive_online", "1 when the drive is online, 0 when offline", Gauge, DRIVE),
        fam("rustfs_drive_total_bytes", "Capacity of the drive's file system", Gauge, DRIVE),
        fam("rustfs_drive_free_bytes", "Bytes free for rustfs on the drive's file system", Gauge, DRIVE),
        fam("rustfs_drive_used_bytes", "Bytes used on the drive's file system", Gauge, DRIVE),
        fam("rustfs_drive_io_errors_total", "I/O errors seen on the drive since start", Counter, DRIVE),
        fam("rustfs_erasure_sets", "Erasure sets of the deployment", Gauge, &[]),
        fam("rustfs_erasure_sets_with_quorum", "Erasure sets with enough online drives to read and write", Gauge, &[]),
        fam("rustfs_erasure_set_online_drives", "Online drives of each erasure set", Gauge, &["set"]),
        fam("rustfs_erasure_set_write_quorum", "Online drives a set needs to accept writes", Gauge, &["set"]),
        fam("rustfs_erasure_set_quorum", "1 when the set has write quorum, 0 when it has not", Gauge, &["set"]),
        fam(
            "rustfs_fs_flushes_total",
            "Flushes (syncfs) of this node's drive file systems made by shard commits",
            Counter,
            &[],
        ),
        fam(
            "rustfs_fs_flush_commits_total",
            "Shard file commits served by those flushes (commits / flushes = batching)",
            Counter,
            &[],
        ),
        fam("rustfs_fs_flush_seconds_total", "Time spent in those flushes", Counter, &[]),
        fam("rustfs_heal_objects_scanned_total", "Objects heal checked (background and on demand)", Counter, &[]),
        fam("rustfs_heal_objects_healed_total", "Objects heal rewrote at least one shard of", Counter, &[]),
        fam("rustfs_heal_objects_failed_total", "Objects heal could not fully restore", Counter, &[]),
        fam("rustfs_heal_bytes_scanned_total", "Object bytes heal checked", Counter, &[]),
        fam("rustfs_heal_bytes_healed_total", "Bytes heal wrote to rebuilt shard files", Counter, &[]),
        fam("rustfs_heal_shards_healed_total", "Shard files heal rebuilt", Counter, &[]),
        fam("rustfs_heal_queue_length", "Objects waiting in the background heal queue", Gauge, &[]),
        fam("rustfs_heal_queue_dropped_total", "Heal requests dropped because the queue was full", Counter, &[]),
    ]
}

fn fill(s: &mut Snapshot, ec: &EcStore) {
    let mut online_per_set = vec![0usize; ec.set_count()];
    for d in ec.drive_infos() {
        let (set, index) = (d.set.to_string(), d.index.to_string());
        let labels = [d.path.as_str(), set.as_str(), index.as_str()];
        let online = matches!(d.state, DriveState::Online);
        if online && let Some(n) = online_per_set.get_mut(d.set) {
            *n += 1;
        }
        s.set("rustfs_drive_online", &labels, f64::from(u8::from(online)));
        s.set("rustfs_drive_total_bytes", &labels, d.total_bytes as f64);
        s.set("rustfs_drive_free_bytes", &labels, d.free_bytes as f64);
        s.set("rustfs_drive_used_bytes", &labels, d.used_bytes as f64);
        s.set("rustfs_drive_io_errors_total", &labels, d.io_errors as f64);
    }
    s.set("rustfs_erasure_sets", &[], ec.set_count() as f64);
    s.set("rustfs_erasure_sets_with_quorum", &[], ec.sets_with_quorum() as f64);
    for (i, n) in online_per_set.iter().enumerate() {
        let quorum = ec.write_quorum(i);
        let set = i.to_string();
        s.set("rustfs_erasure_set_online_drives", &[&set], *n as f64);
        s.set("rustfs_erasure_set_write_quorum", &[&set], quorum as f64);
        s.set("rustfs_erasure_set_quorum", &[&set], f64::from(u8::from(*n >= quorum)));
    }
    let f = crate::disk::flush::totals();
    s.set("rustfs_fs_flushes_total", &[], f.flushes as f64);
    s.set("rustfs_fs_flush_commits_total", &[], f.commits as f64);
    s.set("rustfs_fs_flush_seconds_total", &[], f.seconds);
    let h = &ec.heal_stats;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    s.set("rustfs_heal_objects_scanned_total", &[], load(&h.objects_scanned));
    s.set("rustfs_heal_objects_healed_total", &[], load(&h.objects_healed));
    s.set("rustfs_heal_objects_failed_total", &[], load(&h.objects_failed));
    s.set("rustfs_heal_bytes_scanned_total", &[], load(&h.bytes_scanned));
    s.set("rustfs_heal_bytes_healed_total", &[], load(&h.bytes_healed));
    s.set("rustfs_heal_shards_healed_total", &[], load(&h.shards_healed));
    s.set("rustfs_heal_queue_length", &[], ec.heal_queue_len() as f64);
    s.set("rustfs_heal_queue_dropped_total", &[], load(&h.queue_dropped));
}

/// Adds the store's metrics to `reg`. The collector holds the store weakly.
pub fn register(reg: &Registry, ec: &Arc<EcStore>) -> prometheus::Result<()> {
    let m = &*METRICS;
    reg.register(Box::new(m.shard_commit_seconds.clone()))?;
    reg.register(Box::new(m.reads.clone()))?;
    for outcome in ["clean", "degraded", "failed"] {
        m.reads.with_label_values(&[outcome]);
    }
    let weak: Weak<EcStore> = Arc::downgrade(ec);
    let c = SnapshotCollector::new(families(), move |s| {
        if let Some(ec) = weak.upgrade() {
            fill(s, &ec);
        }
    })?;
    reg.register(Box::new(c))
}
