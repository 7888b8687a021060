//! Typed errors of the erasure-coded store. Mapped to S3 errors only at the s3api edge;
//! this module must never know about HTTP.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("only {online} of {needed} drives needed for a write are online in set {set}")]
    WriteQuorum { set: usize, online: usize, needed: usize },
    #[error("object {0} cannot be read: fewer than {1} healthy shards")]
    ReadQuorum(String, usize),
    #[error("drive configuration: {0}")]
    Format(String),
    #[error("invalid object name for the drive layout: {0}")]
    InvalidName(String),
    #[error("request body: {0}")]
    Body(String),
    #[error("object is larger than {0} bytes")]
    TooLarge(u64),
    #[error("invalid range")]
    InvalidRange,
    #[error("erasure coding: {0}")]
    Erasure(String),
    #[error("I/O on {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("store is shutting down")]
    Closed,
    /// The object exists but its stored form is one this server cannot serve (MinIO
    /// compressed or encrypted it): the reason, for the client.
    #[error("{0}")]
    Unsupported(String),
}

impl StoreError {
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Self::Io { path: path.as_ref().display().to_string(), source }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
