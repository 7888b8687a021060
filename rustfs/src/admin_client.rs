//! The client side of the admin API, used by `rustfs-admin`: SigV4-signed requests (with
//! aws-sigv4) over HTTP/1.1. Secrets are only used to sign; they are never printed.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub struct AdminClient {
    endpoint: String,
    access_key: String,
    secret_key: String,
    region: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl AdminClient {
    pub fn new(endpoint: &str, access_key: &str, secret_key: &str, region: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            region: region.to_string(),
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends a signed request; returns the status and body.
    pub async fn call(
        &self,
        method: &str,
        path_and_query: &str,
    ) -> Result<(http::StatusCode, Bytes), String> {
        let url = format!("{}{}", self.endpoint, path_and_query);
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("invalid endpoint URL {url}: {e}"))?;
        let host = uri
            .authority()
            .map(|a| a.to_string())
            .ok_or("endpoint has no host")?;
        let mut req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", &host)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let identity = Credentials::new(
            &self.access_key,
            &self.secret_key,
            None,
            None,
            "rustfs-admin",
        )
        .into();
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
        let signable = SignableRequest::new(
            method,
            &url,
            [("host", host.as_str())].into_iter(),
            SignableBody::Bytes(&[]),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        instructions.apply_to_request_http1x(&mut req);
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| format!("request to {url} failed: {e}"))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    }

    /// A signed call that must succeed; returns its JSON body.
    pub async fn json(
        &self,
        method: &str,
        path_and_query: &str,
    ) -> Result<serde_json::Value, String> {
        let (status, body) = self.call(method, path_and_query).await?;
        if !status.is_success() {
            return Err(format!(
                "{status}: {}",
                String::from_utf8_lossy(&body).trim()
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("invalid JSON from server: {e}"))
    }
}
