//! Prometheus metrics of a DualTrack migration, read at scrape time from the router, the
//! shadow queue, the migrator and the validator: phase, ratio, level, migrated objects and
//! rate, checkpoint lag, eventual-queue depth and lag, validation outcomes by class and
//! repairs, and the seed's `rustfs_consistency_errors_total`.
//!
//! A scrape only reads counters and in-memory status: it must never touch the KV or xl.meta.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus::Registry;

use super::migrator::Migrator;
use super::router::DualTrack;
use super::state::{Level, Phase};
use super::validator::Validator;
use crate::metrics::{Family, Kind, Snapshot, SnapshotCollector};

const PHASES: [(Phase, &str); 5] = [
    (Phase::Legacy, "legacy"),
    (Phase::Canary, "canary"),
    (Phase::Fullout, "fullout"),
    (Phase::KvPrimary, "kv_primary"),
    (Phase::Complete, "complete"),
];
const LEVELS: [(Level, &str); 3] = [(Level::Strong, "strong"), (Level::Eventual, "eventual"), (Level::Lazy, "lazy")];

fn families() -> Vec<Family> {
    use Kind::{Counter, Gauge};
    let fam = Family::new;
    vec![
        fam("rustfs_migration_phase", "1 for the current DualTrack phase, 0 for the others", Gauge, &["phase"]),
        fam("rustfs_migration_ratio", "Canary ratio: share of keys whose primary is the KV in canary", Gauge, &[]),
        fam("rustfs_migration_consistency_level", "1 for the current consistency level", Gauge, &["level"]),
        fam("rustfs_migration_kv_stale", "1 while the KV is marked stale (reads use xl.meta until a pass)", Gauge, &[]),
        fam("rustfs_migration_migrator_done", "1 once a migrator pass finished since the last change", Gauge, &[]),
        fam("rustfs_migration_running", "1 while a migrator pass runs", Gauge, &[]),
        fam("rustfs_migration_pass", "Number of the current or last migrator pass", Gauge, &[]),
        fam("rustfs_migration_objects_scanned_total", "Keys the current migrator pass has visited", Counter, &[]),
        fam(
            "rustfs_migration_objects_migrated_total",
            "Keys the current migrator pass copied from xl.meta to the KV",
            Counter,
            &[],
        ),
        fam("rustfs_migration_objects_in_sync_total", "Keys the current pass found already in sync", Counter, &[]),
        fam("rustfs_migration_objects_purged_total", "Keys the current pass removed from the KV", Counter, &[]),
        fam("rustfs_migration_errors_total", "Keys the current migrator pass failed to copy", Counter, &[]),
        fam("rustfs_migration_objects_estimated", "Keys counted for the current pass before it started", Gauge, &[]),
        fam("rustfs_migration_remaining_objects", "Keys the current pass has still to visit (estimate)", Gauge, &[]),
        fam("rustfs_migration_rate_objects_per_second", "Keys per second of the running pass", Gauge, &[]),
        fam("rustfs_migration_eta_seconds", "Estimated seconds until the running pass finishes", Gauge, &[]),
        fam(
            "rustfs_migration_checkpoint_lag_seconds",
            "Seconds since the running pass last saved its checkpoint (0 when no pass runs)",
            Gauge,
            &[],
        ),
        fam("rustfs_migration_shadow_queue_depth", "Keys waiting in the eventual shadow queue", Gauge, &[]),
        fam("rustfs_migration_shadow_queue_capacity", "Bound of the eventual shadow queue", Gauge, &[]),
        fam("rustfs_migration_shadow_oldest_seconds", "Age of the oldest key in the shadow queue", Gauge, &[]),
        fam("rustfs_migration_shadow_lag_ms", "Delay of the last shadow copy after its write, in ms", Gauge, &[]),
        fam(
            "rustfs_migration_shadow_copies_total",
            "Shadow copies by outcome: synced (by a worker), inline (by the writer, queue full or old), failed",
            Counter,
            &["result"],
        ),
        fam("rustfs_consistency_errors_total", "Reads that found the two metadata tracks disagreeing", Counter, &[]),
        fam("rustfs_dualtrack_reads_total", "Object metadata reads served, by track", Counter, &["track"]),
        fam("rustfs_dualtrack_fallbacks_total", "KV misses answered from xl.meta", Counter, &[]),
        fam("rustfs_dualtrack_lazy_copies_total", "Keys copied to the KV on read (lazy level)", Counter, &[]),
        fam(
            "rustfs_validation_objects_total",
            "Keys the validator compared, by outcome class (since start)",
            Counter,
            &["class"],
        ),
        fam("rustfs_validation_repairs_total", "Keys the validator repaired (since start)", Counter, &[]),
        fam("rustfs_validation_runs_total", "Validation runs finished (since start)", Counter, &[]),
        fam("rustfs_validation_running", "1 while a validation runs", Gauge, &[]),
        fam("rustfs_validation_last_clean", "1 when the last whole validation found no difference", Gauge, &[]),
        fam(
            "rustfs_validation_last_finished_timestamp_seconds",
            "When the last validation run finished (Unix seconds)",
            Gauge,
            &[],
        ),
    ]
}

