//! The small `Kv` contract the KV track is written against: point reads, bounded range
//! scans and atomic conditional write batches. `LocalKv` (surrealkv) implements it here;
//! the replication crate implements it over Raft. This module must never know about
//! objects or buckets.

use async_trait::async_trait;

use crate::error::Result;

/// A condition checked atomically with the writes of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The key currently holds exactly this value (`None` = the key is absent).
    Equals(Vec<u8>, Option<Vec<u8>>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// Writes applied all together or not at all, after every condition held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub conditions: Vec<Condition>,
    pub ops: Vec<Op>,
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

#[async_trait]
pub trait Kv: Send + Sync + 'static {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Keys in `[start, end)` in ascending order, at most `limit` of them.
    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Applies the batch atomically; durable when this returns `Applied`.
    async fn write(&self, batch: WriteBatch) -> Result<WriteOutcome>;
}
