//! Streaming erasure read of a byte range: for each block the range touches, read framed
//! shards (data shards first), verify their bitrot hash, reconstruct from parity whatever is
//! missing or corrupt, and send only the requested bytes. A block that cannot be rebuilt
//! ends the stream with an error: this module must never yield bytes it has not verified.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use metadata::ErasureLayout;
use tokio::sync::mpsc;

use crate::bitrot;
use crate::disk::FileSource;
use crate::drives::Drive;
use crate::erasure::Erasure;
use crate::error::{Result, StoreError};

/// One part file's shards, opened lazily.
struct PartShards {
    files: Vec<Option<Box<dyn FileSource>>>,
    /// The frame key of each shard index.
    keys: Vec<crate::bitrot::FrameKey>,
    /// `bad[i]`: shard `i` is missing or failed a check; do not use it again in this part.
    bad: Vec<bool>,
    /// MinIO's code, for MinIO-written shards (GF(2^8), HighwayHash frames).
    minio: Option<crate::minio::Codec>,
}

pub(crate) struct ReadTarget {
    pub drives: Vec<Arc<Drive>>,
    /// The data dir on each drive of the set (in set order).
    /// The data dir on each drive of the set, relative to the drive.
    pub dirs: Vec<std::path::PathBuf>,
    pub layout: ErasureLayout,
    pub bucket: String,
    pub key: String,
    /// How long a block waits for the client to take it before the read gives up.
    pub send_timeout: std::time::Duration,
}

impl ReadTarget {
    fn erasure(&self) -> Erasure {
        Erasure::new(self.layout.data as usize, self.layout.parity as usize, self.layout.block_size as usize)
    }

    fn open_part(&self, part: usize) -> PartShards {
        let name = self.layout.parts[part].file_name();
        // The shards on online drives, opened at once (drives of other nodes in parallel).
        let wanted: Vec<(usize, &dyn crate::disk::DiskIo, std::path::PathBuf)> = self
            .layout
            .distribution
            .iter()
            .enumerate()
            .map(|(i, &d)| (i, &self.drives[d as usize], d as usize))
            .filter(|(_, drive, _)| drive.is_online())
            .map(|(i, drive, d)| (i, drive.io.as_ref(), self.dirs[d].join(&name)))
            .collect();
        let items: Vec<(&dyn crate::disk::DiskIo, std::path::PathBuf)> =
            wanted.iter().map(|(_, io, p)| (*io, p.clone())).collect();
        let mut files: Vec<Option<Box<dyn FileSource>>> = (0..self.layout.distribution.len()).map(|_| None).collect();
        for ((i, _, _), f) in wanted.iter().zip(crate::disk::open_all(&items)) {
            files[*i] = f.ok();
        }
        let bad: Vec<bool> = files.iter().map(Option::is_none).collect();
        let keys = (0..files.len())
            .map(|i| crate::erasure::frame_key(&self.layout.algorithm, &self.layout.data_dir, &name, i))
            .collect();
        let minio = (self.layout.algorithm == crate::ALGORITHM_MINIO)
            .then(|| crate::minio::Codec::new(self.layout.data as usize, self.layout.parity as usize).ok())
            .flatten();
        PartShards { files, keys, bad, minio }
    }

