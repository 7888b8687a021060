//! MinIO's streaming bitrot framing: in a part's shard file every shard block is preceded
//! by its HighwayHash-256 (32 bytes) under MinIO's fixed key (`magicHighwayHash256Key`, the
//! HighwayHash-256 of the first 100 decimals of pi with a zero key). Inline data carries the
//! same framing. This module only hashes; it must never accept a block whose hash differs.

use highway::{HighwayHash, HighwayHasher, Key};

/// Bytes of a block's hash in the shard file.
pub const HASH_LEN: usize = 32;

/// MinIO's key for HighwayHash-256 bitrot hashes (cmd/bitrot.go).
pub const HIGHWAY_KEY: [u8; 32] = [
    0x4b, 0xe7, 0x34, 0xfa, 0x8e, 0x23, 0x8a, 0xcd, 0x26, 0x3e, 0x83, 0xe6, 0xbb, 0x96, 0x85, 0x52, 0x04, 0x0f, 0x93,
    0x5d, 0xa3, 0x9f, 0x44, 0x14, 0x97, 0xe0, 0x9d, 0x13, 0x22, 0xde, 0x36, 0xa0,
];

fn key() -> Key {
    let mut k = [0u64; 4];
    for (i, w) in k.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&HIGHWAY_KEY[i * 8..i * 8 + 8]);
        *w = u64::from_le_bytes(b);
    }
    Key(k)
}

/// The HighwayHash-256 of `data` under MinIO's key, in MinIO's byte order (the four 64-bit
/// lanes little-endian, as Go's `highwayhash.Sum`).
pub fn highway256(data: &[u8]) -> [u8; HASH_LEN] {
    let mut h = HighwayHasher::new(key());
    h.append(data);
    let lanes = h.finalize256();
    let mut out = [0u8; HASH_LEN];
    for (i, l) in lanes.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&l.to_le_bytes());
    }
    out
}

/// Whether `frame` (hash, then shard bytes) carries the hash of its shard bytes.
pub fn verify(frame: &[u8]) -> bool {
    frame.len() >= HASH_LEN && highway256(&frame[HASH_LEN..]) == frame[..HASH_LEN]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_verify_and_a_flipped_bit_does_not() {
        let shard = b"some shard bytes".to_vec();
        let mut frame = highway256(&shard).to_vec();
        frame.extend_from_slice(&shard);
        assert!(verify(&frame));
        frame[HASH_LEN + 3] ^= 1;
        assert!(!verify(&frame));
        assert!(!verify(&frame[..10]));
        // The empty input hashes to a fixed value, distinct from a zero key's.
        assert_ne!(highway256(b""), [0u8; 32]);
    }
}
