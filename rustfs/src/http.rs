//! The HTTP front: unsigned health probes, then everything else (S3 and the signed admin
//! API) through s3s. This module must never let an unsigned request reach data.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use s3s::service::S3Service;
use tracing::Instrument;

use crate::app::App;
use crate::observe::{Counted, Finished, InFlight, InfoSlot, RequestInfo};

#[derive(Clone)]
pub struct Router {
    pub app: Arc<App>,
    pub s3: S3Service,
    pub metrics: Arc<prometheus::Registry>,
    pub guards: Arc<crate::guard::Guards>,
    /// Virtual-hosted-style domains (`--domain`), to find a request's bucket for SigV2.
    pub domains: Option<Arc<Domains>>,
    /// The connection this router serves (each connection gets its own copy).
    pub peer: s3api::authz::Peer,
    /// The S3 API again, for browser forms, which are streamed here instead of through s3s
    /// (which would buffer them whole).
    pub api: Arc<s3api::S3Api>,
}

pub type RespBody = http_body_util::Either<Counted<s3s::Body>, Full<Bytes>>;

fn plain(status: StatusCode, text: &'static str) -> Response<RespBody> {
    let mut r = Response::new(http_body_util::Either::Right(Full::new(Bytes::from_static(text.as_bytes()))));
    *r.status_mut() = status;
    r
}

/// Sub-resources whose PUT body is an XML document.
const XML_PUT_SUBRESOURCES: [&str; 16] = [
    "versioning",
    "tagging",
    "policy",
    "cors",
    "lifecycle",
    "acl",
    "replication",
    "encryption",
    "notification",
    "website",
    "logging",
    "object-lock",
    "ownershipControls",
    "publicAccessBlock",
    "retention",
    "legal-hold",
];

/// Whether a request whose body s3s buffers as XML declares more than `XML_MAX_BODY` bytes.
/// (s3s would answer such a body with 500; S3 answers 400 MaxMessageLengthExceeded.)
fn xml_body_too_large(req: &Request<Incoming>) -> bool {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if declared <= crate::server::XML_MAX_BODY as u64 {
        return false;
    }
    let query = req.uri().query().unwrap_or("");
    let has = |name: &str| query.split('&').any(|kv| kv.split('=').next() == Some(name));
    let form =
        req.headers().get(http::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"multipart/form-data"));
    match *req.method() {
        http::Method::POST => !form,
        http::Method::PUT => XML_PUT_SUBRESOURCES.iter().any(|r| has(r)),
        _ => false,
    }
}

/// `GET /metrics` unless it is a signed S3 request (a ListObjects of a bucket named
/// `metrics` carries a SigV4 Authorization header or a query).
fn is_metrics(req: &Request<Incoming>) -> bool {
    req.method() == http::Method::GET
        && req.uri().path() == "/metrics"
        && req.uri().query().is_none_or(str::is_empty)
        && req.headers().get(http::header::AUTHORIZATION).is_none_or(|v| v.as_bytes().starts_with(b"Bearer "))
}

