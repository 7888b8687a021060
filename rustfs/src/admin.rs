//! The admin API under `/rustfs/admin/v1/` on the S3 port. Requests are SigV4-signed (s3s
//! verifies them) and only the root user may call it. Responses are JSON.
//!
//! - `GET  /rustfs/admin/v1/info`: version, uptime, drives, sets, bucket and object counts
//! - `POST /rustfs/admin/v1/heal[?bucket=B]`: start a heal job (or return the running one)
//! - `GET  /rustfs/admin/v1/heal`: the current or last heal job's progress
//! - `POST /rustfs/admin/v1/gc`: collect unreferenced shards now; returns a report
//! - `GET  /rustfs/admin/v1/metrics/sample`: this node's cumulative S3 counters (see `gates`)
//! - `GET  /rustfs/admin/v1/workers`: every background worker's state, units of work and errors
//! - `GET  /rustfs/admin/v1/metadata/status`: the metadata group as this node sees it
//! - `GET  /rustfs/admin/v1/metadata/format`: the store's format and each member's build's
//! - `POST /rustfs/admin/v1/metadata/{add-node,remove-node,transfer-leadership,snapshot,raise-format}`:
//!   membership, log compaction, the store format (see `cluster_admin`)
//! - migration, validation, cleanup and rebuild-kv: see `migration_admin`
//! - users, access keys, groups and policies: see `iam_admin`

use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode, Uri};
use hyper::http::Extensions;
use metadata::ListQuery;
use s3s::route::S3Route;
use s3s::{Body, S3Request, S3Response, S3Result, s3_error};
use serde::Serialize;

use ecstore::HealProgress;

use crate::app::App;

pub const PREFIX: &str = "/rustfs/admin/v1/";

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Info {
    pub version: String,
    pub deployment_id: String,
    pub uptime_secs: u64,
    pub ready: bool,
    pub sets: usize,
    pub sets_with_quorum: usize,
    pub drives: Vec<serde_json::Value>,
    pub buckets: u64,
    pub objects: u64,
    pub heal_queue: usize,
    /// A cluster's nodes as this node sees them (empty on a single node).
    #[serde(default)]
    pub nodes: Vec<NodeInfo>,
    /// Erasure sets per pool.
    #[serde(default)]
    pub pools: Vec<usize>,
    /// The MinIO deployment this server adopted on its drives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopted: Option<Adopted>,
}

/// An adopted MinIO deployment, as `rustfs-admin info` shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Adopted {
    pub report: ecstore::adopt::AdoptionReport,
    pub buckets: Vec<ecstore::legacy::minio_buckets::BucketImport>,
    /// New objects are written in MinIO's format (until the migration completes).
    pub minio_writes: bool,
}

/// One node of a cluster as the answering node sees it: its drives' states.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct NodeInfo {
    /// `host:port` as the drive arguments name it.
    pub node: String,
    pub internode: String,
    /// The node answering.
    pub this_node: bool,
    pub drives_online: usize,
    pub drives: usize,
    /// `online` (every drive), `degraded` (some), `offline` (none).
    pub state: String,
}

fn nodes_of(app: &App, drives: &[ecstore::DriveInfo]) -> Vec<NodeInfo> {
    let Some(c) = &app.cfg.cluster else { return Vec::new() };
    c.nodes
        .iter()
        .map(|n| {
            let mine: Vec<_> = drives.iter().filter(|d| d.node.as_deref() == Some(n.as_str())).collect();
            let online = mine.iter().filter(|d| d.state == ecstore::DriveState::Online).count();
            let state = match online {
                0 => "offline",
                o if o == mine.len() => "online",
                _ => "degraded",
            };
            NodeInfo {
                node: n.clone(),
                internode: c.internode_addr(n),
                this_node: *n == c.me,
                drives_online: online,
                drives: mine.len(),
                state: state.into(),
            }
        })
        .collect()
}

pub struct AdminRoute {
    pub app: Arc<App>,
}

pub(crate) fn json<T: Serialize>(status: StatusCode, v: &T) -> S3Result<S3Response<Body>> {
    let body = serde_json::to_vec_pretty(v).map_err(|e| s3_error!(InternalError, "{e}"))?;
    let mut resp = S3Response::with_status(Body::from(body), status);
    resp.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    Ok(resp)
}

