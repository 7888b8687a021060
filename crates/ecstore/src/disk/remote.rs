//! `RemoteDisk`: a drive of another node, reached through the shard RPC (`wire`) over the
//! internode transport (authenticated by the cluster secret, calls bounded in time). Its
//! methods block the calling thread on the call, like `std::fs` does: callers run them on
//! blocking threads; one called on a runtime worker is moved off it (`block_in_place`), so
//! a multi-thread runtime is required.
//!
//! Streaming without waiting on each round trip: a file being written sends its appends from
//! a task of its own through a small bounded queue (the writer blocks only when the queue is
//! full: backpressure), so the shards of one block travel to every node at once; a file
//! being read fetches the frames it is told it will need (`prefetch`) ahead, and opens can
//! be started together (`open_async`). A dead or partitioned node so costs one call timeout
//! per object, not one per shard.
//!
//! This module must never report a durable operation done unless the peer answered so.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use super::wire::{self, Answer, FORMAT, KIND_DISK, MAX_READ, Op, Reply, Request};
use super::{DiskIo, Entry, FileSink, FileSource, Stat, Usage, check_rel_or_root};

/// Bytes an `Append` carries at most (a sink buffers up to this before it sends).
const APPEND_CHUNK: usize = 1 << 20;
/// Appends a sink queues ahead of the network at most (its memory: this many chunks).
const SINK_QUEUE: usize = 2;
/// Reads a source keeps in flight ahead of the reader at most.
const READ_AHEAD: usize = 4;

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

    async fn call_async(&self, op: Op) -> io::Result<Reply> {
        let req = wire::encode(&Request { format: FORMAT, drive: self.drive.clone(), op });
        let raw = self.peers.call(&self.addr, KIND_DISK, &req, self.timeout).await.map_err(|e| match e {
            internode::NetError::Timeout(_) => {
                io::Error::new(io::ErrorKind::TimedOut, format!("{}: {e}", self.location))
            }
            e => io::Error::new(io::ErrorKind::ConnectionAborted, format!("{}: {e}", self.location)),
        })?;
        let ans: Answer = wire::decode(&raw)?;
        ans.map_err(io::Error::from)
    }

    /// Waits for `fut` on the calling (blocking) thread.
    fn wait<T>(&self, fut: impl std::future::Future<Output = T>) -> T {
        tokio::task::block_in_place(|| self.rt.block_on(fut))
    }

    fn call(&self, op: Op) -> io::Result<Reply> {
        self.wait(self.call_async(op))
    }

    async fn done_async(&self, op: Op) -> io::Result<()> {
        match self.call_async(op).await? {
            Reply::Done => Ok(()),
            r => Err(unexpected(&r)),
        }
    }

    fn done(&self, op: Op) -> io::Result<()> {
        self.wait(self.done_async(op))
    }

    async fn read_at_async(&self, path: String, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        match self.call_async(Op::ReadAt { path, offset, len }).await? {
            Reply::Bytes(b) if b.len() as u64 == len => Ok(b),
            Reply::Bytes(_) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read")),
            r => Err(unexpected(&r)),
        }
    }

    async fn open_remote(self, path: String) -> io::Result<Box<dyn FileSource>> {
        match self.call_async(Op::Open { path: path.clone() }).await? {
            Reply::Len(len) => Ok(Box::new(RemoteSource { disk: self, path, len, ahead: Mutex::default() })),
            r => Err(unexpected(&r)),
        }
    }
}

enum SinkMsg {
    Data(Vec<u8>),
    Sync,
    /// The last append is sent: end without a sync (a commit follows).
    Close,
}

/// A file being written: `Create`, then its `Append`s in order, then `Sync`, sent by a task
/// of its own (see the module documentation).
struct RemoteSink {
    disk: RemoteDisk,
    tx: Option<tokio::sync::mpsc::Sender<SinkMsg>>,
    task: Option<tokio::task::JoinHandle<io::Result<()>>>,
    buf: Vec<u8>,
}

async fn pump(disk: RemoteDisk, path: String, mut rx: tokio::sync::mpsc::Receiver<SinkMsg>) -> io::Result<()> {
    disk.done_async(Op::Create { path: path.clone() }).await?;
    let mut offset = 0u64;
    while let Some(m) = rx.recv().await {
        match m {
            SinkMsg::Data(data) => {
                let len = data.len() as u64;
                disk.done_async(Op::Append { path: path.clone(), offset, data }).await?;
                offset += len;
            }
            SinkMsg::Sync => return disk.done_async(Op::Sync { path }).await,
            SinkMsg::Close => return Ok(()),
        }
    }
    // Dropped without a sync: the file is abandoned (its tmp folder is removed by the writer).
    Err(io::Error::other("abandoned"))
}

impl RemoteSink {
    /// The pump's error, once it stopped.
    fn failure(&mut self) -> io::Error {
        self.tx = None;
        match self.task.take() {
            Some(t) => match self.disk.wait(t) {
                Ok(Err(e)) => e,
                Ok(Ok(())) => io::Error::other(format!("{}: the write stopped early", self.disk.location)),
                Err(e) => io::Error::other(format!("{}: {e}", self.disk.location)),
            },
            None => io::Error::other(format!("{}: the write already failed", self.disk.location)),
        }
    }

    /// Sends what is buffered and then `last`, and waits for the pump to answer them all.
    fn finish(&mut self, last: SinkMsg) -> io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.send(SinkMsg::Data(chunk))?;
        }
        self.send(last)?;
        self.tx = None;
        let Some(t) = self.task.take() else { return Err(self.failure()) };
        match self.disk.wait(t) {
            Ok(r) => r,
            Err(e) => Err(io::Error::other(format!("{}: {e}", self.disk.location))),
        }
    }

    fn send(&mut self, m: SinkMsg) -> io::Result<()> {
        let Some(tx) = self.tx.clone() else { return Err(self.failure()) };
        match self.disk.wait(tx.send(m)) {
            Ok(()) => Ok(()),
            Err(_) => Err(self.failure()),
        }
    }
}