fn expects_continue(req: &Request<Incoming>) -> bool {
    req.headers().get(http::header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

fn too_large() -> Response<RespBody> {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>MaxMessageLengthExceeded</Code>\
                <Message>Your request was too big.</Message></Error>";
    let mut r = Response::new(http_body_util::Either::Right(Full::new(Bytes::from_static(body.as_bytes()))));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    r.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    r
}

impl hyper::service::Service<Request<Incoming>> for Router {
    type Response = Response<RespBody>;
    type Error = s3s::HttpError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let probe = req.method() == http::Method::GET || req.method() == http::Method::HEAD;
            match req.uri().path() {
                "/health/live" if probe => return Ok(plain(StatusCode::OK, "ok\n")),
                "/health/ready" if probe => {
                    this.app.ec.probe_drives();
                    return Ok(match this.app.not_ready_reason() {
                        None => plain(StatusCode::OK, "ready\n"),
                        Some(why) => {
                            let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, "");
                            *r.body_mut() =
                                http_body_util::Either::Right(Full::new(Bytes::from(format!("not ready: {why}\n"))));
                            r
                        }
                    });
                }
                _ => {}
            }
            if is_metrics(&req) {
                let r = crate::metrics::serve(&this.metrics, &this.app.cfg.metrics_access, req.headers());
                return Ok(r.map(http_body_util::Either::Right));
            }
            if xml_body_too_large(&req) {
                return Ok(too_large());
            }
            let admin = req.uri().path().starts_with(crate::admin::PREFIX);
            // CORS: a browser's preflight is answered from the bucket's rules (it carries
            // no signature); an actual request from an origin gets the rules' headers.
            let cors = match req.headers().get(http::header::ORIGIN).and_then(|o| o.to_str().ok()) {
                Some(origin) if !admin => this.bucket_of(&req).map(|b| (b, origin.to_string())),
                _ => None,
            };
            if req.method() == http::Method::OPTIONS
                && !admin
                && let Some(bucket) = this.bucket_of(&req)
            {
                let p = this.api.cors_preflight(&bucket, req.headers()).await;
                let mut r = Response::new(http_body_util::Either::Right(Full::new(p.body)));
                *r.status_mut() = p.status;
                *r.headers_mut() = p.headers;
                return Ok(r);
            }
            let method = req.method().clone();
            let mut resp = this.serve(req, admin).await?;
            if let Some((bucket, origin)) = cors
                && let Some(h) = this.api.cors_headers(&bucket, &method, &origin).await
            {
                resp.headers_mut().extend(h);
            }
            Ok(resp)
        })
    }
}

impl Router {
    /// Serves a request past the health, metrics and CORS preflight routes.
    async fn serve(&self, req: Request<Incoming>, admin: bool) -> Result<Response<RespBody>, s3s::HttpError> {
        let query = req.uri().query().unwrap_or("");
        if let Some(r) = crate::guard::check_head(req.method(), req.headers(), query, admin, SystemTime::now()) {
            return Ok(r.response_either());
        }
        if let Some(r) = self.check_sigv2(&req).await {
            return Ok(r.response_either());
        }
        // Browser forms: bound how many are read at once (each holds its fields in
        // memory) and how large, holding the permit for the whole request.
        let _form = match crate::guard::auth_shape(req.method(), req.headers(), query) {
            crate::guard::AuthShape::Form => match self.guards.admit_form(req.headers()) {
                Ok(p) => Some(p),
                Err(r) => return Ok(r.response_either()),
            },
            _ => None,
        };
        self.s3_call(req).await
    }

    /// The bucket a request names (by virtual host, or the path's first segment).
    fn bucket_of<B>(&self, req: &Request<B>) -> Option<String> {
        if let Some(b) = self.vh_bucket(req.headers()) {
            return Some(b);
        }
        let p = req.uri().path().trim_start_matches('/');
        let b = p.split('/').next().filter(|b| !b.is_empty())?;
        Some(percent_encoding::percent_decode_str(b).decode_utf8_lossy().into_owned())
    }

    /// The bucket a request names by virtual host (`--domain`), if any.
    fn vh_bucket(&self, headers: &http::HeaderMap) -> Option<String> {
        self.domains.as_ref().and_then(|d| {
            let host = headers.get(http::header::HOST)?.to_str().ok()?;
            let is_addr = host.parse::<std::net::SocketAddr>().is_ok() || host.parse::<std::net::IpAddr>().is_ok();
            if is_addr {
                return None;
            }
            use s3s::host::S3Host;
            d.parse_host_header(host).ok()?.bucket().map(str::to_string)
        })
    }

    /// The bucket of a browser form (`POST /bucket`, or `POST /` on a bucket's virtual host).
    fn form_bucket<B>(&self, req: &Request<B>) -> Option<String> {
        if req.method() != http::Method::POST || !crate::guard::is_form(req.headers()) {
            return None;
        }
        let path = req.uri().path();
        if path.starts_with(crate::admin::PREFIX) {
            return None;
        }
        if let Some(b) = self.vh_bucket(req.headers()) {
            return (path == "/").then_some(b);
        }
        let p = path.trim_start_matches('/').trim_end_matches('/');
        (!p.is_empty() && !p.contains('/'))
            .then(|| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned())
    }

