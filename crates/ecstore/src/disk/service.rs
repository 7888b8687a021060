//! The serving side of the shard RPC: answers `wire` requests of authenticated peers on this
//! node's own drives, each on a blocking thread. Only the drives it was given are served:
//! a request naming another path is refused, and every path goes through `check_rel`.
//! This module must never answer a durable operation before it is on disk.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::local::LocalDisk;
use super::wire::{self, Answer, FORMAT, KIND_DISK, MAX_READ, Op, Reply, Request, WireError};
use super::{DiskIo, check_rel};

/// Entries one `Walk` answers at most.
const MAX_WALK: usize = 10_000;

/// The shard RPC handler of one node: its drives by their configured path.
pub struct DiskService {
    drives: HashMap<String, LocalDisk>,
}

impl DiskService {
    /// Serves `drives` (paths as the cluster configuration names them).
    pub fn new(drives: impl IntoIterator<Item = std::path::PathBuf>) -> Arc<Self> {
        let drives = drives.into_iter().map(|p| (p.display().to_string(), LocalDisk::new(p))).collect();
        Arc::new(Self { drives })
    }

    /// Answers one encoded request (on a blocking thread).
    pub async fn answer(&self, body: &[u8]) -> Vec<u8> {
        let res: Answer = match wire::decode::<Request>(body) {
            Ok(req) if req.format != FORMAT => Err(WireError {
                kind: 0,
                message: format!("shard RPC format {} is not supported (this node speaks {FORMAT})", req.format),
            }),
            Ok(req) => match self.drives.get(&req.drive) {
                None => Err(WireError { kind: 1, message: format!("this node serves no drive {:?}", req.drive) }),
                Some(d) => {
                    let d = d.clone();
                    tokio::task::spawn_blocking(move || run(&d, req.op))
                        .await
                        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
                        .map_err(|e| WireError::from(&e))
                }
            },
            Err(e) => Err(WireError::from(&e)),
        };
        wire::encode(&res)
    }
}

fn file_at(d: &LocalDisk, path: &str) -> io::Result<std::path::PathBuf> {
    let p = Path::new(path);
    check_rel(p)?;
    Ok(d.root().join(p))
}

fn run(d: &LocalDisk, op: Op) -> io::Result<Reply> {
    Ok(match op {
        Op::Create { path } => {
            d.create(Path::new(&path))?;
            Reply::Done
        }
        Op::Append { path, offset, data } => {
            let f = OpenOptions::new().write(true).open(file_at(d, &path)?)?;
            f.write_all_at(&data, offset)?;
            Reply::Done
        }
        Op::Sync { path } => {
            // fsync acts on the file, whichever descriptor asks.
            OpenOptions::new().write(true).open(file_at(d, &path)?)?.sync_all()?;
            Reply::Done
        }
        Op::Open { path } => Reply::Len(d.open(Path::new(&path))?.len()),
        Op::ReadAt { path, offset, len } => {
            if len > MAX_READ {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("read of {len} bytes over the limit")));
            }
            let mut buf = vec![0u8; len as usize];
            d.open(Path::new(&path))?.read_exact_at(&mut buf, offset)?;
            Reply::Bytes(buf)
        }
        Op::RenameDurable { from, to } => {
            d.rename_durable(Path::new(&from), Path::new(&to))?;
            Reply::Done
        }
        Op::LinkDurable { links } => {
            let links: Vec<_> = links.iter().map(|(f, t)| (PathBuf::from(f), PathBuf::from(t))).collect();
            d.link_durable(&links)?;
            Reply::Done
        }
        Op::WriteDurable { path, body } => {
            d.write_durable(Path::new(&path), &body)?;
            Reply::Done
        }
        Op::ReadAll { path, max } => Reply::Bytes(d.read_all(Path::new(&path), max.min(MAX_READ))?),
        Op::RemoveAll { path } => {
            d.remove_all(Path::new(&path))?;
            Reply::Done
        }
        Op::RemoveEmptyDir { path } => Reply::Removed(d.remove_empty_dir(Path::new(&path))?),
        Op::List { path } => Reply::Entries(d.list(Path::new(&path))?),
        Op::Stat { path } => Reply::Stat(d.stat(Path::new(&path))?),
        Op::Usage => Reply::Usage(d.usage()?),
        Op::RemoveDurable { path } => {
            d.remove_durable(Path::new(&path))?;
            Reply::Done
        }
        Op::Commit { from, to } => {
            d.commit_closed(Path::new(&from), Path::new(&to))?;
            Reply::Done
        }
        Op::Walk { path, query } => {
            // A walk answers at most one page; the caller asks again after its last entry.
            let query = super::walk::WalkQuery { limit: query.limit.min(MAX_WALK), ..query };
            Reply::Walked(d.walk(Path::new(&path), &query)?)
        }
    })
}

#[async_trait]
impl internode::Handler for DiskService {
    async fn call(&self, _from: u64, kind: u16, body: Vec<u8>) -> Result<Vec<u8>, String> {
        if kind != KIND_DISK {
            return Err(format!("unknown internode request kind {kind:#x}"));
        }
        Ok(self.answer(&body).await)
    }

    async fn message(&self, _from: u64, _kind: u16, _body: Vec<u8>) {}
}
