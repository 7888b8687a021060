//! The S3 API: `impl s3s::S3` that turns S3 operations into ecstore data I/O and metadata
//! commits, plus users, ownership checks and the mapping of internal errors to S3 errors.
//!
//! s3s types stop here: nothing below this crate sees them. One file per operation family:
//! `bucket.rs`, `put.rs`, `get.rs`, `delete.rs`, `list.rs`, `copy.rs`, `multipart.rs`.

mod acl_ops;
mod acl_wire;
mod attributes;
pub mod auth;
pub mod authz;
mod body;
mod bucket;
mod copy;
pub mod cors;
mod delete;
pub mod error;
mod get;
pub mod iam;
mod ingest;
pub mod lifecycle;
pub mod limits;
mod list;
mod multipart;
pub mod object_lock;
pub mod post;
mod put;
pub mod ranges;
pub mod sse;
pub mod tagging;
mod util;

use std::sync::Arc;

use ecstore::EcStore;
use metadata::{BucketInfo, MetadataStore, ObjectData, ObjectVersion};
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};

pub use auth::{User, Users};

/// Largest object a single PUT (or a single part) may carry, as in S3.
pub const MAX_PUT_SIZE: u64 = 5 << 30;

#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Objects up to this size are stored inline in their metadata.
    pub inline_threshold: usize,
    /// The region this server reports.
    pub region: String,
    /// The length of a lifecycle day in nanoseconds (24 hours; shorter only for tests).
    pub lifecycle_day_ns: i64,
    /// Master keys for server-side encryption (`None`: SSE-S3 and SSE-KMS are refused).
    pub keys: Option<Arc<rustfs_sse::Keyring>>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            inline_threshold: 128 * 1024,
            region: "us-east-1".into(),
            lifecycle_day_ns: metadata::data_mgmt::NS_PER_DAY,
            keys: None,
        }
    }
}

/// The S3 handlers over shared stores (cheap to clone: every field is shared).
#[derive(Clone)]
pub struct S3Api {
    pub(crate) ec: Arc<EcStore>,
    pub(crate) meta: Arc<dyn MetadataStore>,
    pub(crate) cfg: ApiConfig,
    pub(crate) authz: Arc<authz::Authz>,
}

impl S3Api {
    pub fn new(ec: Arc<EcStore>, meta: Arc<dyn MetadataStore>, cfg: ApiConfig, authz: Arc<authz::Authz>) -> Self {
        Self { ec, meta, cfg, authz }
    }

    /// The bucket a request names: the record the access check read, or read now (the
    /// access check already allowed the request).
    pub(crate) async fn owned_bucket(&self, cx: &auth::Ctx, bucket: &str) -> S3Result<BucketInfo> {
        if let Some(b) = cx.bucket.as_ref().filter(|b| b.name == bucket) {
            return Ok(b.clone());
        }
        self.meta.get_bucket(bucket).await.map_err(error::meta)
    }

    /// The `x-amz-expiration` of a current version of `bucket` (none without a rule).
    pub(crate) fn expiration(&self, bucket: &BucketInfo, v: &ObjectVersion) -> Option<String> {
        bucket.lifecycle.as_ref()?;
        lifecycle::expiration_header(bucket, v, self.cfg.lifecycle_day_ns)
    }

    /// The version id a new write gets in `bucket`: a fresh id when versioning is enabled,
    /// else the `null` version.
    pub(crate) fn new_version_id(bucket: &BucketInfo) -> String {
        if bucket.versioning == metadata::Versioning::Enabled {
            metadata::clock::new_version_id()
        } else {
            metadata::NULL_VERSION.to_string()
        }
    }

    /// Frees the data of versions that metadata no longer references, once no reader that
    /// started before can still need it.
    pub(crate) fn free(&self, versions: Vec<ObjectVersion>) {
        for v in versions {
            if let ObjectData::Erasure(l) = v.data {
                self.ec.free_later(&v.bucket, &v.key, l);
            }
        }
    }

    /// Where a new version of `key` in `bucket` keeps its shards: under the bucket's id (any
    /// key S3 allows), or — while a track that stores metadata as per-key files is in use,
    /// or for a bucket made before bucket ids — in the key's folder, which only accepts
    /// MinIO's key rules. Checks the key accordingly.
    pub(crate) fn placement(&self, bucket: &BucketInfo, key: &str) -> S3Result<Option<String>> {
        let home = (!self.meta.keyed_data() && !bucket.id.is_empty()).then(|| bucket.id.clone());
        match &home {
            Some(_) => ecstore::paths::check_key(key).map_err(error::store)?,
            None => ecstore::paths::check_legacy_key(key).map_err(error::store)?,
        }
        Ok(home)
    }

    /// A new, empty layout for a version of `key`: under the bucket's id (`home`), or keyed,
    /// on the set the key lives on (on an adopted MinIO deployment of several pools, the pool
    /// that holds the key, or the one a new key goes to).
    pub(crate) async fn new_layout(
        &self,
        bucket: &str,
        key: &str,
        home: Option<&str>,
    ) -> S3Result<metadata::ErasureLayout> {
        if home.is_some() {
            return Ok(self.ec.new_layout(bucket, key, home));
        }
        let set = ecstore::legacy::pools::keyed_set(&self.ec, bucket, key).await.map_err(error::store)?;
        Ok(self.ec.layout_on(set, bucket, key, None, self.ec.minio_writes()))
    }

