//! Raft (raft-rs) replication of the metadata `Kv`: a group of 3 or 5 nodes, each keeping
//! the state machine in its own surrealkv (`metadata::LocalKv`) with the applied index in
//! the same transaction as the entries it applies. `RaftKv` is the same `Kv` contract as
//! `LocalKv`, replicated: a write is proposed as one log entry, checked and applied on
//! every node, and its proposer gets its outcome.
//!
//! This crate must only ever implement `metadata::Kv`; it must not know about objects or S3.

pub mod config;
pub mod error;
pub mod log_store;
mod logger;
mod node;
pub mod raft_kv;
pub mod snapshot;
mod state;

pub use config::{NodeAddr, RaftTuning, ReadConsistency, ReplicationConfig};
pub use error::{ReplError, Result};
pub use raft_kv::RaftKv;
