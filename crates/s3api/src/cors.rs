//! CORS as S3 serves it: Put/Get/DeleteBucketCors with AWS's validation, the answer to a
//! browser's preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from
//! the bucket's rules, and the CORS headers of actual responses.
//! Preflights carry no signature: they only ever reveal whether a rule allows them. This
//! module never reads or writes objects.

use http::{HeaderMap, HeaderValue, StatusCode};
use metadata::CorsRule;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::{S3Api, auth, error};

/// Most rules a bucket's CORS configuration may have.
const MAX_RULES: usize = 100;
const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// Whether `s` matches `pattern`, which may hold one `*` (any run of characters).
fn wildcard(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => s.len() >= head.len() + tail.len() && s.starts_with(head) && s.ends_with(tail),
    }
}

fn check_rules(rules: &[CORSRule]) -> S3Result<Vec<CorsRule>> {
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    }
    let mut out = Vec::with_capacity(rules.len());
    for r in rules {
        if r.allowed_origins.is_empty() || r.allowed_methods.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        for m in &r.allowed_methods {
            if !METHODS.contains(&m.as_str()) {
                return Err(s3_error!(
                    InvalidRequest,
                    "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
                ));
            }
        }
        for o in &r.allowed_origins {
            if o.matches('*').count() > 1 {
                return Err(s3_error!(InvalidRequest, "AllowedOrigin \"{o}\" can not have more than one wildcard."));
            }
        }
        let headers = r.allowed_headers.clone().unwrap_or_default();
        for h in &headers {
            if h.matches('*').count() > 1 {
                return Err(s3_error!(InvalidRequest, "AllowedHeader \"{h}\" can not have more than one wildcard."));
            }
        }
        let expose = r.expose_headers.clone().unwrap_or_default();
        for h in &expose {
            if h.contains('*') {
                return Err(s3_error!(
                    InvalidRequest,
                    "ExposeHeader \"{h}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
                ));
            }
        }
        out.push(CorsRule {
            id: r.id.clone(),
            allowed_origins: r.allowed_origins.clone(),
            allowed_methods: r.allowed_methods.clone(),
            allowed_headers: headers,
            expose_headers: expose,
            max_age_seconds: r.max_age_seconds,
        });
    }
    Ok(out)
}

/// The first rule allowing `origin` to send `method` with `headers` (lower-case names).
pub fn find_rule<'a>(rules: &'a [CorsRule], origin: &str, method: &str, headers: &[String]) -> Option<&'a CorsRule> {
    rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard(o, origin))
            && r.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| r.allowed_headers.iter().any(|a| wildcard(&a.to_ascii_lowercase(), h)))
    })
}

/// The `Access-Control-*` headers for a request `rule` allowed.
fn allow_headers(rule: &CorsRule, origin: &str, requested_headers: &[String]) -> HeaderMap {
    let mut h = HeaderMap::new();
    let any = rule.allowed_origins.iter().any(|o| o == "*");
    let mut put = |name: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(name, v);
        }
    };
    put("access-control-allow-origin", if any { "*".to_string() } else { origin.to_string() });
    put("access-control-allow-methods", rule.allowed_methods.join(", "));
    if !requested_headers.is_empty() {
        put("access-control-allow-headers", requested_headers.join(", "));
    }
    if !rule.expose_headers.is_empty() {
        put("access-control-expose-headers", rule.expose_headers.join(", "));
    }
    if let Some(age) = rule.max_age_seconds {
        put("access-control-max-age", age.to_string());
    }
    if !any {
        put("access-control-allow-credentials", "true".to_string());
    }
    put("vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_string());
    h
}

/// The answer to a preflight request: status, headers and an XML error body (empty on 200).
pub struct Preflight {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

fn refusal(status: StatusCode, code: &str, message: &str) -> Preflight {
    let message = message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    Preflight { status, headers, body: body.into() }
}

fn requested_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("access-control-request-headers")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

impl S3Api {
    /// The CORS rules of `bucket` (none for a missing bucket).
    async fn cors_rules(&self, bucket: &str) -> Option<Vec<CorsRule>> {
        self.meta.get_bucket(bucket).await.ok()?.cors
    }

