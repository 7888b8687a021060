//! Raft (raft-rs) replication of the metadata `Kv`. Not built yet: a later issue adds the
//! log, apply, snapshots, transport and membership. This crate must only ever implement
//! `metadata::Kv`; it must not know about objects or S3.