async fn count_objects(app: &App) -> S3Result<(u64, u64)> {
    let buckets = app.meta.list_buckets().await.map_err(s3api::error::meta)?;
    let mut objects = 0u64;
    for b in &buckets {
        let mut q = ListQuery { max_keys: 1000, ..Default::default() };
        loop {
            let page = app.meta.list_objects(&b.name, &q).await.map_err(s3api::error::meta)?;
            objects += page.objects().count() as u64;
            match (page.truncated, page.objects().last()) {
                (true, Some(o)) => q.after = Some(o.key.clone()),
                _ => break,
            }
        }
    }
    Ok((buckets.len() as u64, objects))
}

#[async_trait::async_trait]
impl S3Route for AdminRoute {
    fn is_match(&self, _method: &Method, uri: &Uri, _headers: &HeaderMap, _ext: &mut Extensions) -> bool {
        uri.path().starts_with(PREFIX)
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        match &req.credentials {
            Some(c) if c.access_key == self.app.cfg.root.access_key => Ok(()),
            Some(_) => Err(s3_error!(AccessDenied, "The admin API needs the root credentials")),
            None => Err(s3_error!(AccessDenied, "Signature is required")),
        }
    }

    async fn call(&self, mut req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let path = &req.uri.path()[PREFIX.len()..];
        let app = &self.app;
        match (req.method.clone(), path.trim_end_matches('/')) {
            (Method::GET, "info") => {
                let (buckets, objects) = count_objects(app).await?;
                let drives = app.ec.drive_infos();
                let info = Info {
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    deployment_id: app.ec.deployment_id().to_string(),
                    uptime_secs: app.started.elapsed().as_secs(),
                    ready: app.ready(),
                    sets: app.ec.set_count(),
                    sets_with_quorum: app.ec.sets_with_quorum(),
                    drives: drives.iter().filter_map(|d| serde_json::to_value(d).ok()).collect(),
                    buckets,
                    objects,
                    heal_queue: app.ec.heal_queue_len(),
                    nodes: nodes_of(app, &drives),
                    pools: app.ec.pool_sets(),
                    adopted: app.adopted.as_ref().map(|a| Adopted {
                        report: a.current_report(),
                        buckets: a.buckets.lock().map(|b| b.clone()).unwrap_or_default(),
                        minio_writes: app.ec.minio_writes(),
                    }),
                };
                json(StatusCode::OK, &info)
            }
            (Method::POST, "heal") => {
                let q = crate::admin_query::HealQuery::parse(&req.uri).map_err(|e| s3_error!(InvalidRequest, "{e}"))?;
                if let Some(b) = &q.bucket {
                    app.meta.get_bucket(b).await.map_err(s3api::error::meta)?;
                }
                let p = match &app.heal_mark {
                    // A cluster heals on its leader: the request is a mark the leader honours.
                    Some(mark) => {
                        let w = mark.request(q.bucket).await.map_err(s3api::error::meta)?;
                        HealProgress { running: true, bucket: w.bucket, mark: Some(w.id), ..Default::default() }
                    }
                    None => app.heal.start(&app.runner, app.heal_targets(), q.bucket),
                };
                json(StatusCode::ACCEPTED, &p)
            }
            (Method::GET, "heal") => match app.heal.cluster_status().await {
                Some(p) => json(StatusCode::OK, &p),
                None => Err(s3_error!(NoSuchKey, "No heal job has run")),
            },
            (Method::GET, "metrics/sample") => json(StatusCode::OK, &crate::gates::sample(app)),
            (Method::GET, "workers") => json(StatusCode::OK, &app.runner.workers()),
            (Method::GET, "lifecycle") => json(StatusCode::OK, &app.lifecycle.status()),
            (Method::GET, "metadata/status") => json(StatusCode::OK, &app.kv_life.status()),
            (Method::GET, "metadata/format") => crate::cluster_admin::format(app).await,
            (
                Method::POST,
                "metadata/add-node"
                | "metadata/remove-node"
                | "metadata/transfer-leadership"
                | "metadata/snapshot"
                | "metadata/raise-format",
            ) => crate::cluster_admin::handle(app, path.trim_end_matches('/'), &req.uri).await,
            (Method::POST, "gc") => {
                let r =
                    crate::gc_job::collect(app, app.cfg.gc_grace).await.map_err(|e| s3_error!(InternalError, "{e}"))?;
                json(StatusCode::OK, &r)
            }
            (m, p) if p.starts_with("iam") => {
                match crate::iam_admin::handle(app, &m, p, &req.uri, &mut req.input).await {
                    Some(r) => r,
                    None => Err(s3_error!(NotImplemented, "Unknown admin API call")),
                }
            }
            (m, p) => match crate::migration_admin::handle(app, &m, p, &req.uri).await {
                Some(r) => r,
                None => Err(s3_error!(NotImplemented, "Unknown admin API call")),
            },
        }
    }
}
