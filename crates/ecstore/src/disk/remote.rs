//! `RemoteDisk`: a drive of another node, reached through the shard RPC (`wire`) over the
//! internode transport (authenticated by the cluster secret, calls bounded in time). Its
//! methods block the calling thread on the call, like `std::fs` does: callers run them on
//! blocking threads; one called on a runtime worker is moved off it (`block_in_place`), so
//! a multi-thread runtime is required.
//! This module must never report a durable operation done unless the peer answered so.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::wire::{self, Answer, FORMAT, KIND_DISK, MAX_READ, Op, Reply, Request};
use super::{DiskIo, Entry, FileSink, FileSource, Stat, Usage, check_rel_or_root};

/// Bytes an `Append` carries at most (a sink buffers up to this before it sends).
const APPEND_CHUNK: usize = 1 << 20;

#[derive(Clone)]
pub struct RemoteDisk {
    peers: Arc<internode::Peers>,
    /// The peer's internode address.
    addr: String,
    /// The drive's path on the peer.
    drive: String,
    location: String,
    timeout: Duration,
    rt: tokio::runtime::Handle,
}

impl std::fmt::Debug for RemoteDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteDisk").field("location", &self.location).finish()
    }
}

fn rel(p: &Path) -> io::Result<String> {
    check_rel_or_root(p)?;
    p.to_str()
        .map(str::to_string)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("path {p:?} is not UTF-8")))
}

fn unexpected(r: &Reply) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("unexpected shard RPC reply {r:?}"))
}

impl RemoteDisk {
    /// Drive `drive` of the node at internode address `addr`, named `node` in logs. Call
    /// from inside a tokio runtime (its handle runs the calls).
    pub fn new(peers: Arc<internode::Peers>, node: &str, addr: &str, drive: &str, timeout: Duration) -> Self {
        Self {
            peers,
            addr: addr.to_string(),
            drive: drive.to_string(),
            location: format!("{node}:{drive}"),
            timeout,
            rt: tokio::runtime::Handle::current(),
        }
    }

    fn call(&self, op: Op) -> io::Result<Reply> {
        let req = wire::encode(&Request { format: FORMAT, drive: self.drive.clone(), op });
        let fut = self.peers.call(&self.addr, KIND_DISK, &req, self.timeout);
        let raw = tokio::task::block_in_place(|| self.rt.block_on(fut)).map_err(|e| match e {
            internode::NetError::Timeout(_) => {
                io::Error::new(io::ErrorKind::TimedOut, format!("{}: {e}", self.location))
            }
            e => io::Error::new(io::ErrorKind::ConnectionAborted, format!("{}: {e}", self.location)),
        })?;
        let ans: Answer = wire::decode(&raw)?;
        ans.map_err(io::Error::from)
    }

    fn done(&self, op: Op) -> io::Result<()> {
        match self.call(op)? {
            Reply::Done => Ok(()),
            r => Err(unexpected(&r)),
        }
    }
}

struct RemoteSink {
    disk: RemoteDisk,
    path: String,
    offset: u64,
    buf: Vec<u8>,
}

impl RemoteSink {
    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.buf);
        let len = data.len() as u64;
        self.disk.done(Op::Append { path: self.path.clone(), offset: self.offset, data })?;
        self.offset += len;
        Ok(())
    }
}

impl FileSink for RemoteSink {
    fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let take = (APPEND_CHUNK - self.buf.len()).min(buf.len());
            self.buf.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.buf.len() == APPEND_CHUNK {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn sync(mut self: Box<Self>) -> io::Result<()> {
        self.flush()?;
        self.disk.done(Op::Sync { path: self.path.clone() })
    }
}

struct RemoteSource {
    disk: RemoteDisk,
    path: String,
    len: u64,
}

impl FileSource for RemoteSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let want = ((buf.len() - done) as u64).min(MAX_READ);
            let at = offset + done as u64;
            match self.disk.call(Op::ReadAt { path: self.path.clone(), offset: at, len: want })? {
                Reply::Bytes(b) if b.len() as u64 == want => {
                    buf[done..done + b.len()].copy_from_slice(&b);
                    done += b.len();
                }
                Reply::Bytes(_) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read")),
                r => return Err(unexpected(&r)),
            }
        }
        Ok(())
    }
}

impl DiskIo for RemoteDisk {
    fn location(&self) -> &str {
        &self.location
    }

    fn create(&self, p: &Path) -> io::Result<Box<dyn FileSink>> {
        let path = rel(p)?;
        self.done(Op::Create { path: path.clone() })?;
        Ok(Box::new(RemoteSink { disk: self.clone(), path, offset: 0, buf: Vec::new() }))
    }

    fn open(&self, p: &Path) -> io::Result<Box<dyn FileSource>> {
        let path = rel(p)?;
        match self.call(Op::Open { path: path.clone() })? {
            Reply::Len(len) => Ok(Box::new(RemoteSource { disk: self.clone(), path, len })),
            r => Err(unexpected(&r)),
        }
    }

    fn rename_durable(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.done(Op::RenameDurable { from: rel(from)?, to: rel(to)? })
    }

    fn write_durable(&self, p: &Path, body: &[u8]) -> io::Result<()> {
        self.done(Op::WriteDurable { path: rel(p)?, body: body.to_vec() })
    }

    fn read_all(&self, p: &Path, max: u64) -> io::Result<Vec<u8>> {
        match self.call(Op::ReadAll { path: rel(p)?, max: max.min(MAX_READ) })? {
            Reply::Bytes(b) => Ok(b),
            r => Err(unexpected(&r)),
        }
    }

    fn remove_all(&self, p: &Path) -> io::Result<()> {
        self.done(Op::RemoveAll { path: rel(p)? })
    }

    fn remove_empty_dir(&self, p: &Path) -> io::Result<bool> {
        match self.call(Op::RemoveEmptyDir { path: rel(p)? })? {
            Reply::Removed(r) => Ok(r),
            r => Err(unexpected(&r)),
        }
    }

    fn list(&self, p: &Path) -> io::Result<Vec<Entry>> {
        match self.call(Op::List { path: rel(p)? })? {
            Reply::Entries(e) => Ok(e),
            r => Err(unexpected(&r)),
        }
    }

    fn stat(&self, p: &Path) -> io::Result<Stat> {
        match self.call(Op::Stat { path: rel(p)? })? {
            Reply::Stat(s) => Ok(s),
            r => Err(unexpected(&r)),
        }
    }

    fn usage(&self) -> io::Result<Usage> {
        match self.call(Op::Usage)? {
            Reply::Usage(u) => Ok(u),
            r => Err(unexpected(&r)),
        }
    }
}
