//! The server's one Prometheus registry and `GET /metrics` (text format, on the S3 port).
//!
//! The registry holds: the S3 API metrics (`rustfs_s3_*`, and the seed's per-operation
//! `rustfs_{put,get,delete,list}_object(s)_*` names), the metadata layer's (`rustfs_kv_*`,
//! `rustfs_fs_*`, `rustfs_metadata_replication_*`), the store's (drives, sets, heal), the
//! migration's when DualTrack runs, the object inventory (`rustfs_objects_in_kv`,
//! `rustfs_objects_in_fs`), the heal job's progress and the process collector.
//!
//! Access: `public`, or a bearer token. This module must never export a label holding a
//! bucket, key, access key or any secret.

use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::app::App;

/// Who may read `/metrics`.
#[derive(Clone, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Requests need `Authorization: Bearer <token>`; with no token configured, every
    /// request is refused.
    Bearer(Option<String>),
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::Public => f.write_str("Public"),
            Access::Bearer(t) => write!(f, "Bearer({})", if t.is_some() { "<token>" } else { "<none>" }),
        }
    }
}

impl Access {
    pub fn resolve(auth: Option<String>, token: Option<String>) -> Result<Self, String> {
        let token = token.filter(|t| !t.is_empty());
        match auth.as_deref().unwrap_or("bearer") {
            "public" => Ok(Access::Public),
            "bearer" | "jwt" => {
                if let Some(t) = &token
                    && t.len() < 8
                {
                    return Err("the metrics token needs at least 8 characters".into());
                }
                Ok(Access::Bearer(token))
            }
            other => Err(format!("unknown metrics_auth {other:?}: use public or bearer")),
        }
    }

