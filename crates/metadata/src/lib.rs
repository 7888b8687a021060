//! Object metadata: the model, the `MetadataStore` contract both tracks implement, and the
//! KV track (a documented key schema over the small `Kv` trait, with `LocalKv` on surrealkv).
//!
//! This crate depends on no other crate of the project and knows nothing of HTTP, S3 wire
//! types or object data.

pub mod background;
pub mod bucket_settings;
pub mod clock;
pub mod data_mgmt;
pub mod dualtrack;
pub mod error;
mod hot_cache;
pub mod iam;
pub mod kv;
mod kv_listing;
pub mod kv_store;
pub mod kv_suite;
pub mod local_kv;
pub mod metrics;
pub mod model;
pub mod schema;
pub mod state_machine;
pub mod store;
pub mod timed;

pub use data_mgmt::{
    BucketEncryption, CorsRule, Encryption, LifecycleRule, Lock, ObjectLockConfig, Retention, RetentionMode, SseKind,
    Tags,
};
pub use error::{MetaError, Result};
pub use kv::{Condition, GroupStatus, Kv, KvLifecycle, Member, Op, WriteBatch, WriteOutcome};
pub use kv_store::KvStore;
pub use local_kv::{KvOptions, LocalKv};
pub use model::*;
pub use store::*;
pub use timed::Timed;
