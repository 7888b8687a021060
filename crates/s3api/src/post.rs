//! Browser uploads (POST object: an HTML form posted to a bucket), streamed to the store as
//! any PUT is, never buffered whole: the form's fields are read up to the `file` field (the
//! last one S3 reads); a signed form (SigV4: `x-amz-algorithm`, `x-amz-credential`,
//! `x-amz-date`, `x-amz-signature`; SigV2: `AWSAccessKeyId`, `signature`) has its signature
//! over the base64 policy checked, its policy's expiration and every condition (`eq`,
//! `starts-with`, `content-length-range`, exact matches; every field but the signature's own
//! and `x-ignore-*` must be covered by one) checked, with `${filename}` replaced in the
//! fields; the signer (or an anonymous caller, for an unsigned form) must be allowed
//! `s3:PutObject` on the key; then the file streams into a PutObject whose size the
//! `content-length-range` bounds while it streams. The answer follows
//! `success_action_redirect` (303) or `success_action_status` (200, 201 with a
//! `PostResponse` document, 204 by default).
//!
//! This module never reads the file before the form is judged, never logs a field's value,
//! and compares signatures in constant time.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use hmac::{Hmac, KeyInit, Mac};
use metadata::{BucketInfo, MetaError};
use s3s::dto::{PutObjectInput, StreamingBlob};
use s3s::{S3Error, S3ErrorCode, S3Request};
use subtle::ConstantTimeEq;

use crate::authz::{Caller, Peer};
use crate::{S3Api, error};

/// Largest form field (the policy document is the largest S3 allows, 20 KiB).
const FIELD_MAX: u64 = 64 * 1024;
/// Largest sum of the fields (names and values) before the file.
const FIELDS_MAX: u64 = 1 << 20;
/// Most fields before the file (a form S3 accepts has a dozen or so).
const FIELDS_COUNT_MAX: usize = 256;

/// The answer to a form: status, headers and body.
pub struct PostAnswer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

fn err(code: S3ErrorCode, msg: impl Into<String>) -> S3Error {
    S3Error::with_message(code, msg.into())
}

fn denied(msg: impl Into<String>) -> S3Error {
    err(S3ErrorCode::AccessDenied, msg)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An S3 error document for `e`.
pub fn error_answer(e: &S3Error, resource: &str) -> PostAnswer {
    let status = e.status_code().unwrap_or(http::StatusCode::FORBIDDEN);
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource></Error>",
        xml_escape(e.code().as_str()),
        xml_escape(e.message().unwrap_or_default()),
        xml_escape(resource)
    );
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    PostAnswer { status, headers, body: Bytes::from(body) }
}

/// The policy document of a form, as S3 defines it.
struct Policy {
    expiration: time::OffsetDateTime,
    conditions: Vec<Cond>,
}

enum Cond {
    /// `{"field": "value"}` or `["eq", "$field", "value"]`.
    Eq(String, String),
    StartsWith(String, String),
    Length(u64, u64),
}

