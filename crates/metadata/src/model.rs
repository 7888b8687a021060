//! The metadata model shared by both tracks: buckets, object versions (with their storage
//! location: inline bytes or an erasure layout), multipart uploads and parts.
//! Plain data only: this module must never do I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data_mgmt::{BucketEncryption, CorsRule, Encryption, LifecycleRule, ObjectLockConfig, Retention, Tags};

/// Standard headers kept with an object version (lower-case header names), in
/// `ObjectVersion::headers`.
pub const STD_HEADERS: [&str; 5] =
    ["cache-control", "content-disposition", "content-encoding", "content-language", "expires"];

/// The version id S3 shows for objects written while versioning was off or suspended.
pub const NULL_VERSION: &str = "null";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Versioning {
    #[default]
    Unversioned,
    Enabled,
    Suspended,
}

/// Who owns the objects of a bucket, and whether ACLs count (S3's object ownership).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ownership {
    /// ACLs are disabled: the bucket owner owns every object (AWS's default for new buckets).
    BucketOwnerEnforced,
    /// The bucket owner owns objects written with `bucket-owner-full-control`.
    BucketOwnerPreferred,
    /// The writer owns what it writes.
    ObjectWriter,
}

impl Ownership {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BucketOwnerEnforced => "BucketOwnerEnforced",
            Self::BucketOwnerPreferred => "BucketOwnerPreferred",
            Self::ObjectWriter => "ObjectWriter",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "BucketOwnerEnforced" => Self::BucketOwnerEnforced,
            "BucketOwnerPreferred" => Self::BucketOwnerPreferred,
            "ObjectWriter" => Self::ObjectWriter,
            _ => return None,
        })
    }
}

/// A bucket's public access block (S3's four settings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketInfo {
    pub name: String,
    /// A UUID given when the bucket is created: the KV layout keeps the bucket's shards
    /// under it, so a bucket deleted and re-created under the same name never sees the old
    /// one's data. Empty for buckets created before ids existed (start-up recovery gives
    /// them one).
    #[serde(default)]
    pub id: String,
    /// Access key of the owning user.
    pub owner: String,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_ns: i64,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub versioning: Versioning,
    /// Set while a delete is checking that the bucket is empty; such a bucket takes no writes.
    #[serde(default)]
    pub deleting: bool,
    /// The bucket policy, as its owner put it (JSON text; parsed and checked by `access`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<std::sync::Arc<str>>,
    /// The bucket's ACL in `access`'s stored form; `None`: its owner's full control only.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    pub acl: Option<Vec<u8>>,
    /// Object ownership; `None` for buckets made before it existed (the writer owns, as AWS
    /// kept buckets of that age).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<Ownership>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_access_block: Option<PublicAccessBlock>,
    /// The bucket's tag set (`None`: never set, S3's NoSuchTagSet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// The bucket's CORS rules (`None`: no configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Vec<CorsRule>>,
    /// `Some` for a bucket created with object lock enabled (its versioning stays enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLockConfig>,
    /// The bucket's lifecycle rules (`None`: no configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Vec<LifecycleRule>>,
    /// The bucket's default encryption (`None`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<BucketEncryption>,
}

impl BucketInfo {
    /// Whether ACLs are disabled (`BucketOwnerEnforced`).
    pub fn ownership_enforced(&self) -> bool {
        self.ownership == Some(Ownership::BucketOwnerEnforced)
    }
}

/// One part of an erasure-coded object (a single PUT has one part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    pub number: u32,
    /// Plain (decoded) size of the part in bytes.
    pub size: u64,
    /// The part's ETag: hex MD5 of its bytes, without quotes.
    pub etag: String,
    /// Shard file name inside the data dir; `None` means `part.<number>`.
    #[serde(default)]
    pub file: Option<String>,
}

impl PartInfo {
    pub fn file_name(&self) -> String {
        match &self.file {
            Some(f) => f.clone(),
            None => format!("part.{}", self.number),
        }
    }
}

