//! Bitrot framing of shard blocks: each shard block on disk is an 8-byte hash (LE) followed
//! by the shard bytes.
//!
//! Two frame formats, told apart by the layout's algorithm id:
//! - v1 (`rs-simd-gf16`): `xxh3_64(shard)`.
//! - v2 (`rs-simd-gf16-bound`, written since drive layout v2): `xxh3_64_with_seed(shard,
//!   seed)`, the seed derived from the version's data dir, the part file, the shard index and
//!   the block index. A frame is then valid only at its own place: a shard file copied onto
//!   the wrong drive, under the wrong index, into another version's data dir, or a block
//!   moved within a file fails its check and is rebuilt from the others, never decoded into
//!   wrong bytes.
//!
//! Why xxh3-64: the threat is silent corruption (flipped bits, torn or misdirected writes),
//! not an adversary with write access to the drives, so a non-cryptographic hash suffices;
//! xxh3 runs at tens of GB/s per core (far above MD5's ~600 MiB/s and the disks), and a
//! 64-bit check misses a random corruption with probability 2^-64.
//! This module must never do I/O.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

pub const HASH_LEN: usize = 8;

/// What a shard's frames are bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameKey {
    seed: u64,
    bound: bool,
}

impl FrameKey {
    /// v1 frames: the hash of the shard bytes alone.
    pub const PLAIN: FrameKey = FrameKey { seed: 0, bound: false };

    /// v2 frames of shard `index` of part file `file` in data dir `data_dir`.
    pub fn bound(data_dir: &str, file: &str, index: usize) -> Self {
        let mut key = Vec::with_capacity(data_dir.len() + file.len() + 4);
        key.extend_from_slice(data_dir.as_bytes());
        key.push(0);
        key.extend_from_slice(file.as_bytes());
        key.push(0);
        key.extend_from_slice(&(index as u16).to_le_bytes());
        FrameKey { seed: xxh3_64(&key), bound: true }
    }

    fn seed_of(&self, block: u64) -> u64 {
        if self.bound { self.seed ^ block.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) } else { 0 }
    }

    /// The frame hash of block `block` of this shard.
    pub fn hash(&self, block: u64, shard: &[u8]) -> [u8; HASH_LEN] {
        if self.bound { xxh3_64_with_seed(shard, self.seed_of(block)) } else { xxh3_64(shard) }.to_le_bytes()
    }

    /// Checks a framed block and returns its payload, or `None` if it is corrupt or belongs
    /// elsewhere.
    pub fn verify<'a>(&self, block: u64, framed: &'a [u8]) -> Option<&'a [u8]> {
        if framed.len() < HASH_LEN {
            return None;
        }
        let (h, payload) = framed.split_at(HASH_LEN);
        (h == self.hash(block, payload)).then_some(payload)
    }
}

/// A v1 frame hash (kept for the benchmark and old shards).
pub fn hash(shard: &[u8]) -> [u8; HASH_LEN] {
    FrameKey::PLAIN.hash(0, shard)
}

/// Length on disk of a framed shard of `shard_len` bytes.
pub fn framed_len(shard_len: usize) -> usize {
    HASH_LEN + shard_len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(k: FrameKey, block: u64, shard: &[u8]) -> Vec<u8> {
        let mut out = k.hash(block, shard).to_vec();
        out.extend_from_slice(shard);
        out
    }

    #[test]
    fn detects_flipped_bits() {
        for k in [FrameKey::PLAIN, FrameKey::bound("d", "part.1", 3)] {
            let f = frame(k, 0, b"hello shard");
            assert_eq!(k.verify(0, &f), Some(&b"hello shard"[..]));
            for i in 0..f.len() {
                let mut g = f.clone();
                g[i] ^= 0x10;
                assert_eq!(k.verify(0, &g), None, "flip at {i}");
            }
            assert_eq!(k.verify(0, &f[..5]), None);
        }
    }

    #[test]
    fn bound_frames_only_verify_in_their_place() {
        let k = FrameKey::bound("3f2b8c1e-6a1d-4d7e-9c1a-0b2c3d4e5f60", "part.1", 2);
        let f = frame(k, 7, b"shard bytes");
        assert!(k.verify(7, &f).is_some());
        assert!(k.verify(6, &f).is_none(), "another block");
        for other in [
            FrameKey::bound("3f2b8c1e-6a1d-4d7e-9c1a-0b2c3d4e5f60", "part.1", 3),
            FrameKey::bound("3f2b8c1e-6a1d-4d7e-9c1a-0b2c3d4e5f61", "part.1", 2),
            FrameKey::bound("3f2b8c1e-6a1d-4d7e-9c1a-0b2c3d4e5f60", "part.2", 2),
            FrameKey::PLAIN,
        ] {
            assert!(other.verify(7, &f).is_none(), "{other:?}");
        }
        // v1 frames keep verifying as before.
        let plain = frame(FrameKey::PLAIN, 0, b"old");
        assert_eq!(&plain[..8], &hash(b"old"));
        assert!(FrameKey::PLAIN.verify(99, &plain).is_some());
    }
}
