//! Errors of the replication crate; mapped to `MetaError` where they leave it through `Kv`.

use metadata::MetaError;

#[derive(Debug, thiserror::Error)]
pub enum ReplError {
    #[error("raft log storage: {0}")]
    Storage(String),
    #[error("raft: {0}")]
    Raft(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("the metadata group has no leader")]
    NoLeader,
    #[error("replication stopped")]
    Stopped,
    #[error(transparent)]
    Meta(#[from] MetaError),
}

pub type Result<T> = std::result::Result<T, ReplError>;

impl From<ReplError> for MetaError {
    fn from(e: ReplError) -> Self {
        match e {
            ReplError::Meta(m) => m,
            ReplError::NoLeader => MetaError::NoLeader("no leader was elected in time".into()),
            ReplError::Stopped => MetaError::Unavailable("metadata replication stopped".into()),
            other => MetaError::Kv(other.to_string()),
        }
    }
}
