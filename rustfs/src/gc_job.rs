//! Garbage collection of shards that no committed metadata references (a PUT or copy that
//! died between writing its shards and committing its metadata). A data dir is removed only
//! when it is older than the grace period and neither a version of its key nor a multipart
//! upload of its key names it. Runs periodically and on demand (`rustfs-admin gc`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use metadata::{ListItem, MetaError, ObjectData, UploadQuery};
use serde::Serialize;

use crate::app::App;

#[derive(Debug, Default, Clone, Serialize)]
pub struct GcReport {
    pub data_dirs_seen: u64,
    pub data_dirs_young: u64,
    pub data_dirs_removed: u64,
}

/// Whether any version (on any track in use) or upload of `bucket/key` uses `data_dir`.
async fn referenced(app: &App, bucket: &str, key: &str, data_dir: &str) -> Result<bool, String> {
    for store in app.reference_stores() {
        match store.key_versions(bucket, key).await {
            Ok(versions) => {
                if versions.iter().any(|o| matches!(&o.data, ObjectData::Erasure(l) if l.data_dir == data_dir)) {
                    return Ok(true);
                }
            }
            Err(MetaError::NoSuchBucket(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let mut q = UploadQuery { prefix: key.to_string(), max_uploads: 1000, ..Default::default() };
    loop {
        let page = app.meta.list_uploads(bucket, &q).await.map_err(|e| e.to_string())?;
        let mut last = None;
        for item in &page.items {
            if let ListItem::Object(u) = item {
                if u.key == key && u.data_dir == data_dir {
                    return Ok(true);
                }
                last = Some((u.key.clone(), u.upload_id.clone()));
            }
        }
        match last {
            Some((k, u)) if page.truncated && k == key => {
                q.key_marker = Some(k);
                q.upload_id_marker = Some(u);
            }
            _ => return Ok(false),
        }
    }
}

pub async fn collect(app: &App, grace: Duration) -> Result<GcReport, String> {
    let mut report = GcReport::default();
    let now = SystemTime::now();
    for b in app.meta.list_buckets().await.map_err(|e| e.to_string())? {
        for d in app.ec.find_data_dirs(&b.name).await {
            report.data_dirs_seen += 1;
            if now.duration_since(d.modified).unwrap_or_default() < grace {
                report.data_dirs_young += 1;
                continue;
            }
            if referenced(app, &b.name, &d.key, &d.data_dir).await? {
                continue;
            }
            tracing::info!(bucket = %b.name, key = %d.key, data_dir = %d.data_dir, "removing unreferenced shards");
            app.ec.remove_data_dir(&d).await;
            report.data_dirs_removed += 1;
        }
    }
    Ok(report)
}

/// Runs `collect` every `interval` until the app is dropped.
pub fn start(app: &Arc<App>, interval: Duration, grace: Duration) {
    let weak = Arc::downgrade(app);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(app) = weak.upgrade() else { return };
            match collect(&app, grace).await {
                Ok(r) if r.data_dirs_removed > 0 => {
                    tracing::info!(removed = r.data_dirs_removed, "garbage collection done")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
            }
        }
    });
}
