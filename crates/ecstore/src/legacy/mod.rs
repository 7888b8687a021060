//! The legacy track: object metadata as MinIO-format xl.meta files on the drives.
//! Built in steps (issue 3): the version mapping is here; the `MetadataStore` over the
//! drives follows. This module must never make data visible other than by an xl.meta write
//! that reached quorum.

pub mod files;
pub mod mapping;
pub mod minio_buckets;
pub mod minio_inline;
pub mod minio_pools;
pub mod pools;
pub mod records;
pub mod store;
/// The walk of a drive's xl.meta files lives with the drive I/O (it runs where the drive is).
pub use crate::disk::walk;