fn parse_policy(b64: &str) -> Result<Policy, S3Error> {
    let bad = |why: &str| err(S3ErrorCode::InvalidPolicyDocument, format!("Invalid Policy: {why}"));
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| bad("not base64"))?;
    let v: serde_json::Value = serde_json::from_slice(&raw).map_err(|_| bad("not JSON"))?;
    let exp = v.get("expiration").and_then(|e| e.as_str()).ok_or_else(|| bad("Policy missing expiration."))?;
    let expiration = time::OffsetDateTime::parse(exp, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad("Invalid 'expiration' value"))?;
    let mut conditions = Vec::new();
    let field = |s: &str| s.strip_prefix('$').unwrap_or(s).to_ascii_lowercase();
    for c in v.get("conditions").and_then(|c| c.as_array()).ok_or_else(|| bad("Policy missing conditions."))? {
        match c {
            serde_json::Value::Object(m) => {
                for (k, val) in m {
                    let val = val.as_str().map(str::to_string).unwrap_or_else(|| val.to_string());
                    conditions.push(Cond::Eq(k.to_ascii_lowercase(), val));
                }
            }
            serde_json::Value::Array(a) => {
                let s = |i: usize| a.get(i).and_then(|x| x.as_str());
                let n = |i: usize| a.get(i).and_then(|x| x.as_u64().or_else(|| x.as_str()?.parse().ok()));
                match (s(0).map(str::to_ascii_lowercase).as_deref(), a.len()) {
                    (Some("eq"), 3) => conditions.push(Cond::Eq(
                        field(s(1).ok_or_else(|| bad("eq needs a field"))?),
                        s(2).ok_or_else(|| bad("eq needs a value"))?.to_string(),
                    )),
                    (Some("starts-with"), 3) => conditions.push(Cond::StartsWith(
                        field(s(1).ok_or_else(|| bad("starts-with needs a field"))?),
                        s(2).ok_or_else(|| bad("starts-with needs a value"))?.to_string(),
                    )),
                    (Some("content-length-range"), 3) => {
                        let (lo, hi) = (n(1), n(2));
                        match (lo, hi) {
                            (Some(lo), Some(hi)) if lo <= hi => conditions.push(Cond::Length(lo, hi)),
                            _ => return Err(bad("Invalid content-length-range")),
                        }
                    }
                    _ => return Err(bad(&format!("Unknown condition {c}"))),
                }
            }
            _ => return Err(bad("a condition must be an object or a list")),
        }
    }
    Ok(Policy { expiration, conditions })
}

/// Fields a policy need not cover (the signature's own, the file, `x-ignore-*`).
fn exempt(name: &str) -> bool {
    matches!(name, "policy" | "x-amz-signature" | "signature" | "awsaccesskeyid" | "file")
        || name.starts_with("x-ignore-")
}

/// Checks every condition against the fields (`bucket` is the URL's when the form has none)
/// and that every field is covered; returns the length range, if any.
fn check_conditions(
    p: &Policy,
    fields: &BTreeMap<String, String>,
    bucket: &str,
) -> Result<Option<(u64, u64)>, S3Error> {
    let value = |f: &str| -> String {
        match (f, fields.get(f)) {
            (_, Some(v)) => v.clone(),
            ("bucket", None) => bucket.to_string(),
            _ => String::new(),
        }
    };
    let failed = |what: String| denied(format!("Invalid according to Policy: Policy Condition failed: {what}"));
    let mut covered: Vec<&str> = Vec::new();
    let mut range = None;
    for c in &p.conditions {
        match c {
            Cond::Eq(f, want) => {
                covered.push(f);
                if value(f) != *want {
                    return Err(failed(format!("[\"eq\", \"${f}\", \"{want}\"]")));
                }
            }
            Cond::StartsWith(f, prefix) => {
                covered.push(f);
                let v = value(f);
                // Content-Type may list several values, each of which must match.
                let ok = if f == "content-type" {
                    v.split(',').all(|x| x.trim().starts_with(prefix.as_str()))
                } else {
                    v.starts_with(prefix.as_str())
                };
                if !ok {
                    return Err(failed(format!("[\"starts-with\", \"${f}\", \"{prefix}\"]")));
                }
            }
            Cond::Length(lo, hi) => range = Some((*lo, *hi)),
        }
    }
    if let Some(extra) = fields.keys().find(|k| !exempt(k) && !covered.contains(&k.as_str())) {
        return Err(denied(format!("Invalid according to Policy: Extra input fields: {extra}")));
    }
    Ok(range)
}

