//! Freeing the shards of versions that metadata no longer references, without breaking a
//! reader that started before the overwrite or delete: readers hold a guard on the data dir
//! they read, and frees wait `delay` (longer than a metadata lookup takes to reach the
//! read) and then for the last guard to go. Frees that do not fit the bounded queue, or
//! that a crash interrupts, are left to garbage collection, which honours the guards too.
//! This module must never free a data dir a guard holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metadata::ErasureLayout;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Frees waiting at most; more are left to garbage collection.
pub const FREE_QUEUE: usize = 100_000;
/// How long a free waits at least: a reader that looked the version up before it was
/// replaced reaches the read (and takes its guard) well within this.
pub const DEFAULT_FREE_DELAY: Duration = Duration::from_secs(30);

/// Data dirs being read, with their reader counts.
#[derive(Debug, Default)]
pub struct InUse {
    readers: Mutex<HashMap<String, usize>>,
}

impl InUse {
    /// Takes a guard on `data_dir` for as long as the returned value lives.
    pub fn hold(self: &Arc<Self>, data_dir: &str) -> ReadGuard {
        *self.readers.lock().unwrap_or_else(|e| e.into_inner()).entry(data_dir.to_string()).or_insert(0) += 1;
        ReadGuard { registry: Arc::clone(self), data_dir: data_dir.to_string() }
    }

    pub fn is_held(&self, data_dir: &str) -> bool {
        self.readers.lock().unwrap_or_else(|e| e.into_inner()).contains_key(data_dir)
    }
}

/// A reader's hold on a data dir: it is not freed while this lives.
#[derive(Debug)]
pub struct ReadGuard {
    registry: Arc<InUse>,
    data_dir: String,
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        let mut m = self.registry.readers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.data_dir) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.data_dir);
            }
        }
    }
}

/// A version's data to free once no reader can need it.
#[derive(Debug, Clone)]
pub struct FreeTask {
    pub bucket: String,
    pub key: String,
    pub layout: ErasureLayout,
    pub(crate) due: Instant,
}

#[derive(Debug, Default)]
pub struct FreeStats {
    pub freed: AtomicU64,
    /// Frees the full queue turned away (garbage collection removes their data later).
    pub dropped: AtomicU64,
}

pub(crate) struct FreeQueue {
    pub tx: mpsc::Sender<FreeTask>,
    pub rx: Mutex<Option<mpsc::Receiver<FreeTask>>>,
    pub delay: Duration,
    pub stats: FreeStats,
}

impl FreeQueue {
    pub fn new(delay: Duration) -> Self {
        let (tx, rx) = mpsc::channel(FREE_QUEUE);
        Self { tx, rx: Mutex::new(Some(rx)), delay, stats: FreeStats::default() }
    }

    pub fn push(&self, bucket: String, key: String, layout: ErasureLayout) {
        let t = FreeTask { bucket, key, layout, due: Instant::now() + self.delay };
        if self.tx.try_send(t).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn len(&self) -> usize {
        FREE_QUEUE - self.tx.capacity()
    }
}

/// Splits `waiting` into the tasks that may go now and those a reader still holds.
pub(crate) fn ready(waiting: Vec<FreeTask>, in_use: &InUse, now: Instant) -> (Vec<FreeTask>, Vec<FreeTask>) {
    waiting.into_iter().partition(|t| t.due <= now && !in_use.is_held(&t.layout.data_dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(dd: &str, due: Instant) -> FreeTask {
        let layout = ErasureLayout {
            algorithm: String::new(),
            data: 8,
            parity: 4,
            block_size: 1,
            set: 0,
            distribution: Vec::new(),
            data_dir: dd.into(),
            bucket_id: None,
            parts: Vec::new(),
        };
        FreeTask { bucket: "b".into(), key: "k".into(), layout, due }
    }

    #[test]
    fn guards_hold_frees_back() {
        let in_use = Arc::new(InUse::default());
        let now = Instant::now();
        let g1 = in_use.hold("a");
        let g2 = in_use.hold("a");
        let (go, wait) =
            ready(vec![task("a", now), task("b", now), task("c", now + Duration::from_secs(9))], &in_use, now);
        assert_eq!(go.iter().map(|t| t.layout.data_dir.as_str()).collect::<Vec<_>>(), ["b"]);
        assert_eq!(wait.len(), 2);
        drop(g1);
        assert!(in_use.is_held("a"), "a second reader still holds it");
        drop(g2);
        let (go, wait) = ready(wait, &in_use, now);
        assert_eq!(go.iter().map(|t| t.layout.data_dir.as_str()).collect::<Vec<_>>(), ["a"]);
        assert_eq!(wait.len(), 1, "not due yet");
    }
}
