//! Admin API calls of DualTrack (under `/rustfs/admin/v1/`, root only, JSON):
//!
//! - `GET  migration`: state, shadow queue, routing counters, migrator, last validation, jobs
//! - `POST migration/phase?phase=P[&ratio=R][&level=L]`: change the state (applied at once)
//! - `POST migration/start[?concurrency=N&objects_per_day=N&priority=S]`: start a migrator pass
//! - `POST migration/stop`: stop the migrator after its batch (the checkpoint stays)
//! - `POST migration/cleanup`: remove migrated xl.meta files (phase complete only)
//! - `POST validate[?bucket=B&sample=R&repair=S]`, `GET validate`: run / show a validation
//! - `POST metadata/rebuild-kv`: rebuild the KV's object metadata from xl.meta
//!
//! In a cluster these calls are answered by the coordinator (the metadata leader, where the
//! migrator, the validator and the jobs run): another node passes them on, signed with the
//! root credentials, and returns the answer as it came.
//!
//! This module translates requests and answers; the work lives in the metadata crate.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::{Method, StatusCode, Uri};
use metadata::dualtrack::jobs::{JobProgress, Kind};
use metadata::dualtrack::migrator::MigratorStatus;
use metadata::dualtrack::validator::ValidationReport;
use metadata::dualtrack::{MigrationState, PhaseError};
use s3s::{Body, S3Response, S3Result, s3_error};
use serde::Serialize;

use crate::admin::json;
use crate::admin_query::{PhaseQuery, StartQuery, ValidateQuery};
use crate::app::{App, Dual};

