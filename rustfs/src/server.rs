//! Runs the server: opens the stores, serves HTTP/1.1 with keep-alive and TCP_NODELAY on
//! every accepted connection, and on SIGTERM/SIGINT stops accepting, lets in-flight
//! requests finish within the shutdown timeout, then closes the stores cleanly.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;

use crate::admin::AdminRoute;
use crate::app::App;
use crate::config::Config;
use crate::http::Router;

/// Largest XML request body accepted.
pub const XML_MAX_BODY: usize = 4 << 20;
/// Longest a client may take to finish its TLS handshake.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);

pub async fn run(cfg: Config) -> Result<(), String> {
    if cfg.default_credentials {
        tracing::warn!(
            "USING THE DEFAULT CREDENTIALS ({}/{}): anyone who knows them can read and write all data. Set RUSTFS_ACCESS_KEY and RUSTFS_SECRET_KEY.",
            crate::config::DEFAULT_ACCESS_KEY,
            crate::config::DEFAULT_SECRET_KEY
        );
    }
    let kv = crate::app::KvHandle::open(&cfg).await?;
    // Listening starts now: a node that waits for its metadata group says why on its port.
    let listener =
        TcpListener::bind(cfg.address).await.map_err(|e| format!("cannot listen on {}: {e}", cfg.address))?;
    if cfg.replication.is_some() {
        crate::waiting::serve_until_ready(&listener, kv.life.clone()).await;
    }
    let app = App::open_with(cfg.clone(), kv).await?;
    let repaired = app.meta.recover().await.map_err(|e| format!("metadata recovery failed: {e}"))?;
    if !repaired.is_empty() {
        tracing::warn!(buckets = ?repaired, "finished bucket deletes a crash had interrupted");
    }
    // A cluster node cleared its drives before serving them to the other nodes (see `node`).
    let cleared = if app.internode.is_none() { app.ec.clear_tmp() } else { 0 };
    if cleared > 0 {
        tracing::info!(entries = cleared, "removed leftovers of interrupted writes");
    }
    app.ec.start_workers(&app.runner);
    if let Some(m) = &app.heal_mark {
        app.runner.spawn(ecstore::HealScheduler::new(m, &app.heal, app.heal_targets(), &app.runner));
    }
    if let Some(d) = &app.dual {
        d.router.start_workers(&app.runner, Duration::from_secs(1));
        if let (Some(c), Some(net), Some(r)) = (&cfg.cluster, &app.internode, &cfg.replication) {
            // Long enough for a cut-off node's operations to have failed or finished.
            let handover = Duration::from_millis(2 * r.raft.election_timeout_ms) + 2 * cfg.limits.drive_timeout;
            app.runner.spawn(crate::coordinator::Role::new(
                &d.router,
                app.kv_life.clone(),
                net.peers.clone(),
                c.clone(),
                handover,
            ));
        }
        let m = &cfg.migration;
        if m.migrator_enabled {
            app.runner.spawn(metadata::dualtrack::workers::MigratorSchedule::new(&d.migrator, m.migrator.clone()));
        }
        if m.check_enabled {
            app.runner.spawn(metadata::dualtrack::workers::ValidatorSchedule::new(
                &d.validator,
                m.check_interval,
                m.sample_rate,
            ));
        }
        let st = d.router.state();
        tracing::info!(phase = %st.phase, ratio = st.ratio, level = ?st.level, "DualTrack migration state");
    }
    if let Some(r) = &cfg.replication {
        // Says which store formats this build reads, and learns of a raise of the group's.
        app.runner.spawn(metadata::kv_store::FormatWorker::new(app.kv_store.clone(), r.node_id, cfg.format_announce));
    }
    app.runner.spawn(ecstore::workers::GcWorker::new(&app.ec, app.reference_stores(), cfg.gc_interval, cfg.gc_grace));
    let api = s3api::S3Api::new(
        app.ec.clone(),
        app.meta.clone(),
        s3api::ApiConfig {
            inline_threshold: cfg.inline_threshold,
            region: cfg.region.clone(),
            lifecycle_day_ns: cfg.lifecycle.day_ns(),
            keys: crate::app::sse_keyring(&cfg)?,
        },
        app.authz.clone(),
    );
    app.runner.spawn(s3api::lifecycle::scan::LifecycleWorker::new(api.clone(), cfg.lifecycle, app.lifecycle.clone()));
    // Browser forms are served by the same handlers outside s3s (see `http`).
    let form_api = Arc::new(api.clone());
    let mut b = S3ServiceBuilder::new(api);
    // XML bodies are buffered: cap them near the largest legitimate one (a
    // CompleteMultipartUpload of 10,000 parts is about 2.5 MB).
    let mut s3cfg = s3s::config::S3Config::default();
    s3cfg.xml_max_body_size = XML_MAX_BODY;
    // Browser uploads are streamed by `s3api::post` and never reach s3s, which would buffer
    // a form whole: any form it still sees (not a POST to a bucket) stays small.
    s3cfg.post_object_max_file_size = 1 << 20;
    s3cfg.form_max_fields_size = 1 << 20;
    b.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(s3cfg))));
    b.set_auth(s3api::iam::IamAuth(app.iam.clone()));
    b.set_access(crate::observe::CaptureAccess(s3api::authz::AccessHook(app.authz.clone())));
    b.set_route(AdminRoute { app: app.clone() });
    let domains = if cfg.domains.is_empty() {
        None
    } else {
        let d = s3s::host::MultiDomain::new(&cfg.domains).map_err(|e| format!("invalid --domain: {e}"))?;
        b.set_host(crate::http::Domains(d));
        let d = s3s::host::MultiDomain::new(&cfg.domains).map_err(|e| format!("invalid --domain: {e}"))?;
        Some(Arc::new(crate::http::Domains(d)))
    };
    let metrics = crate::metrics::registry(&app).map_err(|e| format!("cannot set up the metrics: {e}"))?;
    if app.cfg.metrics_access == crate::metrics::Access::Bearer(None) {
        tracing::info!("/metrics is closed: set RUSTFS_METRICS_AUTH=public or RUSTFS_METRICS_TOKEN to scrape it");
    }
    let guards = Arc::new(crate::guard::Guards::new(cfg.limits.clone()));
    let router = Router {
        app: app.clone(),
        s3: b.build(),
        metrics: Arc::new(metrics),
        guards,
        domains,
        peer: s3api::authz::Peer::default(),
        api: form_api,
    };

    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let tls = match &cfg.tls {
        Some(files) => {
            let certs = crate::tls::Reloading::new(files.clone()).map_err(|e| format!("TLS: {e}"))?;
            certs.watch();
            Some(crate::tls::acceptor(&certs).map_err(|e| format!("TLS: {e}"))?)
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %local, %scheme, drives = cfg.topology.drives.len(), deployment = %app.ec.deployment_id(), "rustfs is serving S3");

    let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    http.http1()
        .keep_alive(true)
        .half_close(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Connections served at once (`max_connections`); more are answered 503 and closed.
    let conns = Arc::new(tokio::sync::Semaphore::new(cfg.limits.max_connections));
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = term.recv() => break,
            _ = ctrl_c.as_mut() => break,
        };
        let _ = sock.set_nodelay(true);
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            crate::metrics::HTTP.connections_refused.inc();
            tokio::spawn(refuse_connection(sock));
            continue;
        };
        crate::metrics::HTTP.connections.inc();
        let guarded = crate::guard::StallGuard::new(sock, cfg.limits.idle_timeout);
        let mut r = router.clone();
        r.peer = s3api::authz::Peer { ip: Some(peer.ip()), secure: tls.is_some() };
        let Some(acceptor) = tls.clone() else {
            let conn = http.serve_connection(TokioIo::new(guarded), r);
            let conn = graceful.watch(conn.into_owned());
            tokio::spawn(async move {
                let _ = conn.await;
                crate::metrics::HTTP.connections.dec();
                drop(permit);
            });
            continue;
        };
        // The handshake runs in the connection's task: a slow client never holds the loop.
        let (http, watcher) = (http.clone(), graceful.watcher());
        tokio::spawn(async move {
            match tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(guarded)).await {
                Ok(Ok(stream)) => {
                    let conn = http.serve_connection(TokioIo::new(stream), r).into_owned();
                    let _ = watcher.watch(conn).await;
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
            crate::metrics::HTTP.connections.dec();
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(cfg.shutdown_timeout)) => {
            tracing::warn!(timeout_secs = cfg.shutdown_timeout, "in-flight requests did not finish in time");
        }
    }
    app.close(Duration::from_secs(10)).await;
    tracing::info!("stopped");
    Ok(())
}

/// Answers a connection over `max_connections` with 503 SlowDown and closes it.
async fn refuse_connection(mut sock: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>\
                <Message>Too many connections; please reduce your request rate.</Message></Error>";
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = sock.write_all(resp.as_bytes()).await;
        let _ = sock.shutdown().await;
    })
    .await;
}

/// Keeps `Arc<App>` type in the public API for tests that embed the server.
pub type Shared = Arc<App>;