    /// Refuses a SigV2 request whose signature is wrong, comparing in constant time (see
    /// `sigv2`); anything it cannot judge goes on to s3s.
    async fn check_sigv2(&self, req: &Request<Incoming>) -> Option<crate::guard::Refusal> {
        let query = req.uri().query().unwrap_or("");
        let claim = crate::sigv2::claim(req.headers(), query)?;
        let user = self.app.iam.identity(&claim.access_key).await?;
        let vh_bucket = self.vh_bucket(req.headers());
        let sts = crate::sigv2::string_to_sign(
            req.method(),
            req.uri().path(),
            query,
            req.headers(),
            vh_bucket.as_deref(),
            claim.presigned,
        )?;
        if crate::sigv2::matches(&crate::sigv2::sign(user.signing_secret(), &sts), &claim.signature) {
            return None;
        }
        Some(crate::guard::Refusal {
            status: StatusCode::FORBIDDEN,
            code: "SignatureDoesNotMatch",
            message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.".into(),
        })
    }

    /// Serves one S3 (or admin API) request inside its span, measuring it.
    async fn s3_call(&self, mut req: Request<Incoming>) -> Result<Response<RespBody>, s3s::HttpError> {
        let _in_flight = InFlight::start();
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let (span, sampled_guard) = crate::telemetry::request_span(req.headers(), crate::observe::request_span);
        let sampled = sampled_guard.is();
        let info = Arc::new(RequestInfo::default());
        req.extensions_mut().insert(InfoSlot(info.clone()));
        req.extensions_mut().insert(self.peer);
        let expects_continue = expects_continue(&req);
        let empty_body = req.headers().get(http::header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() == b"0");
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let guard = self.guards.body_guard(req.method(), req.headers());
        let req = req
            .map(|b| s3s::Body::http_body(Counted::new(guard.wrap(b), move |n| counter.store(n, Ordering::Relaxed))));
        let res = match self.form_bucket(&req) {
            Some(bucket) => {
                info.record("PostObject", &bucket, None);
                let (parts, body) = req.into_parts();
                let body = futures::StreamExt::map(body, |r| r.map_err(std::io::Error::other));
                let a = self.api.post_object(&bucket, &parts.headers, body, self.peer).instrument(span.clone()).await;
                let mut resp = Response::new(s3s::Body::from(a.body));
                *resp.status_mut() = a.status;
                *resp.headers_mut() = a.headers;
                Ok(resp)
            }
            None => self.s3.call(req).instrument(span.clone()).await,
        };
        let op = crate::observe::op_of(&info, &path);
        let mut resp = match res {
            Ok(r) => r,
            Err(e) => {
                Finished {
                    span: &span,
                    sampled,
                    info: &info,
                    op,
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    error_code: Some("InternalError".into()),
                    started,
                    received: &received,
                }
                .record(&method, &path);
                span.in_scope(|| tracing::warn!(%method, %path, error = ?e, "request failed"));
                return Err(e);
            }
        };
        let status = resp.status();
        let error_code =
            (status.as_u16() >= 400).then(|| crate::observe::error_code(status, resp.body().bytes().as_deref()));
        Finished { span: &span, sampled, info: &info, op, status, error_code, started, received: &received }
            .record(&method, &path);
        if status.is_server_error() {
            span.in_scope(|| tracing::warn!(%method, %path, %status, "request failed"));
        } else {
            span.in_scope(|| tracing::debug!(%method, %path, op, %status, "request served"));
        }
        if expects_continue && (empty_body || status.as_u16() >= 400) {
            // No `100 Continue` went out (nothing was read). botocore then misparses the
            // next response on this connection (boto/botocore#3010): start a fresh one.
            resp.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        }
        let op = op.to_string();
        Ok(resp.map(|b| {
            http_body_util::Either::Left(Counted::new(b, move |n| {
                // The request's spans end with its body.
                drop(sampled_guard);
                if n > 0 {
                    crate::metrics::HTTP.sent.with_label_values(&[op.as_str()]).inc_by(n);
                }
            }))
        }))
    }
}

/// Virtual-hosted-style parsing for `--domain`: like s3s's `MultiDomain`, but the port of
/// the Host header is ignored, so `bucket.example.com:9000` matches `example.com`.
pub struct Domains(pub s3s::host::MultiDomain);

impl s3s::host::S3Host for Domains {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> s3s::S3Result<s3s::host::VirtualHost<'a>> {
        let name = match host.rsplit_once(':') {
            Some((h, port)) if !h.ends_with(']') && port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        self.0.parse_host_header(name)
    }
}
