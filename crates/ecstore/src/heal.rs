//! Heal: finds missing or corrupt shards of an object (every frame is verified) and rewrites
//! them from the healthy ones, through a tmp file, fsync and rename, like any write, in the
//! format the object was written in (ours, or MinIO's code and HighwayHash frames on an
//! adopted deployment, so that MinIO can still read what heal wrote). Also the counters heal
//! reports. This module must never rewrite a shard it has not rebuilt from at least `data`
//! verified shards.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metadata::ErasureLayout;
use serde::Serialize;

use crate::bitrot;
use crate::disk::{DiskIo, FileSink, FileSource};
use crate::drives::Drive;
use crate::erasure::Erasure;
use crate::error::{Result, StoreError};

/// An object to heal, as queued by degraded reads and partial writes.
#[derive(Debug, Clone)]
pub struct HealTask {
    pub bucket: String,
    pub key: String,
    pub layout: ErasureLayout,
}

#[derive(Debug, Default)]
pub struct HealStats {
    pub objects_scanned: AtomicU64,
    pub objects_healed: AtomicU64,
    pub objects_failed: AtomicU64,
    /// Object bytes of the objects checked.
    pub bytes_scanned: AtomicU64,
    pub shards_healed: AtomicU64,
    pub bytes_healed: AtomicU64,
    pub queue_dropped: AtomicU64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct HealOutcome {
    /// Shard files rewritten.
    pub shards_healed: u64,
    /// Bytes written to rebuilt shard files.
    pub bytes_healed: u64,
    /// Shards that could not be rewritten (drive offline or write failed).
    pub shards_failed: u64,
}

/// Frames a heal reads ahead of the one it checks, per shard file.
const AHEAD: usize = 3;

fn block_lens(part_size: u64, bs: u64) -> impl Iterator<Item = usize> {
    let n = part_size.div_ceil(bs);
    (0..n).map(move |b| bs.min(part_size - b * bs) as usize)
}

/// The code and the frames of an object's shards: ours (reed-solomon-simd, xxh3 frames
/// bound to their place) or MinIO's (GF(2^8), HighwayHash-256 frames).
enum ShardCode {
    Ours { e: Erasure, keys: Vec<bitrot::FrameKey> },
    Minio { codec: Box<crate::minio::Codec>, block_size: usize },
}

impl ShardCode {
    fn of(layout: &ErasureLayout, file: &str) -> Result<Self> {
        let (data, parity) = (layout.data as usize, layout.parity as usize);
        if layout.algorithm == crate::ALGORITHM_MINIO {
            let codec = crate::minio::Codec::new(data, parity).map_err(|e| StoreError::Format(e.to_string()))?;
            return Ok(Self::Minio { codec: Box::new(codec), block_size: layout.block_size as usize });
        }
        let e = Erasure::new(data, parity, layout.block_size as usize);
        let keys =
            (0..e.total()).map(|i| crate::erasure::frame_key(&layout.algorithm, &layout.data_dir, file, i)).collect();
        Ok(Self::Ours { e, keys })
    }

    fn data(&self) -> usize {
        match self {
            Self::Ours { e, .. } => e.data,
            Self::Minio { codec, .. } => codec.data(),
        }
    }

    fn total(&self) -> usize {
        match self {
            Self::Ours { e, .. } => e.total(),
            Self::Minio { codec, .. } => codec.total(),
        }
    }

    fn block_size(&self) -> u64 {
        match self {
            Self::Ours { e, .. } => e.block_size as u64,
            Self::Minio { block_size, .. } => *block_size as u64,
        }
    }

    /// Bytes of the frame (hash and shard) of a block of `block_len` bytes.
    fn framed_len(&self, block_len: usize) -> usize {
        match self {
            Self::Ours { e, .. } => bitrot::framed_len(e.shard_size(block_len)),
            Self::Minio { codec, .. } => crate::minio::HASH_LEN + codec.shard_len(block_len),
        }
    }

    /// Where each frame of a shard file of a part of `part_size` bytes lies: (offset, length).
    fn frame_places(&self, part_size: u64) -> Vec<(u64, u64)> {
        let mut at = 0u64;
        block_lens(part_size, self.block_size())
            .map(|l| {
                let len = self.framed_len(l) as u64;
                at += len;
                (at - len, len)
            })
            .collect()
    }