    /// Reads block `b` of `part` (of `block_len` bytes) into `out`, reconstructing if needed;
    /// `next_len`: the length of the block the reader wants next, if any. Returns whether
    /// the block was degraded.
    fn read_block(
        &self,
        ps: &mut PartShards,
        b: u64,
        block_len: usize,
        next_len: Option<usize>,
        out: &mut Vec<u8>,
    ) -> Result<bool> {
        let e = self.erasure();
        if self.layout.algorithm == crate::ALGORITHM_MINIO && ps.minio.is_none() {
            return Err(StoreError::Format(format!(
                "unsupported MinIO geometry {}+{}",
                self.layout.data, self.layout.parity
            )));
        }
        // MinIO's shards are ceil(len / data) bytes; ours are rounded to an even length.
        let shard_size = |len: usize| if ps.minio.is_some() { len.div_ceil(e.data) } else { e.shard_size(len) };
        // MinIO frames a shard with a 32-byte HighwayHash, ours with an 8-byte xxh3.
        let hash_len = if ps.minio.is_some() { crate::minio::HASH_LEN } else { bitrot::HASH_LEN };
        let framed_len = |len: usize| hash_len + len;
        let full_frame = framed_len(shard_size(e.block_size)) as u64;
        let shard_len = shard_size(block_len);
        let offset = b * full_frame;
        let mut shards: Vec<Option<Vec<u8>>> = vec![None; e.total()];
        let mut have = 0;
        let mut degraded = false;
        let mut frame = vec![0u8; framed_len(shard_len)];
        // The shards this block will be read from (data shards first), and the next block's:
        // drives of other nodes fetch them ahead, all at once.
        for f in ps.files.iter().zip(&ps.bad).filter(|(_, bad)| !**bad).filter_map(|(f, _)| f.as_ref()).take(e.data) {
            f.prefetch(offset, frame.len() as u64);
            if let Some(n) = next_len {
                f.prefetch(offset + full_frame, framed_len(shard_size(n)) as u64);
            }
        }
        for (i, slot) in shards.iter_mut().enumerate() {
            if have == e.data {
                break;
            }
            if ps.bad[i] {
                degraded = true;
                continue;
            }
            let Some(f) = ps.files[i].as_ref() else {
                continue;
            };
            let ok = f.read_exact_at(&mut frame, offset).is_ok()
                && match &ps.minio {
                    Some(_) => crate::minio::bitrot::verify(&frame),
                    None => ps.keys[i].verify(b, &frame).is_some(),
                };
            if ok {
                *slot = Some(frame[hash_len..].to_vec());
                have += 1;
            } else {
                ps.bad[i] = true;
                degraded = true;
                self.drives[self.layout.distribution[i] as usize].note_error();
            }
        }
        if have < e.data {
            return Err(StoreError::ReadQuorum(format!("{}/{}", self.bucket, self.key), e.data));
        }
        match &ps.minio {
            Some(c) => {
                c.decode_into(&mut shards, block_len, b, out).map_err(|err| StoreError::Erasure(err.to_string()))?;
            }
            None => {
                e.reconstruct_data(&mut shards)?;
                e.join(&shards, block_len, out);
            }
        }
        Ok(degraded)
    }
}

/// Sends one item to the client side from a blocking thread, waiting at most `timeout`
/// (a client that stopped reading must not hold the thread). `false`: give up.
fn send(tx: &mpsc::Sender<Result<Bytes>>, item: Result<Bytes>, timeout: std::time::Duration) -> bool {
    let rt = tokio::runtime::Handle::current();
    matches!(rt.block_on(tokio::time::timeout(timeout, tx.send(item))), Ok(Ok(())))
}

/// Produces `range` (half-open, in object bytes) of the object into `tx`, block by block.
/// Sets `degraded` if any shard had to be rebuilt. Returns false when a block could not
/// be read (the error went to `tx`).
pub(crate) fn produce(
    t: &ReadTarget,
    range: std::ops::Range<u64>,
    tx: &mpsc::Sender<Result<Bytes>>,
    degraded: &AtomicBool,
) -> bool {
    let bs = u64::from(t.layout.block_size);
    let mut part_start = 0u64;
    for (pi, part) in t.layout.parts.iter().enumerate() {
        let part_end = part_start + part.size;
        if part_end <= range.start || part.size == 0 {
            part_start = part_end;
            continue;
        }
        if part_start >= range.end {
            break;
        }
        let mut ps = t.open_part(pi);
        let from = range.start.max(part_start) - part_start;
        let to = range.end.min(part_end) - part_start;
        let mut b = from / bs;
        let mut block = Vec::with_capacity(bs as usize);
        while b * bs < to {
            let block_start = b * bs;
            let block_len = bs.min(part.size - block_start) as usize;
            block.clear();
            let next_start = block_start + block_len as u64;
            let next_len = (next_start < to).then(|| bs.min(part.size - next_start) as usize);
            match t.read_block(&mut ps, b, block_len, next_len, &mut block) {
                Ok(d) => {
                    if d {
                        degraded.store(true, Ordering::Relaxed);
                    }
                }
                Err(e) => {
                    degraded.store(true, Ordering::Relaxed);
                    send(tx, Err(e), t.send_timeout);
                    return false;
                }
            }
            let lo = (from.max(block_start) - block_start) as usize;
            let hi = (to.min(block_start + block_len as u64) - block_start) as usize;
            if !send(tx, Ok(Bytes::copy_from_slice(&block[lo..hi])), t.send_timeout) {
                return true; // the client went away or stopped reading
            }
            b += 1;
        }
        part_start = part_end;
    }
    true
}
