//! Internode transport: authenticated, multiplexed request/response and one-way messages
//! between the nodes of one cluster over TCP, on a port of its own, shared by every service
//! of the node through `Router` (Raft's messages, the shard RPC).
//!
//! Every connection starts with a mutual challenge-response proving both ends hold the
//! cluster secret (HMAC-SHA256 over both nonces and the cluster id; the secret never
//! crosses the wire); a peer with the wrong secret or another cluster id is refused and
//! logged. Calls are bounded in time, frames in size, queues in length; a lost connection
//! is re-made on demand, with backoff.
//!
//! This crate knows nothing of Raft, metadata or objects.

mod auth;
mod client;
mod frame;
mod router;
mod server;

pub use client::Peers;
pub use router::Router;
pub use server::{Handler, Server};

/// Who this node is and what proves it belongs to the cluster.
#[derive(Clone)]
pub struct Identity {
    pub cluster_id: String,
    pub node_id: u64,
    pub secret: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never appears in logs.
        f.debug_struct("Identity").field("cluster_id", &self.cluster_id).field("node_id", &self.node_id).finish()
    }
}

/// What a call can fail with.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum NetError {
    #[error("peer {0} unreachable: {1}")]
    Unreachable(String, String),
    #[error("peer {0} refused this node: {1}")]
    Refused(String, String),
    #[error("call to {0} timed out")]
    Timeout(String),
    #[error("connection to {0} lost")]
    Disconnected(String),
    #[error("peer answered with an error: {0}")]
    Remote(String),
    #[error("frame of {0} bytes is over the limit")]
    TooLarge(usize),
}

/// Largest frame accepted (a request or response body and its header).
pub const MAX_FRAME: usize = 32 << 20;
