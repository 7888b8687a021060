//! While a replicated node waits for its metadata group (peers not up yet, no leader), its
//! S3 port already answers: `/health/live` 200, `/health/ready` 503 with the reason, and
//! every other request 503 SlowDown (each response closes its connection, so clients come
//! back to the real server once it runs). This module must never serve data.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metadata::KvLifecycle;
use tokio::net::TcpListener;

fn answer(path: &str, why: &str) -> Response<Full<Bytes>> {
    let (status, body, xml) = match path {
        "/health/live" => (StatusCode::OK, "ok\n".to_string(), false),
        "/health/ready" => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n"), false),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".to_string(),
            true,
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let ct = if xml { "application/xml" } else { "text/plain; charset=utf-8" };
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(ct));
    r.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    r
}

/// Serves `listener` as described above until the metadata group can take writes.
pub async fn serve_until_ready(listener: &TcpListener, life: Arc<dyn KvLifecycle>) {
    // Connections answered at once at most; more are closed (each lives 30 s at most).
    let slots = Arc::new(tokio::sync::Semaphore::new(64));
    let mut logged = Instant::now() - Duration::from_secs(60);
    loop {
        let Some(why) = life.not_ready() else { return };
        if logged.elapsed() >= Duration::from_secs(5) {
            tracing::info!(reason = %why, "waiting for the metadata group before serving S3");
            logged = Instant::now();
        }
        let sock = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
            () = tokio::time::sleep(Duration::from_millis(200)) => continue,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else { continue };
        let l = life.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let why = l.not_ready().unwrap_or_else(|| "starting".into());
                let r = answer(req.uri().path(), &why);
                async move { Ok::<_, std::convert::Infallible>(r) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(sock), svc);
            let _ = tokio::time::timeout(Duration::from_secs(30), conn).await;
        });
    }
}
