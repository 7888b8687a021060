//! Object versions: get, put (planned on the key's current records), retag and other
//! version updates, delete of a version, and the whole-key reads and rewrites the DualTrack
//! migrator uses. Must never write a current version's records but through `put_current`.

use crate::error::{MetaError, Result};
use crate::kv::WriteBatch;
use crate::model::{ObjectVersion, VersionUpdate};
use crate::schema::{self, encode};
use crate::store::PutCondition;

use super::base::{KvStore, MAX_ATTEMPTS};
use super::records::Latest;

/// The planned writes of a put, and the versions it replaces.
pub(super) struct PutPlan {
    pub(super) batch: WriteBatch,
    pub(super) replaced: Vec<ObjectVersion>,
}

impl KvStore {
    /// Reads the current state of `obj`'s key and plans the batch that commits `obj`.
    pub(super) async fn plan_put(&self, obj: &mut ObjectVersion, cond: &PutCondition) -> Result<PutPlan> {
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
}

/// `MetadataStore::get_object`.
pub(super) async fn get(s: &KvStore, bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectVersion> {
    // The one-lookup GET: a small current version stored whole (format 2).
    if s.format() >= schema::FORMAT_WHOLE_CURRENT
        && let Some(w) = s.read::<ObjectVersion>(schema::whole_key(bucket, key)).await?
        && version_id.is_none_or(|vid| w.value.version_id == vid)
    {
        return Ok(w.value);
    }
    let lkey = schema::latest_key(bucket, key);
    // The `l/` record and a version value are two reads: a write between them makes them
    // disagree, and the pair is read again.
    for _ in 0..MAX_ATTEMPTS {
        let latest = s.read::<Latest>(lkey.clone()).await?;
        match (version_id, latest) {
            (None, Some(l)) => match s.full(l.value).await? {
                Some(v) => return Ok(v),
                None => continue,
            },
            (None, None) => {
                s.read_bucket(bucket).await?;
                return Err(MetaError::NoSuchKey { bucket: bucket.into(), key: key.into() });
            }
            (Some(vid), Some(l)) if l.value.version.version_id == vid => match s.full(l.value).await? {
                Some(v) => return Ok(v),
                None => continue,
            },
            (Some(vid), _) => match s.find_version(bucket, key, vid).await? {
                Some((_, found)) => return Ok(found.version),
                None => {
                    s.read_bucket(bucket).await?;
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

/// `MetadataStore::update_version`.
pub(super) async fn update_version(
    s: &KvStore,
    bucket: &str,
    key: &str,
    version_id: &str,
    change: &VersionUpdate,
) -> Result<ObjectVersion> {
    for _ in 0..MAX_ATTEMPTS {
        let Some((read, found)) = s.find_version(bucket, key, version_id).await? else {
            s.read_bucket(bucket).await?;
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
            s.put_current(&mut b, &v, read.was_whole(), found.raw.is_some());
        } else {
            b.put(found.vkey, encode(&v));
        }
        if s.commit(b).await? {
            return Ok(v);
        }
    }
    Err(MetaError::Conflict(MAX_ATTEMPTS))
}

/// `MetadataStore::put_object`.
pub(super) async fn put(s: &KvStore, mut obj: ObjectVersion, cond: PutCondition) -> Result<Vec<ObjectVersion>> {
    // The first plan may read a stale copy: the batch's conditions refuse it if the key or
    // the bucket changed since, and a refusal (an error answer, or a failed condition)
    // sends every later attempt to fresh reads.
    let mut planner = s.planner();
    for _ in 0..MAX_ATTEMPTS {
        let plan = match planner.take() {
            Some(p) => match p.plan_put(&mut obj, &cond).await {
                Ok(plan) => plan,
                Err(_) => continue,
            },
            None => s.plan_put(&mut obj, &cond).await?,
        };
        if s.commit(plan.batch).await? {
            return Ok(plan.replaced);
        }
    }
    Err(MetaError::Conflict(MAX_ATTEMPTS))
}

/// `MetadataStore::delete_version`.
pub(super) async fn delete_version(
    s: &KvStore,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<Option<ObjectVersion>> {
    for _ in 0..MAX_ATTEMPTS {
        s.read_bucket(bucket).await?;
        // The version, and the one after it: the next newest, should it be the current
        // one that goes.
        let (mut target, mut next) = (None, None);
        let Some(mut read) = s
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
        if !s.complete(&mut read, &mut target).await? {
            continue;
        }
        if let Some(n) = &mut next
            && !s.complete(&mut read, n).await?
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
                    s.put_current(&mut batch, &n.version, read.was_whole(), n.raw.is_some());
                }
                None => KvStore::delete_current(&mut batch, bucket, key, read.was_whole()),
            }
        }
        if s.commit(batch).await? {
            return Ok(Some(target.version));
        }
    }
    Err(MetaError::Conflict(MAX_ATTEMPTS))
}

/// `MetadataStore::key_versions`.
pub(super) async fn key_versions(s: &KvStore, bucket: &str, key: &str) -> Result<Vec<ObjectVersion>> {
    s.read_bucket(bucket).await?;
    for _ in 0..MAX_ATTEMPTS {
        let mut out = Vec::new();
        let read = s
            .scan_key(bucket, key, |v| {
                out.push(v);
                true
            })
            .await?;
        let Some(mut read) = read else { continue };
        let n = out.len();
        let mut versions = Vec::with_capacity(n);
        for mut f in out {
            if !s.complete(&mut read, &mut f).await? {
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

/// `MetadataStore::replace_key`.
pub(super) async fn replace_key(s: &KvStore, bucket: &str, key: &str, versions: Vec<ObjectVersion>) -> Result<()> {
    for _ in 0..MAX_ATTEMPTS {
        let b = s.read_bucket(bucket).await?;
        let mut existing = Vec::new();
        let Some(read) = s
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
                s.put_current(&mut batch, first, read.was_whole(), had_record);
                for v in rest {
                    batch.put(schema::version_key(bucket, key, v.mtime_ns, &v.version_id), encode(v));
                }
            }
            None => KvStore::delete_current(&mut batch, bucket, key, read.was_whole()),
        }
        if s.commit(batch).await? {
            return Ok(());
        }
    }
    Err(MetaError::Conflict(MAX_ATTEMPTS))
}