fn hmac256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length: the error cannot happen (an empty answer never matches).
    let Ok(mut m) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key) else { return Vec::new() };
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// The SigV4 signature of a form's policy.
fn sigv4(secret: &str, date: &str, region: &str, service: &str, policy_b64: &str) -> String {
    let k = hmac256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac256(&k, region.as_bytes());
    let k = hmac256(&k, service.as_bytes());
    let k = hmac256(&k, b"aws4_request");
    hex::encode(hmac256(&k, policy_b64.as_bytes()))
}

/// The SigV2 signature of a form's policy.
fn sigv2(secret: &str, policy_b64: &str) -> String {
    let Ok(mut m) = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret.as_bytes()) else { return String::new() };
    m.update(policy_b64.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Why a file's stream was cut: too large or too small for the policy's range.
#[derive(Default)]
struct Cut(std::sync::atomic::AtomicU8);

const TOO_LARGE: u8 = 1;
const TOO_SMALL: u8 = 2;

/// The file's bytes, bounded by the policy's length range while they stream (`cut` says
/// which bound failed).
fn bounded<S>(
    s: S,
    range: Option<(u64, u64)>,
    cut: Arc<Cut>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, multer::Error>> + Send + 'static,
{
    let (lo, hi) = range.unwrap_or((0, u64::MAX));
    let mut seen = 0u64;
    let mut done = false;
    let fail = move |why: u8| {
        cut.0.store(why, std::sync::atomic::Ordering::Relaxed);
        Some(Err(std::io::Error::other("the file is outside the policy's content-length-range")))
    };
    s.map(Some).chain(futures::stream::iter([None])).filter_map(move |item| {
        let out = match item {
            _ if done => None,
            Some(Ok(b)) => {
                seen += b.len() as u64;
                if seen > hi {
                    done = true;
                    fail(TOO_LARGE)
                } else {
                    Some(Ok(b))
                }
            }
            Some(Err(e)) => {
                done = true;
                Some(Err(std::io::Error::other(e.to_string())))
            }
            None if seen < lo => fail(TOO_SMALL),
            None => None,
        };
        futures::future::ready(out)
    })
}

impl S3Api {
    /// Serves a form posted to `bucket` (see the module documentation).
    pub async fn post_object<S>(&self, bucket: &str, headers: &http::HeaderMap, body: S, peer: Peer) -> PostAnswer
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        match self.post(bucket, headers, body, peer).await {
            Ok(a) => a,
            Err(e) => error_answer(&e, &format!("/{bucket}")),
        }
    }

    async fn post<S>(&self, bucket: &str, headers: &http::HeaderMap, body: S, peer: Peer) -> Result<PostAnswer, S3Error>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let malformed = |m: &str| err(S3ErrorCode::MalformedPOSTRequest, m.to_string());
        let ct = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let boundary = multer::parse_boundary(ct)
            .map_err(|_| malformed("The body of your POST request is not well-formed multipart/form-data."))?;
        // Each field before the file is bounded; the file is bounded by the policy and the
        // front's form limit while it streams.
        let sizes =
            multer::SizeLimit::new().per_field(FIELD_MAX).for_field("file", u64::MAX).for_field("File", u64::MAX);
        let limits = multer::Constraints::new().size_limit(sizes);
        let mut form = multer::Multipart::with_constraints(body, boundary, limits);
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        let mut total = 0u64;
        let file = loop {
            let Some(f) = form.next_field().await.map_err(|e| malformed(&e.to_string()))? else {
                return Err(err(S3ErrorCode::InvalidArgument, "POST requires exactly one file upload per request."));
            };
            let name = f.name().unwrap_or_default().to_ascii_lowercase();
            if name == "file" {
                break f;
            }
            let v = f.text().await.map_err(|e| malformed(&e.to_string()))?;
            total += (name.len() + v.len()) as u64;
            if total > FIELDS_MAX || fields.len() >= FIELDS_COUNT_MAX {
                return Err(malformed("The form's fields are too large."));
            }
            fields.insert(name, v);
        };
        let filename = file.file_name().unwrap_or_default().to_string();
        for v in fields.values_mut() {
            if v.contains("${filename}") {
                *v = v.replace("${filename}", &filename);
            }
        }
        let key = fields
            .get("key")
            .filter(|k| !k.is_empty())
            .cloned()
            .ok_or_else(|| err(S3ErrorCode::InvalidArgument, "Bucket POST must contain a field named 'key'."))?;
        let b = match self.meta.get_bucket(bucket).await {
            Ok(b) => b,
            Err(MetaError::NoSuchBucket(_)) => {
                return Err(err(S3ErrorCode::NoSuchBucket, "The specified bucket does not exist"));
            }
            Err(e) => return Err(error::meta(e)),
        };
        let (identity, range) = self.judge_form(&fields, &b).await?;
        let cx = crate::authz::request_context(identity.as_deref(), peer, headers, &Default::default(), "PostObject");
        let caller = Caller { identity, cx: Arc::new(cx) };
        let action = crate::authz::action_of("PostObject", false, crate::authz::Level::Object);
        if !self.authz.decide(&caller, &action, &b, Some(&key), None).allowed() {
            return Err(denied("Access Denied"));
        }
        let cut = Arc::new(Cut::default());
        let data = StreamingBlob::wrap(bounded(file, range, cut.clone()));
        let input = put_input(&b, &key, &fields, data)?;
        let mut req = S3Request {
            input,
            method: http::Method::PUT,
            uri: http::Uri::from_static("/"),
            headers: http::HeaderMap::new(),
            extensions: http::Extensions::new(),
            credentials: None,
            region: None,
            service: None,
            trailing_headers: None,
        };
        req.extensions.insert(caller);
        req.extensions.insert(b.clone());
        let out = self.op_put_object(req).await.map_err(|e| size_error(e, &cut))?.output;
        let etag = out.e_tag.map(|e| e.value().to_string()).unwrap_or_default();
        Ok(answer(&b.name, &key, &etag, out.version_id.as_deref(), &fields))
    }

    /// Checks a form's signature and policy: the signer's identity (`None` for an unsigned
    /// form) and the policy's length range.
    async fn judge_form(
        &self,
        f: &BTreeMap<String, String>,
        b: &BucketInfo,
    ) -> Result<(Option<Arc<crate::iam::Identity>>, Option<(u64, u64)>), S3Error> {
        let Some(policy_b64) = f.get("policy") else {
            if f.contains_key("x-amz-signature") || f.contains_key("signature") {
                return Err(err(S3ErrorCode::InvalidArgument, "Bucket POST must contain a field named 'policy'."));
            }
            return Ok((None, None));
        };
        let (access_key, signed) = if let Some(alg) = f.get("x-amz-algorithm") {
            if alg != "AWS4-HMAC-SHA256" {
                return Err(err(S3ErrorCode::InvalidArgument, format!("Unsupported x-amz-algorithm {alg}")));
            }
            let cred = f.get("x-amz-credential").ok_or_else(|| {
                err(S3ErrorCode::InvalidArgument, "Bucket POST must contain a field named 'x-amz-credential'.")
            })?;
            let parts: Vec<&str> = cred.split('/').collect();
            let [ak, date, region, service, "aws4_request"] = parts.as_slice() else {
                return Err(err(S3ErrorCode::InvalidArgument, "Invalid x-amz-credential"));
            };
            let sig = f.get("x-amz-signature").ok_or_else(|| {
                err(S3ErrorCode::InvalidArgument, "Bucket POST must contain a field named 'x-amz-signature'.")
            })?;
            (
                ak.to_string(),
                Signed::V4 {
                    date: date.to_string(),
                    region: region.to_string(),
                    service: service.to_string(),
                    sig: sig.clone(),
                },
            )
        } else {
            let ak = f.get("awsaccesskeyid").ok_or_else(|| {
                err(S3ErrorCode::InvalidArgument, "Bucket POST must contain a field named 'AWSAccessKeyId'.")
            })?;
            let sig = f.get("signature").ok_or_else(|| {
                err(S3ErrorCode::InvalidArgument, "Bucket POST must contain a field named 'Signature'.")
            })?;
            (ak.clone(), Signed::V2 { sig: sig.clone() })
        };
        let id = match self.authz.iam.identity(&access_key).await {
            Some(i) if i.enabled => i,
            _ => {
                return Err(err(
                    S3ErrorCode::InvalidAccessKeyId,
                    "The AWS Access Key Id you provided does not exist in our records.",
                ));
            }
        };
        let ok = match &signed {
            Signed::V4 { date, region, service, sig } => {
                same(&sigv4(id.signing_secret(), date, region, service, policy_b64), &sig.to_ascii_lowercase())
            }
            Signed::V2 { sig } => same(&sigv2(id.signing_secret(), policy_b64), sig),
        };
        if !ok {
            return Err(err(
                S3ErrorCode::SignatureDoesNotMatch,
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            ));
        }
        let p = parse_policy(policy_b64)?;
        if p.expiration <= time::OffsetDateTime::now_utc() {
            return Err(denied("Invalid according to Policy: Policy expired."));
        }
        let range = check_conditions(&p, f, &b.name)?;
        Ok((Some(id), range))
    }
}

