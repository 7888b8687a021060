//! `KvStore`: the KV track. Implements `MetadataStore` over any `Kv` with the key schema
//! of `schema.rs`. Every mutation is one conditional batch (optimistic concurrency: read,
//! build the batch with conditions on what was read, retry on conflict), so it stays
//! correct when the `Kv` is replicated. This module must never touch object data.
//!
//! The layout of formats 2 and 3 (`schema`): when the store's format record says 2 or more,
//! every write that makes a small inline version current stores it whole under `d/` (`l/`
//! says so), with no `v/` record in format 3 and a `v/` value without bytes in format 2, and
//! every write that makes it non-current writes its full `v/` value and deletes `d/`. Reads
//! follow what `l/` and the values say, so they read the older formats' keys as well: a
//! key's versions are the `v/` scan with the whole current version merged in (`scan_key`,
//! and `kv_listing::Versions` for a bucket's). A store at format 1 (a cluster's) is written as
//! format 1 and has no `d/` at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use async_trait::async_trait;

use crate::bucket_settings::BucketSettings;
use crate::error::{MetaError, Result};
use crate::kv::{Kv, WriteBatch, WriteOutcome};
use crate::kv_listing::{
    Scan, Versions, after_escaped_key, entries, escaped_pos, family_end, list_family, resume_after,
};
use crate::model::{BucketInfo, MultipartUpload, ObjectData, ObjectVersion, UploadedPart, VersionUpdate};
use crate::schema::{self, decode, encode};
use crate::store::{CompleteOutcome, ListPage, ListQuery, MetadataStore, PutCondition, UploadQuery, VersionQuery};

const MAX_ATTEMPTS: u32 = 32;
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
struct Read<T> {
    key: Vec<u8>,
    raw: Vec<u8>,
    value: T,
}

/// The value of the `latest` family: the current version without its inline bytes (kept in
/// the version family, or with the whole version under `d/`), so that listings read little
/// object data.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Latest {
    /// The current version; `data` is `ObjectData::None` when the bytes are inline.
    version: ObjectVersion,
    /// The bytes are inline (in the version family's value, or under `d/`).
    #[serde(default)]
    inline: bool,
    /// The version is also stored whole under `d/`, and has no `v/` record (format 3) or a
    /// `v/` value without bytes (format 2; a format-1 build ignores the field and then fails
    /// on that value).
    #[serde(default)]
    whole: bool,
}

impl Latest {
    fn version_key(&self) -> Vec<u8> {
        let v = &self.version;
        schema::version_key(&v.bucket, &v.key, v.mtime_ns, &v.version_id)
    }
}

/// `obj` without its inline bytes (other data, an erasure layout, is kept).
fn without_bytes(obj: &ObjectVersion) -> ObjectVersion {
    let data = match &obj.data {
        ObjectData::Inline(_) => ObjectData::None,
        d => d.clone(),
    };
    ObjectVersion {
        bucket: obj.bucket.clone(),
        key: obj.key.clone(),
        version_id: obj.version_id.clone(),
        delete_marker: obj.delete_marker,
        size: obj.size,
        etag: obj.etag.clone(),
        mtime_ns: obj.mtime_ns,
        content_type: obj.content_type.clone(),
        headers: obj.headers.clone(),
        user_meta: obj.user_meta.clone(),
        checksums: obj.checksums.clone(),
        data,
        acl: obj.acl.clone(),
        tags: obj.tags.clone(),
        retention: obj.retention,
        legal_hold: obj.legal_hold,
        sse: obj.sse.clone(),
    }
}

/// Decodes an `l/` entry into the `v/` key and the version (without bytes) of a current
/// version stored whole (`kv_listing::Versions`); `None` for any other.
fn whole_of(k: &[u8], v: &[u8]) -> Result<Option<(Vec<u8>, ObjectVersion)>> {
    let l: Latest = decode(k, v)?;
    Ok(l.whole.then(|| (l.version_key(), l.version)))
}

/// A version value as read: the version, and whether it was stored without its inline bytes
/// (they are then in the key's `d/` record).
type Stored = (ObjectVersion, bool);

/// The current records of a key as one enumeration of its versions read them: the batch of
/// a write planned on that enumeration requires both as read.
struct KeyRead {
    latest: Option<Read<Latest>>,
    /// The `d/` record, read when `l/` says there is one (and then of the same version).
    whole: Option<Read<ObjectVersion>>,
}

impl KeyRead {
    /// Makes `batch` require the key's current records as read.
    fn require(&self, batch: &mut WriteBatch, bucket: &str, key: &str) {
        batch.require(schema::latest_key(bucket, key), self.latest.as_ref().map(|l| l.raw.clone()));
        if let Some(w) = &self.whole {
            batch.require(schema::whole_key(bucket, key), Some(w.raw.clone()));
        }
    }

    /// Whether `v` is the key's current version.
    fn is_current(&self, v: &ObjectVersion) -> bool {
        self.latest.as_ref().is_some_and(|l| same_version(&l.value.version, v))
    }

    /// Whether the key's current version is stored whole under `d/`.
    fn was_whole(&self) -> bool {
        self.latest.as_ref().is_some_and(|l| l.value.whole)
    }
}

/// One version of a key, from its `v/` record or from its `d/` one.
struct Found {
    /// Its `v/` key.
    vkey: Vec<u8>,
    /// Its `v/` record as read; `None` for a current version stored whole without one
    /// (format 3). A batch requires it as read.
    raw: Option<Vec<u8>>,
    /// The version, with its bytes wherever they are kept, unless `in_whole`.
    version: ObjectVersion,
    /// The version is the current one stored whole, as its `l/` record describes it: its
    /// bytes are in the key's `d/` record, not read yet (`KvStore::complete`).
    in_whole: bool,
}