    /// After a failed metadata commit: removes the data written for it, unless the commit
    /// may have happened (then the data may be visible, and only garbage collection may
    /// remove it once nothing references it).
    pub(crate) async fn after_failed_commit(&self, obj: &ObjectVersion, e: &metadata::MetaError) {
        if matches!(e, metadata::MetaError::CommitUnknown(_)) {
            tracing::error!(bucket = %obj.bucket, key = %obj.key, "commit outcome unknown: the object's data is kept");
            return;
        }
        self.discard(&obj.bucket, &obj.key, &obj.data).await;
    }

    /// Queues a freshly committed object for heal if its write missed drives.
    pub(crate) fn heal_if(&self, degraded: bool, obj: &ObjectVersion) {
        if degraded && let ObjectData::Erasure(l) = &obj.data {
            self.ec.queue_heal(ecstore::HealTask {
                bucket: obj.bucket.clone(),
                key: obj.key.clone(),
                layout: l.clone(),
            });
        }
    }
}

#[async_trait::async_trait]
impl S3 for S3Api {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.op_create_bucket(req).await
    }
    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.op_delete_bucket(req).await
    }
    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.op_head_bucket(req).await
    }
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        self.op_list_buckets(req).await
    }
    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.op_get_bucket_location(req).await
    }
    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        self.op_put_bucket_policy(req).await
    }
    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        self.op_get_bucket_policy(req).await
    }
    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.op_delete_bucket_policy(req).await
    }
    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        self.op_get_bucket_policy_status(req).await
    }
    async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.op_get_bucket_acl(req).await
    }
    async fn put_bucket_acl(&self, req: S3Request<PutBucketAclInput>) -> S3Result<S3Response<PutBucketAclOutput>> {
        self.op_put_bucket_acl(req).await
    }
    async fn get_object_acl(&self, req: S3Request<GetObjectAclInput>) -> S3Result<S3Response<GetObjectAclOutput>> {
        self.op_get_object_acl(req).await
    }
    async fn put_object_acl(&self, req: S3Request<PutObjectAclInput>) -> S3Result<S3Response<PutObjectAclOutput>> {
        self.op_put_object_acl(req).await
    }
    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        self.op_get_bucket_ownership_controls(req).await
    }
    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        self.op_put_bucket_ownership_controls(req).await
    }
    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        self.op_delete_bucket_ownership_controls(req).await
    }
    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        self.op_get_public_access_block(req).await
    }
    async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        self.op_put_public_access_block(req).await
    }
    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        self.op_delete_public_access_block(req).await
    }
    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.op_get_bucket_versioning(req).await
    }
    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        self.op_put_bucket_versioning(req).await
    }
    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.op_put_object(req).await
    }
    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.op_get_object(req).await
    }
    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.op_head_object(req).await
    }
    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.op_delete_object(req).await
    }
    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.op_delete_objects(req).await
    }
    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.op_copy_object(req).await
    }
    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        self.op_list_objects(req).await
    }
    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.op_list_objects_v2(req).await
    }
    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        self.op_list_object_versions(req).await
    }
    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.op_create_multipart_upload(req).await
    }
    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.op_upload_part(req).await
    }
    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.op_upload_part_copy(req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.op_complete_multipart_upload(req).await
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.op_abort_multipart_upload(req).await
    }
    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.op_list_parts(req).await
    }
    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        self.op_put_object_tagging(req).await
    }
    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        self.op_get_object_tagging(req).await
    }
    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.op_delete_object_tagging(req).await
    }
    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        self.op_put_bucket_tagging(req).await
    }
    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        self.op_get_bucket_tagging(req).await
    }
    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.op_delete_bucket_tagging(req).await
    }
    async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        self.op_put_object_lock_configuration(req).await
    }
    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        self.op_get_object_lock_configuration(req).await
    }
    async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        self.op_put_object_retention(req).await
    }
    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        self.op_get_object_retention(req).await
    }
    async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        self.op_put_object_legal_hold(req).await
    }
    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        self.op_get_object_legal_hold(req).await
    }
    async fn put_bucket_cors(&self, req: S3Request<PutBucketCorsInput>) -> S3Result<S3Response<PutBucketCorsOutput>> {
        self.op_put_bucket_cors(req).await
    }
    async fn get_bucket_cors(&self, req: S3Request<GetBucketCorsInput>) -> S3Result<S3Response<GetBucketCorsOutput>> {
        self.op_get_bucket_cors(req).await
    }
    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.op_delete_bucket_cors(req).await
    }
    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        self.op_put_bucket_lifecycle_configuration(req).await
    }
    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        self.op_get_bucket_lifecycle_configuration(req).await
    }
    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.op_delete_bucket_lifecycle(req).await
    }
    async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        self.op_put_bucket_encryption(req).await
    }
    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        self.op_get_bucket_encryption(req).await
    }
    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        self.op_delete_bucket_encryption(req).await
    }
    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        self.op_get_object_attributes(req).await
    }
    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.op_list_multipart_uploads(req).await
    }
}
