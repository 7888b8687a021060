//! Group commit of a file system: writers whose files and folder entries must become durable
//! ask the [`Flusher`] of the file system they wrote on, and one `syncfs(2)` started after
//! their request makes all of it durable at once, shared by every request that came before
//! that call started. Concurrent PUTs then pay one flush of the drive between them instead
//! of an fsync per shard file and per folder (twelve drives on one file system share one).
//!
//! Flushers are per file system (device id), found through [`for_path`]. `syncfs` writes
//! back every dirty page and inode of the file system and commits its journal, and since
//! Linux 5.8 it reports writeback errors met since the descriptor was opened.
//!
//! This module must never answer a waiter before a `syncfs` that started after the waiter
//! asked has returned success, and never answer success for a batch whose flush failed.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};

/// The requests that will share one flush; its result once that flush returned.
#[derive(Default)]
struct Batch {
    result: OnceLock<Result<(), (io::ErrorKind, String)>>,
}

struct State {
    /// The batch new requests join (not started yet).
    open: Arc<Batch>,
    /// A flush is running (its batch is no longer `open`).
    running: bool,
}

/// The group commit of one file system; see the module documentation.
pub struct Flusher {
    /// A descriptor on the file system (its first drive folder), and the file system's id.
    fd: File,
    dev: u64,
    state: Mutex<State>,
    done: Condvar,
    /// Flushes made, the commits they served, and the time spent flushing (metrics).
    flushes: AtomicU64,
    commits: AtomicU64,
    flush_ns: AtomicU64,
}

impl Flusher {
    fn new(fd: File, dev: u64) -> Self {
        Self {
            fd,
            dev,
            state: Mutex::new(State { open: Arc::new(Batch::default()), running: false }),
            done: Condvar::new(),
            flushes: Default::default(),
            commits: Default::default(),
            flush_ns: Default::default(),
        }
    }

    /// Makes everything written on this file system before the call durable. Blocking:
    /// call from a blocking thread. One caller runs the flush, the others of its batch wait.
    pub fn flush(&self) -> io::Result<()> {
        self.commits.fetch_add(1, Ordering::Relaxed);
        let mut st = self.state.lock().map_err(|_| io::Error::other("flusher lock poisoned"))?;
        let mine = Arc::clone(&st.open);
        loop {
            if let Some(r) = mine.result.get() {
                return r.clone().map_err(|(kind, msg)| io::Error::new(kind, msg));
            }
            if !st.running {
                // `mine` has no result and no flush runs, so no leader took it: it is the
                // open batch. Take it and flush for everyone in it.
                st.running = true;
                let batch = std::mem::take(&mut st.open);
                drop(st);
                let started = std::time::Instant::now();
                let r = rustix::fs::syncfs(&self.fd).map_err(|e| {
                    let e = io::Error::from(e);
                    (e.kind(), format!("syncfs: {e}"))
                });
                self.flush_ns.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                self.flushes.fetch_add(1, Ordering::Relaxed);
                let _ = batch.result.set(r);
                st = self.state.lock().map_err(|_| io::Error::other("flusher lock poisoned"))?;
                st.running = false;
                self.done.notify_all();
                continue;
            }
            st = self.done.wait(st).map_err(|_| io::Error::other("flusher lock poisoned"))?;
        }
    }

    /// The id of the file system this flusher flushes.
    pub fn dev(&self) -> u64 {
        self.dev
    }

    /// Flushes made so far.
    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }
}

/// What the flushers alive did since they were made (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FlushTotals {
    pub flushes: u64,
    pub commits: u64,
    pub seconds: f64,
}

/// The sums over every flusher alive.
pub fn totals() -> FlushTotals {
    let mut t = FlushTotals::default();
    if let Ok(r) = registry().lock() {
        for f in r.values().filter_map(Weak::upgrade) {
            t.flushes += f.flushes.load(Ordering::Relaxed);
            t.commits += f.commits.load(Ordering::Relaxed);
            t.seconds += f.flush_ns.load(Ordering::Relaxed) as f64 / 1e9;
        }
    }
    t
}

/// The flushers alive, by device id.
fn registry() -> &'static Mutex<HashMap<u64, Weak<Flusher>>> {
    static R: OnceLock<Mutex<HashMap<u64, Weak<Flusher>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// The flusher of the file system holding folder `dir` (which must exist).
pub fn for_path(dir: &Path) -> io::Result<Arc<Flusher>> {
    let fd = File::open(dir)?;
    let dev = fd.metadata()?.dev();
    let mut r = registry().lock().map_err(|_| io::Error::other("flusher registry poisoned"))?;
    if let Some(f) = r.get(&dev).and_then(Weak::upgrade) {
        return Ok(f);
    }
    r.retain(|_, w| w.strong_count() > 0);
    let f = Arc::new(Flusher::new(fd, dev));
    r.insert(dev, Arc::downgrade(&f));
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn folders_of_one_file_system_share_a_flusher() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        let a = for_path(&dir.path().join("a")).unwrap();
        let b = for_path(&dir.path().join("b")).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(for_path(&dir.path().join("missing")).is_err());
    }

    /// Every caller returns after a flush that started after it asked, and concurrent
    /// callers share flushes.
    #[test]
    fn concurrent_callers_share_flushes_and_each_waits_for_one_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let f = for_path(dir.path()).unwrap();
        let before = f.flushes();
        let calls = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..8 {
                let (f, calls, dir) = (&f, &calls, dir.path());
                s.spawn(move || {
                    for i in 0..20 {
                        std::fs::write(dir.join(format!("f{t}-{i}")), b"x").unwrap();
                        let seen = f.flushes();
                        f.flush().unwrap();
                        // At least one flush completed after this call began.
                        assert!(f.flushes() > seen);
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        let made = f.flushes() - before;
        assert_eq!(calls.load(Ordering::Relaxed), 160);
        assert!((1..=160).contains(&made), "{made} flushes for 160 calls");
        let t = totals();
        assert!(t.commits >= 160 && t.flushes >= made, "{t:?}");
    }
}