impl Found {
    /// Makes `batch` require this version's `v/` record as read, and deletes it.
    fn require_and_delete(&self, batch: &mut WriteBatch) {
        batch.require(self.vkey.clone(), self.raw.clone());
        if self.raw.is_some() {
            batch.delete(self.vkey.clone());
        }
    }
}

/// `w` (read from `l/` or `d/`) is the version stored under `v`.
fn same_version(w: &ObjectVersion, v: &ObjectVersion) -> bool {
    w.version_id == v.version_id && w.mtime_ns == v.mtime_ns
}

/// The planned writes of a put, and the versions it replaces.
struct PutPlan {
    batch: WriteBatch,
    replaced: Vec<ObjectVersion>,
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
    fn planner(&self) -> Option<KvStore> {
        self.kv.planning_reads_may_be_stale().then(|| KvStore {
            kv: self.kv.clone(),
            planning: true,
            format: self.format.clone(),
            raise_to: self.raise_to,
        })
    }

    /// The store's format, as the last `recover` found or made it.
    pub fn format(&self) -> u8 {
        self.format.load(Ordering::Relaxed)
    }

    /// Writes `obj` as the key's current version, in this store's layout: its `v/` record,
    /// its `l/` record, and its `d/` record (written, or deleted when `was_whole`, i.e. the
    /// `l/` record it replaces says there is one). Stored whole, it gets a `v/` value
    /// without bytes in format 2, and in format 3 only if it had a `v/` record
    /// (`had_version_record`: a non-current version made current, or a format-2 key):
    /// a listing that reads `l/` before `v/` while the version moves then still finds it in
    /// one of the two (see `Versions`).
    fn put_current(&self, batch: &mut WriteBatch, obj: &ObjectVersion, was_whole: bool, had_version_record: bool) {
        let inline = matches!(obj.data, ObjectData::Inline(_));
        let whole = self.format() >= schema::FORMAT_WHOLE_CURRENT
            && matches!(&obj.data, ObjectData::Inline(b) if b.len() <= schema::WHOLE_BYTES_MAX);
        let (bucket, key) = (&obj.bucket, &obj.key);
        let meta = without_bytes(obj);
        let vkey = schema::version_key(bucket, key, obj.mtime_ns, &obj.version_id);
        if whole {
            batch.put(schema::whole_key(bucket, key), encode(obj));
            if self.format() < schema::FORMAT_WHOLE_ONLY || had_version_record {
                batch.put(vkey, schema::encode_bytes_in_whole(&meta));
            }
        } else {
            if was_whole {
                batch.delete(schema::whole_key(bucket, key));
            }
            batch.put(vkey, encode(obj));
        }
        batch.put(schema::latest_key(bucket, key), encode(&Latest { version: meta, inline, whole }));
    }

    /// Deletes the key's current records: its `l/`, and its `d/` when `was_whole`.
    fn delete_current(batch: &mut WriteBatch, bucket: &str, key: &str, was_whole: bool) {
        batch.delete(schema::latest_key(bucket, key));
        if was_whole {
            batch.delete(schema::whole_key(bucket, key));
        }
    }

    /// The key's `d/` record, read when its `l/` record says there is one.
    async fn read_whole(&self, latest: &Latest) -> Result<Option<Read<ObjectVersion>>> {
        if !latest.whole {
            return Ok(None);
        }
        let v = &latest.version;
        self.read(schema::whole_key(&v.bucket, &v.key)).await
    }

    /// `read_whole`, for a write: `batch` requires the record as read.
    async fn whole_for(
        &self,
        latest: Option<&Read<Latest>>,
        batch: &mut WriteBatch,
    ) -> Result<Option<Read<ObjectVersion>>> {
        let Some(l) = latest.filter(|l| l.value.whole) else {
            return Ok(None);
        };
        let w = self.read_whole(&l.value).await?;
        let v = &l.value.version;
        batch.require(schema::whole_key(&v.bucket, &v.key), w.as_ref().map(|w| w.raw.clone()));
        Ok(w)
    }

