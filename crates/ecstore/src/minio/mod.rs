//! MinIO's object data format, as MinIO (and MinIO-format RustFS) writes it on the drives of
//! an erasure set: each part cut into blocks of `erasure_block_size` (1 MiB), each block
//! coded with klauspost/reedsolomon's GF(2^8) Vandermonde-derived systematic code over
//! `erasure_data + erasure_parity` shards (`codec`), each shard block framed in the part
//! file by its HighwayHash-256 under MinIO's fixed key (`bitrot`), the shards placed on the
//! set's drives by the version's `erasure_distribution` (`layout`), and whole parts read
//! back block by block with up to `erasure_parity` shards missing or corrupt (`part`); and
//! the deployment's `format.json` with MinIO's set and shard placement (`format`).
//!
//! This module is a codec: it reads and writes bytes it is handed. It must never touch a
//! drive, never return bytes that a shard's hash or the code cannot vouch for, and never
//! panic on any file content.

pub mod bitrot;
pub mod codec;
pub mod format;
pub mod layout;
pub mod part;

pub use bitrot::{HASH_LEN, HIGHWAY_KEY, highway256};
pub use codec::Codec;
pub use format::{Distribution, MINIO_SYS, MinioFormat};
pub use layout::{PartLayout, set_order_to_shards};
pub use part::{PartReader, PartStats, write_part};

/// What can go wrong reading or writing MinIO-format data.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MinioError {
    #[error(
        "unsupported erasure geometry {data}+{parity}: MinIO uses 1 to 16 data and 0 to 8 parity shards, at most 16 in all"
    )]
    Geometry { data: usize, parity: usize },
    #[error("erasure distribution {0:?} is not a permutation of 1..=N for the set's drives")]
    Distribution(Vec<u8>),
    #[error("block {block}: only {healthy} of the {needed} shards needed are present and pass their bitrot check")]
    Quorum { block: u64, healthy: usize, needed: usize },
    #[error("erasure decoding: {0}")]
    Decode(String),
    #[error("shard file {shard} is shorter than its layout ({len} of {expected} bytes)")]
    Truncated { shard: usize, len: u64, expected: u64 },
    #[error("invalid part layout: {0}")]
    Layout(String),
}
