//! The replication settings of a node, as the seed's `metadata.replication` YAML section
//! gives them (the server's config loader fills this from YAML, flags and env).
//! This module must never print the cluster secret (its `Debug` hides it).

use serde::{Deserialize, Serialize};

use crate::error::{ReplError, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    pub id: u64,
    /// `host:port` of the node's internode port.
    pub address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RaftTuning {
    pub election_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    /// Entries kept in the log before it is compacted behind a snapshot point.
    pub max_log_entries: u64,
}

impl Default for RaftTuning {
    fn default() -> Self {
        Self { election_timeout_ms: 1000, heartbeat_interval_ms: 100, max_log_entries: 10_000 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadConsistency {
    /// Every read sees every write acknowledged before it began (ReadIndex).
    #[default]
    Linearizable,
    /// Reads answer from this node's state machine (may lag the leader).
    Eventual,
}

#[derive(Clone)]
pub struct ReplicationConfig {
    pub node_id: u64,
    /// Every voting member of a new group (the same list on every node).
    pub nodes: Vec<NodeAddr>,
    /// Where the internode port listens (default: this node's address in `nodes`).
    pub listen: Option<String>,
    pub raft: RaftTuning,
    pub read_consistency: ReadConsistency,
    pub cluster_id: String,
    pub secret: String,
    /// Join an existing group (added with `add-node`) instead of starting one: the node
    /// waits for the leader to send it a snapshot.
    pub join: bool,
    /// The sizes of this node's state-machine store (its KV caches).
    pub kv: metadata::KvOptions,
}

impl std::fmt::Debug for ReplicationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationConfig")
            .field("node_id", &self.node_id)
            .field("nodes", &self.nodes)
            .field("listen", &self.listen)
            .field("raft", &self.raft)
            .field("read_consistency", &self.read_consistency)
            .field("cluster_id", &self.cluster_id)
            .field("join", &self.join)
            .field("kv", &self.kv)
            .finish_non_exhaustive()
    }
}

impl ReplicationConfig {
    /// Checks the settings a group cannot run with.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ReplError::Config(m));
        if self.node_id == 0 {
            return bad("node_id must be above 0".into());
        }
        if self.secret.len() < 8 {
            return bad("a cluster secret of at least 8 characters is required (RUSTFS_CLUSTER_SECRET)".into());
        }
        let mut ids: Vec<u64> = self.nodes.iter().map(|n| n.id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != self.nodes.len() || ids.contains(&0) {
            return bad("node ids must be unique and above 0".into());
        }
        if !ids.contains(&self.node_id) && self.listen.is_none() {
            return bad(format!("node {} is not in the node list: give it a listen address to join", self.node_id));
        }
        let t = &self.raft;
        if t.heartbeat_interval_ms == 0 || t.election_timeout_ms < 3 * t.heartbeat_interval_ms {
            return bad("raft.election_timeout_ms must be at least 3 heartbeat intervals".into());
        }
        if t.max_log_entries < 16 {
            return bad("raft.max_log_entries must be at least 16".into());
        }
        Ok(())
    }

    pub fn address_of(&self, id: u64) -> Option<&str> {
        self.nodes.iter().find(|n| n.id == id).map(|n| n.address.as_str())
    }

    /// Ticks of one heartbeat interval before an election starts.
    pub fn election_ticks(&self) -> usize {
        (self.raft.election_timeout_ms / self.raft.heartbeat_interval_ms.max(1)).max(3) as usize
    }
}
