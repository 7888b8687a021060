//! Byte-level I/O on one drive, behind a small trait, so the erasure code, heal and GC run the
//! same over a drive of this node (`LocalDisk`) and a drive of another node (a remote disk
//! over the internode shard RPC). Every path is relative to the drive's root and checked
//! (`check_rel`): no `..`, no absolute path, no empty or `.` component, so no caller and no
//! peer can reach outside the drive. The API is blocking: callers run it on blocking threads
//! (`spawn_blocking`, the encoder and reader threads), as they did with `std::fs`.
//!
//! - `local`: `LocalDisk`, a folder on this node;
//! - `direct`: shard files written with `O_DIRECT` (no copy into the page cache);
//! - `flush`: the group commit (one `syncfs` shared by concurrent commits) of a file system;
//! - `remote`: `RemoteDisk`, a drive of another node through the shard RPC;
//! - `service`: `DiskService`, the serving side of the shard RPC;
//! - `wire`: the shard RPC's messages;
//! - `suite`: the conformance checks every implementation passes.
//!
//! This module must never follow a path that `check_rel` refuses, and never acknowledge a
//! durable operation (`sync`, `rename_durable`, `write_durable`) before it is on disk.

pub mod direct;
pub mod flush;
pub mod local;
pub mod remote;
pub mod service;
pub mod suite;
pub mod walk;
pub mod wire;

use std::io;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use local::LocalDisk;
pub use remote::RemoteDisk;
pub use service::DiskService;

/// One entry of a folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
    /// A regular file (not a folder, not a link).
    pub is_file: bool,
    /// Modification time, nanoseconds since the epoch (0 when unknown).
    pub mtime_ns: i64,
}

/// What `stat` tells of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    pub len: u64,
    pub is_dir: bool,
    pub mtime_ns: i64,
}

/// Space on a drive's file system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub total_bytes: u64,
    pub free_bytes: u64,
}

/// A file being written (see `DiskIo::create`).
pub trait FileSink: Send {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything written durable (fsync) and closes the file.
    fn sync(self: Box<Self>) -> io::Result<()>;
    /// Closes the file with everything written handed to the drive, not yet durable (see
    /// `DiskIo::commit`). The default syncs it.
    fn close(self: Box<Self>) -> io::Result<()> {
        self.sync()
    }
}

/// A file open for reading (see `DiskIo::open`).
pub trait FileSource: Send + Sync {
    /// The file's length when it was opened.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from `offset`; an error if the file ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// A hint that `len` bytes at `offset` will be read soon: a file of another node starts
    /// fetching them (a few at most), so reads of several shards overlap. A no-op here.
    fn prefetch(&self, offset: u64, len: u64) {
        let _ = (offset, len);
    }
}