enum Signed {
    V4 { date: String, region: String, service: String, sig: String },
    V2 { sig: String },
}

/// The size errors of a form's file: the ones S3 names.
fn size_error(e: S3Error, cut: &Cut) -> S3Error {
    match cut.0.load(std::sync::atomic::Ordering::Relaxed) {
        TOO_LARGE => err(S3ErrorCode::EntityTooLarge, "Your proposed upload exceeds the maximum allowed size"),
        TOO_SMALL => err(S3ErrorCode::EntityTooSmall, "Your proposed upload is smaller than the minimum allowed size"),
        _ => e,
    }
}

/// The PutObject a form is.
fn put_input(
    b: &BucketInfo,
    key: &str,
    f: &BTreeMap<String, String>,
    body: StreamingBlob,
) -> Result<PutObjectInput, S3Error> {
    let mut i = PutObjectInput::builder()
        .bucket(b.name.clone())
        .key(key.to_string())
        .body(Some(body))
        .build()
        .map_err(|e| err(S3ErrorCode::InternalError, e.to_string()))?;
    let get = |k: &str| f.get(k).cloned().filter(|v| !v.is_empty());
    i.content_type = get("content-type");
    i.cache_control = get("cache-control");
    i.content_disposition = get("content-disposition");
    i.content_encoding = get("content-encoding");
    i.acl = get("acl").map(s3s::dto::ObjectCannedACL::from);
    let meta: std::collections::HashMap<String, String> =
        f.iter().filter_map(|(k, v)| k.strip_prefix("x-amz-meta-").map(|n| (n.to_string(), v.clone()))).collect();
    if !meta.is_empty() {
        i.metadata = Some(meta);
    }
    Ok(i)
}

