//! klauspost/reedsolomon's erasure code as MinIO uses it (`reedsolomon.New(data, parity)`):
//! GF(2^8) with the polynomial 0x11D, the encoding matrix a Vandermonde matrix made
//! systematic by the inverse of its top square (Backblaze's construction, which the
//! `reed-solomon-erasure` crate implements the same way). A block is split into `data`
//! shards of `ceil(len / data)` bytes (the last zero-padded), then `parity` shards are
//! computed. This module must never return a block it could not rebuild from healthy shards.

use reed_solomon_erasure::galois_8::ReedSolomon;

use super::MinioError;

/// The code of one geometry (data + parity shards).
pub struct Codec {
    data: usize,
    parity: usize,
    rs: Option<ReedSolomon>,
}

impl Codec {
    pub fn new(data: usize, parity: usize) -> Result<Self, MinioError> {
        if data == 0 || data > 16 || parity > 8 || data + parity > 16 {
            return Err(MinioError::Geometry { data, parity });
        }
        let rs = if parity == 0 {
            None
        } else {
            Some(ReedSolomon::new(data, parity).map_err(|_| MinioError::Geometry { data, parity })?)
        };
        Ok(Self { data, parity, rs })
    }

    pub fn data(&self) -> usize {
        self.data
    }

    pub fn parity(&self) -> usize {
        self.parity
    }

    pub fn total(&self) -> usize {
        self.data + self.parity
    }

    /// Bytes of each shard of a block of `block_len` bytes.
    pub fn shard_len(&self, block_len: usize) -> usize {
        block_len.div_ceil(self.data)
    }

    /// The `data + parity` shards of one block.
    pub fn encode(&self, block: &[u8]) -> Result<Vec<Vec<u8>>, MinioError> {
        let len = self.shard_len(block.len());
        let mut shards: Vec<Vec<u8>> = (0..self.total()).map(|_| vec![0u8; len]).collect();
        if len == 0 {
            return Ok(shards);
        }
        for (i, chunk) in block.chunks(len).enumerate() {
            shards[i][..chunk.len()].copy_from_slice(chunk);
        }
        if let Some(rs) = &self.rs {
            rs.encode(&mut shards).map_err(|e| MinioError::Decode(format!("{e:?}")))?;
        }
        Ok(shards)
    }

    /// The block of `block_len` bytes from its shards in shard order (`None`: missing or
    /// failed its bitrot check), rebuilding missing data shards from any `data` present.
    pub fn decode(&self, shards: &mut [Option<Vec<u8>>], block_len: usize, block: u64) -> Result<Vec<u8>, MinioError> {
        let mut out = Vec::with_capacity(block_len);
        self.decode_into(shards, block_len, block, &mut out)?;
        Ok(out)
    }

    /// Like [`Codec::decode`], appending the block to `out` (a reader's buffer, reused from
    /// block to block). On error `out` is left as it was.
    pub fn decode_into(
        &self,
        shards: &mut [Option<Vec<u8>>],
        block_len: usize,
        block: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), MinioError> {
        let healthy = shards.iter().filter(|s| s.is_some()).count();
        if shards.len() != self.total() || healthy < self.data {
            return Err(MinioError::Quorum { block, healthy, needed: self.data });
        }
        let len = self.shard_len(block_len);
        if len == 0 {
            return Ok(());
        }
        if shards.iter().flatten().any(|s| s.len() != len) {
            return Err(MinioError::Decode(format!("block {block}: a shard is not {len} bytes")));
        }
        if shards[..self.data].iter().any(|s| s.is_none()) {
            let rs = self.rs.as_ref().ok_or(MinioError::Quorum { block, healthy, needed: self.data })?;
            rs.reconstruct_data(shards).map_err(|e| MinioError::Decode(format!("block {block}: {e:?}")))?;
        }
        let rebuilt: usize = shards[..self.data].iter().flatten().map(Vec::len).sum();
        if rebuilt < block_len {
            return Err(MinioError::Decode(format!("block {block}: rebuilt {rebuilt} of {block_len} bytes")));
        }
        let mut left = block_len;
        for s in shards[..self.data].iter().flatten() {
            let n = s.len().min(left);
            out.extend_from_slice(&s[..n]);
            left -= n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_geometry_round_trips_with_parity_shards_lost() {
        for (data, parity) in [(1, 0), (2, 2), (3, 2), (4, 4), (8, 4), (12, 4), (8, 8)] {
            let c = Codec::new(data, parity).unwrap();
            for len in [0usize, 1, 7, 1000, 4096 + 3] {
                let block: Vec<u8> = (0..len).map(|i| (i * 31 + data) as u8).collect();
                let shards = c.encode(&block).unwrap();
                let mut lost: Vec<Option<Vec<u8>>> = shards.into_iter().map(Some).collect();
                for s in lost.iter_mut().take(parity) {
                    *s = None;
                }
                assert_eq!(c.decode(&mut lost, len, 0).unwrap(), block, "{data}+{parity} len {len}");
            }
        }
        assert!(Codec::new(0, 2).is_err() && Codec::new(9, 9).is_err() && Codec::new(16, 1).is_err());
    }

    #[test]
    fn one_shard_too_few_is_an_error_not_bytes() {
        let c = Codec::new(3, 2).unwrap();
        let shards = c.encode(b"hello world, in three shards").unwrap();
        let mut s: Vec<Option<Vec<u8>>> = shards.into_iter().map(Some).collect();
        s[0] = None;
        s[2] = None;
        s[4] = None;
        assert!(matches!(c.decode(&mut s, 28, 5), Err(MinioError::Quorum { block: 5, healthy: 2, needed: 3 })));
    }
}