#[derive(Debug, Serialize)]
pub struct QueueStatus {
    pub depth: usize,
    pub capacity: usize,
    pub window_secs: u64,
    pub oldest_ms: u64,
    pub synced: u64,
    pub inline: u64,
    pub failed: u64,
    pub last_lag_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct MigrationStatus {
    pub state: MigrationState,
    pub queue: QueueStatus,
    pub counters: serde_json::Value,
    pub migrator: MigratorStatus,
    pub validation: Option<ValidationReport>,
    pub job: Option<JobProgress>,
}

fn dual(app: &App) -> S3Result<&Dual> {
    app.dual.as_ref().ok_or_else(|| {
        s3_error!(
            InvalidRequest,
            "This deployment runs the kv engine alone: it has no xl.meta track to migrate (start a legacy deployment with --metadata-engine legacy)"
        )
    })
}

fn bad(msg: impl std::fmt::Display) -> s3s::S3Error {
    s3_error!(InvalidRequest, "{msg}")
}

pub async fn status(d: &Dual) -> MigrationStatus {
    let q = &d.router.shadow;
    let c = &d.router.counters;
    MigrationStatus {
        state: (*d.router.state()).clone(),
        queue: QueueStatus {
            depth: q.depth(),
            capacity: q.capacity(),
            window_secs: q.window().as_secs(),
            oldest_ms: q.oldest().as_millis() as u64,
            synced: q.counters.synced.load(Ordering::Relaxed),
            inline: q.counters.inline.load(Ordering::Relaxed),
            failed: q.counters.failed.load(Ordering::Relaxed),
            last_lag_ms: q.counters.last_lag_ms.load(Ordering::Relaxed),
        },
        counters: serde_json::json!({
            "consistency_errors": c.consistency_errors.load(Ordering::Relaxed),
            "kv_reads": c.kv_reads.load(Ordering::Relaxed),
            "fs_reads": c.fs_reads.load(Ordering::Relaxed),
            "fallbacks": c.fallbacks.load(Ordering::Relaxed),
            "lazy_copies": c.lazy_copies.load(Ordering::Relaxed),
        }),
        migrator: d.migrator.status().await,
        validation: d.validator.status().await,
        job: d.jobs.status(),
    }
}

/// Handles a DualTrack admin call, or `None` when `path` is not one.
pub async fn handle(app: &Arc<App>, method: &Method, path: &str, uri: &Uri) -> Option<S3Result<S3Response<Body>>> {
    let known = matches!(
        (method, path),
        (&Method::GET, "migration")
            | (&Method::POST, "migration/phase" | "migration/start" | "migration/stop" | "migration/cleanup")
            | (&Method::GET | &Method::POST, "validate")
            | (&Method::POST, "metadata/rebuild-kv")
    );
    if !known {
        return None;
    }
    if let Some(d) = &app.dual
        && let Some(link) = &d.link
    {
        // While the coordination moves (an election, a handover) the call waits for it.
        let deadline = tokio::time::Instant::now() + crate::coordinator::FORWARD_WAIT;
        loop {
            if d.router.gate().is_open() {
                break;
            }
            if link.coordinator_s3().is_some() || tokio::time::Instant::now() >= deadline {
                return Some(pass_on(app, link, method, uri).await);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    Some(call(app, method, path, uri).await)
}

/// Sends an admin call to the coordinator and returns its answer unchanged.
async fn pass_on(app: &App, link: &crate::coordinator::Link, method: &Method, uri: &Uri) -> S3Result<S3Response<Body>> {
    let Some(node) = link.coordinator_s3() else {
        return Err(s3s::S3Error::with_message(
            s3s::S3ErrorCode::SlowDown,
            "The migration's coordinator is being elected; please retry shortly.",
        ));
    };
    let root = &app.cfg.root;
    let client = crate::admin_client::AdminClient::new(
        &format!("http://{node}"),
        &root.access_key,
        &root.secret_key,
        &app.cfg.region,
    );
    let pq = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let a = client.send(method.as_str(), pq, bytes::Bytes::new(), true, true).await.map_err(|e| {
        tracing::warn!(coordinator = %node, error = %e, "cannot pass an admin call on to the coordinator");
        s3s::S3Error::with_message(
            s3s::S3ErrorCode::SlowDown,
            "The migration's coordinator did not answer; please retry.",
        )
    })?;
    let mut resp = S3Response::with_status(Body::from(a.body), a.status);
    if let Some(ct) = a.headers.get(http::header::CONTENT_TYPE) {
        resp.headers.insert(http::header::CONTENT_TYPE, ct.clone());
    }
    Ok(resp)
}

async fn call(app: &Arc<App>, method: &Method, path: &str, uri: &Uri) -> S3Result<S3Response<Body>> {
    let d = dual(app)?;
    match (method, path) {
        (&Method::GET, "migration") => json(StatusCode::OK, &status(d).await),
        (&Method::POST, "migration/phase") => {
            let q = PhaseQuery::parse(uri).map_err(bad)?;
            match d.router.set_phase(q.phase, q.ratio, q.level).await {
                Ok(s) => {
                    // An adopted deployment writes MinIO's format until the migration completes.
                    app.ec.set_minio_writes(
                        app.cfg.adoption.is_some() && s.phase != metadata::dualtrack::Phase::Complete,
                    );
                    json(StatusCode::OK, &s)
                }
                Err(PhaseError::Meta(e)) => Err(s3api::error::meta(e)),
                Err(e) => Err(bad(e)),
            }
        }
        (&Method::POST, "migration/start") => {
            let mut cfg = app.cfg.migration.migrator.clone();
            let q = StartQuery::parse(uri).map_err(bad)?;
            if let Some(n) = q.concurrency {
                cfg.concurrency = n;
            }
            if let Some(n) = q.objects_per_day {
                cfg.objects_per_day = n;
            }
            if let Some(p) = q.priority {
                cfg.priority = p;
            }
            d.migrator.start(cfg).map_err(bad)?;
            json(StatusCode::ACCEPTED, &d.migrator.status().await)
        }
        (&Method::POST, "migration/stop") => {
            d.migrator.stop();
            json(StatusCode::OK, &d.migrator.status().await)
        }
        (&Method::POST, "migration/cleanup") => {
            let p = d.jobs.start(&app.runner, d.router.clone(), Kind::Cleanup).map_err(bad)?;
            json(StatusCode::ACCEPTED, &p)
        }
        (&Method::POST, "metadata/rebuild-kv") => {
            let p = d.jobs.start(&app.runner, d.router.clone(), Kind::RebuildKv).map_err(bad)?;
            json(StatusCode::ACCEPTED, &p)
        }
        (&Method::POST, "validate") => {
            let q = ValidateQuery::parse(uri).map_err(bad)?;
            let r = d.validator.start(q.bucket, q.sample, q.repair).map_err(bad)?;
            json(StatusCode::ACCEPTED, &r)
        }
        (&Method::GET, "validate") => match d.validator.status().await {
            Some(r) => json(StatusCode::OK, &r),
            None => Err(s3_error!(NoSuchKey, "No validation has run")),
        },
        _ => Err(s3_error!(NotImplemented, "Unknown admin API call")),
    }
}
