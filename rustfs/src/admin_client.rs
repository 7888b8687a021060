//! A SigV4-signing S3/admin HTTP client (aws-sigv4 over a pooled hyper client), used by
//! `rustfs-admin` for the admin API and by the load benchmark against any S3 endpoint.
//! Secrets are only used to sign; they are never printed.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[derive(Clone)]
pub struct AdminClient {
    endpoint: String,
    access_key: String,
    secret_key: String,
    region: String,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// A response whose body was drained: status, headers, and the body (or only its length).
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub body_len: u64,
}

impl AdminClient {
    /// A client of `endpoint` (`http://` or `https://`); HTTPS trusts the system's roots and
    /// the certificates of the file `RUSTFS_CA_CERT` names, if set (a self-signed server).
    pub fn new(endpoint: &str, access_key: &str, secret_key: &str, region: &str) -> Self {
        let ca = std::env::var_os("RUSTFS_CA_CERT").map(std::path::PathBuf::from);
        Self::with_ca(endpoint, access_key, secret_key, region, ca.as_deref())
    }

    /// [`AdminClient::new`] trusting the certificates of `ca` too.
    pub fn with_ca(
        endpoint: &str,
        access_key: &str,
        secret_key: &str,
        region: &str,
        ca: Option<&std::path::Path>,
    ) -> Self {
        let roots = crate::tls::client_roots(ca).unwrap_or_else(|e| {
            eprintln!("rustfs-admin: RUSTFS_CA_CERT: {e}");
            rustls::RootCertStore::empty()
        });
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth());
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let conn = match tls {
            Ok(cfg) => hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(cfg)
                .https_or_http()
                .enable_http1()
                .wrap_connector(http),
            Err(e) => {
                eprintln!("rustfs-admin: TLS: {e}");
                hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(
                        rustls::ClientConfig::builder()
                            .with_root_certificates(rustls::RootCertStore::empty())
                            .with_no_client_auth(),
                    )
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(HttpConnector::new())
            }
        };
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            region: region.to_string(),
            http: Client::builder(TokioExecutor::new()).pool_max_idle_per_host(256).build(conn),
        }
    }

    /// The same client and credentials against another node's endpoint (`http://host:port`).
    pub fn for_endpoint(&self, endpoint: &str) -> Self {
        Self { endpoint: endpoint.trim_end_matches('/').to_string(), ..self.clone() }
    }

    /// The endpoint's scheme (`http` or `https`).
    pub fn scheme(&self) -> &str {
        self.endpoint.split_once("://").map_or("http", |(s, _)| s)
    }

    /// An unsigned GET of any URL (a Prometheus query); returns the status and body.
    pub async fn get_url(&self, url: &str) -> Result<(http::StatusCode, Bytes), String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("invalid URL {url}: {e}"))?;
        let req =
            http::Request::builder().method("GET").uri(uri).body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
        let resp = self.http.request(req).await.map_err(|e| format!("request to {url} failed: {}", chain(&e)))?;
        let status = resp.status();
        let body = resp.into_body().collect().await.map_err(|e| format!("reading response from {url}: {e}"))?;
        Ok((status, body.to_bytes()))
    }

    /// Sends a signed request. The payload is signed when `sign_payload`, else sent as
    /// UNSIGNED-PAYLOAD. With `keep_body = false` the body is counted and dropped.
    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        body: Bytes,
        sign_payload: bool,
        keep_body: bool,
    ) -> Result<Answer, String> {
        let url = format!("{}{}", self.endpoint, path_and_query);
        let uri: http::Uri = url.parse().map_err(|e| format!("invalid URL {url}: {e}"))?;
        let host = uri.authority().map(|a| a.to_string()).ok_or("endpoint has no host")?;
        let identity = Credentials::new(&self.access_key, &self.secret_key, None, None, "rustfs-admin").into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let signable_body = if sign_payload { SignableBody::Bytes(&body) } else { SignableBody::UnsignedPayload };
        let len = body.len().to_string();
        let signable = SignableRequest::new(
            method,
            &url,
            [("host", host.as_str()), ("content-length", len.as_str())].into_iter(),
            signable_body,
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
        let mut req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", &host)
            .header("content-length", &len)
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        instructions.apply_to_request_http1x(&mut req);
        let resp = self.http.request(req).await.map_err(|e| format!("request to {url} failed: {}", chain(&e)))?;
        let (parts, mut incoming) = resp.into_parts();
        let mut kept = Vec::new();
        let mut body_len = 0u64;
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| format!("reading response from {url}: {e}"))?;
            if let Some(d) = frame.data_ref() {
                body_len += d.len() as u64;
                if keep_body {
                    kept.extend_from_slice(d);
                }
            }
        }
        Ok(Answer { status: parts.status, headers: parts.headers, body: Bytes::from(kept), body_len })
    }

    /// Sends a signed request with an empty body; returns the status and body.
    pub async fn call(&self, method: &str, path_and_query: &str) -> Result<(http::StatusCode, Bytes), String> {
        let a = self.send(method, path_and_query, Bytes::new(), true, true).await?;
        Ok((a.status, a.body))
    }

    /// A signed call that must succeed; returns its JSON body.
    pub async fn json(&self, method: &str, path_and_query: &str) -> Result<serde_json::Value, String> {
        let (status, body) = self.call(method, path_and_query).await?;
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body).trim()));
        }
        serde_json::from_slice(&body).map_err(|e| format!("invalid JSON from server: {e}"))
    }

    /// A signed call with a body (signed too) that must succeed; returns its JSON body.
    pub async fn json_with(
        &self,
        method: &str,
        path_and_query: &str,
        body: Bytes,
    ) -> Result<serde_json::Value, String> {
        let a = self.send(method, path_and_query, body, true, true).await?;
        if !a.status.is_success() {
            return Err(format!("{}: {}", a.status, String::from_utf8_lossy(&a.body).trim()));
        }
        serde_json::from_slice(&a.body).map_err(|e| format!("invalid JSON from server: {e}"))
    }

    /// A signed call that must succeed; returns its body as the typed admin struct `T`.
    pub async fn typed<T: serde::de::DeserializeOwned>(&self, method: &str, path_and_query: &str) -> Result<T, String> {
        let v = self.json(method, path_and_query).await?;
        serde_json::from_value(v).map_err(|e| format!("unexpected answer from server: {e}"))
    }
}

/// An error with its causes (`client error (Connect): invalid peer certificate: ...`).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