fn fill(s: &mut Snapshot, dt: &DualTrack, migrator: &Migrator, validator: &Validator) {
    let st = dt.state();
    for (p, name) in PHASES {
        s.set("rustfs_migration_phase", &[name], f64::from(u8::from(st.phase == p)));
    }
    for (l, name) in LEVELS {
        s.set("rustfs_migration_consistency_level", &[name], f64::from(u8::from(st.level == l)));
    }
    s.set("rustfs_migration_ratio", &[], st.ratio);
    s.set("rustfs_migration_kv_stale", &[], f64::from(u8::from(st.kv_stale)));
    s.set("rustfs_migration_migrator_done", &[], f64::from(u8::from(st.migrator_done)));
    s.set("rustfs_validation_last_clean", &[], f64::from(u8::from(st.last_validation_clean == Some(true))));

    let m = migrator.snapshot();
    s.set("rustfs_migration_running", &[], f64::from(u8::from(m.running)));
    let c = m.checkpoint.unwrap_or_default();
    s.set("rustfs_migration_pass", &[], c.pass as f64);
    s.set("rustfs_migration_objects_scanned_total", &[], c.scanned as f64);
    s.set("rustfs_migration_objects_migrated_total", &[], c.copied as f64);
    s.set("rustfs_migration_objects_in_sync_total", &[], c.in_sync as f64);
    s.set("rustfs_migration_objects_purged_total", &[], c.purged as f64);
    s.set("rustfs_migration_errors_total", &[], c.errors as f64);
    s.set("rustfs_migration_objects_estimated", &[], c.total as f64);
    let remaining = if c.done { 0 } else { c.total.saturating_sub(c.scanned) };
    s.set("rustfs_migration_remaining_objects", &[], remaining as f64);
    s.set("rustfs_migration_rate_objects_per_second", &[], if m.running { m.rate } else { 0.0 });
    s.set("rustfs_migration_eta_seconds", &[], m.eta_secs.filter(|_| m.running).unwrap_or(0) as f64);
    let lag = if m.running && c.updated_ns > 0 {
        (crate::clock::now_ns().saturating_sub(c.updated_ns)).max(0) as f64 / 1e9
    } else {
        0.0
    };
    s.set("rustfs_migration_checkpoint_lag_seconds", &[], lag);

    let q = &dt.shadow;
    s.set("rustfs_migration_shadow_queue_depth", &[], q.depth() as f64);
    s.set("rustfs_migration_shadow_queue_capacity", &[], q.capacity() as f64);
    s.set("rustfs_migration_shadow_oldest_seconds", &[], q.oldest().as_secs_f64());
    s.set("rustfs_migration_shadow_lag_ms", &[], q.counters.last_lag_ms.load(Ordering::Relaxed) as f64);
    for (result, c) in [("synced", &q.counters.synced), ("inline", &q.counters.inline), ("failed", &q.counters.failed)]
    {
        s.set("rustfs_migration_shadow_copies_total", &[result], c.load(Ordering::Relaxed) as f64);
    }

    let d = &dt.counters;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    s.set("rustfs_consistency_errors_total", &[], load(&d.consistency_errors));
    s.set("rustfs_dualtrack_reads_total", &["kv"], load(&d.kv_reads));
    s.set("rustfs_dualtrack_reads_total", &["fs"], load(&d.fs_reads));
    s.set("rustfs_dualtrack_fallbacks_total", &[], load(&d.fallbacks));
    s.set("rustfs_dualtrack_lazy_copies_total", &[], load(&d.lazy_copies));

    let v = &validator.counters;
    for (class, c) in [
        ("in_sync", &v.in_sync),
        ("diverged", &v.diverged),
        ("kv_only", &v.kv_only),
        ("fs_only", &v.fs_only),
        ("missing", &v.missing),
        ("error", &v.errors),
    ] {
        s.set("rustfs_validation_objects_total", &[class], load(c));
    }
    s.set("rustfs_validation_repairs_total", &[], load(&v.repaired));
    s.set("rustfs_validation_runs_total", &[], load(&v.runs));
    let report = validator.snapshot();
    s.set("rustfs_validation_running", &[], f64::from(u8::from(report.as_ref().is_some_and(|r| r.running))));
    let finished = report.and_then(|r| r.finished_ns).map_or(0.0, |ns| ns as f64 / 1e9);
    s.set("rustfs_validation_last_finished_timestamp_seconds", &[], finished);
}

/// Adds the migration's metrics to `reg`.
pub fn register(
    reg: &Registry,
    dt: Arc<DualTrack>,
    migrator: Arc<Migrator>,
    validator: Arc<Validator>,
) -> prometheus::Result<()> {
    let c = SnapshotCollector::new(families(), move |s| fill(s, &dt, &migrator, &validator))?;
    reg.register(Box::new(c))
}
