//! Streaming erasure write of one part: the body is cut into blocks, each block is encoded
//! into framed shards (our code and frames, or MinIO's GF(2^8) code and HighwayHash-256
//! frames on an adopted deployment) and appended to a temporary file per drive; each file is then
//! committed into the object's data dir in parallel (`DiskIo::commit`: on a drive of this node
//! the move and the content become durable in one flush of the file system shared with the
//! other writes in flight; elsewhere an fsync of the file and of its new folder).
//! Memory is bounded by a few blocks whatever the part size. This module must never make
//! an object visible: that is the metadata commit, done by the caller afterwards.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::bitrot;
use crate::disk::FileSink;
use crate::drives::Drive;
use crate::erasure::Erasure;
use crate::error::{Result, StoreError};

/// What a part write produced.
#[derive(Debug, Clone)]
pub struct Written {
    pub size: u64,
    /// `ok[i]`: shard `i` was written durably.
    pub ok: Vec<bool>,
}

impl Written {
    pub fn degraded(&self) -> bool {
        self.ok.iter().any(|o| !o)
    }
}

/// A shard file being written in a drive's tmp folder (paths relative to the drive).
struct TmpShard {
    path: PathBuf,
    file: Option<Box<dyn FileSink>>,
}

pub(crate) struct PartTarget<'a> {
    pub drives: &'a [Arc<Drive>],
    /// The data dir on each drive of the set (in set order), relative to the drive.
    pub dirs: &'a [PathBuf],
    pub distribution: &'a [u8],
    pub file: &'a str,
    /// The frame key of each shard index.
    pub keys: &'a [bitrot::FrameKey],
    /// How long the encoder waits for the next block of the body before it gives up.
    pub idle: std::time::Duration,
    /// MinIO's code, for a part written in MinIO's format (then `keys` are unused).
    pub minio: Option<crate::minio::Codec>,
}

