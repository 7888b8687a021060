//! Prometheus metrics of the lifecycle scanner, read from its `LifecycleStats` at scrape
//! time: scans, versions examined, actions by kind, versions object lock kept, errors, and
//! the current scan's progress. Never labelled by bucket or key.

use std::sync::{Arc, Weak};

use metadata::metrics::{Family, Kind, SnapshotCollector};

use super::scan::LifecycleStats;

fn families() -> Vec<Family> {
    use Kind::{Counter, Gauge};
    let fam = Family::new;
    vec![
        fam("rustfs_lifecycle_scans_total", "Lifecycle scans completed", Counter, &[]),
        fam("rustfs_lifecycle_versions_scanned_total", "Object versions the lifecycle scanner examined", Counter, &[]),
        fam(
            "rustfs_lifecycle_actions_total",
            "Lifecycle actions taken, by kind: expire_current, expire_noncurrent, delete_marker, abort_upload",
            Counter,
            &["action"],
        ),
        fam("rustfs_lifecycle_locked_skipped_total", "Versions due for expiry that object lock kept", Counter, &[]),
        fam("rustfs_lifecycle_errors_total", "Lifecycle actions or scan pages that failed", Counter, &[]),
        fam("rustfs_lifecycle_scan_running", "1 while a lifecycle scan runs", Gauge, &[]),
        fam("rustfs_lifecycle_scan_buckets_total", "Buckets with rules in the current (or last) scan", Gauge, &[]),
        fam("rustfs_lifecycle_scan_buckets_done", "Buckets the current (or last) scan finished", Gauge, &[]),
        fam("rustfs_lifecycle_scan_versions", "Versions examined by the current (or last) scan", Gauge, &[]),
        fam("rustfs_lifecycle_last_scan_seconds", "Duration of the last completed scan", Gauge, &[]),
    ]
}

/// Adds the scanner's metrics to `reg` (the collector holds the stats weakly).
pub fn register(reg: &prometheus::Registry, stats: &Arc<LifecycleStats>) -> prometheus::Result<()> {
    let weak: Weak<LifecycleStats> = Arc::downgrade(stats);
    let c = SnapshotCollector::new(families(), move |s| {
        let Some(st) = weak.upgrade().map(|w| w.status()) else { return };
        s.set("rustfs_lifecycle_scans_total", &[], st.scans as f64);
        s.set("rustfs_lifecycle_versions_scanned_total", &[], st.versions_scanned as f64);
        for (action, n) in [
            ("expire_current", st.current_expired),
            ("expire_noncurrent", st.noncurrent_expired),
            ("delete_marker", st.delete_markers_removed),
            ("abort_upload", st.uploads_aborted),
        ] {
            s.set("rustfs_lifecycle_actions_total", &[action], n as f64);
        }
        s.set("rustfs_lifecycle_locked_skipped_total", &[], st.locked_skipped as f64);
        s.set("rustfs_lifecycle_errors_total", &[], st.errors as f64);
        s.set("rustfs_lifecycle_scan_running", &[], f64::from(u8::from(st.running)));
        s.set("rustfs_lifecycle_scan_buckets_total", &[], st.buckets_total as f64);
        s.set("rustfs_lifecycle_scan_buckets_done", &[], st.buckets_done as f64);
        s.set("rustfs_lifecycle_scan_versions", &[], st.scan_versions as f64);
        s.set("rustfs_lifecycle_last_scan_seconds", &[], st.last_scan_seconds.unwrap_or(0.0));
    })?;
    reg.register(Box::new(c))
}