impl Drop for RemoteSink {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl FileSink for RemoteSink {
    fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let take = (APPEND_CHUNK - self.buf.len()).min(buf.len());
            self.buf.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.buf.len() == APPEND_CHUNK {
                let chunk = std::mem::take(&mut self.buf);
                self.send(SinkMsg::Data(chunk))?;
            }
        }
        Ok(())
    }

    fn sync(mut self: Box<Self>) -> io::Result<()> {
        self.finish(SinkMsg::Sync)
    }

    fn close(mut self: Box<Self>) -> io::Result<()> {
        self.finish(SinkMsg::Close)
    }
}

type Ahead = VecDeque<(u64, u64, tokio::task::JoinHandle<io::Result<Vec<u8>>>)>;

struct RemoteSource {
    disk: RemoteDisk,
    path: String,
    len: u64,
    /// Reads started ahead (offset, length, the call).
    ahead: Mutex<Ahead>,
}

impl Drop for RemoteSource {
    fn drop(&mut self) {
        for (_, _, h) in self.ahead.get_mut().unwrap_or_else(|e| e.into_inner()).drain(..) {
            h.abort();
        }
    }
}

impl FileSource for RemoteSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn prefetch(&self, offset: u64, len: u64) {
        if len == 0 || len > MAX_READ || offset.saturating_add(len) > self.len {
            return;
        }
        let mut a = self.ahead.lock().unwrap_or_else(|e| e.into_inner());
        if a.len() >= READ_AHEAD || a.iter().any(|(o, l, _)| *o == offset && *l == len) {
            return;
        }
        let (d, p) = (self.disk.clone(), self.path.clone());
        a.push_back((offset, len, self.disk.rt.spawn(async move { d.read_at_async(p, offset, len).await })));
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let want = buf.len() as u64;
        let started = {
            let mut a = self.ahead.lock().unwrap_or_else(|e| e.into_inner());
            // Reads started for offsets the reader went past are no longer wanted.
            while a.front().is_some_and(|(o, _, _)| *o < offset) {
                if let Some((_, _, h)) = a.pop_front() {
                    h.abort();
                }
            }
            a.iter().position(|(o, l, _)| *o == offset && *l == want).and_then(|i| a.remove(i))
        };
        if let Some((_, _, h)) = started {
            let b = self.disk.wait(h).map_err(|e| io::Error::other(e.to_string()))??;
            buf.copy_from_slice(&b);
            return Ok(());
        }
        let mut done = 0usize;
        while done < buf.len() {
            let n = ((buf.len() - done) as u64).min(MAX_READ);
            let b = self.disk.wait(self.disk.read_at_async(self.path.clone(), offset + done as u64, n))?;
            buf[done..done + b.len()].copy_from_slice(&b);
            done += b.len();
        }
        Ok(())
    }
}

impl DiskIo for RemoteDisk {
    fn location(&self) -> &str {
        &self.location
    }

    /// The file is created by the sink's task: an error shows at a later write or the sync.
    fn create(&self, p: &Path) -> io::Result<Box<dyn FileSink>> {
        super::check_rel(p)?;
        let path = rel(p)?;
        let (tx, rx) = tokio::sync::mpsc::channel(SINK_QUEUE);
        let task = self.rt.spawn(pump(self.clone(), path, rx));
        Ok(Box::new(RemoteSink { disk: self.clone(), tx: Some(tx), task: Some(task), buf: Vec::new() }))
    }

    fn open(&self, p: &Path) -> io::Result<Box<dyn FileSource>> {
        let path = rel(p)?;
        self.wait(self.clone().open_remote(path))
    }

    fn open_async(&self, p: &Path) -> Option<BoxFuture<'static, io::Result<Box<dyn FileSource>>>> {
        let path = rel(p);
        let d = self.clone();
        Some(Box::pin(async move { d.open_remote(path?).await }))
    }

    /// The peer moves the file and flushes its file system once for every commit in flight
    /// there; a peer that predates `Commit` syncs the file and moves it durably instead.
    fn commit(&self, file: Box<dyn FileSink>, from: &Path, to: &Path) -> io::Result<()> {
        // Closed first: a refused path leaves the file whole, as on a local drive.
        file.close()?;
        let (from, to) = (rel(from)?, rel(to)?);
        super::check_rel(Path::new(&to))?;
        match self.done(Op::Commit { from: from.clone(), to: to.clone() }) {
            Err(e) if wire::predates(&e) => {
                self.done(Op::Sync { path: from.clone() })?;
                self.done(Op::RenameDurable { from, to })
            }
            r => r,
        }
    }

    fn rename_durable(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.done(Op::RenameDurable { from: rel(from)?, to: rel(to)? })
    }

    fn link_durable(&self, links: &[(PathBuf, PathBuf)]) -> io::Result<()> {
        let links = links.iter().map(|(f, t)| Ok((rel(f)?, rel(t)?))).collect::<io::Result<Vec<_>>>()?;
        self.done(Op::LinkDurable { links })
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

    fn remove_durable(&self, p: &Path) -> io::Result<()> {
        super::check_rel(p)?;
        self.done(Op::RemoveDurable { path: rel(p)? })
    }

    fn walk(&self, p: &Path, q: &super::walk::WalkQuery) -> io::Result<Vec<super::walk::Entry>> {
        match self.call(Op::Walk { path: rel(p)?, query: q.clone() })? {
            Reply::Walked(e) => Ok(e),
            r => Err(unexpected(&r)),
        }
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
