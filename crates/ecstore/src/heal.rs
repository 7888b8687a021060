//! Heal: finds missing or corrupt shards of an object (every frame is verified) and rewrites
//! them from the healthy ones, through a tmp file, fsync and rename, like any write. Also the
//! counters heal reports. This module must never rewrite a shard it has not rebuilt from at
//! least `data` verified shards.

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

/// Where each frame of a shard file of a part of `part_size` bytes lies: (offset, length).
fn frame_places(e: &Erasure, part_size: u64) -> Vec<(u64, u64)> {
    let mut at = 0u64;
    block_lens(part_size, e.block_size as u64)
        .map(|l| {
            let len = bitrot::framed_len(e.shard_size(l)) as u64;
            at += len;
            (at - len, len)
        })
        .collect()
}

/// Whether a shard file holds exactly the expected frames, each valid at its place
/// (`deep`), or only has the expected length (a quick check: it finds shards a drive lacks,
/// not bitrot; reads still verify every frame they use).
fn shard_is_healthy(
    io: &dyn DiskIo,
    path: &std::path::Path,
    e: &Erasure,
    part_size: u64,
    key: bitrot::FrameKey,
    deep: bool,
) -> bool {
    let Ok(f) = io.open(path) else {
        return false;
    };
    let frames = frame_places(e, part_size);
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
        if f.read_exact_at(&mut frame, offset).is_err() || key.verify(b as u64, &frame).is_none() {
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
    let e = Erasure::new(layout.data as usize, layout.parity as usize, layout.block_size as usize);
    let mut out = HealOutcome::default();
    let shard_drives: Vec<&Arc<Drive>> = layout.distribution.iter().map(|&d| &drives[d as usize]).collect();
    for part in &layout.parts {
        let name = part.file_name();
        let paths: Vec<_> = layout.distribution.iter().map(|&d| dirs[d as usize].join(&name)).collect();
        let keys: Vec<bitrot::FrameKey> =
            (0..e.total()).map(|i| crate::erasure::frame_key(&layout.algorithm, &layout.data_dir, &name, i)).collect();
        // Every shard is checked at once (those on other nodes are network reads).
        let healthy: Vec<bool> = std::thread::scope(|sc| {
            let checks: Vec<_> = (0..e.total())
                .map(|i| {
                    let (d, path, key, e) = (shard_drives[i], &paths[i], keys[i], &e);
                    sc.spawn(move || d.is_online() && shard_is_healthy(d.io.as_ref(), path, e, part.size, key, deep))
                })
                .collect();
            checks.into_iter().map(|c| c.join().unwrap_or(false)).collect()
        });
        let bad: Vec<usize> = (0..e.total()).filter(|&i| !healthy[i]).collect();
        if bad.is_empty() {
            continue;
        }
        if e.total() - bad.len() < e.data {
            return Err(StoreError::ReadQuorum(format!("data dir {}", layout.data_dir), e.data));
        }
        // Rebuilt from the first `data` healthy shards (fetched ahead when remote).
        let mut left = e.data;
        let sources: Vec<Option<Box<dyn FileSource>>> = (0..e.total())
            .map(|i| {
                if !healthy[i] || left == 0 {
                    return None;
                }
                let f = shard_drives[i].io.open(&paths[i]).ok();
                left -= usize::from(f.is_some());
                f
            })
            .collect();
        let frame_at = frame_places(&e, part.size);
        for f in sources.iter().flatten() {
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
        for (b, l) in block_lens(part.size, e.block_size as u64).enumerate() {
            if let Some(&(o, len)) = frame_at.get(b + AHEAD) {
                sources.iter().flatten().for_each(|f| f.prefetch(o, len));
            }
            let b = b as u64;
            let flen = bitrot::framed_len(e.shard_size(l));
            let mut shards: Vec<Option<Vec<u8>>> = vec![None; e.total()];
            let mut frame = vec![0u8; flen];
            for (i, src) in sources.iter().enumerate() {
                if let Some(f) = src
                    && f.read_exact_at(&mut frame, offset).is_ok()
                    && let Some(p) = keys[i].verify(b, &frame)
                {
                    shards[i] = Some(p.to_vec());
                }
            }
            e.reconstruct_all(&mut shards)?;
            for (w, &i) in writers.iter_mut().zip(&bad) {
                if let Some((f, _)) = w
                    && let Some(s) = &shards[i]
                    && f.write_all(&keys[i].hash(b, s)).and_then(|()| f.write_all(s)).is_err()
                {
                    *w = None;
                }
            }
            offset += flen as u64;
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
