//! Time and identifiers for metadata: a strictly increasing wall clock in nanoseconds (so
//! that versions written in the same nanosecond still order), and id generators.
//! This module must never block.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static LAST: AtomicI64 = AtomicI64::new(0);

/// Nanoseconds since the Unix epoch, strictly greater than any earlier return value.
pub fn now_ns() -> i64 {
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = wall.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// A new object version id (a random UUID, as MinIO uses).
pub fn new_version_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A new multipart upload id: time-ordered, so uploads of a key list in initiation order.
pub fn new_upload_id() -> String {
    format!("{:016x}{}", now_ns(), uuid::Uuid::new_v4().simple())
}

/// A new bucket id (a random UUID): the KV layout keeps the bucket's shards under it.
pub fn new_bucket_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
