//! The object inventory: counts the keys on each metadata track every
//! `inventory_interval` (`rustfs_objects_in_kv`, and `rustfs_objects_in_fs` when the
//! deployment has an xl.meta track), so the KvLaggingBehindFs alert can compare them.
//!
//! A count walks key names only (`keys_after`), one page at a time, in the background; it
//! must never run on a scrape or hold a lock across pages.

use std::sync::Arc;
use std::time::Instant;

use metadata::MetadataStore;
use metadata::background::{Worker, WorkerState};
use prometheus::{GaugeVec, IntGauge, Opts, Registry};

use crate::app::App;

const PAGE: usize = 1000;

struct Gauges {
    kv: IntGauge,
    fs: Option<IntGauge>,
    duration: GaugeVec,
    finished: GaugeVec,
}

/// Keys (with at least one version or delete marker) on one track.
async fn count(store: &dyn MetadataStore) -> metadata::Result<u64> {
    let mut n = 0u64;
    for b in store.list_buckets().await? {
        let mut after: Option<String> = None;
        loop {
            let keys = match store.keys_after(&b.name, after.as_deref(), PAGE).await {
                Ok(k) => k,
                Err(metadata::MetaError::NoSuchBucket(_)) => break,
                Err(e) => return Err(e),
            };
            n += keys.len() as u64;
            if keys.len() < PAGE {
                break;
            }
            after = keys.into_iter().next_back();
        }
    }
    Ok(n)
}

/// The tracks to count: (label, store, gauge).
fn tracks(app: &App, g: &Gauges) -> Vec<(&'static str, Arc<dyn MetadataStore>, IntGauge)> {
    let mut out = Vec::new();
    match &app.dual {
        Some(d) => {
            out.push(("kv", d.router.kv_store().clone() as Arc<dyn MetadataStore>, g.kv.clone()));
            if let Some(fs) = &g.fs {
                out.push(("fs", d.router.legacy().clone(), fs.clone()));
            }
        }
        None => out.push(("kv", app.meta.clone(), g.kv.clone())),
    }
    out
}

async fn run_once(app: &App, g: &Gauges) {
    for (label, store, gauge) in tracks(app, g) {
        let started = Instant::now();
        match count(store.as_ref()).await {
            Ok(n) => {
                gauge.set(n as i64);
                g.duration.with_label_values(&[label]).set(started.elapsed().as_secs_f64());
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                g.finished.with_label_values(&[label]).set(now.as_secs_f64());
            }
            Err(e) => tracing::warn!(track = label, error = %e, "counting objects failed"),
        }
    }
}

fn gauge(name: &str, help: &str) -> prometheus::Result<IntGauge> {
    IntGauge::new(name, help)
}

/// Registers the inventory gauges and starts the background count.
pub fn register(reg: &Registry, app: &Arc<App>) -> prometheus::Result<()> {
    let g = Gauges {
        kv: gauge("rustfs_objects_in_kv", "Keys on the KV metadata track at the last inventory")?,
        fs: match app.dual {
            Some(_) => Some(gauge("rustfs_objects_in_fs", "Keys on the xl.meta metadata track at the last inventory")?),
            None => None,
        },
        duration: GaugeVec::new(
            Opts::new("rustfs_inventory_duration_seconds", "How long the last count of each track took"),
            &["track"],
        )?,
        finished: GaugeVec::new(
            Opts::new("rustfs_inventory_last_run_timestamp_seconds", "When each track's last count finished"),
            &["track"],
        )?,
    };
    reg.register(Box::new(g.kv.clone()))?;
    if let Some(fs) = &g.fs {
        reg.register(Box::new(fs.clone()))?;
    }
    reg.register(Box::new(g.duration.clone()))?;
    reg.register(Box::new(g.finished.clone()))?;
    app.runner.spawn(Inventory { app: Arc::downgrade(app), gauges: g, interval: app.cfg.inventory_interval });
    Ok(())
}

/// The count, run by the server's background runner: once at start, then every interval.
struct Inventory {
    app: std::sync::Weak<App>,
    gauges: Gauges,
    interval: std::time::Duration,
}

#[async_trait::async_trait]
impl Worker for Inventory {
    fn name(&self) -> String {
        "inventory".into()
    }

    async fn work(&mut self) -> Result<WorkerState, String> {
        let Some(app) = self.app.upgrade() else { return Ok(WorkerState::Done) };
        run_once(&app, &self.gauges).await;
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(self.interval).await;
    }
}
