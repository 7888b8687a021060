//! Request and response bodies: a stream adapter that hashes what it passes (MD5 for the
//! ETag, plus any requested x-amz-checksum-* algorithm) and counts bytes; the checks of
//! Content-MD5 and checksums against what arrived; and response bodies from inline bytes.
//! This module must never buffer a whole body it was not asked to buffer.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::Stream;
use md5::{Digest, Md5};
use s3s::checksum::ChecksumHasher;
use s3s::dto::StreamingBlob;
use s3s::{S3Result, s3_error};

use ecstore::StoreError;

pub const ALGORITHMS: [&str; 5] = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"];

/// Wraps a request body: yields it unchanged while hashing and counting it.
pub struct Hashing {
    inner: StreamingBlob,
    md5: Md5,
    sums: ChecksumHasher,
    pub len: u64,
}

impl Hashing {
    pub fn new(inner: StreamingBlob, algorithms: &[String]) -> Self {
        let mut sums = ChecksumHasher::default();
        for a in algorithms {
            match a.as_str() {
                "CRC32" => sums.crc32 = Some(Default::default()),
                "CRC32C" => sums.crc32c = Some(Default::default()),
                "SHA1" => sums.sha1 = Some(Default::default()),
                "SHA256" => sums.sha256 = Some(Default::default()),
                "CRC64NVME" => sums.crc64nvme = Some(Default::default()),
                _ => {}
            }
        }
        Self { inner, md5: Md5::new(), sums, len: 0 }
    }

    /// Hex MD5 and base64 checksums (by algorithm name) of everything that passed.
    pub fn finish(self) -> (String, BTreeMap<String, String>) {
        let md5 = hex::encode(self.md5.finalize());
        let c = self.sums.finalize();
        let mut sums = BTreeMap::new();
        for (name, v) in [
            ("CRC32", c.checksum_crc32),
            ("CRC32C", c.checksum_crc32c),
            ("SHA1", c.checksum_sha1),
            ("SHA256", c.checksum_sha256),
            ("CRC64NVME", c.checksum_crc64nvme),
        ] {
            if let Some(v) = v {
                sums.insert(name.to_string(), v);
            }
        }
        (md5, sums)
    }
}

/// The composite checksum of a multipart object (`<base64 of the hash of the parts' raw
/// checksums>-<parts>`, AWS's COMPOSITE type) with `algorithm`, when every part has one.
pub fn composite_checksum<'a>(
    algorithm: &str,
    part_sums: impl IntoIterator<Item = Option<&'a String>>,
) -> Option<String> {
    let mut h = Hashing::new(StreamingBlob::from(s3s::Body::empty()), &[algorithm.to_string()]);
    let mut n = 0;
    for s in part_sums {
        let raw = B64.decode(s?).ok()?;
        h.sums.update(&raw);
        n += 1;
    }
    let (_, sums) = h.finish();
    sums.get(algorithm).map(|v| format!("{v}-{n}"))
}

/// A body that arrived whole and matched what the request declared.
pub struct Received {
    pub size: u64,
    /// Hex MD5 (the ETag of a single-part object or of a part).
    pub md5: String,
    /// The checksums the client asked for, to store.
    pub checksums: BTreeMap<String, String>,
}

impl Hashing {
    /// Finishes hashing and checks the body against its declared length, Content-MD5 and
    /// checksums (trailer values read from `trailers`).
    pub fn check(self, declared: Option<u64>, d: &Declared, trailers: Option<&http::HeaderMap>) -> S3Result<Received> {
        let size = self.len;
        if declared.is_some_and(|n| n != size) {
            return Err(s3_error!(
                IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header."
            ));
        }
        let (md5, computed) = self.finish();
        let checksums = verify(d, &md5, &computed, trailers)?;
        Ok(Received { size, md5, checksums })
    }
}

impl Stream for Hashing {
    type Item = Result<Bytes, StoreError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(b))) => {
                self.md5.update(&b);
                self.sums.update(&b);
                self.len += b.len() as u64;
                Poll::Ready(Some(Ok(b)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(StoreError::Body(e.to_string())))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The checksums a request declares: `(algorithm, expected base64 value or None when the
/// value comes in a trailer)`.
#[derive(Debug, Default, Clone)]
pub struct Declared {
    pub content_md5: Option<String>,
    pub sums: Vec<(String, Option<String>)>,
}

impl Declared {
    pub fn algorithms(&self) -> Vec<String> {
        self.sums.iter().map(|(a, _)| a.clone()).collect()
    }
}

/// Collects declared checksums from the typed input, `x-amz-checksum-algorithm` /
/// `x-amz-sdk-checksum-algorithm`, and `x-amz-trailer`.
pub fn declared(
    headers: &http::HeaderMap,
    content_md5: Option<String>,
    values: [Option<String>; 5],
    algorithm: Option<&str>,
) -> S3Result<Declared> {
    let mut d = Declared { content_md5, sums: Vec::new() };
    for (name, v) in ALGORITHMS.iter().zip(values) {
        if let Some(v) = v {
            d.sums.push((name.to_string(), Some(v)));
        }
    }
    let mut want = |a: &str| -> S3Result<()> {
        let a = a.trim().to_ascii_uppercase();
        if !ALGORITHMS.contains(&a.as_str()) {
            return Err(s3_error!(InvalidRequest, "Checksum algorithm {a} is not supported"));
        }
        if !d.sums.iter().any(|(n, _)| *n == a) {
            d.sums.push((a, None));
        }
        Ok(())
    };
    if let Some(a) = algorithm {
        want(a)?;
    }
    if let Some(t) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
        for name in t.split(',') {
            if let Some(a) = name.trim().to_ascii_lowercase().strip_prefix("x-amz-checksum-") {
                want(a)?;
            }
        }
    }
    Ok(d)
}

/// Checks what arrived against what was declared. Values sent in trailers are read from
/// `trailers`. Returns the checksums to store (only those the client asked for).
pub fn verify(
    d: &Declared,
    md5_hex: &str,
    computed: &BTreeMap<String, String>,
    trailers: Option<&http::HeaderMap>,
) -> S3Result<BTreeMap<String, String>> {
    if let Some(m) = &d.content_md5 {
        let raw =
            B64.decode(m.trim()).map_err(|_| s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid."))?;
        if raw.len() != 16 {
            return Err(s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid."));
        }
        if hex::encode(raw) != md5_hex {
            return Err(s3_error!(BadDigest, "The Content-MD5 you specified did not match what we received."));
        }
    }
    let mut out = BTreeMap::new();
    for (alg, expected) in &d.sums {
        let expected = match expected {
            Some(v) => Some(v.clone()),
            None => trailers
                .and_then(|t| t.get(format!("x-amz-checksum-{}", alg.to_ascii_lowercase())))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        };
        let Some(got) = computed.get(alg) else {
            continue;
        };
        match expected {
            Some(e) if e.trim() != got => {
                return Err(s3_error!(BadDigest, "The {} you specified did not match the calculated checksum.", alg));
            }
            _ => {
                out.insert(alg.clone(), got.clone());
            }
        }
    }
    Ok(out)
}

/// A response body from bytes already in memory.
pub fn from_bytes(b: Bytes) -> StreamingBlob {
    StreamingBlob::wrap(futures::stream::once(async move { Ok::<_, std::io::Error>(b) }))
}
