//! Typed errors of the metadata layer. Mapped to S3 errors only at the s3api edge;
//! this module must never know about HTTP or S3 error codes.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Serializable: a cluster's DualTrack coordinator sends it back to the node that forwarded
/// the call (see `dualtrack::forward`).
#[derive(Debug, Error, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// A replicated metadata group has no leader now (an election is under way, or a
    /// majority is unreachable); the request waited its bound. Retry shortly.
    #[error("metadata group has no leader: {0}")]
    NoLeader(String),
    /// The key cannot be stored on this track (the legacy track keeps MinIO's key rules).
    #[error("object name not allowed on this metadata track: {0}")]
    InvalidKey(String),
    /// The legacy track: a prefix of the key is an object (MinIO's XMinioParentIsObject).
    #[error("a prefix of {0} is already an object")]
    ParentIsObject(String),
    /// A multipart part was uploaded again while the upload was being completed: the
    /// completion was built from records that are no longer current.
    #[error("part {0} was replaced while the upload was being completed")]
    PartReplaced(u32),
    /// A write whose outcome is unknown (its commit was applied but could not be made
    /// durable, or a replicated group did not confirm it in time): it may be or become
    /// visible, so nothing it references may be freed.
    #[error("metadata commit outcome unknown: {0}")]
    CommitUnknown(String),
    /// The change needs something this server does not do with the data as it is stored
    /// (e.g. keeping a MinIO `xl.json` object as an older version); nothing was changed.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The track's storage failed otherwise.
    #[error("metadata storage error: {0}")]
    Backend(String),
    /// This node does not coordinate the cluster's DualTrack now (another node does, or the
    /// coordination is moving): nothing was done; ask the coordinator.
    #[error("this node is not the DualTrack coordinator: {0}")]
    NotCoordinator(String),
    /// The store's format record (`schema::STORE_FORMAT`) says a newer build wrote it: this
    /// build would misread it, so it reads none of it.
    #[error(
        "the metadata store is in format {found}, newer than this build reads ({supported}): run the build that wrote it, or a newer one"
    )]
    NewerStore { found: u8, supported: u8 },
    /// A raise of a replicated store's format was refused (a member whose build may not read
    /// the new format): nothing was changed.
    #[error("the store format was not raised: {0}")]
    FormatRaiseRefused(String),
}

pub type Result<T, E = MetaError> = std::result::Result<T, E>;
