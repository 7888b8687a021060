//! Where a key of the keyed layout lives: on this server's deployments and on a MinIO
//! deployment of one pool, the one set its hash names; on an adopted MinIO deployment of
//! several pools, whichever pool MinIO (or this server) put it in. As MinIO does, the key's
//! xl.meta is read on the set its hash names in every pool, and the pool holding the newest
//! version is the key's home (a key copied between pools by a decommission cut short is on
//! both: the newest copy wins); a key on no pool goes where [`EcStore::new_key_set`] says.
//!
//! This module only reads: it must never write or remove an xl.meta, and never answer "on no
//! pool" for a key a pool could not be read on (that pool's read error is returned instead).

use std::sync::Arc;

use crate::drives::Drive;
use crate::error::Result;
use crate::legacy::files;
use crate::xlmeta::XlMeta;
use crate::{EcStore, StoreError};

/// A key's home set and its xl.meta there (`None`: the key is on no pool; the set is where a
/// new version goes).
pub type Located = (usize, Option<XlMeta>);

/// The newest version's modification time in `m` (what decides between pools).
fn newest(m: &XlMeta) -> i64 {
    m.versions.iter().map(|v| v.mod_time_ns).max().unwrap_or(i64::MIN)
}

/// Reads `bucket/key`'s xl.meta on `set` with that set's quorum (blocking).
fn read_on(ec: &EcStore, set: usize, bucket: &str, key: &str, xl_json: bool) -> Result<Option<XlMeta>> {
    let drives: Vec<Arc<Drive>> = ec.set_drives(set).to_vec();
    Ok(files::read(&drives, bucket, key, ec.write_quorum(set), xl_json)?.filter(|m| !m.versions.is_empty()))
}

/// Finds `bucket/key`: its home set and its xl.meta there. `xl_json`: also take MinIO's v1
/// `xl.json` where xl.meta is absent (see `EcStore::minio_v1_metadata`).
pub async fn locate(ec: &Arc<EcStore>, bucket: &str, key: &str, xl_json: bool) -> Result<Located> {
    let sets = ec.key_sets(bucket, key);
    let (ec, b, k) = (ec.clone(), bucket.to_string(), key.to_string());
    tokio::task::spawn_blocking(move || locate_blocking(&ec, &sets, &b, &k, xl_json))
        .await
        .map_err(|e| StoreError::Erasure(e.to_string()))?
}

fn locate_blocking(ec: &EcStore, sets: &[usize], bucket: &str, key: &str, xl_json: bool) -> Result<Located> {
    if let [set] = sets {
        return Ok((*set, read_on(ec, *set, bucket, key, xl_json)?));
    }
    let local = sets.iter().all(|&s| ec.set_drives(s).iter().all(|d| d.local));
    // Every pool at once when reads wait on other nodes; this node's drives one pool after
    // the other (a thread each would cost more than the reads).
    let found: Vec<Result<Option<XlMeta>>> = if local {
        sets.iter().map(|&s| read_on(ec, s, bucket, key, xl_json)).collect()
    } else {
        std::thread::scope(|sc| {
            let reads: Vec<_> = sets.iter().map(|&s| sc.spawn(move || read_on(ec, s, bucket, key, xl_json))).collect();
            reads
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(StoreError::Erasure("a pool's read panicked".into()))))
                .collect()
        })
    };
    let mut best: Option<(usize, XlMeta)> = None;
    let mut failed = None;
    for (&set, r) in sets.iter().zip(found) {
        match r {
            Ok(Some(m)) => {
                if best.as_ref().is_none_or(|(_, b)| newest(&m) > newest(b)) {
                    best = Some((set, m));
                }
            }
            Ok(None) => {}
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    match (best, failed) {
        (Some((set, m)), _) => Ok((set, Some(m))),
        // A pool that could not be read may hold the key: nothing may be placed elsewhere.
        (None, Some(e)) => Err(e),
        (None, None) => Ok((ec.new_key_set(bucket, key), None)),
    }
}

/// The set new keyed-layout data of `bucket/key` goes to: the key's home (no read on a
/// deployment of one pool).
pub async fn keyed_set(ec: &Arc<EcStore>, bucket: &str, key: &str) -> Result<usize> {
    match ec.key_sets(bucket, key).as_slice() {
        [one] => Ok(*one),
        _ => Ok(locate(ec, bucket, key, ec.minio_v1_metadata()).await?.0),
    }
}
