//! Where MinIO puts a part's bytes: the part cut into blocks of `block_size` (the last one
//! shorter), each block's shard `ceil(block_len / data)` bytes preceded by its 32-byte hash
//! in every shard file, and the shard files on the set's drives by the version's
//! `erasure_distribution` (the drive at set position `i` holds shard `distribution[i]`,
//! 1-based; the version's `erasure_index` on that drive names the same shard). This module
//! only computes; it must never accept a layout whose sizes overflow.

use super::MinioError;
use super::bitrot::HASH_LEN;

/// The blocks of one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartLayout {
    pub size: u64,
    pub block_size: u64,
    pub data: usize,
}

impl PartLayout {
    pub fn new(size: u64, block_size: u64, data: usize) -> Result<Self, MinioError> {
        if block_size == 0 || data == 0 || block_size > 1 << 30 {
            return Err(MinioError::Layout(format!("block size {block_size} with {data} data shards")));
        }
        if size > 1 << 50 {
            return Err(MinioError::Layout(format!("part size {size}")));
        }
        Ok(Self { size, block_size, data })
    }

    pub fn blocks(&self) -> u64 {
        self.size.div_ceil(self.block_size)
    }

    /// Bytes of block `b` of the part.
    pub fn block_len(&self, b: u64) -> usize {
        let start = b.saturating_mul(self.block_size);
        self.size.saturating_sub(start).min(self.block_size) as usize
    }

    /// Bytes of each shard of block `b`.
    pub fn shard_len(&self, b: u64) -> usize {
        self.block_len(b).div_ceil(self.data)
    }

    /// Bytes of each shard file of the part (hashes included).
    pub fn shard_file_len(&self) -> u64 {
        let full = self.size / self.block_size;
        let full_shard = self.block_size.div_ceil(self.data as u64) + HASH_LEN as u64;
        let tail = self.size % self.block_size;
        let tail_shard = if tail == 0 { 0 } else { tail.div_ceil(self.data as u64) + HASH_LEN as u64 };
        full * full_shard + tail_shard
    }
}

/// The drives of a set (in set order) rearranged in shard order by `distribution`.
pub fn set_order_to_shards<T>(drives: Vec<T>, distribution: &[u8]) -> Result<Vec<T>, MinioError> {
    let n = drives.len();
    let bad = || MinioError::Distribution(distribution.to_vec());
    if distribution.len() != n {
        return Err(bad());
    }
    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for (d, shard) in drives.into_iter().zip(distribution) {
        let i = (*shard as usize).checked_sub(1).filter(|i| *i < n).ok_or_else(bad)?;
        if slots[i].replace(d).is_some() {
            return Err(bad());
        }
    }
    slots.into_iter().collect::<Option<Vec<T>>>().ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_shard_files() {
        // The cicd-corpus object: 644520 bytes, 3 data shards, one block of 1 MiB.
        let l = PartLayout::new(644_520, 1 << 20, 3).unwrap();
        assert_eq!((l.blocks(), l.block_len(0), l.shard_len(0)), (1, 644_520, 214_840));
        assert_eq!(l.shard_file_len(), 214_872);
        let l = PartLayout::new(5 << 20 | 7, 1 << 20, 8).unwrap();
        assert_eq!((l.blocks(), l.block_len(5), l.shard_len(5)), (6, 7, 1));
        assert_eq!(l.shard_file_len(), 5 * (131_072 + 32) + 33);
        assert_eq!(PartLayout::new(0, 1 << 20, 8).unwrap().shard_file_len(), 0);
        assert!(PartLayout::new(1, 0, 8).is_err());
    }

    #[test]
    fn distribution_maps_set_positions_to_shards() {
        let shards = set_order_to_shards(vec!["d1", "d2", "d3", "d4", "d5"], &[3, 4, 5, 1, 2]).unwrap();
        assert_eq!(shards, ["d4", "d5", "d1", "d2", "d3"]);
        assert!(set_order_to_shards(vec![1, 2], &[1, 1]).is_err());
        assert!(set_order_to_shards(vec![1, 2], &[1, 3]).is_err());
        assert!(set_order_to_shards(vec![1, 2], &[1]).is_err());
        assert!(set_order_to_shards(vec![1, 2], &[0, 1]).is_err());
    }
}