    /// The shard bytes of frame `frame` (block `b` of shard `i`), if its hash is right.
    fn verify<'a>(&self, i: usize, b: u64, frame: &'a [u8]) -> Option<&'a [u8]> {
        match self {
            Self::Ours { keys, .. } => keys[i].verify(b, frame),
            Self::Minio { .. } => crate::minio::bitrot::verify(frame).then(|| &frame[crate::minio::HASH_LEN..]),
        }
    }

    /// The frame of shard `i`'s block `b`: its hash, then its bytes.
    fn frame(&self, i: usize, b: u64, shard: &[u8]) -> Vec<u8> {
        let hash: Vec<u8> = match self {
            Self::Ours { keys, .. } => keys[i].hash(b, shard).to_vec(),
            Self::Minio { .. } => crate::minio::highway256(shard).to_vec(),
        };
        [hash.as_slice(), shard].concat()
    }

    /// Fills every missing shard of block `b` (`block_len` bytes) from at least `data`
    /// present ones.
    fn rebuild(&self, shards: &mut [Option<Vec<u8>>], block_len: usize, b: u64) -> Result<()> {
        match self {
            Self::Ours { e, .. } => e.reconstruct_all(shards),
            Self::Minio { codec, .. } => {
                let err = |e: crate::minio::MinioError| StoreError::Erasure(e.to_string());
                let block = codec.decode(shards, block_len, b).map_err(err)?;
                for (slot, s) in shards.iter_mut().zip(codec.encode(&block).map_err(err)?) {
                    if slot.is_none() {
                        *slot = Some(s);
                    }
                }
                Ok(())
            }
        }
    }
}

/// Whether a shard file holds exactly the expected frames, each valid at its place
/// (`deep`), or only has the expected length (a quick check: it finds shards a drive lacks,
/// not bitrot; reads still verify every frame they use).
fn shard_is_healthy(
    io: &dyn DiskIo,
    path: &std::path::Path,
    code: &ShardCode,
    i: usize,
    part_size: u64,
    deep: bool,
) -> bool {
    let Ok(f) = io.open(path) else {
        return false;
    };
    let frames = code.frame_places(part_size);
    if f.len() != frames.iter().map(|(_, l)| l).sum::<u64>() {
        return false;
    }
    if !deep {
        return true;
    }
    // A file of another node fetches a few frames ahead.
    for &(o, l) in frames.iter().take(AHEAD) {
        f.prefetch(o, l);
    }
    let mut frame = Vec::new();
    for (b, &(offset, len)) in frames.iter().enumerate() {
        if let Some(&(o, l)) = frames.get(b + AHEAD) {
            f.prefetch(o, l);
        }
        frame.resize(len as usize, 0);
        if f.read_exact_at(&mut frame, offset).is_err() || code.verify(i, b as u64, &frame).is_none() {
            return false;
        }
    }
    true
}

