//! DualTrack: moving a deployment's metadata from the legacy track (xl.meta) to the KV
//! while clients keep reading and writing.
//!
//! - `state`: phases, ratio, consistency level, transition rules, the persisted record;
//! - `shadow`: the bounded queue of keys whose shadow track may lag (durable markers);
//! - `router`: `DualTrack`, the `MetadataStore` that routes by the state;
//! - `gate`: the gate every DualTrack operation passes (one coordinating node per cluster);
//! - `forward`: a cluster node's `MetadataStore` that runs each call on the coordinator;
//! - `compare`: comparing a key across the tracks (the validator's classes);
//! - `migrator`: the resumable background copy of xl.meta into the KV;
//! - `validator`: random-sample comparison of the tracks, with repairs;
//! - `jobs`: cleanup of migrated xl.meta files and rebuild-kv, one at a time;
//! - `metrics`: the migration's Prometheus metrics, read at scrape time;
//! - `workers`: the shadow-copy workers and the state watch, run by `background::Runner`.

pub mod compare;
pub mod forward;
pub mod gate;
pub mod jobs;
pub mod metrics;
pub mod migrator;
pub mod router;
pub mod shadow;
pub mod state;
pub mod validator;
pub mod workers;

pub use compare::Class;
pub use router::{DualOptions, DualTrack, KeyOutcome, PhaseError, Repair, Track};
pub use state::{Level, MigrationState, Phase, TransitionError, canary_fraction};
