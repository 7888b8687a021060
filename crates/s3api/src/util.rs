//! Conversions between the metadata model and S3 wire values: timestamps, ETags, standard
//! headers, user metadata, checksums; and the HTTP conditional-request rules.
//! Pure functions: this module must never do I/O.

use std::collections::BTreeMap;

use metadata::ObjectVersion;
use s3s::dto::{ETag, ETagCondition, Timestamp};
use s3s::{S3Error, S3Result, s3_error};
use time::OffsetDateTime;

pub fn ts(ns: i64) -> Timestamp {
    Timestamp::from(OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

/// Seconds since the epoch of a timestamp (HTTP dates have second precision).
pub fn secs(t: &Timestamp) -> i64 {
    OffsetDateTime::from(t.clone()).unix_timestamp()
}

pub fn etag(e: &str) -> ETag {
    ETag::Strong(e.to_string())
}

fn etag_matches(cond: &ETagCondition, current: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == current,
    }
}

/// Conditional request headers, evaluated in RFC 9110 order.
pub struct Conditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

impl Conditions<'_> {
    /// `Err(PreconditionFailed)` or `Err(NotModified)` when the request must not proceed.
    pub fn check(&self, obj: &ObjectVersion) -> S3Result<()> {
        let mtime = obj.mtime_ns.div_euclid(1_000_000_000);
        if let Some(c) = self.if_match {
            if !etag_matches(c, &obj.etag) {
                return Err(precondition_failed());
            }
        } else if let Some(t) = self.if_unmodified_since
            && mtime > secs(t)
        {
            return Err(precondition_failed());
        }
        if let Some(c) = self.if_none_match {
            if etag_matches(c, &obj.etag) {
                return Err(not_modified(obj));
            }
        } else if let Some(t) = self.if_modified_since
            && mtime <= secs(t)
        {
            return Err(not_modified(obj));
        }
        Ok(())
    }
}

pub fn precondition_failed() -> S3Error {
    s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold")
}

fn not_modified(obj: &ObjectVersion) -> S3Error {
    let mut e = s3_error!(NotModified);
    let mut h = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{}\"", obj.etag)) {
        h.insert(http::header::ETAG, v);
    }
    e.set_headers(h);
    e
}

pub fn std_headers(
    cache_control: Option<String>,
    content_disposition: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
    expires: Option<Timestamp>,
) -> BTreeMap<String, String> {
    let mut h = BTreeMap::new();
    let expires = expires.and_then(|t| {
        let mut buf = Vec::new();
        t.format(s3s::dto::TimestampFormat::HttpDate, &mut buf).ok()?;
        String::from_utf8(buf).ok()
    });
    // `aws-chunked` describes the request's framing, not the object: it is not stored.
    let content_encoding = content_encoding.and_then(|e| {
        let kept: Vec<&str> =
            e.split(',').map(str::trim).filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked")).collect();
        (!kept.is_empty()).then(|| kept.join(","))
    });
    for (k, v) in metadata::STD_HEADERS.iter().zip([
        cache_control,
        content_disposition,
        content_encoding,
        content_language,
        expires,
    ]) {
        if let Some(v) = v {
            h.insert((*k).to_string(), v);
        }
    }
    h
}

pub fn header_expires(obj: &ObjectVersion) -> Option<Timestamp> {
    obj.headers.get("expires").and_then(|s| Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, s).ok())
}

/// Most bytes of user metadata (names and values, UTF-8) S3 accepts on an object.
pub const MAX_USER_META: usize = 2048;

/// User metadata as stored (lower-case names); more than 2 KB is refused as S3 does.
pub fn user_meta(m: Option<s3s::dto::Metadata>) -> S3Result<BTreeMap<String, String>> {
    let m: BTreeMap<String, String> =
        m.map(|m| m.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect()).unwrap_or_default();
    let size: usize = m.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_USER_META {
        return Err(s3_error!(
            MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size (2048 bytes, got {size})."
        ));
    }
    Ok(m)
}

pub fn meta_out(obj: &ObjectVersion) -> Option<s3s::dto::Metadata> {
    (!obj.user_meta.is_empty()).then(|| obj.user_meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// The version id to show clients: none for objects of never-versioned buckets.
pub fn shown_version(obj: &ObjectVersion, versioned_bucket: bool) -> Option<String> {
    (versioned_bucket || !obj.is_null_version()).then(|| obj.version_id.clone())
}

/// Maximum keys for listings: default 1000, never more, negative rejected.
pub fn max_keys(v: Option<i32>) -> S3Result<usize> {
    match v {
        None => Ok(1000),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must be non-negative")),
        Some(n) => Ok((n as usize).min(1000)),
    }
}

/// An owner as S3 shows one: the user's canonical id and its name.
pub fn owner(name: &str) -> s3s::dto::Owner {
    s3s::dto::Owner { id: Some(access::canonical_id(name)), display_name: Some(name.to_string()) }
}