    async fn kv_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if self.planning { self.kv.planning_get(key).await } else { self.kv.get(key).await }
    }

    async fn kv_scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if self.planning {
            self.kv.planning_scan(start, end, limit).await
        } else {
            self.kv.scan(start, end, limit).await
        }
    }

    pub fn kv(&self) -> &Arc<dyn Kv> {
        &self.kv
    }

    async fn read<T: serde::de::DeserializeOwned>(&self, key: Vec<u8>) -> Result<Option<Read<T>>> {
        match self.kv_get(&key).await? {
            Some(raw) => {
                let value = decode(&key, &raw)?;
                Ok(Some(Read { key, raw, value }))
            }
            None => Ok(None),
        }
    }

    async fn read_bucket(&self, bucket: &str) -> Result<Read<BucketInfo>> {
        match self.read::<BucketInfo>(schema::bucket_key(bucket)).await? {
            Some(b) if !b.value.deleting => Ok(b),
            _ => Err(MetaError::NoSuchBucket(bucket.to_string())),
        }
    }

    /// Scans every entry under `prefix` in chunks, calling `f` until it returns `false`.
    async fn scan_prefix(&self, prefix: &[u8], mut f: impl FnMut(&[u8], &[u8]) -> Result<bool>) -> Result<()> {
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

    /// Enumerates the versions of a key, newest first, calling `f` until it returns `false`:
    /// the `v/` scan, with the current version stored whole placed at its position from
    /// `l/` (it has no `v/` record in format 3, one without bytes in format 2). That version
    /// comes without its bytes (`Found::in_whole`): `complete` reads them, for the versions
    /// a caller keeps, so that a caller after an older version reads no `d/`. `None` when a
    /// write changed the key's current version during the reads (`l/` read before and after
    /// differ, or the records disagree): enumerate again.
    async fn scan_key(&self, bucket: &str, key: &str, mut f: impl FnMut(Found) -> bool) -> Result<Option<KeyRead>> {
        let lkey = schema::latest_key(bucket, key);
        let latest = self.read::<Latest>(lkey.clone()).await?;
        let mut pending = latest.as_ref().filter(|l| l.value.whole).map(|l| (l.value.version_key(), &l.value.version));
        let mut agree = true;
        let mut more = true;
        self.scan_prefix(&schema::versions_of(bucket, key), |k, raw| {
            if let Some((pk, w)) = pending.take_if(|(pk, _)| pk.as_slice() < k) {
                more = f(Found { vkey: pk, raw: None, version: w.clone(), in_whole: true });
                if !more {
                    return Ok(false);
                }
            }
            let (v, without_bytes) = schema::decode_version::<ObjectVersion>(k, raw)?;
            let in_whole = match (without_bytes, pending.take_if(|(pk, _)| pk.as_slice() == k)) {
                // A format-2 value of the version stored whole.
                (true, Some(_)) => true,
                (false, None) => false,
                // Without bytes yet not the whole current one, or the whole current one with
                // its full value: a write landed between the reads.
                _ => {
                    agree = false;
                    return Ok(false);
                }
            };
            more = f(Found { vkey: k.to_vec(), raw: Some(raw.to_vec()), version: v, in_whole });
            Ok(more)
        })
        .await?;
        if let (true, true, Some((pk, w))) = (agree, more, pending) {
            f(Found { vkey: pk, raw: None, version: w.clone(), in_whole: true });
        }
        // The records a write moves between the families disagree when read across it (a
        // version made non-current has its full value where `l/` said it is whole, one made
        // current keeps a value without bytes); a rewrite of the whole key (`replace_key`)
        // may leave none that does, but it changes `l/`.
        let again = self.kv_get(&lkey).await?;
        if !agree || again != latest.as_ref().map(|l| l.raw.clone()) {
            return Ok(None);
        }
        Ok(Some(KeyRead { latest, whole: None }))
    }

    /// Gives a version that `scan_key` found without its bytes (`in_whole`) its bytes, from
    /// the key's `d/` record, which `read` then holds (read once, and required by a batch
    /// planned on `read`). `false` when that record no longer holds the version (a write
    /// landed since the enumeration: enumerate again).
    async fn complete(&self, read: &mut KeyRead, found: &mut Found) -> Result<bool> {
        if !found.in_whole {
            return Ok(true);
        }
        if read.whole.is_none()
            && let Some(l) = &read.latest
        {
            read.whole = self.read_whole(&l.value).await?;
        }
        match &read.whole {
            Some(w) if same_version(&w.value, &found.version) => {
                found.version = w.value.clone();
                found.in_whole = false;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The version `version_id` of a key, with its bytes, and the key's current records as
    /// read with it.
    async fn find_version(&self, bucket: &str, key: &str, version_id: &str) -> Result<Option<(KeyRead, Found)>> {
        for _ in 0..MAX_ATTEMPTS {
            let mut found = None;
            let read = self
                .scan_key(bucket, key, |v| {
                    if v.version.version_id == version_id {
                        found = Some(v);
                    }
                    found.is_none()
                })
                .await?;
            let Some(mut read) = read else { continue };
            match found {
                None => return Ok(None),
                Some(mut f) => {
                    if self.complete(&mut read, &mut f).await? {
                        return Ok(Some((read, f)));
                    }
                }
            }
        }
        Err(MetaError::Conflict(MAX_ATTEMPTS))
    }

    async fn read_version(&self, key: Vec<u8>) -> Result<Option<Read<Stored>>> {
        match self.kv_get(&key).await? {
            Some(raw) => {
                let value = schema::decode_version(&key, &raw)?;
                Ok(Some(Read { key, raw, value }))
            }
            None => Ok(None),
        }
    }

    /// The current version `latest` stands for, as a `Found` (`whole`: its `d/` record as
    /// read). When the records disagree (a write landed between the reads), what it returns
    /// is not the version, but the batch built on it fails its conditions.
    async fn current_found(&self, latest: &Latest, whole: Option<&Read<ObjectVersion>>) -> Result<Found> {
        let vkey = latest.version_key();
        let stored = self.read_version(vkey.clone()).await?;
        let whole = whole.map(|w| &w.value).filter(|w| same_version(w, &latest.version));
        let (raw, version) = match (stored, whole) {
            (Some(r), Some(w)) => (Some(r.raw), w.clone()),
            (Some(r), None) => (Some(r.raw), r.value.0),
            (None, Some(w)) => (None, w.clone()),
            (None, None) => (None, latest.version.clone()),
        };
        Ok(Found { vkey, raw, version, in_whole: false })
    }

    /// The full current version a `latest` entry stands for; `None` when the other records
    /// no longer agree with it (a write landed between the reads: read again).
    async fn full(&self, latest: Latest) -> Result<Option<ObjectVersion>> {
        if !latest.inline {
            return Ok(Some(latest.version));
        }
        if latest.whole {
            return Ok(self.read_whole(&latest).await?.map(|w| w.value).filter(|w| same_version(w, &latest.version)));
        }
        match self.read_version(latest.version_key()).await? {
            Some(Read { value: (v, false), .. }) => Ok(Some(v)),
            _ => Ok(None),
        }
    }

    /// Checks the store's format record (`s/schema`, see `schema`), writing this build's in a
    /// store that has none: a store of a newer format is refused before anything reads it.
    async fn check_format(&self) -> Result<()> {
        let key = schema::system_key(schema::FORMAT_RECORD);
        // A store nobody else writes takes this build's format; a shared one keeps its own
        // (and a new shared one starts at 1, which every member's build reads).
        let wanted = self.raise_to;
        for _ in 0..MAX_ATTEMPTS {
            let found = self.read::<u8>(key.clone()).await?;
            let format = match &found {
                Some(r) if r.value > schema::STORE_FORMAT => {
                    return Err(MetaError::NewerStore { found: r.value, supported: schema::STORE_FORMAT });
                }
                Some(r) if r.value >= wanted => r.value,
                _ => {
                    // No record yet, or an older format to raise: a store of an older format
                    // is valid in this one (see `schema`), so the record is all that changes.
                    let mut b = WriteBatch::new();
                    b.require(key.clone(), found.map(|r| r.raw)).put(key.clone(), encode(&wanted));
                    if !self.commit(b).await? {
                        continue;
                    }
                    wanted
                }
            };
            self.format.store(format, Ordering::Relaxed);
            return Ok(());
        }
        Err(MetaError::Conflict(MAX_ATTEMPTS))
    }

    /// Reads the current state of `obj`'s key and plans the batch that commits `obj`.
    async fn plan_put(&self, obj: &mut ObjectVersion, cond: &PutCondition) -> Result<PutPlan> {
        let bucket = self.read_bucket(&obj.bucket).await?;
        let latest_key = schema::latest_key(&obj.bucket, &obj.key);
        let current = self.read::<Latest>(latest_key.clone()).await?;
        let live = current.as_ref().map(|c| &c.value.version).filter(|c| !c.delete_marker);
        match cond {
            PutCondition::None => {}
            PutCondition::IfNoneMatchAny if live.is_some() => {
                return Err(MetaError::PreconditionFailed);
            }
            PutCondition::IfNoneMatchAny => {}
            PutCondition::IfMatch(etag) => {
                if live.is_none_or(|c| &c.etag != etag) {
                    return Err(MetaError::PreconditionFailed);
                }
            }
        }
        let mut batch = WriteBatch::new();
        batch.require(bucket.key, Some(bucket.raw));
        batch.require(latest_key.clone(), current.as_ref().map(|c| c.raw.clone()));
        let mut replaced = Vec::new();
        if let Some(cur) = &current {
            // The new version must sort first among the key's versions.
            if obj.mtime_ns <= cur.value.version.mtime_ns {
                obj.mtime_ns = cur.value.version.mtime_ns + 1;
            }
        }
        // The current version stored whole: its bytes are there, not in its `v/` value.
        let was_whole = current.as_ref().is_some_and(|c| c.value.whole);
        let whole = self.whole_for(current.as_ref(), &mut batch).await?;
        let mut current_replaced = false;
        if obj.is_null_version() {
            let old_null = match &current {
                Some(cur) if cur.value.version.is_null_version() => {
                    current_replaced = true;
                    Some(self.current_found(&cur.value, whole.as_ref()).await?)
                }
                // A null version that is not current has a full `v/` record.
                Some(_) => self.find_version(&obj.bucket, &obj.key, crate::model::NULL_VERSION).await?.map(|(_, f)| f),
                None => None,
            };
            if let Some(old) = old_null {
                old.require_and_delete(&mut batch);
                replaced.push(old.version);
            }
        }
        // The version this one succeeds gets its bytes back into its own value.
        if let (Some(w), false) = (&whole, current_replaced) {
            batch.put(
                schema::version_key(&obj.bucket, &obj.key, w.value.mtime_ns, &w.value.version_id),
                encode(&w.value),
            );
        }
        // A new version sorts first: nothing is stored at its `v/` key.
        self.put_current(&mut batch, obj, was_whole, false);
        Ok(PutPlan { batch, replaced })
    }

    /// Reads the upload and the part's current entry and plans the batch that records `part`.
    async fn plan_part(
        &self,
        upload: &MultipartUpload,
        part: &UploadedPart,
    ) -> Result<(WriteBatch, Option<UploadedPart>)> {
        let ukey = schema::upload_key(&upload.bucket, &upload.key, &upload.upload_id);
        let Some(up) = self.read::<MultipartUpload>(ukey).await? else {
            return Err(MetaError::NoSuchUpload(upload.upload_id.clone()));
        };
        let pkey = schema::part_key(&upload.upload_id, part.number);
        let old = self.read::<UploadedPart>(pkey.clone()).await?;
        let mut batch = WriteBatch::new();
        batch.require(up.key, Some(up.raw));
        batch.require(pkey.clone(), old.as_ref().map(|o| o.raw.clone()));
        batch.put(pkey, encode(part));
        Ok((batch, old.map(|o| o.value)))
    }

    /// Whether a bucket holds no object version and no upload. A key whose only version is
    /// stored whole has no `v/` record (format 3), so `l/` is checked too.
    async fn bucket_is_empty(&self, name: &str) -> Result<bool> {
        for base in [schema::latest_base(name), schema::version_base(name), schema::upload_base(name)] {
            let Some(end) = schema::prefix_end(&base) else { continue };
            if !self.kv_scan(&base, &end, 1).await?.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn commit(&self, batch: WriteBatch) -> Result<bool> {
        Ok(self.kv.write(batch).await? == WriteOutcome::Applied)
    }

    async fn parts_of(&self, upload_id: &str) -> Result<Vec<Read<UploadedPart>>> {
        let mut parts = Vec::new();
        self.scan_prefix(&schema::parts_base(upload_id), |k, v| {
            parts.push(Read { key: k.to_vec(), raw: v.to_vec(), value: decode(k, v)? });
            Ok(true)
        })
        .await?;
        Ok(parts)
    }
}

impl Scan for KvStore {
    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.kv_scan(start, end, limit).await
    }
}

#[async_trait]
impl MetadataStore for KvStore {
    async fn create_bucket(&self, mut info: BucketInfo) -> Result<()> {
        let key = schema::bucket_key(&info.name);
        let skey = schema::bucket_settings_key(&info.name);
        let settings = BucketSettings::take(&mut info);
        let mut batch = WriteBatch::new();
        batch.require(key.clone(), None).put(key, encode(&info));
        if settings.is_empty() {
            batch.delete(skey);
        } else {
            batch.put(skey, encode(&settings));
        }
        if self.commit(batch).await? { Ok(()) } else { Err(MetaError::BucketExists(info.name)) }
    }

    async fn get_bucket(&self, name: &str) -> Result<BucketInfo> {
        let (core, settings) =
            futures::join!(self.read_bucket(name), self.read::<BucketSettings>(schema::bucket_settings_key(name)));
        let mut b = core?.value;
        if let Some(s) = settings? {
            s.value.merge_into(&mut b);
        }
        Ok(b)
    }

    async fn update_bucket(&self, mut info: BucketInfo) -> Result<()> {
        let skey = schema::bucket_settings_key(&info.name);
        let settings = BucketSettings::take(&mut info);
        for _ in 0..MAX_ATTEMPTS {
            let cur = self.read_bucket(&info.name).await?;
            let cur_settings = self.read::<BucketSettings>(skey.clone()).await?;
            // A bucket's id never changes: its data lives under it.
            if !cur.value.id.is_empty() {
                info.id = cur.value.id.clone();
            }
            let mut batch = WriteBatch::new();
            // Only what changed is written: a new policy leaves the bucket record (which
            // writes in flight require) as it was.
            let raw = encode(&info);
            batch.require(cur.key.clone(), Some(cur.raw.clone()));
            if raw != cur.raw {
                batch.put(cur.key, raw);
            }
            let was = cur_settings.as_ref().map(|c| c.value.clone()).unwrap_or_default();
            batch.require(skey.clone(), cur_settings.map(|c| c.raw));
            if settings != was {
                if settings.is_empty() {
                    batch.delete(skey.clone());
                } else {
                    batch.put(skey.clone(), encode(&settings));
                }
            }
            if self.commit(batch).await? {
                return Ok(());
            }
        }
        Err(MetaError::Conflict(MAX_ATTEMPTS))
    }

    async fn delete_bucket(&self, name: &str) -> Result<()> {
        // Mark the bucket first so that no write can land while emptiness is checked.
        let cur = self.read_bucket(name).await?;
        let mut marked = cur.value.clone();
        marked.deleting = true;
        let marked_raw = encode(&marked);
        let mut batch = WriteBatch::new();
        batch.require(cur.key.clone(), Some(cur.raw.clone())).put(cur.key.clone(), marked_raw.clone());
        if !self.commit(batch).await? {
            return Err(MetaError::Conflict(1));
        }
        let empty = self.bucket_is_empty(name).await?;
        let mut batch = WriteBatch::new();
        batch.require(cur.key.clone(), Some(marked_raw));
        if empty {
            batch.delete(cur.key).delete(schema::bucket_settings_key(name));
        } else {
            batch.put(cur.key, cur.raw);
        }
        self.commit(batch).await?;
        if empty { Ok(()) } else { Err(MetaError::BucketNotEmpty(name.to_string())) }
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let mut out = Vec::new();
        self.scan_prefix(schema::BUCKET, |k, v| {
            let b: BucketInfo = decode(k, v)?;
            if !b.deleting {
                out.push(b);
            }
            Ok(true)
        })
        .await?;
        let mut settings = std::collections::HashMap::new();
        self.scan_prefix(schema::BUCKET_SETTINGS, |k, v| {
            let name = String::from_utf8_lossy(&k[schema::BUCKET_SETTINGS.len()..]).into_owned();
            settings.insert(name, decode::<BucketSettings>(k, v)?);
            Ok(true)
        })
        .await?;
        for b in &mut out {
            if let Some(s) = settings.remove(&b.name) {
                s.merge_into(b);
            }
        }
        Ok(out)
    }

    async fn all_bucket_ids(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        self.scan_prefix(schema::BUCKET, |k, v| {
            let b: BucketInfo = decode(k, v)?;
            if !b.id.is_empty() {
                out.push(b.id);
            }
            Ok(true)
        })
        .await?;
        Ok(out)
    }

    async fn get_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectVersion> {
        // The one-lookup GET: a small current version stored whole (format 2).
        if self.format() >= schema::FORMAT_WHOLE_CURRENT
            && let Some(w) = self.read::<ObjectVersion>(schema::whole_key(bucket, key)).await?
            && version_id.is_none_or(|vid| w.value.version_id == vid)
        {
            return Ok(w.value);
        }
        let lkey = schema::latest_key(bucket, key);
        // The `l/` record and a version value are two reads: a write between them makes them
        // disagree, and the pair is read again.
        for _ in 0..MAX_ATTEMPTS {
            let latest = self.read::<Latest>(lkey.clone()).await?;
            match (version_id, latest) {
                (None, Some(l)) => match self.full(l.value).await? {
                    Some(v) => return Ok(v),
                    None => continue,
                },
                (None, None) => {
                    self.read_bucket(bucket).await?;
                    return Err(MetaError::NoSuchKey { bucket: bucket.into(), key: key.into() });
                }
                (Some(vid), Some(l)) if l.value.version.version_id == vid => match self.full(l.value).await? {
                    Some(v) => return Ok(v),
                    None => continue,
                },
                (Some(vid), _) => match self.find_version(bucket, key, vid).await? {
                    Some((_, found)) => return Ok(found.version),
                    None => {
                        self.read_bucket(bucket).await?;
                        return Err(MetaError::NoSuchVersion {
                            bucket: bucket.into(),
                            key: key.into(),
                            version_id: vid.into(),
                        });
                    }
                },
            }
        }
        Err(MetaError::Corrupt {
            key: String::from_utf8_lossy(&lkey).into_owned(),
            reason: "the current version and the version family keep disagreeing".into(),
        })
    }

    async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        change: &VersionUpdate,
    ) -> Result<ObjectVersion> {
        for _ in 0..MAX_ATTEMPTS {
            let Some((read, found)) = self.find_version(bucket, key, version_id).await? else {
                self.read_bucket(bucket).await?;
                return Err(MetaError::NoSuchVersion {
                    bucket: bucket.into(),
                    key: key.into(),
                    version_id: version_id.into(),
                });
            };
            let mut b = WriteBatch::new();
            // The key's current records, read with this version, are conditions either way: a
            // version that became current since would otherwise leave `l/` describing it
            // as it was.
            read.require(&mut b, bucket, key);
            b.require(found.vkey.clone(), found.raw.clone());
            let current = read.is_current(&found.version);
            let mut v = found.version;
            change.apply(&mut v);
            if current {
                // The current version is also the key's `l/` (and maybe `d/`) record.
                self.put_current(&mut b, &v, read.was_whole(), found.raw.is_some());
            } else {
                b.put(found.vkey, encode(&v));
            }
            if self.commit(b).await? {
                return Ok(v);
            }
        }
        Err(MetaError::Conflict(MAX_ATTEMPTS))
    }

    async fn put_object(&self, mut obj: ObjectVersion, cond: PutCondition) -> Result<Vec<ObjectVersion>> {
        // The first plan may read a stale copy: the batch's conditions refuse it if the key or
        // the bucket changed since, and a refusal (an error answer, or a failed condition)
        // sends every later attempt to fresh reads.
        let mut planner = self.planner();
        for _ in 0..MAX_ATTEMPTS {
            let plan = match planner.take() {
                Some(p) => match p.plan_put(&mut obj, &cond).await {
                    Ok(plan) => plan,
                    Err(_) => continue,
                },
                None => self.plan_put(&mut obj, &cond).await?,
            };
            if self.commit(plan.batch).await? {
                return Ok(plan.replaced);
            }
        }
        Err(MetaError::Conflict(MAX_ATTEMPTS))
    }

    async fn delete_version(&self, bucket: &str, key: &str, version_id: &str) -> Result<Option<ObjectVersion>> {
        for _ in 0..MAX_ATTEMPTS {
            self.read_bucket(bucket).await?;
            // The version, and the one after it: the next newest, should it be the current
            // one that goes.
            let (mut target, mut next) = (None, None);
            let Some(mut read) = self
                .scan_key(bucket, key, |v| {
                    if target.is_none() && v.version.version_id == version_id {
                        target = Some(v);
                        return true;
                    }
                    if target.is_some() {
                        next = Some(v);
                        return false;
                    }
                    true
                })
                .await?
            else {
                continue;
            };
            let Some(mut target) = target else {
                return Ok(None);
            };
            // The version deleted is returned whole, and the next newest is written whole.
            if !self.complete(&mut read, &mut target).await? {
                continue;
            }
            if let Some(n) = &mut next
                && !self.complete(&mut read, n).await?
            {
                continue;
            }
            let mut batch = WriteBatch::new();
            read.require(&mut batch, bucket, key);
            target.require_and_delete(&mut batch);
            if read.is_current(&target.version) {
                // The next newest version, if any, becomes current.
                match next {
                    Some(n) => {
                        batch.require(n.vkey.clone(), n.raw.clone());
                        self.put_current(&mut batch, &n.version, read.was_whole(), n.raw.is_some());
                    }
                    None => Self::delete_current(&mut batch, bucket, key, read.was_whole()),
                }
            }
            if self.commit(batch).await? {
                return Ok(Some(target.version));
            }
        }
        Err(MetaError::Conflict(MAX_ATTEMPTS))
    }

    async fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage<ObjectVersion>> {
        self.read_bucket(bucket).await?;
        let base = schema::latest_base(bucket);
        let pos_of = |s: &[u8]| {
            let mut k = base.clone();
            k.extend_from_slice(s);
            k
        };
        let start = match &q.after {
            Some(m) => resume_after(m, &q.prefix, q.delimiter.as_deref(), pos_of),
            None => base.clone(),
        };
        let end = family_end(&base, &q.prefix, pos_of);
        let blen = base.len();
        let source = entries(|k, v| {
            let okey = String::from_utf8_lossy(&k[blen..]).into_owned();
            let l: Latest = decode(k, v)?;
            Ok((okey, (!l.version.delete_marker).then_some(l.version)))
        });
        list_family(self, start, &q.prefix, q.delimiter.as_deref(), q.max_keys, pos_of, end, source).await
    }

    async fn list_versions(&self, bucket: &str, q: &VersionQuery) -> Result<ListPage<ObjectVersion>> {
        self.read_bucket(bucket).await?;
        let base = schema::version_base(bucket);
        let pos_of = escaped_pos(&base);
        let start = match (&q.key_marker, &q.version_id_marker) {
            (Some(km), Some(vm)) if !vm.is_empty() => match self.find_version(bucket, km, vm).await? {
                Some((_, found)) => {
                    let mut p = found.vkey;
                    p.push(0);
                    p
                }
                None => after_escaped_key(&base, km),
            },
            (Some(km), _) => {
                let d = q.delimiter.as_deref();
                match d.filter(|d| !d.is_empty() && km.strip_prefix(q.prefix.as_str()).is_some_and(|r| r.contains(d))) {
                    Some(_) => resume_after(km, &q.prefix, d, &pos_of),
                    None => after_escaped_key(&base, km),
                }
            }
            _ => base.clone(),
        };
        let end = family_end(&base, &q.prefix, &pos_of);
        let source = Versions { bucket, whole_of };
        list_family(self, start, &q.prefix, q.delimiter.as_deref(), q.max_keys, &pos_of, end, source).await
    }

    async fn create_upload(&self, upload: MultipartUpload) -> Result<()> {
        let bucket = self.read_bucket(&upload.bucket).await?;
        let key = schema::upload_key(&upload.bucket, &upload.key, &upload.upload_id);
        let mut batch = WriteBatch::new();
        batch.require(bucket.key, Some(bucket.raw)).require(key.clone(), None).put(key, encode(&upload));
        if self.commit(batch).await? { Ok(()) } else { Err(MetaError::Conflict(1)) }
    }

    async fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<MultipartUpload> {
        match self.read::<MultipartUpload>(schema::upload_key(bucket, key, upload_id)).await? {
            Some(u) => Ok(u.value),
            None => {
                self.read_bucket(bucket).await?;
                Err(MetaError::NoSuchUpload(upload_id.to_string()))
            }
        }
    }

    async fn put_part(&self, upload: &MultipartUpload, part: UploadedPart) -> Result<Option<UploadedPart>> {
        // As in `put_object`: a first plan from reads that may be stale, then fresh ones.
        let mut planner = self.planner();
        for _ in 0..MAX_ATTEMPTS {
            let (batch, old) = match planner.take() {
                Some(p) => match p.plan_part(upload, &part).await {
                    Ok(plan) => plan,
                    Err(_) => continue,
                },
                None => self.plan_part(upload, &part).await?,
            };
            if self.commit(batch).await? {
                return Ok(old);
            }
        }
        Err(MetaError::Conflict(MAX_ATTEMPTS))
    }

    async fn list_parts(&self, upload_id: &str, after: u32, max: usize) -> Result<Vec<UploadedPart>> {
        let base = schema::parts_base(upload_id);
        let Some(end) = schema::prefix_end(&base) else {
            return Ok(Vec::new());
        };
        let start = schema::part_key(upload_id, after.saturating_add(1));
        let chunk = self.kv_scan(&start, &end, max).await?;
        chunk.iter().map(|(k, v)| decode(k, v)).collect()
    }

    async fn list_uploads(&self, bucket: &str, q: &UploadQuery) -> Result<ListPage<MultipartUpload>> {
        self.read_bucket(bucket).await?;
        let base = schema::upload_base(bucket);
        let pos_of = escaped_pos(&base);
        let start = match (&q.key_marker, &q.upload_id_marker) {
            (Some(km), Some(um)) if !um.is_empty() => {
                let mut p = schema::upload_key(bucket, km, um);
                p.push(0);
                p
            }
            (Some(km), _) => after_escaped_key(&base, km),
            _ => base.clone(),
        };
        let end = family_end(&base, &q.prefix, &pos_of);
        let source = entries(|k, v| {
            let up: MultipartUpload = decode(k, v)?;
            Ok((up.key.clone(), Some(up)))
        });
        list_family(self, start, &q.prefix, q.delimiter.as_deref(), q.max_uploads, &pos_of, end, source).await
    }

    async fn complete_upload(
        &self,
        upload: &MultipartUpload,
        mut obj: ObjectVersion,
        used: &[UploadedPart],
        cond: PutCondition,
    ) -> Result<CompleteOutcome> {
        for _ in 0..MAX_ATTEMPTS {
            let ukey = schema::upload_key(&upload.bucket, &upload.key, &upload.upload_id);
            let Some(up) = self.read::<MultipartUpload>(ukey).await? else {
                return Err(MetaError::NoSuchUpload(upload.upload_id.clone()));
            };
            let mut plan = self.plan_put(&mut obj, &cond).await?;
            plan.batch.require(up.key.clone(), Some(up.raw)).delete(up.key);
            // The layout committed is the one these very records describe: every part record
            // is a condition of the batch, and the ones used must be those the layout names.
            let parts = self.parts_of(&upload.upload_id).await?;
            let values: Vec<UploadedPart> = parts.iter().map(|p| p.value.clone()).collect();
            let unused_parts = crate::store::check_used_parts(&values, used)?;
            for p in parts {
                plan.batch.require(p.key.clone(), Some(p.raw)).delete(p.key);
            }
            if self.commit(plan.batch).await? {
                return Ok(CompleteOutcome { replaced: plan.replaced, unused_parts });
            }
        }
        Err(MetaError::Conflict(MAX_ATTEMPTS))
    }

    async fn key_versions(&self, bucket: &str, key: &str) -> Result<Vec<ObjectVersion>> {
        self.read_bucket(bucket).await?;
        for _ in 0..MAX_ATTEMPTS {
            let mut out = Vec::new();
            let read = self
                .scan_key(bucket, key, |v| {
                    out.push(v);
                    true
                })
                .await?;
            let Some(mut read) = read else { continue };
            let n = out.len();
            let mut versions = Vec::with_capacity(n);
            for mut f in out {
                if !self.complete(&mut read, &mut f).await? {
                    break;
                }
                versions.push(f.version);
            }
            if versions.len() == n {
                return Ok(versions);
            }
        }
        Err(MetaError::Conflict(MAX_ATTEMPTS))
    }

    async fn replace_key(&self, bucket: &str, key: &str, versions: Vec<ObjectVersion>) -> Result<()> {
        for _ in 0..MAX_ATTEMPTS {
            let b = self.read_bucket(bucket).await?;
            let mut existing = Vec::new();
            let Some(read) = self
                .scan_key(bucket, key, |v| {
                    existing.push(v);
                    true
                })
                .await?
            else {
                continue;
            };
            let mut batch = WriteBatch::new();
            batch.require(b.key, Some(b.raw));
            read.require(&mut batch, bucket, key);
            let new: Vec<Vec<u8>> =
                versions.iter().map(|v| schema::version_key(bucket, key, v.mtime_ns, &v.version_id)).collect();
            for f in &existing {
                if new.contains(&f.vkey) {
                    batch.require(f.vkey.clone(), f.raw.clone());
                } else {
                    f.require_and_delete(&mut batch);
                }
            }
            // The first is the current version: it takes this store's layout.
            match versions.split_first() {
                Some((first, rest)) => {
                    let had_record = existing.iter().any(|f| f.vkey == new[0] && f.raw.is_some());
                    self.put_current(&mut batch, first, read.was_whole(), had_record);
                    for v in rest {
                        batch.put(schema::version_key(bucket, key, v.mtime_ns, &v.version_id), encode(v));
                    }
                }
                None => Self::delete_current(&mut batch, bucket, key, read.was_whole()),
            }
            if self.commit(batch).await? {
                return Ok(());
            }
        }
        Err(MetaError::Conflict(MAX_ATTEMPTS))
    }

    async fn keys_after(&self, bucket: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.read_bucket(bucket).await?;
        let base = schema::latest_base(bucket);
        let Some(end) = schema::prefix_end(&base) else { return Ok(Vec::new()) };
        let start = match after {
            Some(a) => {
                let mut k = schema::latest_key(bucket, a);
                k.push(0);
                k
            }
            None => base.clone(),
        };
        let chunk = self.kv_scan(&start, &end, limit).await?;
        Ok(chunk.into_iter().map(|(k, _)| String::from_utf8_lossy(&k[base.len()..]).into_owned()).collect())
    }

    async fn recover(&self) -> Result<Vec<String>> {
        self.check_format().await?;
        let mut marked = Vec::new();
        let mut without_id = Vec::new();
        self.scan_prefix(schema::BUCKET, |k, v| {
            let b: BucketInfo = decode(k, v)?;
            if b.deleting {
                marked.push((k.to_vec(), v.to_vec(), b));
            } else if b.id.is_empty() {
                without_id.push((k.to_vec(), v.to_vec(), b));
            }
            Ok(true)
        })
        .await?;
        // Buckets made before bucket ids existed get one (their old data keeps its layout).
        for (key, raw, mut b) in without_id {
            b.id = crate::clock::new_bucket_id();
            let mut batch = WriteBatch::new();
            batch.require(key.clone(), Some(raw)).put(key, encode(&b));
            self.commit(batch).await?;
        }
        let mut repaired = Vec::new();
        for (key, raw, mut b) in marked {
            let empty = self.bucket_is_empty(&b.name).await?;
            let mut batch = WriteBatch::new();
            batch.require(key.clone(), Some(raw));
            if empty {
                batch.delete(key).delete(schema::bucket_settings_key(&b.name));
            } else {
                b.deleting = false;
                batch.put(key, encode(&b));
            }
            if self.commit(batch).await? {
                repaired.push(b.name);
            }
        }
        Ok(repaired)
    }

    async fn abort_upload(&self, upload: &MultipartUpload) -> Result<Vec<UploadedPart>> {
        for _ in 0..MAX_ATTEMPTS {
            let ukey = schema::upload_key(&upload.bucket, &upload.key, &upload.upload_id);
            let Some(up) = self.read::<MultipartUpload>(ukey).await? else {
                return Err(MetaError::NoSuchUpload(upload.upload_id.clone()));
            };
            let mut batch = WriteBatch::new();
            batch.require(up.key.clone(), Some(up.raw)).delete(up.key);
            let mut parts = Vec::new();
            for p in self.parts_of(&upload.upload_id).await? {
                batch.require(p.key.clone(), Some(p.raw)).delete(p.key);
                parts.push(p.value);
            }
            if self.commit(batch).await? {
                return Ok(parts);
            }
        }
        Err(MetaError::Conflict(MAX_ATTEMPTS))
    }
}
