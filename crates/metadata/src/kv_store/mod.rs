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
//! key's versions are the `v/` scan with the whole current version merged in
//! (`KvStore::scan_key`, and `kv_listing::Versions` for a bucket's). A store at format 1 (a
//! cluster's) is written as format 1 and has no `d/` at all.
//!
//! The files, each importing only those above it: `base` (the store, its reads and commits),
//! `format` (its format record, and the raise of a replicated store's), `records` (the values
//! of `l/` and `d/`, what a reader of a key found in them, and the layout a current version
//! is written in), `key` (one key's versions: enumeration, lookup by id, the current one),
//! then one file per operation family (`buckets`, `objects`, `uploads`, `lists`); this file
//! maps the `MetadataStore` contract onto them.

mod base;
mod buckets;
mod format;
mod key;
mod lists;
mod objects;
mod records;
mod uploads;

use async_trait::async_trait;

pub use base::KvStore;
pub use format::{FormatStatus, FormatWorker, MemberFormat, MemberFormatEntry};

use crate::error::Result;
use crate::model::{BucketInfo, MultipartUpload, ObjectVersion, UploadedPart, VersionUpdate};
use crate::store::{CompleteOutcome, ListPage, ListQuery, MetadataStore, PutCondition, UploadQuery, VersionQuery};

#[async_trait]
impl MetadataStore for KvStore {
    async fn create_bucket(&self, info: BucketInfo) -> Result<()> {
        buckets::create(self, info).await
    }

    async fn get_bucket(&self, name: &str) -> Result<BucketInfo> {
        buckets::get(self, name).await
    }

    async fn update_bucket(&self, info: BucketInfo) -> Result<()> {
        buckets::update(self, info).await
    }

    async fn delete_bucket(&self, name: &str) -> Result<()> {
        buckets::delete(self, name).await
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        buckets::list(self).await
    }

    async fn all_bucket_ids(&self) -> Result<Vec<String>> {
        buckets::all_ids(self).await
    }

    async fn recover(&self) -> Result<Vec<String>> {
        buckets::recover(self).await
    }

    async fn get_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectVersion> {
        objects::get(self, bucket, key, version_id).await
    }

    async fn put_object(&self, obj: ObjectVersion, cond: PutCondition) -> Result<Vec<ObjectVersion>> {
        objects::put(self, obj, cond).await
    }

    async fn delete_version(&self, bucket: &str, key: &str, version_id: &str) -> Result<Option<ObjectVersion>> {
        objects::delete_version(self, bucket, key, version_id).await
    }

    async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        change: &VersionUpdate,
    ) -> Result<ObjectVersion> {
        objects::update_version(self, bucket, key, version_id, change).await
    }

    async fn key_versions(&self, bucket: &str, key: &str) -> Result<Vec<ObjectVersion>> {
        objects::key_versions(self, bucket, key).await
    }

    async fn replace_key(&self, bucket: &str, key: &str, versions: Vec<ObjectVersion>) -> Result<()> {
        objects::replace_key(self, bucket, key, versions).await
    }

    async fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage<ObjectVersion>> {
        lists::objects(self, bucket, q).await
    }

    async fn list_versions(&self, bucket: &str, q: &VersionQuery) -> Result<ListPage<ObjectVersion>> {
        lists::versions(self, bucket, q).await
    }

    async fn list_uploads(&self, bucket: &str, q: &UploadQuery) -> Result<ListPage<MultipartUpload>> {
        lists::uploads(self, bucket, q).await
    }

    async fn keys_after(&self, bucket: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        lists::keys_after(self, bucket, after, limit).await
    }

    async fn create_upload(&self, upload: MultipartUpload) -> Result<()> {
        uploads::create(self, upload).await
    }

    async fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<MultipartUpload> {
        uploads::get(self, bucket, key, upload_id).await
    }

    async fn put_part(&self, upload: &MultipartUpload, part: UploadedPart) -> Result<Option<UploadedPart>> {
        uploads::put_part(self, upload, part).await
    }

    async fn list_parts(&self, upload_id: &str, after: u32, max: usize) -> Result<Vec<UploadedPart>> {
        uploads::list_parts(self, upload_id, after, max).await
    }

    async fn complete_upload(
        &self,
        upload: &MultipartUpload,
        obj: ObjectVersion,
        used: &[UploadedPart],
        cond: PutCondition,
    ) -> Result<CompleteOutcome> {
        uploads::complete(self, upload, obj, used, cond).await
    }

    async fn abort_upload(&self, upload: &MultipartUpload) -> Result<Vec<UploadedPart>> {
        uploads::abort(self, upload).await
    }
}
