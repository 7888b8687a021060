//! Multipart uploads: the upload record, its parts' records, and the completion that commits
//! the object in the same batch that removes them. Must never write an object's records
//! but through the put plan of `objects`.

use crate::error::{MetaError, Result};
use crate::kv::WriteBatch;
use crate::model::{MultipartUpload, ObjectVersion, UploadedPart};
use crate::schema::{self, decode, encode};
use crate::store::{CompleteOutcome, PutCondition};

use super::base::{KvStore, MAX_ATTEMPTS, Read};

impl KvStore {
    /// Reads the upload and the part's current entry and plans the batch that records `part`.
    pub(super) async fn plan_part(
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

    pub(super) async fn parts_of(&self, upload_id: &str) -> Result<Vec<Read<UploadedPart>>> {
        let mut parts = Vec::new();
        self.scan_prefix(&schema::parts_base(upload_id), |k, v| {
            parts.push(Read { key: k.to_vec(), raw: v.to_vec(), value: decode(k, v)? });
            Ok(true)
        })
        .await?;
        Ok(parts)
    }
}

/// `MetadataStore::create_upload`.
pub(super) async fn create(s: &KvStore, upload: MultipartUpload) -> Result<()> {
    let bucket = s.read_bucket(&upload.bucket).await?;
    let key = schema::upload_key(&upload.bucket, &upload.key, &upload.upload_id);
    let mut batch = WriteBatch::new();
    batch.require(bucket.key, Some(bucket.raw)).require(key.clone(), None).put(key, encode(&upload));
    if s.commit(batch).await? { Ok(()) } else { Err(MetaError::Conflict(1)) }
}

/// `MetadataStore::get_upload`.
pub(super) async fn get(s: &KvStore, bucket: &str, key: &str, upload_id: &str) -> Result<MultipartUpload> {
    match s.read::<MultipartUpload>(schema::upload_key(bucket, key, upload_id)).await? {
        Some(u) => Ok(u.value),
        None => {
            s.read_bucket(bucket).await?;
            Err(MetaError::NoSuchUpload(upload_id.to_string()))
        }
    }
}

/// `MetadataStore::put_part`.
pub(super) async fn put_part(
    s: &KvStore,
    upload: &MultipartUpload,
    part: UploadedPart,
) -> Result<Option<UploadedPart>> {
    // As in `put_object`: a first plan from reads that may be stale, then fresh ones.
    let mut planner = s.planner();
    for _ in 0..MAX_ATTEMPTS {
        let (batch, old) = match planner.take() {
            Some(p) => match p.plan_part(upload, &part).await {
                Ok(plan) => plan,
                Err(_) => continue,
            },
            None => s.plan_part(upload, &part).await?,
        };
        if s.commit(batch).await? {
            return Ok(old);
        }
    }
    Err(MetaError::Conflict(MAX_ATTEMPTS))
}

/// `MetadataStore::list_parts`.
pub(super) async fn list_parts(s: &KvStore, upload_id: &str, after: u32, max: usize) -> Result<Vec<UploadedPart>> {
    let base = schema::parts_base(upload_id);
    let Some(end) = schema::prefix_end(&base) else {
        return Ok(Vec::new());
    };
    let start = schema::part_key(upload_id, after.saturating_add(1));
    let chunk = s.kv_scan(&start, &end, max).await?;
    chunk.iter().map(|(k, v)| decode(k, v)).collect()
}

/// `MetadataStore::complete_upload`.
pub(super) async fn complete(
    s: &KvStore,
    upload: &MultipartUpload,
    mut obj: ObjectVersion,
    used: &[UploadedPart],
    cond: PutCondition,
) -> Result<CompleteOutcome> {
    for _ in 0..MAX_ATTEMPTS {
        let ukey = schema::upload_key(&upload.bucket, &upload.key, &upload.upload_id);
        let Some(up) = s.read::<MultipartUpload>(ukey).await? else {
            return Err(MetaError::NoSuchUpload(upload.upload_id.clone()));
        };
        let mut plan = s.plan_put(&mut obj, &cond).await?;
        plan.batch.require(up.key.clone(), Some(up.raw)).delete(up.key);
        // The layout committed is the one these very records describe: every part record
        // is a condition of the batch, and the ones used must be those the layout names.
        let parts = s.parts_of(&upload.upload_id).await?;
        let values: Vec<UploadedPart> = parts.iter().map(|p| p.value.clone()).collect();
        let unused_parts = crate::store::check_used_parts(&values, used)?;
        for p in parts {
            plan.batch.require(p.key.clone(), Some(p.raw)).delete(p.key);
        }
        if s.commit(plan.batch).await? {
            return Ok(CompleteOutcome { replaced: plan.replaced, unused_parts });
        }
    }
    Err(MetaError::Conflict(MAX_ATTEMPTS))
}

/// `MetadataStore::abort_upload`.
pub(super) async fn abort(s: &KvStore, upload: &MultipartUpload) -> Result<Vec<UploadedPart>> {
    for _ in 0..MAX_ATTEMPTS {
        let ukey = schema::upload_key(&upload.bucket, &upload.key, &upload.upload_id);
        let Some(up) = s.read::<MultipartUpload>(ukey).await? else {
            return Err(MetaError::NoSuchUpload(upload.upload_id.clone()));
        };
        let mut batch = WriteBatch::new();
        batch.require(up.key.clone(), Some(up.raw)).delete(up.key);
        let mut parts = Vec::new();
        for p in s.parts_of(&upload.upload_id).await? {
            batch.require(p.key.clone(), Some(p.raw)).delete(p.key);
            parts.push(p.value);
        }
        if s.commit(batch).await? {
            return Ok(parts);
        }
    }
    Err(MetaError::Conflict(MAX_ATTEMPTS))
}
