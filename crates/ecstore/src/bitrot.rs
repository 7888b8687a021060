//! Bitrot framing of shard blocks: each shard block on disk is `xxh3_64(shard) LE` (8 bytes)
//! followed by the shard bytes.
//!
//! Why xxh3-64: the threat is silent corruption (flipped bits, torn or misdirected writes),
//! not an adversary with write access to the drives, so a non-cryptographic hash suffices;
//! xxh3 runs at tens of GB/s per core (far above MD5's ~600 MiB/s and the disks), and a
//! 64-bit check misses a random corruption with probability 2^-64.
//! This module must never do I/O.

pub const HASH_LEN: usize = 8;

pub fn hash(shard: &[u8]) -> [u8; HASH_LEN] {
    xxhash_rust::xxh3::xxh3_64(shard).to_le_bytes()
}

/// Length on disk of a framed shard of `shard_len` bytes.
pub fn framed_len(shard_len: usize) -> usize {
    HASH_LEN + shard_len
}

/// Frames `shard` for writing.
pub fn frame(shard: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(framed_len(shard.len()));
    out.extend_from_slice(&hash(shard));
    out.extend_from_slice(shard);
    out
}

/// Checks a framed shard and returns its payload, or `None` if it is corrupt.
pub fn verify(framed: &[u8]) -> Option<&[u8]> {
    if framed.len() < HASH_LEN {
        return None;
    }
    let (h, payload) = framed.split_at(HASH_LEN);
    (h == hash(payload)).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_flipped_bits() {
        let f = frame(b"hello shard");
        assert_eq!(verify(&f), Some(&b"hello shard"[..]));
        for i in 0..f.len() {
            let mut g = f.clone();
            g[i] ^= 0x10;
            assert_eq!(verify(&g), None, "flip at {i}");
        }
        assert_eq!(verify(&f[..5]), None);
    }
}