    fn allows(&self, headers: &HeaderMap) -> Result<(), StatusCode> {
        let Access::Bearer(token) = self else { return Ok(()) };
        let given = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(StatusCode::UNAUTHORIZED)?;
        match token {
            Some(t) if constant_time_eq(t.as_bytes(), given.trim().as_bytes()) => Ok(()),
            _ => Err(StatusCode::FORBIDDEN),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}

/// Seconds buckets of S3 requests (time to the response head).
const REQUEST_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

pub struct HttpMetrics {
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub in_flight: IntGauge,
    pub errors: IntCounterVec,
    pub received: IntCounterVec,
    pub sent: IntCounterVec,
    /// The seed's per-operation families: (latency ms, total, errors) for put/get/delete/list.
    pub seed: [(Histogram, IntCounter, IntCounter); 4],
    /// Client connections open now, and those refused over `max_connections`.
    pub connections: IntGauge,
    pub connections_refused: IntCounter,
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn seed_family(what: &str, ops: &str) -> (Histogram, IntCounter, IntCounter) {
    let latency = Histogram::with_opts(
        HistogramOpts::new(
            format!("rustfs_{what}_latency_ms"),
            format!("Latency of {ops} requests to the response head, in milliseconds"),
        )
        .buckets(metadata::metrics::MS_BUCKETS.to_vec()),
    )
    .unwrap_or_else(|e| panic!("metric {what}: {e}"));
    let counter =
        |name: String, help: String| IntCounter::new(name, help).unwrap_or_else(|e| panic!("metric {what}: {e}"));
    let total = counter(format!("rustfs_{what}_total"), format!("{ops} requests answered"));
    let errors = counter(
        format!("rustfs_{what}_errors_total"),
        format!("{ops} requests that failed on the server's side (5xx)"),
    );
    (latency, total, errors)
}

pub static HTTP: LazyLock<HttpMetrics> = LazyLock::new(|| HttpMetrics {
    requests: counter(
        "rustfs_s3_requests_total",
        "S3 API requests answered, by operation and HTTP status",
        &["op", "status"],
    ),
    duration: HistogramVec::new(
        HistogramOpts::new(
            "rustfs_s3_request_duration_seconds",
            "S3 API request time to the response head (a GET's body streams after it), by operation",
        )
        .buckets(REQUEST_BUCKETS.to_vec()),
        &["op"],
    )
    .unwrap_or_else(|e| panic!("metric rustfs_s3_request_duration_seconds: {e}")),
    in_flight: IntGauge::new("rustfs_s3_requests_in_flight", "S3 API requests being served")
        .unwrap_or_else(|e| panic!("metric rustfs_s3_requests_in_flight: {e}")),
    errors: counter(
        "rustfs_s3_errors_total",
        "S3 API error responses, by operation and S3 error code",
        &["op", "code"],
    ),
    received: counter("rustfs_s3_received_bytes_total", "Request body bytes received, by operation", &["op"]),
    sent: counter("rustfs_s3_sent_bytes_total", "Response body bytes sent, by operation", &["op"]),
    connections: IntGauge::new("rustfs_http_connections", "Client connections open")
        .unwrap_or_else(|e| panic!("metric rustfs_http_connections: {e}")),
    connections_refused: IntCounter::new(
        "rustfs_http_connections_refused_total",
        "Client connections answered 503 and closed because max_connections were open",
    )
    .unwrap_or_else(|e| panic!("metric rustfs_http_connections_refused_total: {e}")),
    seed: [
        seed_family("put_object", "PutObject"),
        seed_family("get_object", "GetObject"),
        seed_family("delete_object", "DeleteObject and DeleteObjects"),
        seed_family("list_objects", "ListObjects, ListObjectsV2 and ListObjectVersions"),
    ],
});

/// The seed family an S3 operation belongs to.
pub fn seed_index(op: &str) -> Option<usize> {
    match op {
        "PutObject" => Some(0),
        "GetObject" => Some(1),
        "DeleteObject" | "DeleteObjects" => Some(2),
        "ListObjects" | "ListObjectsV2" | "ListObjectVersions" => Some(3),
        _ => None,
    }
}

fn register_http(reg: &Registry) -> prometheus::Result<()> {
    let h = &*HTTP;
    reg.register(Box::new(h.requests.clone()))?;
    reg.register(Box::new(h.duration.clone()))?;
    reg.register(Box::new(h.in_flight.clone()))?;
    reg.register(Box::new(h.errors.clone()))?;
    reg.register(Box::new(h.received.clone()))?;
    reg.register(Box::new(h.sent.clone()))?;
    reg.register(Box::new(h.connections.clone()))?;
    reg.register(Box::new(h.connections_refused.clone()))?;
    for (latency, total, errors) in &h.seed {
        reg.register(Box::new(latency.clone()))?;
        reg.register(Box::new(total.clone()))?;
        reg.register(Box::new(errors.clone()))?;
    }
    Ok(())
}

/// Builds the registry of a running server.
pub fn registry(app: &Arc<App>) -> prometheus::Result<Registry> {
    let reg = Registry::new();
    register_http(&reg)?;
    metadata::metrics::register(&reg, app.kv_life.clone())?;
    ecstore::metrics::register(&reg, &app.ec)?;
    if let Some(d) = &app.dual {
        metadata::dualtrack::metrics::register(&reg, d.router.clone(), d.migrator.clone(), d.validator.clone())?;
    }
    crate::inventory::register(&reg, app)?;
    app.heal.register_metrics(&reg)?;
    s3api::lifecycle::metrics::register(&reg, &app.lifecycle)?;
    reg.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
    let build =
        IntGaugeVec::new(Opts::new("rustfs_build_info", "Version of the running server (always 1)"), &["version"])?;
    build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    reg.register(Box::new(build))?;
    Ok(reg)
}

pub type Body = Full<Bytes>;

fn text(status: StatusCode, msg: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(msg.as_bytes())));
    *r.status_mut() = status;
    r
}

/// Answers `GET /metrics`.
pub fn serve(reg: &Registry, access: &Access, headers: &HeaderMap) -> Response<Body> {
    match access.allows(headers) {
        Ok(()) => {}
        Err(StatusCode::UNAUTHORIZED) => {
            let mut r = text(StatusCode::UNAUTHORIZED, "metrics need a bearer token\n");
            r.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
            return r;
        }
        Err(s) => return text(s, "wrong metrics token\n"),
    }
    let enc = TextEncoder::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    if let Err(e) = enc.encode(&reg.gather(), &mut buf) {
        tracing::warn!(error = %e, "encoding metrics failed");
        return text(StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed\n");
    }
    let mut r = Response::new(Full::new(Bytes::from(buf)));
    if let Ok(v) = http::HeaderValue::from_str(enc.format_type()) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_access() {
        let a = Access::resolve(None, Some("s3cr3t-token".into())).unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(a.allows(&h), Err(StatusCode::UNAUTHORIZED));
        h.insert(http::header::AUTHORIZATION, "Bearer nope".parse().unwrap());
        assert_eq!(a.allows(&h), Err(StatusCode::FORBIDDEN));
        h.insert(http::header::AUTHORIZATION, "Bearer s3cr3t-token".parse().unwrap());
        assert_eq!(a.allows(&h), Ok(()));
        assert!(!format!("{a:?}").contains("s3cr3t"), "the token never appears in Debug");
        let none = Access::resolve(Some("bearer".into()), None).unwrap();
        assert_eq!(none.allows(&h), Err(StatusCode::FORBIDDEN), "no token configured: refused");
        assert_eq!(Access::resolve(Some("public".into()), None).unwrap().allows(&HeaderMap::new()), Ok(()));
        assert!(Access::resolve(Some("open".into()), None).is_err());
        assert!(Access::resolve(None, Some("short".into())).is_err());
    }
}