/// The answer a successful form gets.
fn answer(bucket: &str, key: &str, etag: &str, version: Option<&str>, f: &BTreeMap<String, String>) -> PostAnswer {
    let mut headers = http::HeaderMap::new();
    let quoted = format!("\"{}\"", etag.trim_matches('"'));
    if let Ok(v) = http::HeaderValue::from_str(&quoted) {
        headers.insert(http::header::ETAG, v);
    }
    if let Some(v) = version.and_then(|v| http::HeaderValue::from_str(v).ok()) {
        headers.insert("x-amz-version-id", v);
    }
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    let location = format!("/{bucket}/{}", enc(key));
    if let Ok(v) = http::HeaderValue::from_str(&location) {
        headers.insert(http::header::LOCATION, v);
    }
    if let Some(r) = f.get("success_action_redirect").or_else(|| f.get("redirect")).filter(|r| !r.is_empty()) {
        let sep = if r.contains('?') { '&' } else { '?' };
        let to = format!("{r}{sep}bucket={}&key={}&etag={}", enc(bucket), enc(key), enc(&quoted));
        if let Ok(v) = http::HeaderValue::from_str(&to) {
            headers.insert(http::header::LOCATION, v);
            return PostAnswer { status: http::StatusCode::SEE_OTHER, headers, body: Bytes::new() };
        }
    }
    match f.get("success_action_status").map(String::as_str) {
        Some("200") => PostAnswer { status: http::StatusCode::OK, headers, body: Bytes::new() },
        Some("201") => {
            headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><PostResponse><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></PostResponse>",
                xml_escape(&location),
                xml_escape(bucket),
                xml_escape(key),
                xml_escape(&quoted)
            );
            PostAnswer { status: http::StatusCode::CREATED, headers, body: Bytes::from(body) }
        }
        _ => PostAnswer { status: http::StatusCode::NO_CONTENT, headers, body: Bytes::new() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn policy(conds: serde_json::Value) -> Policy {
        let doc = serde_json::json!({"expiration": "2099-01-01T00:00:00Z", "conditions": conds});
        parse_policy(&base64::engine::general_purpose::STANDARD.encode(doc.to_string())).unwrap()
    }

    #[test]
    fn conditions_as_aws_documents_them() {
        let p = policy(serde_json::json!([
            {"bucket": "b"}, ["starts-with", "$key", "user/"], {"acl": "public-read"},
            ["content-length-range", 1, 100], ["starts-with", "$Content-Type", "image/"],
            {"x-amz-algorithm": "AWS4-HMAC-SHA256"}
        ]));
        let ok = fields(&[
            ("key", "user/a.png"),
            ("acl", "public-read"),
            ("content-type", "image/png"),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("policy", "…"),
            ("x-amz-signature", "…"),
        ]);
        assert_eq!(check_conditions(&p, &ok, "b").unwrap(), Some((1, 100)));
        let mut bad_key = ok.clone();
        bad_key.insert("key".into(), "other/a.png".into());
        assert!(check_conditions(&p, &bad_key, "b").unwrap_err().message().unwrap().contains("starts-with"));
        let mut extra = ok.clone();
        extra.insert("x-amz-meta-tag".into(), "v".into());
        assert!(check_conditions(&p, &extra, "b").unwrap_err().message().unwrap().contains("Extra input fields"));
        extra.remove("x-amz-meta-tag");
        extra.insert("x-ignore-this".into(), "v".into());
        assert!(check_conditions(&p, &extra, "b").is_ok());
        assert!(check_conditions(&p, &ok, "other-bucket").is_err(), "the URL's bucket");
        let mut types = ok.clone();
        types.insert("content-type".into(), "image/png, text/plain".into());
        assert!(check_conditions(&p, &types, "b").is_err());
        for bad in [
            serde_json::json!([["content-length-range", 5, 1]]),
            serde_json::json!([["whatever", "$key", "x"]]),
            serde_json::json!([["eq", "$key"]]),
        ] {
            let doc = serde_json::json!({"expiration": "2099-01-01T00:00:00Z", "conditions": bad});
            assert!(parse_policy(&base64::engine::general_purpose::STANDARD.encode(doc.to_string())).is_err());
        }
        assert!(parse_policy("!!").is_err());
    }

    #[test]
    fn signatures_match_aws_examples() {
        // AWS's SigV4 POST example (the "Example: Browser-Based Upload using HTTP POST" page).
        let policy_b64 = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
        let sig = sigv4("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20151229", "us-east-1", "s3", policy_b64);
        assert_eq!(sig, "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e");
        assert!(same(&sig, "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"));
        assert!(!same(&sig, "8afdbf"));
        assert_eq!(sigv2("secret", "policy").len(), 28, "base64 of a SHA-1 HMAC");
    }
}
