//! Buckets: their records and settings, the two-step delete (mark, check emptiness, remove
//! or restore), and `recover`'s repair at start of what an interrupted delete left. Must
//! never read or write an object's records.

use crate::bucket_settings::BucketSettings;
use crate::error::{MetaError, Result};
use crate::kv::WriteBatch;
use crate::model::BucketInfo;
use crate::schema::{self, decode, encode};

use super::base::{KvStore, MAX_ATTEMPTS};

impl KvStore {
    /// Whether a bucket holds no object version and no upload. A key whose only version is
    /// stored whole has no `v/` record (format 3), so `l/` is checked too.
    pub(super) async fn bucket_is_empty(&self, name: &str) -> Result<bool> {
        for base in [schema::latest_base(name), schema::version_base(name), schema::upload_base(name)] {
            let Some(end) = schema::prefix_end(&base) else { continue };
            if !self.kv_scan(&base, &end, 1).await?.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// `MetadataStore::create_bucket`.
pub(super) async fn create(s: &KvStore, mut info: BucketInfo) -> Result<()> {
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
    if s.commit(batch).await? { Ok(()) } else { Err(MetaError::BucketExists(info.name)) }
}

/// `MetadataStore::get_bucket`.
pub(super) async fn get(s: &KvStore, name: &str) -> Result<BucketInfo> {
    let (core, settings) =
        futures::join!(s.read_bucket(name), s.read::<BucketSettings>(schema::bucket_settings_key(name)));
    let mut b = core?.value;
    if let Some(s) = settings? {
        s.value.merge_into(&mut b);
    }
    Ok(b)
}

/// `MetadataStore::update_bucket`.
pub(super) async fn update(s: &KvStore, mut info: BucketInfo) -> Result<()> {
    let skey = schema::bucket_settings_key(&info.name);
    let settings = BucketSettings::take(&mut info);
    for _ in 0..MAX_ATTEMPTS {
        let cur = s.read_bucket(&info.name).await?;
        let cur_settings = s.read::<BucketSettings>(skey.clone()).await?;
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
        if s.commit(batch).await? {
            return Ok(());
        }
    }
    Err(MetaError::Conflict(MAX_ATTEMPTS))
}

/// `MetadataStore::delete_bucket`.
pub(super) async fn delete(s: &KvStore, name: &str) -> Result<()> {
    // Mark the bucket first so that no write can land while emptiness is checked.
    let cur = s.read_bucket(name).await?;
    let mut marked = cur.value.clone();
    marked.deleting = true;
    let marked_raw = encode(&marked);
    let mut batch = WriteBatch::new();
    batch.require(cur.key.clone(), Some(cur.raw.clone())).put(cur.key.clone(), marked_raw.clone());
    if !s.commit(batch).await? {
        return Err(MetaError::Conflict(1));
    }
    let empty = s.bucket_is_empty(name).await?;
    let mut batch = WriteBatch::new();
    batch.require(cur.key.clone(), Some(marked_raw));
    if empty {
        batch.delete(cur.key).delete(schema::bucket_settings_key(name));
    } else {
        batch.put(cur.key, cur.raw);
    }
    s.commit(batch).await?;
    if empty { Ok(()) } else { Err(MetaError::BucketNotEmpty(name.to_string())) }
}

/// `MetadataStore::list_buckets`.
pub(super) async fn list(s: &KvStore) -> Result<Vec<BucketInfo>> {
    let mut out = Vec::new();
    s.scan_prefix(schema::BUCKET, |k, v| {
        let b: BucketInfo = decode(k, v)?;
        if !b.deleting {
            out.push(b);
        }
        Ok(true)
    })
    .await?;
    let mut settings = std::collections::HashMap::new();
    s.scan_prefix(schema::BUCKET_SETTINGS, |k, v| {
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

/// `MetadataStore::all_bucket_ids`.
pub(super) async fn all_ids(s: &KvStore) -> Result<Vec<String>> {
    let mut out = Vec::new();
    s.scan_prefix(schema::BUCKET, |k, v| {
        let b: BucketInfo = decode(k, v)?;
        if !b.id.is_empty() {
            out.push(b.id);
        }
        Ok(true)
    })
    .await?;
    Ok(out)
}

/// `MetadataStore::recover`.
pub(super) async fn recover(s: &KvStore) -> Result<Vec<String>> {
    s.check_format().await?;
    let mut marked = Vec::new();
    let mut without_id = Vec::new();
    s.scan_prefix(schema::BUCKET, |k, v| {
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
        s.commit(batch).await?;
    }
    let mut repaired = Vec::new();
    for (key, raw, mut b) in marked {
        let empty = s.bucket_is_empty(&b.name).await?;
        let mut batch = WriteBatch::new();
        batch.require(key.clone(), Some(raw));
        if empty {
            batch.delete(key).delete(schema::bucket_settings_key(&b.name));
        } else {
            b.deleting = false;
            batch.put(key, encode(&b));
        }
        if s.commit(batch).await? {
            repaired.push(b.name);
        }
    }
    Ok(repaired)
}
