//! The shape of a deployment as a store opens it: how its drives group into sets and pools,
//! the erasure code of new objects in each pool, and, for an adopted MinIO deployment,
//! MinIO's placement (each pool's sets, set size and distribution from its `format.json`,
//! one parity for every pool: the first pool's default, as MinIO keeps it).
//! This module only computes from the options; it never touches a drive.

use crate::erasure::Erasure;
use crate::error::{Result, StoreError};
use crate::{DATA_SHARDS, PARITY_SHARDS, SET_DRIVES, StoreOptions, drives, minio};

/// How MinIO places objects on an adopted deployment: a key's set in each pool by that
/// pool's hash (see [`EcStore::key_sets`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinioPlacement {
    pub deployment: [u8; 16],
    /// Each pool's distribution algorithm (a pool added later may use a newer one).
    pub distributions: Vec<minio::Distribution>,
}

/// What [`of`] computes.
pub(crate) struct Shape {
    pub geometry: drives::Geometry,
    /// Erasure sets in each pool.
    pub counts: Vec<usize>,
    /// The erasure code of new objects in each pool.
    pub erasure: Vec<Erasure>,
    pub placement: Option<MinioPlacement>,
    /// MinIO's deployment id (an adopted deployment keeps it).
    pub minio_id: Option<String>,
}

/// The shape of a deployment of `drives` drives opened with `o`.
pub(crate) fn of(o: &StoreOptions, drives: usize) -> Result<Shape> {
    let Some(first) = o.minio.first() else {
        let counts = if o.pools.is_empty() { vec![drives / SET_DRIVES] } else { o.pools.clone() };
        let e = Erasure::new(DATA_SHARDS, PARITY_SHARDS, o.block_size);
        return Ok(Shape {
            geometry: drives::Geometry { read_only: o.read_only, ..Default::default() },
            erasure: vec![e; counts.len()],
            counts,
            placement: None,
            minio_id: None,
        });
    };
    // MinIO keeps one parity for every pool: the first pool's default, which each pool's
    // sets must be able to carry.
    let parity = minio::format::default_parity(first.drives_per_set());
    let mut erasure = Vec::new();
    let mut distributions = Vec::new();
    for (i, f) in o.minio.iter().enumerate() {
        if f.id != first.id {
            return Err(StoreError::Format(format!(
                "pool {} belongs to MinIO deployment {}, pool 1 to {}",
                i + 1,
                f.id,
                first.id
            )));
        }
        let n = f.drives_per_set();
        if parity * 2 > n {
            return Err(StoreError::Format(format!(
                "pool {} has sets of {n} drives, too few for MinIO's parity {parity} (set by pool 1)",
                i + 1
            )));
        }
        erasure.push(Erasure::new(n - parity, parity, o.block_size));
        distributions.push(f.distribution().map_err(|e| StoreError::Format(e.to_string()))?);
    }
    let sets: Vec<Vec<String>> = o.minio.iter().flat_map(|f| f.xl.sets.clone()).collect();
    Ok(Shape {
        geometry: drives::Geometry { per_set: first.drives_per_set(), minio: Some(sets), read_only: o.read_only },
        counts: o.minio.iter().map(|f| f.xl.sets.len()).collect(),
        erasure,
        placement: Some(MinioPlacement { deployment: first.id_bytes(), distributions }),
        minio_id: Some(first.id.clone()),
    })
}
