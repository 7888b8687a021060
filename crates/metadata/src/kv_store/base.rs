//! The store itself: its `Kv`, the reads and scans every operation plans with (fresh, or a
//! write's possibly stale planning reads), the commit of a batch, and the format its writes
//! take (`format` reads and raises the record). Must never know a family's value layout
//! beyond the bucket record.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::{MetaError, Result};
use crate::kv::{Kv, WriteBatch, WriteOutcome};
use crate::kv_listing::Scan;
use crate::model::BucketInfo;
use crate::schema::{self, decode};

pub(super) const MAX_ATTEMPTS: u32 = 32;
const SCAN_CHUNK: usize = 256;

pub struct KvStore {
    kv: Arc<dyn Kv>,
    /// Reads go through `planning_get`/`planning_scan` (see `Kv`): only a write's planning
    /// uses such a store, and its answers other than a committed batch are confirmed.
    planning: bool,
    /// The store's format as `recover` found (or raised) it: decides the layout writes use.
    /// Format 1 until then, which every build reads.
    format: Arc<AtomicU8>,
    /// The format `recover` raises a store of an older one to: `schema::STORE_FORMAT` only
    /// where every writer of the store is this process, else 1 (see `new` and `replicated`).
    raise_to: u8,
}

/// A value as read, with the raw bytes that a condition must compare against.
pub(super) struct Read<T> {
    pub(super) key: Vec<u8>,
    pub(super) raw: Vec<u8>,
    pub(super) value: T,
}

impl KvStore {
    /// A store that this process alone writes (a single node's): `recover` raises its format
    /// to this build's.
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        Self::raised_to(kv, schema::STORE_FORMAT)
    }

    /// `new`, raising a store to `format` at most (an older format's layout, which this build
    /// still reads: how tests write the stores older builds left).
    pub fn raised_to(kv: Arc<dyn Kv>, format: u8) -> Self {
        Self {
            kv,
            planning: false,
            format: Arc::new(AtomicU8::new(1)),
            raise_to: format.clamp(1, schema::STORE_FORMAT),
        }
    }

    /// A store that other processes write too (a replicated group's, whose members may run
    /// older builds during a rolling upgrade): `recover` keeps its format as it is, and
    /// writes follow it.
    pub fn replicated(kv: Arc<dyn Kv>) -> Self {
        Self::raised_to(kv, 1)
    }

    /// The store to plan a conditional write with: reads that may be stale where the `Kv`
    /// has cheaper ones (a follower's local copy), else `None` (plan with this store).
    pub(super) fn planner(&self) -> Option<KvStore> {
        self.kv.planning_reads_may_be_stale().then(|| KvStore {
            kv: self.kv.clone(),
            planning: true,
            format: self.format.clone(),
            raise_to: self.raise_to,
        })
    }

    /// This store's writes take format `format` from now on.
    pub(super) fn set_format(&self, format: u8) {
        self.format.store(format, Ordering::Relaxed);
    }

    /// The format `recover` raises a store of an older one to.
    pub(super) fn raise_to(&self) -> u8 {
        self.raise_to
    }

    /// The store's format, as the last `recover` found or made it.
    pub fn format(&self) -> u8 {
        self.format.load(Ordering::Relaxed)
    }

    pub(super) async fn kv_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if self.planning { self.kv.planning_get(key).await } else { self.kv.get(key).await }
    }

    pub(super) async fn kv_scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if self.planning {
            self.kv.planning_scan(start, end, limit).await
        } else {
            self.kv.scan(start, end, limit).await
        }
    }

    pub fn kv(&self) -> &Arc<dyn Kv> {
        &self.kv
    }

    pub(super) async fn read<T: serde::de::DeserializeOwned>(&self, key: Vec<u8>) -> Result<Option<Read<T>>> {
        match self.kv_get(&key).await? {
            Some(raw) => {
                let value = decode(&key, &raw)?;
                Ok(Some(Read { key, raw, value }))
            }
            None => Ok(None),
        }
    }

    pub(super) async fn read_bucket(&self, bucket: &str) -> Result<Read<BucketInfo>> {
        match self.read::<BucketInfo>(schema::bucket_key(bucket)).await? {
            Some(b) if !b.value.deleting => Ok(b),
            _ => Err(MetaError::NoSuchBucket(bucket.to_string())),
        }
    }

    /// Scans every entry under `prefix` in chunks, calling `f` until it returns `false`.
    pub(super) async fn scan_prefix(
        &self,
        prefix: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let Some(end) = schema::prefix_end(prefix) else {
            return Ok(());
        };
        let mut pos = prefix.to_vec();
        loop {
            let chunk = self.kv_scan(&pos, &end, SCAN_CHUNK).await?;
            let Some((last, _)) = chunk.last() else {
                return Ok(());
            };
            let mut next = last.clone();
            next.push(0);
            for (k, v) in &chunk {
                if !f(k, v)? {
                    return Ok(());
                }
            }
            if chunk.len() < SCAN_CHUNK {
                return Ok(());
            }
            pos = next;
        }
    }

    pub(super) async fn commit(&self, batch: WriteBatch) -> Result<bool> {
        Ok(self.kv.write(batch).await? == WriteOutcome::Applied)
    }
}

impl Scan for KvStore {
    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.kv_scan(start, end, limit).await
    }
}
