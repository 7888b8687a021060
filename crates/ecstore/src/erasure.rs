//! Reed-Solomon coding of one block into `data + parity` shards and back, with
//! reed-solomon-simd (GF(2^16), O(n log n)). Pure computation: this module must never do I/O.

use crate::error::{Result, StoreError};

/// The algorithm id recorded in metadata for shards written by this module with bound
/// frames (see `bitrot`). MinIO's shards use a GF(2^8) Vandermonde code and are not
/// interchangeable with ours.
pub const ALGORITHM: &str = "rs-simd-gf16-bound";
/// The same code with v1 frames (shards written before frames were bound to their place).
pub const ALGORITHM_V1: &str = "rs-simd-gf16";
/// MinIO's shards: klauspost/reedsolomon GF(2^8), HighwayHash-256 frames (see `minio`).
pub const ALGORITHM_MINIO: &str = "minio-1";
/// A MinIO object whose shards are inline in every drive's xl.meta, one shard per copy, and
/// could not be rebuilt from the copies read (a single copy holds one shard, not the object).
pub const ALGORITHM_MINIO_INLINE: &str = "minio-1-inline";

/// The algorithm of a version whose stored bytes are known not to be the object (MinIO
/// compressed or encrypted it): the rest of the string says why, and the store refuses it.
pub const ALGORITHM_REFUSED_PREFIX: &str = "refused:";

/// The frame key of shard `index` of part `file` of a layout with algorithm `algorithm`.
pub fn frame_key(algorithm: &str, data_dir: &str, file: &str, index: usize) -> crate::bitrot::FrameKey {
    if algorithm == ALGORITHM {
        crate::bitrot::FrameKey::bound(data_dir, file, index)
    } else {
        crate::bitrot::FrameKey::PLAIN
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erasure {
    pub data: usize,
    pub parity: usize,
    pub block_size: usize,
}

impl Erasure {
    pub fn new(data: usize, parity: usize, block_size: usize) -> Self {
        Self { data, parity, block_size }
    }

    pub fn total(&self) -> usize {
        self.data + self.parity
    }

    /// Bytes per shard for a block of `block_len` bytes (rounded up to an even count, as
    /// reed-solomon-simd requires).
    pub fn shard_size(&self, block_len: usize) -> usize {
        let s = block_len.div_ceil(self.data).max(2);
        s + (s & 1)
    }

    /// Splits `block` into `total()` shards: data shards (zero padded) then parity shards.
    pub fn encode(&self, block: &[u8]) -> Result<Vec<Vec<u8>>> {
        let size = self.shard_size(block.len());
        let mut shards: Vec<Vec<u8>> = Vec::with_capacity(self.total());
        for i in 0..self.data {
            let start = (i * size).min(block.len());
            let end = ((i + 1) * size).min(block.len());
            let mut s = Vec::with_capacity(size);
            s.extend_from_slice(&block[start..end]);
            s.resize(size, 0);
            shards.push(s);
        }
        let parity = reed_solomon_simd::encode(self.data, self.parity, &shards)
            .map_err(|e| StoreError::Erasure(e.to_string()))?;
        shards.extend(parity);
        Ok(shards)
    }

    /// Restores the missing data shards in place from any `data` present shards.
    pub fn reconstruct_data(&self, shards: &mut [Option<Vec<u8>>]) -> Result<()> {
        if shards[..self.data].iter().all(Option::is_some) {
            return Ok(());
        }
        let present = shards.iter().filter(|s| s.is_some()).count();
        if present < self.data {
            return Err(StoreError::Erasure(format!("{present} shards present, {} needed", self.data)));
        }
        let originals = shards[..self.data].iter().enumerate().filter_map(|(i, s)| s.as_ref().map(|s| (i, s)));
        let recovery = shards[self.data..].iter().enumerate().filter_map(|(i, s)| s.as_ref().map(|s| (i, s)));
        let restored = reed_solomon_simd::decode(self.data, self.parity, originals, recovery)
            .map_err(|e| StoreError::Erasure(e.to_string()))?;
        for (i, s) in restored {
            shards[i] = Some(s);
        }
        Ok(())
    }

    /// Restores every missing shard (data and parity) in place, for heal.
    pub fn reconstruct_all(&self, shards: &mut [Option<Vec<u8>>]) -> Result<()> {
        self.reconstruct_data(shards)?;
        if shards[self.data..].iter().any(Option::is_none) {
            let data: Vec<&Vec<u8>> = shards[..self.data].iter().flatten().collect();
            let parity = reed_solomon_simd::encode(self.data, self.parity, data)
                .map_err(|e| StoreError::Erasure(e.to_string()))?;
            for (i, p) in parity.into_iter().enumerate() {
                if shards[self.data + i].is_none() {
                    shards[self.data + i] = Some(p);
                }
            }
        }
        Ok(())
    }

    /// Joins the data shards back into the block of `block_len` bytes.
    pub fn join(&self, shards: &[Option<Vec<u8>>], block_len: usize, out: &mut Vec<u8>) {
        let mut left = block_len;
        for s in shards[..self.data].iter().flatten() {
            let n = left.min(s.len());
            out.extend_from_slice(&s[..n]);
            left -= n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn round_trip_with_any_four_lost() {
        let e = Erasure::new(8, 4, 1 << 20);
        for len in [1, 7, 16, 1000, (1 << 20) - 3, 1 << 20] {
            let b = block(len);
            let shards = e.encode(&b).unwrap();
            for lost in [[0, 1, 2, 3], [8, 9, 10, 11], [0, 5, 9, 11], [3, 4, 6, 7]] {
                let mut s: Vec<Option<Vec<u8>>> = shards.iter().cloned().map(Some).collect();
                for i in lost {
                    s[i] = None;
                }
                e.reconstruct_all(&mut s).unwrap();
                let mut out = Vec::new();
                e.join(&s, len, &mut out);
                assert_eq!(out, b, "len {len} lost {lost:?}");
                for (i, sh) in s.iter().enumerate() {
                    assert_eq!(sh.as_ref().unwrap(), &shards[i]);
                }
            }
        }
    }

    #[test]
    fn five_lost_is_an_error() {
        let e = Erasure::new(8, 4, 1 << 20);
        let shards = e.encode(&block(5000)).unwrap();
        let mut s: Vec<Option<Vec<u8>>> = shards.into_iter().map(Some).collect();
        for i in [0, 1, 2, 3, 4] {
            s[i] = None;
        }
        assert!(e.reconstruct_data(&mut s).is_err());
    }
}
