//! The small `Kv` contract the KV track is written against: point reads, bounded range
//! scans and atomic conditional write batches, and `KvLifecycle`, the handle a server holds
//! on the backend behind it. `LocalKv` (surrealkv) implements both here; the replication
//! crate implements them over Raft. A batch has a versioned encoding (the form it takes in
//! a replicated log). This module must never know about objects or buckets.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{MetaError, Result};

/// A condition checked atomically with the writes of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    /// The key currently holds exactly this value (`None` = the key is absent).
    Equals(#[serde(with = "serde_bytes")] Vec<u8>, #[serde(with = "serde_bytes")] Option<Vec<u8>>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Put(#[serde(with = "serde_bytes")] Vec<u8>, #[serde(with = "serde_bytes")] Vec<u8>),
    Delete(#[serde(with = "serde_bytes")] Vec<u8>),
}

impl Op {
    /// The key the operation writes.
    pub fn key(&self) -> &[u8] {
        match self {
            Op::Put(k, _) | Op::Delete(k) => k,
        }
    }
}

/// Writes applied all together or not at all, after every condition held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBatch {
    pub conditions: Vec<Condition>,
    pub ops: Vec<Op>,
}

/// Format byte of an encoded batch (version 1: MessagePack of `WriteBatch`).
pub const BATCH_FORMAT_V1: u8 = 1;

impl WriteBatch {
    /// The batch as bytes, as a replicated log stores it: `BATCH_FORMAT_V1` then MessagePack.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![BATCH_FORMAT_V1];
        // Serializing plain data into a Vec cannot fail.
        rmp_serde::encode::write(&mut out, self).unwrap_or_default();
        out
    }

    /// A batch from its encoding; an unknown format or garbage is an error, never a panic.
    pub fn decode(raw: &[u8]) -> Result<Self> {
        match raw.first() {
            Some(&BATCH_FORMAT_V1) => rmp_serde::from_slice(&raw[1..])
                .map_err(|e| MetaError::Corrupt { key: "<write batch>".into(), reason: e.to_string() }),
            Some(&v) => Err(MetaError::UnsupportedFormat(v)),
            None => Err(MetaError::Corrupt { key: "<write batch>".into(), reason: "empty".into() }),
        }
    }
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn require(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) -> &mut Self {
        self.conditions.push(Condition::Equals(key, value));
        self
    }
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> &mut Self {
        self.ops.push(Op::Put(key, value));
        self
    }
    pub fn delete(&mut self, key: Vec<u8>) -> &mut Self {
        self.ops.push(Op::Delete(key));
        self
    }
}

/// Outcome of a conditional batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Applied,
    /// A condition did not hold; nothing was written.
    ConditionFailed,
}

/// One member of the group behind a `Kv`, as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: u64,
    /// `leader`, `follower`, `candidate`, `learner` (a single node: `leader`).
    pub role: String,
    pub match_index: u64,
    /// Reachable and taking entries.
    pub healthy: bool,
    /// How far behind the leader it is, in milliseconds (0 when up to date).
    pub lag_ms: u64,
    /// How many entries it lacks of the leader's log (as the leader knows it; 0 when this
    /// node is not the leader and cannot tell).
    #[serde(default)]
    pub lag_entries: u64,
    /// Milliseconds since this node last heard from it (`None`: never, or unknown here).
    #[serde(default)]
    pub last_contact_ms: Option<u64>,
}

/// The replication group as this node sees it (a single node is a group of one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStatus {
    pub node_id: u64,
    /// 0 while no leader is known.
    pub leader_id: u64,
    pub term: u64,
    pub committed_index: u64,
    pub applied_index: u64,
    pub members: Vec<Member>,
}

/// The server's handle on the backend behind its `Kv`: health, status and shutdown.
#[async_trait]
pub trait KvLifecycle: Send + Sync + 'static {
    /// Why the backend cannot take writes now, if it cannot.
    fn not_ready(&self) -> Option<String>;
    /// The group as this node sees it.
    fn status(&self) -> GroupStatus;
    /// This backend's own operation metrics (latency, counts).
    fn metrics(&self) -> std::sync::Arc<crate::metrics::KvMetrics>;
    /// Makes everything acknowledged durable and stops; later calls fail.
    async fn close(&self) -> Result<()>;

    /// Adds node `id` (internode address `address`) to the group: it joins as a learner and
    /// is promoted to a voter once it caught up. Returns once the change is applied here.
    async fn add_member(&self, id: u64, address: &str) -> Result<()> {
        let _ = (id, address);
        Err(MetaError::Backend("a local metadata store has no members to add".into()))
    }

    /// Removes node `id` from the group.
    async fn remove_member(&self, id: u64) -> Result<()> {
        let _ = id;
        Err(MetaError::Backend("a local metadata store has no members to remove".into()))
    }

    /// Asks the leader to hand leadership to node `to`.
    async fn transfer_leadership(&self, to: u64) -> Result<()> {
        let _ = to;
        Err(MetaError::Backend("a local metadata store has no leadership to transfer".into()))
    }

    /// Compacts the log behind a snapshot point now; returns that point's index.
    async fn snapshot_now(&self) -> Result<u64> {
        Err(MetaError::Backend("a local metadata store keeps no replication log".into()))
    }
}

#[async_trait]
pub trait Kv: Send + Sync + 'static {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Keys in `[start, end)` in ascending order, at most `limit` of them.
    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Applies the batch atomically; durable when this returns `Applied`.
    async fn write(&self, batch: WriteBatch) -> Result<WriteOutcome>;

    /// Whether `planning_get`/`planning_scan` may answer from an older state than `get`/`scan`
    /// (a follower's local copy under linearizable reads).
    fn planning_reads_may_be_stale(&self) -> bool {
        false
    }

    /// A read that plans a conditional write: it may be stale (never ahead of what was
    /// committed), so a caller may use it only where the batch's conditions catch the
    /// staleness, and must confirm with `get` any answer it gives from it alone.
    async fn planning_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(key).await
    }

    /// `scan` under the rules of `planning_get`.
    async fn planning_scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.scan(start, end, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_and_refuse_garbage() {
        let mut b = WriteBatch::new();
        b.require(b"a".to_vec(), None).require(vec![0, 255], Some(vec![1, 2])).put(b"k".to_vec(), vec![0; 300]);
        b.delete(b"gone".to_vec());
        let raw = b.encode();
        assert_eq!(raw[0], BATCH_FORMAT_V1);
        assert_eq!(WriteBatch::decode(&raw).unwrap(), b);
        assert_eq!(WriteBatch::decode(&WriteBatch::new().encode()).unwrap(), WriteBatch::new());
        assert!(matches!(WriteBatch::decode(&[7, 0]), Err(MetaError::UnsupportedFormat(7))));
        assert!(WriteBatch::decode(&[BATCH_FORMAT_V1, 0xc1]).is_err());
        assert!(WriteBatch::decode(&[]).is_err());
    }
}
