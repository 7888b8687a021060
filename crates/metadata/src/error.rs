//! Typed errors of the metadata layer. Mapped to S3 errors only at the s3api edge;
//! this module must never know about HTTP or S3 error codes.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum MetaError {
    #[error("bucket not found: {0}")]
    NoSuchBucket(String),
    #[error("bucket already exists: {0}")]
    BucketExists(String),
    #[error("bucket not empty: {0}")]
    BucketNotEmpty(String),
    #[error("object not found: {bucket}/{key}")]
    NoSuchKey { bucket: String, key: String },
    #[error("version not found: {bucket}/{key}?versionId={version_id}")]
    NoSuchVersion { bucket: String, key: String, version_id: String },
    #[error("multipart upload not found: {0}")]
    NoSuchUpload(String),
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("concurrent update kept conflicting; gave up after {0} attempts")]
    Conflict(u32),
    #[error("corrupt metadata value at {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("unsupported metadata format version {0}")]
    UnsupportedFormat(u8),
    #[error("kv engine error: {0}")]
    Kv(String),
    /// The track cannot reach enough of its storage (e.g. drive quorum lost); retry later.
    #[error("metadata unavailable: {0}")]
    Unavailable(String),
    /// The track's storage failed otherwise.
    #[error("metadata storage error: {0}")]
    Backend(String),
}

pub type Result<T, E = MetaError> = std::result::Result<T, E>;
