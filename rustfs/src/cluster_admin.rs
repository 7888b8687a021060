//! Admin API calls of the metadata group (under `/rustfs/admin/v1/`, root only, JSON):
//!
//! - `POST metadata/add-node?id=N&address=HOST:PORT`: add a node (learner, then voter)
//! - `POST metadata/remove-node?id=N`: remove a node
//! - `POST metadata/transfer-leadership?to=N`: hand leadership to node N
//! - `POST metadata/snapshot`: compact the log behind a snapshot point now
//! - `GET metadata/format`: the store's format, and which formats each member's build reads
//! - `POST metadata/raise-format[?to=N]`: raise a replicated store's format (default: this
//!   build's), refused unless every member said recently that its build reads it
//!
//! Any node takes them (changes go to the leader). This module translates requests and
//! answers; the work lives in the replication crate, behind `KvLifecycle`, and for the
//! format in the metadata crate (`KvStore::raise_format`).

use http::{StatusCode, Uri};
use metadata::MetaError;
use s3s::{Body, S3Response, S3Result, s3_error};
use serde::{Deserialize, Serialize};

use crate::admin::json;
use crate::admin_query::{MemberQuery, query_param};
use crate::app::App;

/// What a membership call answers: the group after the change, as this node sees it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChangeResult {
    pub done: String,
    pub status: metadata::GroupStatus,
    /// The snapshot point, for `snapshot`.
    pub index: Option<u64>,
}

/// What `metadata/raise-format` answers: what it did, and the formats after it.
#[derive(Debug, Serialize, Deserialize)]
pub struct RaiseResult {
    pub done: String,
    pub format: metadata::kv_store::FormatStatus,
}

fn refused(e: MetaError) -> s3s::S3Error {
    match e {
        MetaError::Backend(why) => s3_error!(InvalidRequest, "{why}"),
        e @ MetaError::FormatRaiseRefused(_) => s3_error!(InvalidRequest, "{e}"),
        MetaError::NoLeader(why) => s3_error!(SlowDown, "{why}"),
        other => s3_error!(ServiceUnavailable, "{other}"),
    }
}

fn member_ids(app: &App) -> Vec<u64> {
    app.kv_life.status().members.iter().map(|m| m.id).collect()
}

/// `GET metadata/format`.
pub async fn format(app: &App) -> S3Result<S3Response<Body>> {
    let st = app.kv_store.format_status(&member_ids(app)).await.map_err(refused)?;
    json(StatusCode::OK, &st)
}

/// `POST metadata/raise-format`: the members' records must be at most three announce
/// intervals old.
async fn raise_format(app: &App, uri: &Uri) -> S3Result<S3Response<Body>> {
    if app.cfg.replication.is_none() {
        return Err(s3_error!(
            InvalidRequest,
            "a single node's metadata store takes this build's format at start: there is nothing to raise"
        ));
    }
    let to = match query_param(uri, "to") {
        Some(t) => t.parse::<u8>().map_err(|_| s3_error!(InvalidArgument, "to must be a format number"))?,
        None => metadata::schema::STORE_FORMAT,
    };
    let members = member_ids(app);
    let before = app.kv_store.refresh_format().await.map_err(refused)?;
    let after = app.kv_store.raise_format(to, &members, 3 * app.cfg.format_announce).await.map_err(refused)?;
    let done = if after > before {
        format!("store format raised from {before} to {after}; every member writes it within its next announce")
    } else {
        format!("the store is at format {after} already")
    };
    let format = app.kv_store.format_status(&members).await.map_err(refused)?;
    json(StatusCode::OK, &RaiseResult { done, format })
}

pub async fn handle(app: &App, path: &str, uri: &Uri) -> S3Result<S3Response<Body>> {
    let bad = |e: String| s3_error!(InvalidRequest, "{e}");
    let life = &app.kv_life;
    let (done, index) = match path {
        "metadata/raise-format" => return raise_format(app, uri).await,
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
            // What it said of its build no longer matters to a raise of the store's format.
            if let Err(e) = app.kv_store.forget_member_format(q.id).await {
                tracing::warn!(node = q.id, error = %e, "cannot delete the removed node's format record");
            }
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