/// Where and how an object's bytes are erasure-coded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureLayout {
    /// Erasure algorithm id (see ecstore); distinguishes our GF(2^16) shards from MinIO's.
    pub algorithm: String,
    pub data: u8,
    pub parity: u8,
    pub block_size: u32,
    /// Index of the erasure set the object lives on.
    pub set: u32,
    /// `distribution[i]` = drive (within the set) that holds shard `i`.
    pub distribution: Vec<u8>,
    /// Name of the directory holding `part.N` files on each drive (a UUID; `legacy` for a
    /// MinIO v1 object MinIO converted; empty for one MinIO keeps in `xl.json`, whose part
    /// files are in the object's folder itself: see ecstore's `xlmeta::v1`).
    pub data_dir: String,
    /// Where the shards live: under this bucket id, never derived from the key (the KV
    /// layout), or `None` for the keyed layout `<bucket>/<key>/<data dir>` of the legacy
    /// track (see ecstore's `paths`).
    #[serde(default)]
    pub bucket_id: Option<String>,
    pub parts: Vec<PartInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectData {
    /// No bytes (delete markers).
    None,
    /// Small objects: bytes kept in the metadata value itself.
    Inline(#[serde(with = "serde_bytes")] Vec<u8>),
    Erasure(ErasureLayout),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVersion {
    pub bucket: String,
    pub key: String,
    /// `NULL_VERSION` for unversioned writes.
    pub version_id: String,
    pub delete_marker: bool,
    pub size: u64,
    /// Hex ETag without quotes (`<md5>` or `<md5-of-md5s>-<parts>`).
    pub etag: String,
    /// Modification time, nanoseconds since the Unix epoch; also orders versions.
    pub mtime_ns: i64,
    #[serde(default)]
    pub content_type: Option<String>,
    /// Standard headers: cache-control, content-disposition, content-encoding,
    /// content-language, expires (lower-case names).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// User metadata (`x-amz-meta-*` without the prefix, lower-case).
    #[serde(default)]
    pub user_meta: BTreeMap<String, String>,
    /// Checksums by algorithm name (`CRC32`, `SHA256`, ...), base64 as S3 shows them.
    #[serde(default)]
    pub checksums: BTreeMap<String, String>,
    pub data: ObjectData,
    /// The version's ACL in `access`'s stored form (its owner and grants); `None`: owned
    /// by the bucket owner, private.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    pub acl: Option<Vec<u8>>,
    /// The version's tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: Tags,
    /// Object lock retention (`None`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Object lock legal hold.
    #[serde(default, skip_serializing_if = "is_false")]
    pub legal_hold: bool,
    /// Server-side encryption of the data (`None`: stored as sent). Sizes of `data`'s parts
    /// are then ciphertext sizes; `size` stays the object's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<Encryption>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A change to one version's attributes that neither its data nor its place among the
/// key's versions depends on (see `MetadataStore::update_version`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionUpdate {
    /// A new ACL (`Some(None)`: back to none).
    #[serde(default)]
    pub acl: Option<Option<Vec<u8>>>,
    /// A new tag set (empty: no tags).
    #[serde(default)]
    pub tags: Option<Tags>,
    /// A new retention (`Some(None)`: removed).
    #[serde(default)]
    pub retention: Option<Option<Retention>>,
    /// A new legal hold status.
    #[serde(default)]
    pub legal_hold: Option<bool>,
}

impl VersionUpdate {
    pub fn apply(&self, v: &mut ObjectVersion) {
        if let Some(acl) = &self.acl {
            v.acl = acl.clone();
        }
        if let Some(t) = &self.tags {
            v.tags = t.clone();
        }
        if let Some(r) = self.retention {
            v.retention = r;
        }
        if let Some(h) = self.legal_hold {
            v.legal_hold = h;
        }
    }
}

impl ObjectVersion {
    pub fn is_null_version(&self) -> bool {
        self.version_id == NULL_VERSION
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipartUpload {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub owner: String,
    pub initiated_ns: i64,
    /// Erasure set and data directory every part is written into.
    pub set: u32,
    pub data_dir: String,
    /// The bucket id the data dir lives under (KV layout), or `None` for the keyed layout.
    #[serde(default)]
    pub bucket_id: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub user_meta: BTreeMap<String, String>,
    /// Checksum algorithm requested at creation, if any.
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
    /// The erasure algorithm of its parts when not this server's own (`minio-1`: created
    /// on an adopted MinIO deployment before its migration completed), fixed at creation
    /// so that every part, and the object, keep one format.
    #[serde(default)]
    pub algorithm: Option<String>,
    /// The ACL the completed object gets (`access`'s stored form), as the upload was created.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    pub acl: Option<Vec<u8>>,
    /// Tags, retention and legal hold the completed object gets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: Tags,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub legal_hold: bool,
    /// The encryption every part (and the object) gets, fixed at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<Encryption>,
}

/// An uploaded part of a multipart upload, as recorded when UploadPart succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedPart {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    pub mtime_ns: i64,
    /// The file name of this upload attempt of the part inside the upload's data dir
    /// (re-uploading a part number writes a new file, so a racing reader never mixes them).
    pub file: String,
    #[serde(default)]
    pub checksums: BTreeMap<String, String>,
}
