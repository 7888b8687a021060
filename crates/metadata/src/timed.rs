//! `Timed`: a `MetadataStore` adapter that measures every call of the store it wraps
//! (latency by track and operation, failures) and gives each call a tracing span, so a
//! request's trace shows its metadata commit. It must never change what a call does.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tracing::Instrument;

use crate::error::{MetaError, Result};
use crate::metrics::{METRICS, TrackLabel};
use crate::model::*;
use crate::store::*;

pub struct Timed<S: ?Sized> {
    inner: Arc<S>,
    track: TrackLabel,
}

impl<S: ?Sized> Timed<S> {
    pub fn new(inner: Arc<S>, track: TrackLabel) -> Self {
        Self { inner, track }
    }

    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }
}

impl<S: ?Sized> std::ops::Deref for Timed<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.inner
    }
}

/// Every operation label `Timed` records (the `MetadataStore` methods).
pub const OPS: [&str; 20] = [
    "create_bucket",
    "get_bucket",
    "update_bucket",
    "delete_bucket",
    "list_buckets",
    "get_object",
    "put_object",
    "delete_version",
    "list_objects",
    "list_versions",
    "create_upload",
    "get_upload",
    "put_part",
    "list_parts",
    "list_uploads",
    "complete_upload",
    "abort_upload",
    "key_versions",
    "replace_key",
    "keys_after",
];

/// Errors that are answers, not failures of the track.
fn is_failure(e: &MetaError) -> bool {
    !matches!(
        e,
        MetaError::NoSuchBucket(_)
            | MetaError::BucketExists(_)
            | MetaError::BucketNotEmpty(_)
            | MetaError::NoSuchKey { .. }
            | MetaError::NoSuchVersion { .. }
            | MetaError::NoSuchUpload(_)
            | MetaError::PreconditionFailed
    )
}

impl<S: ?Sized> Timed<S> {
    async fn run<T>(&self, op: &'static str, write: bool, f: impl Future<Output = Result<T>>) -> Result<T> {
        let track = self.track.as_str();
        let span = tracing::debug_span!("metadata", track, op, write);
        let started = Instant::now();
        let res = f.instrument(span).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        METRICS.latency(self.track, write).with_label_values(&[op]).observe(ms);
        if let Err(e) = &res
            && is_failure(e)
        {
            METRICS.track_errors.with_label_values(&[track, op]).inc();
        }
        res
    }
}

#[async_trait]
impl<S: MetadataStore + ?Sized> MetadataStore for Timed<S> {
    async fn create_bucket(&self, info: BucketInfo) -> Result<()> {
        self.run("create_bucket", true, self.inner.create_bucket(info)).await
    }
    async fn get_bucket(&self, name: &str) -> Result<BucketInfo> {
        self.run("get_bucket", false, self.inner.get_bucket(name)).await
    }
    async fn update_bucket(&self, info: BucketInfo) -> Result<()> {
        self.run("update_bucket", true, self.inner.update_bucket(info)).await
    }
    async fn delete_bucket(&self, name: &str) -> Result<()> {
        self.run("delete_bucket", true, self.inner.delete_bucket(name)).await
    }
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.run("list_buckets", false, self.inner.list_buckets()).await
    }
    async fn get_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectVersion> {
        self.run("get_object", false, self.inner.get_object(bucket, key, version_id)).await
    }
    async fn put_object(&self, obj: ObjectVersion, cond: PutCondition) -> Result<Vec<ObjectVersion>> {
        self.run("put_object", true, self.inner.put_object(obj, cond)).await
    }
    async fn delete_version(&self, bucket: &str, key: &str, version_id: &str) -> Result<Option<ObjectVersion>> {
        self.run("delete_version", true, self.inner.delete_version(bucket, key, version_id)).await
    }
    async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        change: &crate::model::VersionUpdate,
    ) -> Result<ObjectVersion> {
        self.run("update_version", true, self.inner.update_version(bucket, key, version_id, change)).await
    }
    async fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage<ObjectVersion>> {
        self.run("list_objects", false, self.inner.list_objects(bucket, q)).await
    }
    async fn list_versions(&self, bucket: &str, q: &VersionQuery) -> Result<ListPage<ObjectVersion>> {
        self.run("list_versions", false, self.inner.list_versions(bucket, q)).await
    }
    async fn create_upload(&self, upload: MultipartUpload) -> Result<()> {
        self.run("create_upload", true, self.inner.create_upload(upload)).await
    }
    async fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<MultipartUpload> {
        self.run("get_upload", false, self.inner.get_upload(bucket, key, upload_id)).await
    }
    async fn put_part(&self, upload: &MultipartUpload, part: UploadedPart) -> Result<Option<UploadedPart>> {
        self.run("put_part", true, self.inner.put_part(upload, part)).await
    }
    async fn list_parts(&self, upload_id: &str, after: u32, max: usize) -> Result<Vec<UploadedPart>> {
        self.run("list_parts", false, self.inner.list_parts(upload_id, after, max)).await
    }
    async fn list_uploads(&self, bucket: &str, q: &UploadQuery) -> Result<ListPage<MultipartUpload>> {
        self.run("list_uploads", false, self.inner.list_uploads(bucket, q)).await
    }
    async fn complete_upload(
        &self,
        upload: &MultipartUpload,
        obj: ObjectVersion,
        used: &[UploadedPart],
        cond: PutCondition,
    ) -> Result<CompleteOutcome> {
        self.run("complete_upload", true, self.inner.complete_upload(upload, obj, used, cond)).await
    }
    async fn abort_upload(&self, upload: &MultipartUpload) -> Result<Vec<UploadedPart>> {
        self.run("abort_upload", true, self.inner.abort_upload(upload)).await
    }
    async fn key_versions(&self, bucket: &str, key: &str) -> Result<Vec<ObjectVersion>> {
        self.run("key_versions", false, self.inner.key_versions(bucket, key)).await
    }
    async fn replace_key(&self, bucket: &str, key: &str, versions: Vec<ObjectVersion>) -> Result<()> {
        self.run("replace_key", true, self.inner.replace_key(bucket, key, versions)).await
    }
    async fn keys_after(&self, bucket: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.run("keys_after", false, self.inner.keys_after(bucket, after, limit)).await
    }
    async fn recover(&self) -> Result<Vec<String>> {
        self.run("recover", true, self.inner.recover()).await
    }

    fn keyed_data(&self) -> bool {
        self.inner.keyed_data()
    }

    async fn all_bucket_ids(&self) -> Result<Vec<String>> {
        self.inner.all_bucket_ids().await
    }
}
