//! Runs garbage collection (`ecstore::gc`) on demand (`rustfs-admin gc`) over the stores
//! whose references keep shard data alive (the periodic run is `ecstore::workers::GcWorker`).

use std::time::Duration;

pub use ecstore::GcReport;

use crate::app::App;

pub async fn collect(app: &App, grace: Duration) -> Result<GcReport, String> {
    app.ec.collect_garbage(&app.reference_stores(), grace).await
}
