//! One part of a MinIO-format object, block by block: `PartReader` reads every shard file's
//! next frame (hash and shard), drops frames whose hash differs and shard files that end
//! early or fail to read, and decodes the block from the healthy ones; `write_part` encodes
//! a stream into the shard files' frames. Memory is one block's frames, whatever the part's
//! size. This module must never yield a block it could not verify and rebuild.

use std::io::{Read, Write};

use super::MinioError;
use super::bitrot::{HASH_LEN, highway256};
use super::codec::Codec;
use super::layout::PartLayout;

/// What reading a part met.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartStats {
    pub blocks: u64,
    /// Shard blocks dropped because their hash did not match.
    pub corrupt_frames: u64,
    /// Shard files absent, short or failing to read (from the block where they stopped).
    pub missing_shards: usize,
}

/// Reads one part from its shard files, given in shard order (`None`: the drive or file
/// is missing).
pub struct PartReader<'c, R: Read> {
    codec: &'c Codec,
    layout: PartLayout,
    shards: Vec<Option<R>>,
    block: u64,
    stats: PartStats,
}

impl<'c, R: Read> PartReader<'c, R> {
    pub fn new(codec: &'c Codec, layout: PartLayout, shards: Vec<Option<R>>) -> Result<Self, MinioError> {
        if shards.len() != codec.total() || layout.data != codec.data() {
            return Err(MinioError::Layout(format!(
                "{} shard files for a {}+{} code over {} data shards",
                shards.len(),
                codec.data(),
                codec.parity(),
                layout.data
            )));
        }
        let missing_shards = shards.iter().filter(|s| s.is_none()).count();
        Ok(Self { codec, layout, shards, block: 0, stats: PartStats { missing_shards, ..Default::default() } })
    }

    pub fn stats(&self) -> &PartStats {
        &self.stats
    }

    /// The next block's bytes, `None` after the last.
    pub fn next_block(&mut self) -> Option<Result<Vec<u8>, MinioError>> {
        if self.block >= self.layout.blocks() {
            return None;
        }
        let b = self.block;
        self.block += 1;
        let shard_len = self.layout.shard_len(b);
        let mut frame = vec![0u8; HASH_LEN + shard_len];
        let mut got: Vec<Option<Vec<u8>>> = Vec::with_capacity(self.shards.len());
        for slot in self.shards.iter_mut() {
            let Some(r) = slot else {
                got.push(None);
                continue;
            };
            if r.read_exact(&mut frame).is_err() {
                // A short or failing file is gone for the rest of the part.
                *slot = None;
                self.stats.missing_shards += 1;
                got.push(None);
                continue;
            }
            if highway256(&frame[HASH_LEN..]) == frame[..HASH_LEN] {
                got.push(Some(frame[HASH_LEN..].to_vec()));
            } else {
                self.stats.corrupt_frames += 1;
                got.push(None);
            }
        }
        self.stats.blocks += 1;
        Some(self.codec.decode(&mut got, self.layout.block_len(b), b))
    }

    /// Copies the whole part to `out`.
    pub fn copy_to(&mut self, out: &mut impl Write) -> Result<u64, MinioError> {
        let mut n = 0u64;
        while let Some(block) = self.next_block() {
            let block = block?;
            out.write_all(&block).map_err(|e| MinioError::Decode(format!("writing the part: {e}")))?;
            n += block.len() as u64;
        }
        Ok(n)
    }
}

/// Encodes `input` (exactly `size` bytes) as MinIO writes a part: each block of
/// `block_size` coded, each shard framed by its hash and appended to its shard file
/// (`outs`, in shard order).
pub fn write_part(
    codec: &Codec,
    block_size: u64,
    size: u64,
    input: &mut impl Read,
    outs: &mut [impl Write],
) -> Result<PartLayout, MinioError> {
    let layout = PartLayout::new(size, block_size, codec.data())?;
    if outs.len() != codec.total() {
        return Err(MinioError::Layout(format!("{} shard files for {} shards", outs.len(), codec.total())));
    }
    let io = |e: std::io::Error| MinioError::Decode(format!("writing a part: {e}"));
    let mut block = vec![0u8; layout.block_len(0)];
    for b in 0..layout.blocks() {
        let len = layout.block_len(b);
        input.read_exact(&mut block[..len]).map_err(io)?;
        for (shard, out) in codec.encode(&block[..len])?.iter().zip(outs.iter_mut()) {
            out.write_all(&highway256(shard)).map_err(io)?;
            out.write_all(shard).map_err(io)?;
        }
    }
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(codec: &Codec, data: &[u8], block: u64) -> Vec<Vec<u8>> {
        let mut files: Vec<Vec<u8>> = vec![Vec::new(); codec.total()];
        write_part(codec, block, data.len() as u64, &mut &data[..], &mut files).unwrap();
        files
    }

    fn read(
        codec: &Codec,
        files: Vec<Option<Vec<u8>>>,
        size: u64,
        block: u64,
    ) -> (Result<Vec<u8>, MinioError>, PartStats) {
        let layout = PartLayout::new(size, block, codec.data()).unwrap();
        let mut r =
            PartReader::new(codec, layout, files.into_iter().map(|f| f.map(std::io::Cursor::new)).collect()).unwrap();
        let mut out = Vec::new();
        let res = r.copy_to(&mut out).map(|_| out);
        (res, r.stats().clone())
    }

    #[test]
    fn parts_round_trip_through_shard_files() {
        let codec = Codec::new(4, 2).unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let files = encoded(&codec, &data, 16 * 1024);
        let layout = PartLayout::new(data.len() as u64, 16 * 1024, 4).unwrap();
        assert!(files.iter().all(|f| f.len() as u64 == layout.shard_file_len()));
        let (got, stats) = read(&codec, files.iter().cloned().map(Some).collect(), data.len() as u64, 16 * 1024);
        assert_eq!(got.unwrap(), data);
        assert_eq!(stats.blocks, 7);
    }

    #[test]
    fn corrupt_and_missing_shards_are_rebuilt_or_refused() {
        let codec = Codec::new(4, 2).unwrap();
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 253) as u8).collect();
        let files = encoded(&codec, &data, 8192);
        // One file missing, one with a flipped bit in block 2, one cut short after block 4:
        // each block still has 4 of 6 shards.
        let mut f: Vec<Option<Vec<u8>>> = files.iter().cloned().map(Some).collect();
        f[0] = None;
        f[3].as_mut().unwrap()[2 * (2048 + 32) + 40] ^= 0x10;
        f[4].as_mut().unwrap().truncate(4 * (2048 + 32));
        let (got, stats) = read(&codec, f.clone(), data.len() as u64, 8192);
        assert_eq!(got.unwrap(), data);
        assert_eq!((stats.corrupt_frames, stats.missing_shards), (1, 2));
        // A third loss in the same block: an error, never other bytes.
        f[5].as_mut().unwrap()[2 * (2048 + 32) + 100] ^= 1;
        let (got, _) = read(&codec, f, data.len() as u64, 8192);
        assert!(matches!(got, Err(MinioError::Quorum { block: 2, .. })), "{got:?}");
    }
}
