//! DualTrack: moving a deployment's metadata from the legacy track (xl.meta) to the KV.
//! This step holds the migration *state* (phases, ratio, consistency level, transition
//! rules, the stable-hash canary rule and its persisted record); the routing store,
//! migrator and validator build on it.

pub mod state;

pub use state::{Level, MigrationState, Phase, TransitionError, canary_fraction};