    /// Answers a preflight `OPTIONS` request for `bucket` from its rules.
    pub async fn cors_preflight(&self, bucket: &str, headers: &HeaderMap) -> Preflight {
        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let Some(origin) = h("origin") else {
            return refusal(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Insufficient information. Origin request header needed.",
            );
        };
        let method = match h("access-control-request-method") {
            Some(m) if METHODS.contains(&m) => m,
            m => {
                let msg = format!("Invalid Access-Control-Request-Method: {}", m.unwrap_or("null"));
                return refusal(StatusCode::BAD_REQUEST, "BadRequest", &msg);
            }
        };
        let Some(rules) = self.cors_rules(bucket).await else {
            return refusal(
                StatusCode::FORBIDDEN,
                "AccessForbidden",
                "CORSResponse: CORS is not enabled for this bucket.",
            );
        };
        let wanted = requested_headers(headers);
        match find_rule(&rules, origin, method, &wanted) {
            Some(rule) => Preflight {
                status: StatusCode::OK,
                headers: allow_headers(rule, origin, &wanted),
                body: bytes::Bytes::new(),
            },
            None => refusal(
                StatusCode::FORBIDDEN,
                "AccessForbidden",
                "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            ),
        }
    }

    /// The CORS headers of an actual (non-preflight) response to a request from `origin`
    /// (none when no rule of the bucket allows it).
    pub async fn cors_headers(&self, bucket: &str, method: &http::Method, origin: &str) -> Option<HeaderMap> {
        let rules = self.cors_rules(bucket).await?;
        find_rule(&rules, origin, method.as_str(), &[]).map(|r| allow_headers(r, origin, &[]))
    }

    pub(crate) async fn op_put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let cx = auth::caller(&req)?;
        let rules = check_rules(&req.input.cors_configuration.cors_rules)?;
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        b.cors = Some(rules);
        self.meta.update_bucket(b).await.map_err(error::meta)?;
        Ok(S3Response::new(PutBucketCorsOutput {}))
    }

    pub(crate) async fn op_get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let cx = auth::caller(&req)?;
        let b = self.owned_bucket(&cx, &req.input.bucket).await?;
        let rules =
            b.cors.ok_or_else(|| s3_error!(NoSuchCORSConfiguration, "The CORS configuration does not exist"))?;
        let rules = rules
            .into_iter()
            .map(|r| CORSRule {
                id: r.id,
                allowed_origins: r.allowed_origins,
                allowed_methods: r.allowed_methods,
                allowed_headers: (!r.allowed_headers.is_empty()).then_some(r.allowed_headers),
                expose_headers: (!r.expose_headers.is_empty()).then_some(r.expose_headers),
                max_age_seconds: r.max_age_seconds,
            })
            .collect();
        Ok(S3Response::new(GetBucketCorsOutput { cors_rules: Some(rules) }))
    }

    pub(crate) async fn op_delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        let cx = auth::caller(&req)?;
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        if b.cors.take().is_some() {
            self.meta.update_bucket(b).await.map_err(error::meta)?;
        }
        Ok(S3Response::new(DeleteBucketCorsOutput {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "http://a.example"));
        assert!(wildcard("http://*.example.com", "http://www.example.com"));
        assert!(!wildcard("http://*.example.com", "https://www.example.com"));
        assert!(!wildcard("http://*.example.com", "http://example.com"));
        assert!(wildcard("x-amz-*", "x-amz-date"));
        assert!(!wildcard("http://a*a", "http://a"), "head and tail may not overlap");
    }

    #[test]
    fn rules_match_origin_method_and_every_header() {
        let rules =
            vec![rule(&["http://app.example"], &["PUT"], &["content-type", "x-amz-*"]), rule(&["*"], &["GET"], &[])];
        let hs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            find_rule(&rules, "http://app.example", "PUT", &hs(&["content-type", "x-amz-date"])),
            Some(&rules[0])
        );
        assert_eq!(find_rule(&rules, "http://app.example", "PUT", &hs(&["authorization"])), None);
        assert_eq!(find_rule(&rules, "http://other.example", "PUT", &[]), None);
        assert_eq!(find_rule(&rules, "http://other.example", "GET", &[]), Some(&rules[1]));
        assert_eq!(find_rule(&rules, "http://other.example", "GET", &hs(&["x-custom"])), None);
        let h = allow_headers(&rules[0], "http://app.example", &hs(&["content-type"]));
        assert_eq!(h.get("access-control-allow-origin").map(|v| v.as_bytes()), Some(&b"http://app.example"[..]));
        assert_eq!(h.get("access-control-allow-credentials").map(|v| v.as_bytes()), Some(&b"true"[..]));
        let h = allow_headers(&rules[1], "http://x", &[]);
        assert_eq!(h.get("access-control-allow-origin").map(|v| v.as_bytes()), Some(&b"*"[..]));
    }

    #[test]
    fn aws_validation() {
        let r = |origins: Vec<&str>, methods: Vec<&str>| CORSRule {
            allowed_origins: origins.into_iter().map(String::from).collect(),
            allowed_methods: methods.into_iter().map(String::from).collect(),
            ..Default::default()
        };
        let code = |rules: &[CORSRule]| check_rules(rules).err().map(|e| e.code().as_str().to_string());
        assert_eq!(code(&[r(vec!["*"], vec!["GET", "PUT"])]), None);
        assert_eq!(code(&[r(vec!["*"], vec!["PATCH"])]).as_deref(), Some("InvalidRequest"));
        assert_eq!(code(&[r(vec!["http://*.*.x"], vec!["GET"])]).as_deref(), Some("InvalidRequest"));
        assert_eq!(code(&[]).as_deref(), Some("MalformedXML"));
        let mut e = r(vec!["*"], vec!["GET"]);
        e.expose_headers = Some(vec!["*".into()]);
        assert_eq!(code(&[e]).as_deref(), Some("InvalidRequest"));
    }
}
