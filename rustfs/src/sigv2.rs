//! SigV2 signatures checked in constant time before s3s sees the request. s3s verifies
//! SigV2 (header and presigned URL) with an ordinary string comparison, whose time depends
//! on how many leading characters of a forged signature are right; here the expected
//! signature is computed the same way (AWS's StringToSign: verb, Content-MD5, Content-Type,
//! Date or Expires, the canonical `x-amz-*` headers, the canonical resource with its
//! sub-resources) and compared with `subtle`, so s3s only ever compares a signature that
//! is already known to be right. Requests this module cannot judge (an unknown access key,
//! an unparsable query) go on to s3s, which answers them as before.
//!
//! This module must never accept a request s3s would refuse: it only refuses.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, Method};
use subtle::ConstantTimeEq;

/// The query parameters that are part of SigV2's canonical resource (sorted).
const SUB_RESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// A SigV2 request's claim: who signs, the signature given, and whether it is presigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub access_key: String,
    pub signature: String,
    pub presigned: bool,
}

/// The decoded query pairs (as s3s decodes them), or `None` when s3s would refuse it.
fn query_pairs(query: &str) -> Option<Vec<(String, String)>> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).ok()
}

/// The value of a name present exactly once.
fn unique<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, name: &str) -> Option<&'a str> {
    let mut found = None;
    for (k, v) in pairs {
        if k == name {
            if found.is_some() {
                return None;
            }
            found = Some(v);
        }
    }
    found
}

fn header_pairs(h: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    h.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
}

/// The SigV2 claim a request makes, if any.
pub fn claim(headers: &HeaderMap, query: &str) -> Option<Claim> {
    if let Some(a) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(rest) = a.strip_prefix("AWS ")
    {
        let (ak, sig) = rest.split_once(':')?;
        return Some(Claim { access_key: ak.to_string(), signature: sig.to_string(), presigned: false });
    }
    let pairs = query_pairs(query)?;
    let it = || pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let sig = unique(it(), "Signature")?;
    let ak = unique(it(), "AWSAccessKeyId")?;
    Some(Claim { access_key: ak.to_string(), signature: sig.to_string(), presigned: true })
}

/// AWS's SigV2 StringToSign for a request (`raw_path` still percent-encoded, as sent).
pub fn string_to_sign(
    method: &Method,
    raw_path: &str,
    query: &str,
    headers: &HeaderMap,
    vh_bucket: Option<&str>,
    presigned: bool,
) -> Option<String> {
    let pairs = if query.is_empty() { Vec::new() } else { query_pairs(query)? };
    let qs = || pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let mut s = String::with_capacity(256);
    s.push_str(method.as_str());
    s.push('\n');
    s.push_str(unique(header_pairs(headers), "content-md5").unwrap_or(""));
    s.push('\n');
    s.push_str(unique(header_pairs(headers), "content-type").unwrap_or(""));
    s.push('\n');
    if presigned {
        s.push_str(unique(qs(), "Expires").unwrap_or(""));
    } else if unique(header_pairs(headers), "x-amz-date").is_none() {
        s.push_str(unique(header_pairs(headers), "date").unwrap_or(""));
    }
    s.push('\n');
    let mut amz: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in header_pairs(headers) {
        if k.starts_with("x-amz-") {
            amz.entry(k).or_default().push(v.trim());
        }
    }
    for (k, vs) in amz {
        s.push_str(k);
        s.push(':');
        s.push_str(&vs.join(","));
        s.push('\n');
    }
    if let Some(b) = vh_bucket {
        s.push('/');
        s.push_str(b);
    }
    s.push_str(raw_path);
    let mut first = true;
    for name in SUB_RESOURCES {
        if let Some(v) = unique(qs(), name) {
            s.push(if first { '?' } else { '&' });
            first = false;
            s.push_str(name);
            if !v.is_empty() {
                s.push('=');
                s.push_str(v);
            }
        }
    }
    Some(s)
}