/// Heals every part of one object on the drives of its set. Blocking: run it off the runtime.
/// `dirs`: the object's data dir on each drive of the set (in set order); `deep`: verify
/// every frame of every shard (else only find missing or truncated shards).
pub(crate) fn heal_object(
    drives: &[Arc<Drive>],
    dirs: &[std::path::PathBuf],
    layout: &ErasureLayout,
    deep: bool,
) -> Result<HealOutcome> {
    let mut out = HealOutcome::default();
    let shard_drives: Vec<&Arc<Drive>> = layout.distribution.iter().map(|&d| &drives[d as usize]).collect();
    for part in &layout.parts {
        let name = part.file_name();
        let code = ShardCode::of(layout, &name)?;
        let (data, total) = (code.data(), code.total());
        let paths: Vec<_> = layout.distribution.iter().map(|&d| dirs[d as usize].join(&name)).collect();
        // Every shard is checked at once (those on other nodes are network reads).
        let healthy: Vec<bool> = std::thread::scope(|sc| {
            let checks: Vec<_> = (0..total)
                .map(|i| {
                    let (d, path, code) = (shard_drives[i], &paths[i], &code);
                    sc.spawn(move || d.is_online() && shard_is_healthy(d.io.as_ref(), path, code, i, part.size, deep))
                })
                .collect();
            checks.into_iter().map(|c| c.join().unwrap_or(false)).collect()
        });
        let bad: Vec<usize> = (0..total).filter(|&i| !healthy[i]).collect();
        if bad.is_empty() {
            continue;
        }
        if total - bad.len() < data {
            return Err(StoreError::ReadQuorum(format!("data dir {}", layout.data_dir), data));
        }
        // Rebuilt from the first `data` healthy shards (fetched ahead when remote); the
        // other healthy ones stand by for a block whose frame fails its hash (a quick check
        // does not verify frames).
        let sources: Vec<Option<Box<dyn FileSource>>> =
            (0..total).map(|i| if healthy[i] { shard_drives[i].io.open(&paths[i]).ok() } else { None }).collect();
        let frame_at = code.frame_places(part.size);
        for f in sources.iter().flatten().take(data) {
            for &(o, l) in frame_at.iter().take(AHEAD) {
                f.prefetch(o, l);
            }
        }
        let tmp_id = uuid::Uuid::new_v4().simple().to_string();
        // Writers for the shards to rebuild, on drives that are online.
        let mut writers: Vec<Option<(Box<dyn FileSink>, std::path::PathBuf)>> = vec![];
        for &i in &bad {
            let d = shard_drives[i];
            let w = if d.check_alive() {
                let dir = Drive::tmp_rel().join(&tmp_id);
                d.io.create(&dir.join(&name)).ok().map(|f| (f, dir))
            } else {
                None
            };
            writers.push(w);
        }
        let mut offset = 0u64;
        let mut failed = None;
        for (b, l) in block_lens(part.size, code.block_size()).enumerate() {
            if let Some(&(o, len)) = frame_at.get(b + AHEAD) {
                sources.iter().flatten().take(data).for_each(|f| f.prefetch(o, len));
            }
            let b = b as u64;
            let flen = code.framed_len(l);
            let mut shards: Vec<Option<Vec<u8>>> = vec![None; total];
            let mut frame = vec![0u8; flen];
            let mut have = 0;
            for (i, src) in sources.iter().enumerate() {
                if have == data {
                    break;
                }
                if let Some(f) = src
                    && f.read_exact_at(&mut frame, offset).is_ok()
                    && let Some(p) = code.verify(i, b, &frame)
                {
                    shards[i] = Some(p.to_vec());
                    have += 1;
                }
            }
            if let Err(e) = code.rebuild(&mut shards, l, b) {
                failed = Some(e);
                break;
            }
            for (w, &i) in writers.iter_mut().zip(&bad) {
                if let Some((f, dir)) = w
                    && let Some(s) = &shards[i]
                    && f.write_all(&code.frame(i, b, s)).is_err()
                {
                    let _ = shard_drives[i].io.remove_all(dir);
                    *w = None;
                }
            }
            offset += flen as u64;
        }
        if let Some(e) = failed {
            // Nothing half-rebuilt is left behind.
            for (w, &i) in writers.into_iter().zip(&bad) {
                if let Some((f, dir)) = w {
                    drop(f);
                    let _ = shard_drives[i].io.remove_all(&dir);
                }
            }
            return Err(e);
        }
        for (w, &i) in writers.into_iter().zip(&bad) {
            let io = shard_drives[i].io.as_ref();
            let done = w.is_some_and(|(f, dir)| {
                let ok = f.sync().is_ok() && io.rename_durable(&dir.join(&name), &paths[i]).is_ok();
                let _ = io.remove_all(&dir);
                ok
            });
            if done {
                out.shards_healed += 1;
                out.bytes_healed += io.stat(&paths[i]).map(|m| m.len).unwrap_or(0);
            } else {
                out.shards_failed += 1;
            }
        }
    }
    Ok(out)
}

impl HealStats {
    pub fn record(&self, res: &Result<HealOutcome>) {
        self.objects_scanned.fetch_add(1, Ordering::Relaxed);
        match res {
            Ok(o) if o.shards_failed == 0 => {
                if o.shards_healed > 0 {
                    self.objects_healed.fetch_add(1, Ordering::Relaxed);
                }
                self.shards_healed.fetch_add(o.shards_healed, Ordering::Relaxed);
                self.bytes_healed.fetch_add(o.bytes_healed, Ordering::Relaxed);
            }
            Ok(o) => {
                self.shards_healed.fetch_add(o.shards_healed, Ordering::Relaxed);
                self.bytes_healed.fetch_add(o.bytes_healed, Ordering::Relaxed);
                self.objects_failed.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.objects_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