/// I/O on one drive; see the module documentation.
pub trait DiskIo: Send + Sync + std::fmt::Debug {
    /// Where the drive is, for logs, errors and metric labels (`/data/d1`, `node2:/data/d1`).
    fn location(&self) -> &str;
    /// Creates (or truncates) file `rel`, creating its folder as needed (not durably: only
    /// `rename_durable` makes a file's place durable).
    fn create(&self, rel: &Path) -> io::Result<Box<dyn FileSink>>;
    fn open(&self, rel: &Path) -> io::Result<Box<dyn FileSource>>;
    /// `open`, as a call that can be in flight together with others (a drive of another
    /// node); `None`: call `open`, it does not wait on a network.
    fn open_async(&self, rel: &Path) -> Option<futures::future::BoxFuture<'static, io::Result<Box<dyn FileSource>>>> {
        let _ = rel;
        None
    }
    /// Closes `file` (written at `from`), moves it to `to` (creating `to`'s folders) and
    /// makes its content, `to`'s folders and the move durable before it returns. The
    /// default syncs the file and renames it durably; a drive of this node shares one flush
    /// of its file system with the commits in flight (`flush`).
    fn commit(&self, file: Box<dyn FileSink>, from: &Path, to: &Path) -> io::Result<()> {
        file.sync()?;
        self.rename_durable(from, to)
    }
    /// Moves file `from` to `to`, creating `to`'s folders durably, and makes the move durable.
    fn rename_durable(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Gives each file `from` a second name `to` (a hard link; `to` must not exist),
    /// creating `to`'s folders durably, and makes the new names durable (one fsync per
    /// folder). Stops at the first failure; the names made before it stay.
    fn link_durable(&self, links: &[(PathBuf, PathBuf)]) -> io::Result<()>;
    /// Writes `body` to `rel` atomically and durably (a temporary file, fsync, rename, fsync
    /// of the folder); creates the folder durably if needed.
    fn write_durable(&self, rel: &Path, body: &[u8]) -> io::Result<()>;
    /// The whole file, at most `max` bytes (longer: `InvalidData`).
    fn read_all(&self, rel: &Path, max: u64) -> io::Result<Vec<u8>>;
    /// Removes a file or a folder with everything in it; absent is not an error.
    fn remove_all(&self, rel: &Path) -> io::Result<()>;
    /// `remove_all`, then makes the removal durable (fsync of the parent folder).
    fn remove_durable(&self, rel: &Path) -> io::Result<()>;
    /// Removes an empty folder; `Ok(false)` if it is not empty or not there.
    fn remove_empty_dir(&self, rel: &Path) -> io::Result<bool>;
    /// The entries of a folder (in no particular order); `""` is the drive's root.
    fn list(&self, rel: &Path) -> io::Result<Vec<Entry>>;
    /// `""` is the drive's root.
    fn stat(&self, rel: &Path) -> io::Result<Stat>;
    fn usage(&self) -> io::Result<Usage>;
    /// The keys (folders holding an `xl.meta`) under folder `rel` in key order, per `q`
    /// (see `walk`); a missing folder has none.
    fn walk(&self, rel: &Path, q: &walk::WalkQuery) -> io::Result<Vec<walk::Entry>>;
}

/// Opens `rel` on each drive at once (the calls to other nodes overlap; local files open on
/// this thread meanwhile). Blocking: call from a blocking thread inside a tokio runtime.
pub fn open_all(items: &[(&dyn DiskIo, std::path::PathBuf)]) -> Vec<io::Result<Box<dyn FileSource>>> {
    let mut remote = Vec::new();
    let mut out: Vec<Option<io::Result<Box<dyn FileSource>>>> = Vec::with_capacity(items.len());
    for (i, (d, p)) in items.iter().enumerate() {
        match d.open_async(p) {
            Some(f) => {
                remote.push((i, f));
                out.push(None);
            }
            None => out.push(Some(d.open(p))),
        }
    }
    if !remote.is_empty() {
        let waits = futures::future::join_all(remote.into_iter().map(|(i, f)| async move { (i, f.await) }));
        let done = match tokio::runtime::Handle::try_current() {
            Ok(rt) => tokio::task::block_in_place(|| rt.block_on(waits)),
            Err(_) => futures::executor::block_on(waits),
        };
        for (i, r) in done {
            out[i] = Some(r);
        }
    }
    out.into_iter().map(|r| r.unwrap_or_else(|| Err(io::Error::other("not opened")))).collect()
}

/// `check_rel`, where the empty path (the drive's root) is allowed too: for `list` and
/// `stat`, which change nothing.
pub fn check_rel_or_root(rel: &Path) -> io::Result<()> {
    if rel.as_os_str().is_empty() { Ok(()) } else { check_rel(rel) }
}

/// Refuses a relative path that could leave the drive: it must be non-empty and made of
/// plain names only.
pub fn check_rel(rel: &Path) -> io::Result<()> {
    let mut any = false;
    for c in rel.components() {
        match c {
            Component::Normal(_) => any = true,
            _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("path {rel:?} leaves the drive"))),
        }
    }
    if !any {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty path"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_pass() {
        for ok in ["a", "a/b", ".rustfs.sys/tmp/x", "a b/c\u{e9}"] {
            assert!(check_rel(Path::new(ok)).is_ok(), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a", "/", "."] {
            assert!(check_rel(Path::new(bad)).is_err(), "{bad:?}");
        }
    }
}