/// The base64 HMAC-SHA1 signature of `string_to_sign`.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    let Ok(mut mac) = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// Whether `given` is the expected signature, compared in constant time.
pub fn matches(expected: &str, given: &str) -> bool {
    bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        m
    }

    /// AWS's documented SigV2 examples.
    #[test]
    fn aws_examples() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let get = h(&[("date", "Tue, 27 Mar 2007 19:36:42 +0000")]);
        let sts =
            string_to_sign(&Method::GET, "/photos/puppy.jpg", "", &get, Some("awsexamplebucket1"), false).unwrap();
        assert_eq!(sts, "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg");
        assert_eq!(sign(secret, &sts), "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=");
        let put = h(&[
            ("content-type", "image/jpeg"),
            ("content-length", "94328"),
            ("date", "Tue, 27 Mar 2007 21:15:45 +0000"),
        ]);
        let sts =
            string_to_sign(&Method::PUT, "/photos/puppy.jpg", "", &put, Some("awsexamplebucket1"), false).unwrap();
        assert_eq!(sign(secret, &sts), "iqRzw+ileNPu1fhspnRs8nOjjIA=");
        let list = h(&[("user-agent", "Mozilla/5.0"), ("date", "Tue, 27 Mar 2007 19:42:41 +0000")]);
        let sts = string_to_sign(
            &Method::GET,
            "/",
            "prefix=photos&max-keys=50&marker=puppy",
            &list,
            Some("awsexamplebucket1"),
            false,
        )
        .unwrap();
        assert_eq!(sign(secret, &sts), "m0WP8eCtspQl5Ahe6L1SozdX9YA=");
        let acl = h(&[("date", "Tue, 27 Mar 2007 19:44:46 +0000")]);
        let sts = string_to_sign(&Method::GET, "/", "acl", &acl, Some("awsexamplebucket1"), false).unwrap();
        assert_eq!(sign(secret, &sts), "82ZHiFIjc+WbcwFKGUVEQspPn+0=");
        let del = h(&[("date", "Tue, 27 Mar 2007 21:20:27 +0000"), ("x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000")]);
        let sts =
            string_to_sign(&Method::DELETE, "/awsexamplebucket1/photos/puppy.jpg", "", &del, None, false).unwrap();
        // (AWS's page prints XbyTlbQdu9Xw5o8P4iMwPktxQd8= for this example, which its own
        // inputs do not give; s3s checks the same value as here.)
        assert_eq!(sign(secret, &sts), "Ri1hpB1zpS9pGqR7y8kuNFCl4sE=");
        let unicode = h(&[("date", "Wed, 28 Mar 2007 01:49:49 +0000")]);
        let sts =
            string_to_sign(&Method::GET, "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re", "", &unicode, None, false)
                .unwrap();
        assert_eq!(sign(secret, &sts), "DNEZGsoieTZ92F3bUfSPQcbGmlM=");
        let upload = h(&[
            ("date", "Tue, 27 Mar 2007 21:06:08 +0000"),
            ("x-amz-acl", "public-read"),
            ("content-type", "application/x-download"),
            ("content-md5", "4gJE4saaMU4BqNR0kLY+lw=="),
            ("x-amz-meta-reviewedby", "joe@example.com"),
            ("x-amz-meta-reviewedby", "jane@example.com"),
            ("x-amz-meta-filechecksum", "0x02661779"),
            ("x-amz-meta-checksumalgorithm", "crc32"),
            ("content-disposition", "attachment; filename=database.dat"),
            ("content-encoding", "gzip"),
            ("content-length", "5913339"),
        ]);
        let sts =
            string_to_sign(&Method::PUT, "/db-backup.dat.gz", "", &upload, Some("static.example.com"), false).unwrap();
        assert_eq!(sign(secret, &sts), "jtBQa0Aq+DkULFI8qrpwIjGEx0E=");
        let presigned =
            "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=1No4mq5ETf02z8aet9voy6gui6E%3D&Expires=1175139620";
        let c = claim(&HeaderMap::new(), presigned).unwrap();
        assert_eq!(
            c,
            Claim {
                access_key: "AKIAIOSFODNN7EXAMPLE".into(),
                signature: "1No4mq5ETf02z8aet9voy6gui6E=".into(),
                presigned: true
            }
        );
        let sts = string_to_sign(
            &Method::GET,
            "/photos/puppy.jpg",
            presigned,
            &HeaderMap::new(),
            Some("awsexamplebucket1"),
            true,
        )
        .unwrap();
        assert_eq!(sts, "GET\n\n\n1175139620\n/awsexamplebucket1/photos/puppy.jpg");
        assert!(matches(&sign(secret, &sts), &c.signature));
        assert!(!matches(&sign(secret, &sts), "1No4mq5ETf02z8aet9voy6gui6F="));
    }
}
