//! Guards in front of s3s, for what s3s does not bound or checks too late: the shape of
//! authentication the admin API accepts, SigV2 clock skew, presigned URL lifetime, the size
//! and number of browser-form POSTs it would buffer before checking access, aws-chunked
//! chunk sizes it would gather before checking anything, request bodies that stop
//! arriving, and responses a client stops reading. Each refusal is the error S3 gives.
//!
//! This module must never let a request through that it was asked to refuse, and never
//! change a body's bytes.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use bytes::{Buf, Bytes};
use http::{HeaderMap, Method, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use s3api::limits::{BodyLimit, ChunkCheck};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::limits::{Limits, MAX_AWS_CHUNK};

/// Longest lifetime of a SigV4 presigned URL (7 days), as S3 enforces.
pub const MAX_PRESIGNED_SECS: u64 = 604_800;
/// Largest clock difference accepted for SigV2-signed requests (S3's 15 minutes).
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The guards' state shared by every connection.
pub struct Guards {
    pub limits: Limits,
    forms: Arc<Semaphore>,
}

/// An early answer: status, S3 error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    /// The XML error response, as the router's body type.
    pub fn response_either(&self) -> Response<crate::http::RespBody> {
        self.response::<http_body_util::Full<Bytes>>().map(http_body_util::Either::Right)
    }

    /// The XML error response (the connection is closed after it: its body may be unread).
    pub fn response<B: From<Bytes>>(&self) -> Response<B> {
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code,
            esc(&self.message)
        );
        let mut r = Response::new(B::from(Bytes::from(body)));
        *r.status_mut() = self.status;
        r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
        r.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        r
    }
}

fn query_has(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
    })
}

pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().len() >= 19 && v.as_bytes()[..19].eq_ignore_ascii_case(b"multipart/form-data"))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The kind of authentication a request carries (before any signature is checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthShape {
    None,
    HeaderV4,
    QueryV4,
    HeaderV2,
    QueryV2,
    Form,
}

pub fn auth_shape(method: &Method, headers: &HeaderMap, query: &str) -> AuthShape {
    if method == Method::POST && is_form(headers) {
        return AuthShape::Form;
    }
    match header(headers, "authorization") {
        Some(a) if a.starts_with("AWS4-HMAC-SHA256 ") => return AuthShape::HeaderV4,
        Some(a) if a.starts_with("AWS ") => return AuthShape::HeaderV2,
        _ => {}
    }
    if query_has(query, "X-Amz-Signature").is_some() {
        AuthShape::QueryV4
    } else if query_has(query, "Signature").is_some() {
        AuthShape::QueryV2
    } else {
        AuthShape::None
    }
}

/// Checks made on the request head before s3s sees it. `admin`: the path is the admin
/// API's. Returns what to refuse, if anything.
pub fn check_head(method: &Method, headers: &HeaderMap, query: &str, admin: bool, now: SystemTime) -> Option<Refusal> {
    let shape = auth_shape(method, headers, query);
    if admin && !matches!(shape, AuthShape::HeaderV4 | AuthShape::QueryV4 | AuthShape::HeaderV2) {
        return Some(Refusal::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "The admin API accepts only requests signed with SigV4 (header or query) or a SigV2 header.",
        ));
    }
    match shape {
        AuthShape::HeaderV4 => {
            let a = header(headers, "authorization").unwrap_or_default();
            let parts: Vec<&str> = a["AWS4-HMAC-SHA256 ".len().min(a.len())..].split(',').map(str::trim).collect();
            let has = |p: &str| parts.iter().any(|x| x.strip_prefix(p).is_some_and(|v| !v.is_empty()));
            if !(has("Credential=") && has("SignedHeaders=") && has("Signature=")) {
                return Some(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "AuthorizationHeaderMalformed",
                    "The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.",
                ));
            }
            if header(headers, "x-amz-date").is_none() && header(headers, "date").is_none() {
                return Some(Refusal::new(
                    StatusCode::FORBIDDEN,
                    "AccessDenied",
                    "AWS authentication requires a valid Date or x-amz-date header",
                ));
            }
        }
        AuthShape::None if headers.contains_key(http::header::AUTHORIZATION) => {
            return Some(Refusal::new(StatusCode::BAD_REQUEST, "InvalidArgument", "Unsupported Authorization Type"));
        }
        AuthShape::HeaderV2 => {
            // SigV2 signs a date but s3s never checks it: without this a signed request could
            // be replayed for ever.
            let date = header(headers, "x-amz-date").or_else(|| header(headers, "date"));
            let Some(t) = date.and_then(|d| httpdate::parse_http_date(d.trim()).ok()) else {
                return Some(Refusal::new(
                    StatusCode::FORBIDDEN,
                    "AccessDenied",
                    "AWS authentication requires a valid Date or x-amz-date header",
                ));
            };
            let skew = now.duration_since(t).unwrap_or_else(|e| e.duration());
            if skew > MAX_SKEW {
                return Some(Refusal::new(
                    StatusCode::FORBIDDEN,
                    "RequestTimeTooSkewed",
                    "The difference between the request time and the current time is too large.",
                ));
            }
        }
        AuthShape::QueryV4 => {
            if let Some(e) = query_has(query, "X-Amz-Expires") {
                match e.parse::<u64>() {
                    Ok(secs) if secs <= MAX_PRESIGNED_SECS => {}
                    Ok(_) => {
                        return Some(Refusal::new(
                            StatusCode::BAD_REQUEST,
                            "AuthorizationQueryParametersError",
                            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
                        ));
                    }
                    Err(_) => {
                        return Some(Refusal::new(
                            StatusCode::BAD_REQUEST,
                            "AuthorizationQueryParametersError",
                            "X-Amz-Expires should be a number",
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    None
}

impl Guards {
    pub fn new(limits: Limits) -> Self {
        let forms = Arc::new(Semaphore::new(limits.post_form_concurrency));
        Self { limits, forms }
    }

    /// Admits a browser-form POST (at most `post_form_concurrency` at once, each declaring
    /// at most `post_form_max_bytes`): the permit lives as long as the request.
    pub fn admit_form(&self, headers: &HeaderMap) -> Result<OwnedSemaphorePermit, Refusal> {
        let declared = header(headers, "content-length").and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.limits.post_form_max_bytes) {
            return Err(BodyLimit::TooLarge { max: self.limits.post_form_max_bytes }.into());
        }
        Arc::clone(&self.forms)
            .try_acquire_owned()
            .map_err(|_| Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "SlowDown", "Please reduce your request rate."))
    }

    /// The guards a request body gets.
    pub fn body_guard(&self, method: &Method, headers: &HeaderMap) -> BodyGuard {
        let streaming = header(headers, "x-amz-content-sha256").is_some_and(|v| v.starts_with("STREAMING-"));
        let chunks = streaming.then(|| {
            let decoded = header(headers, "x-amz-decoded-content-length").and_then(|v| v.parse::<u64>().ok());
            ChunkCheck::new(MAX_AWS_CHUNK, decoded)
        });
        let cap = (method == Method::POST && is_form(headers)).then_some(self.limits.post_form_max_bytes);
        BodyGuard { idle: self.limits.idle_timeout, chunks, cap }
    }
}

impl From<BodyLimit> for Refusal {
    fn from(l: BodyLimit) -> Self {
        let e = l.to_s3();
        let status = e.status_code().unwrap_or(StatusCode::BAD_REQUEST);
        let code: &'static str = match l {
            BodyLimit::Idle => "RequestTimeout",
            BodyLimit::ChunkTooLarge { .. } => "InvalidRequest",
            BodyLimit::ChunksExceedDecodedLength { .. } => "IncompleteBody",
            BodyLimit::TooLarge { .. } => "EntityTooLarge",
        };
        Refusal::new(status, code, e.message().unwrap_or_default().to_string())
    }
}

/// What a request body is checked for while it streams.
pub struct BodyGuard {
    idle: Duration,
    chunks: Option<ChunkCheck>,
    cap: Option<u64>,
}

impl BodyGuard {
    pub fn wrap<B>(self, inner: B) -> Guarded<B> {
        Guarded { inner, guard: self, seen: 0, timer: None, armed: false, failed: false }
    }
}

/// A request body under its guards: fails with a `BodyLimit` (in the error message) when
/// nothing arrives for the idle timeout, when its aws-chunked framing breaks a bound, or
/// when it exceeds its size cap.
pub struct Guarded<B> {
    inner: B,
    guard: BodyGuard,
    seen: u64,
    /// Allocated once; armed when the body first has nothing to give.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
    failed: bool,
}

fn limit_error(l: BodyLimit) -> std::io::Error {
    std::io::Error::other(l)
}

impl<B> Body for Guarded<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                let deadline = tokio::time::Instant::now() + this.guard.idle;
                let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if !this.armed {
                    timer.as_mut().reset(deadline);
                    this.armed = true;
                }
                ready!(timer.as_mut().poll(cx));
                this.failed = true;
                Poll::Ready(Some(Err(limit_error(BodyLimit::Idle).into())))
            }
            Poll::Ready(Some(Ok(frame))) => {
                this.armed = false;
                if let Some(data) = frame.data_ref() {
                    this.seen += data.remaining() as u64;
                    if let Some(max) = this.guard.cap
                        && this.seen > max
                    {
                        this.failed = true;
                        return Poll::Ready(Some(Err(limit_error(BodyLimit::TooLarge { max }).into())));
                    }
                    if let Some(c) = this.guard.chunks.as_mut()
                        && let Err(l) = c.feed(data)
                    {
                        this.failed = true;
                        return Poll::Ready(Some(Err(limit_error(l).into())));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection whose writes fail once the peer has taken nothing for `timeout` (a client
/// that stopped reading a response must not hold the connection, nor what feeds it).
pub struct StallGuard<T> {
    inner: T,
    timeout: Duration,
    /// Allocated once; armed when a write first finds the peer not reading.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
}

impl<T> StallGuard<T> {
    pub fn new(inner: T, timeout: Duration) -> Self {
        Self { inner, timeout, timer: None, armed: false }
    }

    fn stalled(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.armed {
            timer.as_mut().reset(deadline);
            self.armed = true;
        }
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(std::io::Error::new(std::io::ErrorKind::TimedOut, "the client stopped reading"))
    }

    fn progressed(&mut self) {
        self.armed = false;
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.stalled(cx).map(Err),
            ready => {
                self.progressed();
                ready
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.stalled(cx).map(Err),
            ready => {
                self.progressed();
                ready
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.stalled(cx).map(Err),
            ready => {
                self.progressed();
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        m
    }

    #[test]
    fn admin_accepts_only_sigv4_or_a_sigv2_header() {
        let now = SystemTime::now();
        let form = h(&[("content-type", "multipart/form-data; boundary=x")]);
        let r = check_head(&Method::POST, &form, "", true, now).unwrap();
        assert_eq!((r.status, r.code), (StatusCode::FORBIDDEN, "AccessDenied"));
        assert!(check_head(&Method::POST, &form, "", false, now).is_none(), "S3 POST object still goes to s3s");
        let auth = "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=0";
        let v4 = h(&[("authorization", auth), ("x-amz-date", "20261206T000000Z")]);
        assert!(check_head(&Method::GET, &v4, "", true, now).is_none());
        let undated = check_head(&Method::GET, &h(&[("authorization", auth)]), "", false, now).unwrap();
        assert_eq!((undated.status, undated.code), (StatusCode::FORBIDDEN, "AccessDenied"));
        let torn = h(&[("authorization", "AWS4-HMAC-SHA256 Credential=a/b"), ("x-amz-date", "20261206T000000Z")]);
        assert_eq!(check_head(&Method::GET, &torn, "", false, now).unwrap().code, "AuthorizationHeaderMalformed");
        let bearer = check_head(&Method::GET, &h(&[("authorization", "Bearer x")]), "", false, now).unwrap();
        assert_eq!((bearer.status, bearer.code), (StatusCode::BAD_REQUEST, "InvalidArgument"));
        assert!(
            check_head(&Method::GET, &HeaderMap::new(), "X-Amz-Signature=ab&X-Amz-Expires=60", true, now).is_none()
        );
        let v2q = "AWSAccessKeyId=a&Signature=b&Expires=99999999999";
        assert_eq!(check_head(&Method::GET, &HeaderMap::new(), v2q, true, now).unwrap().code, "AccessDenied");
        assert!(check_head(&Method::GET, &HeaderMap::new(), v2q, false, now).is_none());
        assert_eq!(check_head(&Method::GET, &HeaderMap::new(), "", true, now).unwrap().code, "AccessDenied");
    }

    #[test]
    fn sigv2_dates_and_presign_lifetimes() {
        let now = SystemTime::now();
        let date = |t: SystemTime| httpdate::fmt_http_date(t);
        let ok = h(&[("authorization", "AWS a:b"), ("date", &date(now - Duration::from_secs(60)))]);
        assert!(check_head(&Method::GET, &ok, "", true, now).is_none());
        let old = h(&[("authorization", "AWS a:b"), ("date", &date(now - Duration::from_secs(16 * 60)))]);
        assert_eq!(check_head(&Method::GET, &old, "", false, now).unwrap().code, "RequestTimeTooSkewed");
        let future = h(&[("authorization", "AWS a:b"), ("x-amz-date", &date(now + Duration::from_secs(3600)))]);
        assert_eq!(check_head(&Method::GET, &future, "", false, now).unwrap().code, "RequestTimeTooSkewed");
        let none = h(&[("authorization", "AWS a:b")]);
        assert_eq!(check_head(&Method::GET, &none, "", false, now).unwrap().code, "AccessDenied");
        let q = |e: &str| format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires={e}&X-Amz-Signature=0");
        assert!(check_head(&Method::GET, &HeaderMap::new(), &q("604800"), false, now).is_none());
        let r = check_head(&Method::GET, &HeaderMap::new(), &q("604801"), false, now).unwrap();
        assert_eq!((r.status, r.code), (StatusCode::BAD_REQUEST, "AuthorizationQueryParametersError"));
    }
}