pub(crate) async fn write_part<S>(
    erasure: Erasure,
    t: PartTarget<'_>,
    mut body: S,
    max_size: u64,
    quorum: usize,
) -> Result<Written>
where
    S: Stream<Item = Result<Bytes>> + Unpin + Send,
{
    let tmp_id = uuid::Uuid::new_v4().simple().to_string();
    let file_name = t.file.to_string();
    // Shard i goes to drive distribution[i].
    let shard_drives: Vec<Arc<Drive>> = t.distribution.iter().map(|&d| Arc::clone(&t.drives[d as usize])).collect();
    let shard_dirs: Vec<PathBuf> = t.distribution.iter().map(|&d| t.dirs[d as usize].clone()).collect();
    let idle = t.idle;
    let keys = t.keys.to_vec();
    let minio = t.minio;
    let rt = tokio::runtime::Handle::current();
    let (tx, mut rx) = mpsc::channel::<Bytes>(2);
    let enc_drives = shard_drives.clone();
    let enc_tmp = tmp_id.clone();
    let enc_file = file_name.clone();
    // One blocking thread encodes blocks and appends frames to the 12 tmp files.
    let span = tracing::debug_span!("erasure_encode", drives = enc_drives.len());
    let encoder = tokio::task::spawn_blocking(move || -> Vec<TmpShard> {
        let _in = span.enter();
        let mut shards: Vec<TmpShard> = enc_drives
            .iter()
            .map(|d| {
                let path = Drive::tmp_rel().join(format!("{enc_tmp}-{enc_file}"));
                let file = if d.check_alive() { d.io.create(&path).ok() } else { None };
                if file.is_none() && d.is_online() {
                    d.note_error();
                }
                TmpShard { path, file }
            })
            .collect();
        // A body that stops coming must not hold this thread: wait at most `idle`, then
        // fail every shard (the part is incomplete).
        let mut block_index = 0u64;
        loop {
            let block = match rt.block_on(tokio::time::timeout(idle, rx.recv())) {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(_) => {
                    shards.iter_mut().for_each(|s| s.file = None);
                    break;
                }
            };
            let encoded = match &minio {
                Some(c) => c.encode(&block).ok(),
                None => erasure.encode(&block).ok(),
            };
            let Some(encoded) = encoded else {
                shards.iter_mut().for_each(|s| s.file = None);
                break;
            };
            for (i, shard) in encoded.iter().enumerate() {
                if let Some(f) = shards[i].file.as_mut() {
                    let h: Vec<u8> = match &minio {
                        Some(_) => crate::minio::highway256(shard).to_vec(),
                        None => keys[i].hash(block_index, shard).to_vec(),
                    };
                    if f.write_all(&h).and_then(|()| f.write_all(shard)).is_err() {
                        enc_drives[i].note_error();
                        shards[i].file = None;
                    }
                }
            }
            block_index += 1;
        }
        shards
    });

    let mut size: u64 = 0;
    let mut buf = BytesMut::with_capacity(erasure.block_size);
    let mut failure = None;
    'body: while let Some(chunk) = body.next().await {
        let mut chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        size += chunk.len() as u64;
        if size > max_size {
            failure = Some(StoreError::TooLarge(max_size));
            break;
        }
        while !chunk.is_empty() {
            let take = (erasure.block_size - buf.len()).min(chunk.len());
            buf.extend_from_slice(&chunk.split_to(take));
            if buf.len() == erasure.block_size {
                let block = std::mem::replace(&mut buf, BytesMut::with_capacity(erasure.block_size)).freeze();
                if tx.send(block).await.is_err() {
                    failure = Some(StoreError::Body("the shard writer stopped (the body stalled)".into()));
                    break 'body;
                }
            }
        }
    }
    if failure.is_none() && !buf.is_empty() && tx.send(buf.freeze()).await.is_err() {
        failure = Some(StoreError::Body("the shard writer stopped (the body stalled)".into()));
    }
    drop(tx);
    let shards = encoder.await.map_err(|e| StoreError::Erasure(e.to_string()))?;
    if let Some(e) = failure {
        cleanup(&shard_drives, shards).await;
        return Err(e);
    }

    // Make the shard files durable (in parallel), then move them into place.
    let mut jobs = Vec::new();
    for (i, s) in shards.into_iter().enumerate() {
        let drive = Arc::clone(&shard_drives[i]);
        let final_dir = shard_dirs[i].clone();
        let name = file_name.clone();
        let span = tracing::debug_span!("shard_commit", drive = %drive.io.location(), shard = i);
        jobs.push(tokio::task::spawn_blocking(move || -> bool {
            let _in = span.enter();
            let started = std::time::Instant::now();
            let Some(f) = s.file else {
                let _ = drive.io.remove_all(&s.path);
                return false;
            };
            let ok = drive.io.commit(f, &s.path, &final_dir.join(&name)).is_ok();
            if !ok {
                let _ = drive.io.remove_all(&s.path);
            }
            if ok {
                crate::metrics::METRICS
                    .shard_commit_seconds
                    .with_label_values(&[drive.io.location()])
                    .observe(started.elapsed().as_secs_f64());
            } else {
                drive.note_error();
            }
            ok
        }));
    }
    let mut ok = Vec::with_capacity(jobs.len());
    for j in jobs {
        ok.push(j.await.unwrap_or(false));
    }
    let good = ok.iter().filter(|o| **o).count();
    if good < quorum {
        return Err(StoreError::WriteQuorum { set: shard_drives[0].set, online: good, needed: quorum });
    }
    Ok(Written { size, ok })
}

async fn cleanup(drives: &[Arc<Drive>], shards: Vec<TmpShard>) {
    let drives = drives.to_vec();
    let _ = tokio::task::spawn_blocking(move || {
        for (d, s) in drives.iter().zip(shards) {
            drop(s.file);
            let _ = d.io.remove_all(&s.path);
        }
    })
    .await;
}
