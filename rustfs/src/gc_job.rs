//! Runs garbage collection (`ecstore::gc`) periodically and on demand (`rustfs-admin gc`)
//! over the stores whose references keep shard data alive.

use std::sync::Arc;
use std::time::Duration;

pub use ecstore::GcReport;

use crate::app::App;

pub async fn collect(app: &App, grace: Duration) -> Result<GcReport, String> {
    app.ec.collect_garbage(&app.reference_stores(), grace).await
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
