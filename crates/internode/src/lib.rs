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
    /// Nothing listens on the peer's internode port (its process is not running): no call
    /// can have reached it.
    #[error("peer {0} is not running (connection refused)")]
    NotRunning(String),
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

/// How long sent data may stay unacknowledged before a connection is given up (a peer cut
/// off by the network sends no reset: without this its connection would look alive for
/// minutes and keep retransmitting after the network heals). Idle connections are probed.
const DEAD_PEER: std::time::Duration = std::time::Duration::from_secs(5);

/// Sets up an internode socket: no Nagle delay, and a dead peer detected within `DEAD_PEER`
/// whether the connection is busy (TCP_USER_TIMEOUT) or idle (keepalive probes).
fn tune(sock: &tokio::net::TcpStream) {
    let _ = sock.set_nodelay(true);
    let s = socket2::SockRef::from(sock);
    let ka = socket2::TcpKeepalive::new()
        .with_time(std::time::Duration::from_secs(2))
        .with_interval(std::time::Duration::from_secs(1));
    let _ = s.set_tcp_keepalive(&ka);
    let _ = s.set_tcp_user_timeout(Some(DEAD_PEER));
}
