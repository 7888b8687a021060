//! Observing each S3 request: its tracing span (operation, bucket, key, status, trace id;
//! the parent of every span the request's work opens), its metrics (requests by operation
//! and status, duration, in-flight, errors by S3 code, bytes in and out, the seed's
//! per-operation families), and the S3 operation name, captured by the access check s3s
//! runs once it has routed the request.
//!
//! This module must never change a request or a response's status, headers or bytes, and
//! never record a header value other than the trace context.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use s3s::S3Result;
use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;

use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::metrics::{HTTP, seed_index};

/// What routing learned about a request: filled by [`CaptureAccess`].
#[derive(Default)]
pub struct RequestInfo {
    op: OnceLock<String>,
    bucket: OnceLock<String>,
    key: OnceLock<String>,
}

impl RequestInfo {
    /// Records what a request served outside s3s is (a browser form).
    pub fn record(&self, op: &str, bucket: &str, key: Option<&str>) {
        let _ = self.op.set(op.to_string());
        let _ = self.bucket.set(bucket.to_string());
        if let Some(k) = key {
            let _ = self.key.set(k.to_string());
        }
    }
}

/// Request extension carrying the [`RequestInfo`] of the request.
#[derive(Clone)]
pub struct InfoSlot(pub Arc<RequestInfo>);

/// s3s's access check: records the operation, then hands the decision to the access model
/// (`s3api::authz`).
pub struct CaptureAccess(pub s3api::authz::AccessHook);

#[async_trait::async_trait]
impl S3Access for CaptureAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let op = cx.s3_op().name().to_string();
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        if let Some(slot) = cx.extensions_mut().get::<InfoSlot>() {
            let _ = slot.0.op.set(op);
            if let Some(b) = bucket {
                let _ = slot.0.bucket.set(b);
            }
            if let Some(k) = key {
                let _ = slot.0.key.set(k);
            }
        }
        self.0.check(cx).await
    }
}

/// A body that counts the bytes passing through it.
pub struct Counted<B> {
    inner: B,
    seen: u64,
    done: Option<Box<dyn FnOnce(u64) + Send + Sync>>,
}

impl<B> Counted<B> {
    /// `done` gets the byte count when the body is dropped (finished or abandoned).
    pub fn new(inner: B, done: impl FnOnce(u64) + Send + Sync + 'static) -> Self {
        Self { inner, seen: 0, done: Some(Box::new(done)) }
    }
}

impl<B> Drop for Counted<B> {
    fn drop(&mut self) {
        if let Some(f) = self.done.take() {
            f(self.seen);
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Counted<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &polled
            && let Some(d) = f.data_ref()
        {
            self.seen += d.len() as u64;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Keeps `rustfs_s3_requests_in_flight` right even when a request's future is dropped.
pub struct InFlight;

impl InFlight {
    pub fn start() -> Self {
        HTTP.in_flight.inc();
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        HTTP.in_flight.dec();
    }
}

/// The span of one S3 request. Unsampled (`trace_id` known), it carries only the trace id,
/// formatted once for log lines; sampled, it is an OpenTelemetry server span whose fields
/// are filled when the request is answered.
pub fn request_span(trace_id: Option<&str>) -> tracing::Span {
    match trace_id {
        Some(id) => tracing::info_span!(
            crate::telemetry::REQUEST_SPAN,
            trace_id = id,
            otel.status_code = tracing::field::Empty,
            http.request.method = tracing::field::Empty,
            url.path = tracing::field::Empty,
            s3.operation = tracing::field::Empty,
            s3.bucket = tracing::field::Empty,
            s3.key = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            s3.error_code = tracing::field::Empty,
        ),
        None => tracing::info_span!(
            crate::telemetry::REQUEST_SPAN,
            trace_id = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            http.request.method = tracing::field::Empty,
            url.path = tracing::field::Empty,
            s3.operation = tracing::field::Empty,
            s3.bucket = tracing::field::Empty,
            s3.key = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            s3.error_code = tracing::field::Empty,
        ),
    }
}

/// The S3 error code of an error response: from its XML body, else from the status.
pub fn error_code(status: http::StatusCode, body: Option<&[u8]>) -> String {
    if let Some(b) = body
        && let Some(start) = find(b, b"<Code>")
        && let Some(len) = find(&b[start + 6..], b"</Code>")
    {
        let code = &b[start + 6..start + 6 + len];
        if !code.is_empty() && code.len() <= 64 && code.iter().all(u8::is_ascii_alphanumeric) {
            return String::from_utf8_lossy(code).into_owned();
        }
    }
    match status.as_u16() {
        400 => "BadRequest",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        411 => "MissingContentLength",
        412 => "PreconditionFailed",
        416 => "InvalidRange",
        500 => "InternalError",
        501 => "NotImplemented",
        503 => "ServiceUnavailable",
        _ => return format!("Http{}", status.as_u16()),
    }
    .to_string()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The operation label of a finished request.
pub fn op_of<'a>(info: &'a RequestInfo, path: &str) -> &'a str {
    match info.op.get() {
        Some(op) => op.as_str(),
        None if path.starts_with(crate::admin::PREFIX) => "Admin",
        None => "Unknown",
    }
}

/// Records a finished request (its head is ready) in the metrics and its span.
pub struct Finished<'a> {
    pub span: &'a tracing::Span,
    /// Whether the span is exported over OTLP.
    pub sampled: bool,
    pub info: &'a RequestInfo,
    pub op: &'a str,
    pub status: http::StatusCode,
    pub error_code: Option<String>,
    pub started: Instant,
    pub received: &'a AtomicU64,
}

impl Finished<'_> {
    pub fn record(self, method: &http::Method, path: &str) {
        let elapsed = self.started.elapsed();
        let status = self.status.as_u16();
        let op = self.op;
        if self.sampled {
            let s = self.span;
            // The OpenTelemetry span started when its trace id was read: rename it directly.
            s.context().span().update_name(op.to_string());
            s.record("http.request.method", method.as_str());
            s.record("url.path", path);
            s.record("s3.operation", op);
            if let Some(b) = self.info.bucket.get() {
                s.record("s3.bucket", b.as_str());
            }
            if let Some(k) = self.info.key.get() {
                s.record("s3.key", k.as_str());
            }
            s.record("http.response.status_code", status);
            if status >= 500 {
                s.record("otel.status_code", "error");
            }
            if let Some(code) = &self.error_code {
                s.record("s3.error_code", code.as_str());
            }
        }
        HTTP.requests.with_label_values(&[op, status.to_string().as_str()]).inc();
        HTTP.duration.with_label_values(&[op]).observe(elapsed.as_secs_f64());
        if let Some(code) = &self.error_code {
            HTTP.errors.with_label_values(&[op, code.as_str()]).inc();
        }
        let received = self.received.load(Ordering::Relaxed);
        if received > 0 {
            HTTP.received.with_label_values(&[op]).inc_by(received);
        }
        if let Some(i) = seed_index(op) {
            let (latency, total, errors) = &HTTP.seed[i];
            latency.observe(elapsed.as_secs_f64() * 1000.0);
            total.inc();
            if status >= 500 {
                errors.inc();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_from_body_or_status() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>x</Message></Error>";
        assert_eq!(error_code(http::StatusCode::NOT_FOUND, Some(body)), "NoSuchKey");
        assert_eq!(error_code(http::StatusCode::NOT_FOUND, None), "NotFound");
        assert_eq!(error_code(http::StatusCode::NOT_FOUND, Some(b"<Code>a b</Code>")), "NotFound");
        assert_eq!(error_code(http::StatusCode::IM_A_TEAPOT, None), "Http418");
    }
}
