//! Admin API calls of the metadata group (under `/rustfs/admin/v1/`, root only, JSON):
//!
//! - `POST metadata/add-node?id=N&address=HOST:PORT`: add a node (learner, then voter)
//! - `POST metadata/remove-node?id=N`: remove a node
//! - `POST metadata/transfer-leadership?to=N`: hand leadership to node N
//! - `POST metadata/snapshot`: compact the log behind a snapshot point now
//!
//! Any node takes them (changes go to the leader). This module translates requests and
//! answers; the work lives in the replication crate, behind `KvLifecycle`.

use http::{StatusCode, Uri};
use metadata::MetaError;
use s3s::{Body, S3Response, S3Result, s3_error};
use serde::{Deserialize, Serialize};

use crate::admin::json;
use crate::admin_query::MemberQuery;
use crate::app::App;

/// What a membership call answers: the group after the change, as this node sees it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChangeResult {
    pub done: String,
    pub status: metadata::GroupStatus,
    /// The snapshot point, for `snapshot`.
    pub index: Option<u64>,
}

fn refused(e: MetaError) -> s3s::S3Error {
    match e {
        MetaError::Backend(why) => s3_error!(InvalidRequest, "{why}"),
        MetaError::NoLeader(why) => s3_error!(SlowDown, "{why}"),
        other => s3_error!(ServiceUnavailable, "{other}"),
    }
}

pub async fn handle(app: &App, path: &str, uri: &Uri) -> S3Result<S3Response<Body>> {
    let bad = |e: String| s3_error!(InvalidRequest, "{e}");
    let life = &app.kv_life;
    let (done, index) = match path {
        "metadata/add-node" => {
            let q = MemberQuery::parse(uri, "id", true).map_err(bad)?;
            let address = q.address.unwrap_or_default();
            life.add_member(q.id, &address).await.map_err(refused)?;
            tracing::info!(node = q.id, address = %address, "metadata group: node added");
            (format!("node {} added as a learner; it becomes a voter once caught up", q.id), None)
        }
        "metadata/remove-node" => {
            let q = MemberQuery::parse(uri, "id", false).map_err(bad)?;
            life.remove_member(q.id).await.map_err(refused)?;
            tracing::info!(node = q.id, "metadata group: node removed");
            (format!("node {} removed", q.id), None)
        }
        "metadata/transfer-leadership" => {
            let q = MemberQuery::parse(uri, "to", false).map_err(bad)?;
            life.transfer_leadership(q.id).await.map_err(refused)?;
            (format!("node {} leads", q.id), None)
        }
        "metadata/snapshot" => {
            let i = life.snapshot_now().await.map_err(refused)?;
            (format!("log compacted behind index {i}"), Some(i))
        }
        _ => return Err(s3_error!(NotImplemented, "Unknown admin API call")),
    };
    json(StatusCode::OK, &ChangeResult { done, status: life.status(), index })
}
