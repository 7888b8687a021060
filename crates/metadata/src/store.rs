//! The `MetadataStore` contract that both tracks implement (the KV track here, the xl.meta
//! track in ecstore). The server and the migration code use only this contract.
//! This module defines types and the trait; it must never hold an implementation.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::{BucketInfo, MultipartUpload, ObjectVersion, UploadedPart, VersionUpdate};

/// A precondition on the current version of a key, checked atomically with a put.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PutCondition {
    #[default]
    None,
    /// `If-None-Match: *`: fail if a (non-delete-marker) current version exists.
    IfNoneMatchAny,
    /// `If-Match: etag`: fail unless the current version has this ETag.
    IfMatch(String),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// List keys strictly after this one (marker / start-after / continuation token).
    pub after: Option<String>,
    pub max_keys: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListItem<T> {
    Object(T),
    CommonPrefix(String),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListPage<T> {
    /// Objects and common prefixes, in key order.
    pub items: Vec<ListItem<T>>,
    pub truncated: bool,
}

impl<T> ListPage<T> {
    pub fn objects(&self) -> impl Iterator<Item = &T> {
        self.items.iter().filter_map(|i| match i {
            ListItem::Object(o) => Some(o),
            ListItem::CommonPrefix(_) => None,
        })
    }
    pub fn prefixes(&self) -> impl Iterator<Item = &str> {
        self.items.iter().filter_map(|i| match i {
            ListItem::Object(_) => None,
            ListItem::CommonPrefix(p) => Some(p.as_str()),
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VersionQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub version_id_marker: Option<String>,
    pub max_keys: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UploadQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub upload_id_marker: Option<String>,
    pub max_uploads: usize,
}

/// What a completed multipart upload left behind for the caller to free.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CompleteOutcome {
    /// Versions the new object replaced (their data is garbage now).
    pub replaced: Vec<ObjectVersion>,
    /// Uploaded parts the completion did not use.
    pub unused_parts: Vec<UploadedPart>,
}

/// Checks the part records a completion was built from (`used`) against the current ones
/// (`stored`) and returns the stored parts the completion does not use.
pub fn check_used_parts(stored: &[UploadedPart], used: &[UploadedPart]) -> Result<Vec<UploadedPart>> {
    for u in used {
        match stored.iter().find(|s| s.number == u.number) {
            Some(s) if s.file == u.file && s.etag == u.etag && s.size == u.size => {}
            _ => return Err(crate::error::MetaError::PartReplaced(u.number)),
        }
    }
    Ok(stored.iter().filter(|s| !used.iter().any(|u| u.number == s.number)).cloned().collect())
}

#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    async fn create_bucket(&self, info: BucketInfo) -> Result<()>;
    async fn get_bucket(&self, name: &str) -> Result<BucketInfo>;
    async fn update_bucket(&self, info: BucketInfo) -> Result<()>;
    /// Deletes an empty bucket (no versions, no delete markers, no uploads).
    async fn delete_bucket(&self, name: &str) -> Result<()>;
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>>;

    /// The current version (`version_id = None`, may be a delete marker) or a given one.
    async fn get_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectVersion>;
    /// Commits `obj` as the newest version of its key. A `null` version replaces the existing
    /// `null` version. Returns the versions it replaced, whose data the caller must free.
    async fn put_object(&self, obj: ObjectVersion, cond: PutCondition) -> Result<Vec<ObjectVersion>>;
    /// Removes one version; the next newest becomes current. Returns the removed version.
    async fn delete_version(&self, bucket: &str, key: &str, version_id: &str) -> Result<Option<ObjectVersion>>;
    /// Changes attributes of one existing version (`version_id`; `null` for the null
    /// version) that neither its data nor its place among the key's versions depends on (its
    /// ACL); returns the version as changed. `NoSuchVersion` when it is not there.
    async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        change: &VersionUpdate,
    ) -> Result<ObjectVersion>;
    /// Current versions that are not delete markers. Listed versions carry no inline bytes
    /// (their `data` is `ObjectData::None` where the bytes are inline).
    async fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage<ObjectVersion>>;
    /// Every version and delete marker, by key, newest first within a key.
    async fn list_versions(&self, bucket: &str, q: &VersionQuery) -> Result<ListPage<ObjectVersion>>;

    async fn create_upload(&self, upload: MultipartUpload) -> Result<()>;
    async fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<MultipartUpload>;
    /// Records a part; returns the part it replaced (same number), whose data is garbage.
    async fn put_part(&self, upload: &MultipartUpload, part: UploadedPart) -> Result<Option<UploadedPart>>;
    async fn list_parts(&self, upload_id: &str, after: u32, max: usize) -> Result<Vec<UploadedPart>>;
    async fn list_uploads(&self, bucket: &str, q: &UploadQuery) -> Result<ListPage<MultipartUpload>>;
    /// Atomically removes the upload and its part records and commits `obj`. `used` are the
    /// part records `obj`'s layout was built from: if any of them is no longer the current
    /// record of its number (uploaded again meanwhile), nothing is committed and the error
    /// is `PartReplaced`.
    async fn complete_upload(
        &self,
        upload: &MultipartUpload,
        obj: ObjectVersion,
        used: &[UploadedPart],
        cond: PutCondition,
    ) -> Result<CompleteOutcome>;
    /// Removes the upload and returns its parts, whose data the caller must free.
    async fn abort_upload(&self, upload: &MultipartUpload) -> Result<Vec<UploadedPart>>;

    /// Every version of one key (delete markers included) with inline bytes, newest first;
    /// empty when the key has none. Used to compare and copy keys between tracks.
    async fn key_versions(&self, bucket: &str, key: &str) -> Result<Vec<ObjectVersion>>;
    /// Makes `bucket/key` hold exactly `versions` (newest first; empty removes the key),
    /// keeping each version's fields as given. Frees no object data: the other track may
    /// still reference it.
    async fn replace_key(&self, bucket: &str, key: &str, versions: Vec<ObjectVersion>) -> Result<()>;
    /// Keys holding at least one version or delete marker, strictly after `after`, in key
    /// order, at most `limit`. Reads no version metadata where the track can avoid it.
    async fn keys_after(&self, bucket: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>>;

    /// Finishes what a crash interrupted (a bucket delete left marked): call at start-up,
    /// before serving. Returns the names of the buckets it repaired.
    async fn recover(&self) -> Result<Vec<String>>;

    /// Ids of every bucket, including one a delete is checking right now (garbage
    /// collection must treat its data as live).
    async fn all_bucket_ids(&self) -> Result<Vec<String>> {
        Ok(self.list_buckets().await?.into_iter().map(|b| b.id).filter(|id| !id.is_empty()).collect())
    }

    /// Whether new object data must use the keyed layout (`<bucket>/<key>/<data dir>`),
    /// because a track that stores metadata as per-key files must be able to find it; keys
    /// are then limited to what that layout allows. `false`: data lives under bucket ids.
    fn keyed_data(&self) -> bool {
        false
    }
}
