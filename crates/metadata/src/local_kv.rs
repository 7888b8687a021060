//! `LocalKv`: the `Kv` contract on a local surrealkv tree.
//!
//! Durability: every applied batch is on disk (WAL fsynced) before `write` returns. Commits
//! go to the WAL without a sync and then wait on a group-commit syncer thread, so that many
//! concurrent commits share one fsync instead of paying one each; waiting takes no thread
//! (the queue to the syncer is async and bounded).
//!
//! surrealkv's own flushes and compactions run on a runtime of the store's (`Background`),
//! never on the caller's, whose workers serve requests.
//!
//! A failed sync: the batches it covered are applied (readers may see them) but may not be
//! on disk, so their writers get `CommitUnknown` (they must not free anything those batches
//! reference), and the store turns read-only: every later write fails with `Unavailable`
//! until a restart replays what the WAL really holds. This module must never acknowledge
//! a write whose WAL sync has not completed.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use surrealkv::{Durability, LSMIterator, Mode, Tree, TreeBuilder};
use tokio::sync::{mpsc, oneshot};

use crate::error::{MetaError, Result};
use crate::hot_cache::{HotCache, Lookup, WriteGuard};
use crate::kv::{Condition, GroupStatus, Kv, KvLifecycle, Member, Op, WriteBatch, WriteOutcome};
use crate::metrics::{KvMetrics, METRICS};

/// How many times a batch is retried when surrealkv reports an optimistic-concurrency conflict.
const MAX_CONFLICT_RETRIES: u32 = 64;
/// Waiters queued for the group-commit syncer at most (a bounded queue).
const SYNC_QUEUE: usize = 8192;
/// Target size of a table's data block. Small, because reads are point lookups of object
/// records: a lookup reads (and checks) one block, and a block under 14 KiB is a small
/// allocation (surrealkv's 64 KiB default made every lookup a large, zeroed allocation).
const BLOCK_SIZE: usize = 8 * 1024;
/// Level-0 tables (flushed memtables) that trigger their compaction into level 1; writes
/// stall at three times as many. surrealkv's default is 4. Object keys arrive in a few
/// ascending streams (one per folder being filled), so every flushed table spans most of
/// level 1's key range and each of these compactions rewrites most of level 1: twice as
/// many tables per compaction is half as many rewrites. Measured on fresh fills of 2M
/// objects of 1 KiB, 4 and 8 alternated twice on one build: fill 9,486 and 9,197 PUT/s
/// against 10,001 and 9,668 (+5%); GET in the first 10 s after the fill, while compactions
/// still run, 22,627 and 21,549 against 24,585 and 23,552 (+9%).
const L0_COMPACTION_FILES: usize = 8;

/// How much memory a local tree may use: its caches, sized by configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvOptions {
    /// The block cache (data, index and filter blocks of the tables), in bytes.
    pub block_cache_bytes: u64,
    /// A memtable's size before it is written out as a table, in bytes (a second one fills
    /// while the first is written).
    pub memtable_bytes: usize,
}

impl Default for KvOptions {
    fn default() -> Self {
        Self { block_cache_bytes: 256 << 20, memtable_bytes: 64 << 20 }
    }
}

/// The runtime of surrealkv's background tasks: memtable flushes, level compactions and the
/// commit pipeline's flusher. A compaction runs synchronously inside its task for as long as
/// it takes (seconds, at millions of keys), so on the server's runtime it would hold one of
/// the request workers that whole time, and every task queued behind it would wait; on a
/// runtime of their own these tasks take turns with the request workers on the cores. One
/// worker each, so a compaction never holds up a flush or the commits.
struct Background(Option<tokio::runtime::Runtime>);

impl Background {
    const WORKERS: usize = 3;

    fn start() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(Self::WORKERS)
            .thread_name("kv-background")
            .enable_all()
            .build()
            .map_err(kv_err)?;
        Ok(Self(Some(rt)))
    }

    fn enter(&self) -> Option<tokio::runtime::EnterGuard<'_>> {
        self.0.as_ref().map(|rt| rt.enter())
    }
}

impl Drop for Background {
    /// Without waiting: a runtime dropped on an async thread would otherwise panic. The tasks
    /// have stopped when the tree was closed; an unclosed tree's are dropped (its WAL has
    /// every acknowledged write).
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

type SyncWaiter = oneshot::Sender<std::result::Result<(), String>>;

pub struct LocalKv {
    tree: Arc<Tree>,
    /// Where the tree's own tasks run; declared after `tree`, so dropped after it.
    _background: Background,
    sync_tx: mpsc::Sender<SyncWaiter>,
    /// Why the store is read-only (a WAL sync failed), if it is.
    failed: Arc<Mutex<Option<String>>>,
    /// Test hook: the next WAL sync fails as a failing disk would make it.
    fail_next_sync: Arc<AtomicBool>,
    /// Batches this instance applied (its commit and apply index as a group of one).
    applied: std::sync::atomic::AtomicU64,
    metrics: Arc<KvMetrics>,
    /// The bucket records, in memory (`hot_cache`): every write to the tree goes through
    /// `hot_write`.
    hot: HotCache,
}

fn kv_err(e: impl std::fmt::Display) -> MetaError {
    MetaError::Kv(e.to_string())
}

impl LocalKv {
    /// Opens (or creates) the tree at `path` with the default sizes.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, KvOptions::default())
    }

    /// Opens (or creates) the tree at `path` and starts its group-commit syncer.
    pub fn open_with(path: &Path, opts: KvOptions) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(kv_err)?;
        let mut tuned = surrealkv::Options::default();
        tuned.level0_max_files = L0_COMPACTION_FILES;
        tuned.l0_stall_threshold = 3 * L0_COMPACTION_FILES;
        let builder = TreeBuilder::with_options(tuned)
            .with_path(path.to_path_buf())
            .with_block_size(BLOCK_SIZE)
            .with_block_cache_capacity(opts.block_cache_bytes)
            .with_max_memtable_size(opts.memtable_bytes);
        let background = Background::start()?;
        let tree = {
            // surrealkv spawns its flush, compaction and commit tasks on the runtime it is
            // built in (see `Background`).
            let _in = background.enter();
            builder.build().map_err(kv_err)?
        };
        let tree = Arc::new(tree);
        let (sync_tx, sync_rx) = mpsc::channel::<SyncWaiter>(SYNC_QUEUE);
        let failed = Arc::new(Mutex::new(None));
        let fail_next_sync = Arc::new(AtomicBool::new(false));
        let syncer = Syncer { tree: Arc::clone(&tree), failed: failed.clone(), fail_next: fail_next_sync.clone() };
        std::thread::Builder::new()
            .name("kv-group-commit".into())
            .spawn(move || syncer.run(sync_rx))
            .map_err(kv_err)?;
        Ok(Self {
            tree,
            _background: background,
            sync_tx,
            failed,
            fail_next_sync,
            applied: std::sync::atomic::AtomicU64::new(0),
            metrics: KvMetrics::new(),
            hot: HotCache::new(crate::schema::HOT_FAMILIES),
        })
    }

    pub(crate) fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The guard a write of `keys` holds until it is visible (see `hot_cache`): every
    /// transaction that writes the tree takes one first.
    pub(crate) fn hot_write<'a>(&self, keys: impl Iterator<Item = &'a [u8]>) -> Option<WriteGuard> {
        self.hot.begin_write(keys)
    }

    /// Why the store is read-only, if a WAL sync failed.
    pub fn read_only_reason(&self) -> Option<String> {
        self.failed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes the next WAL sync fail, as a failing disk does (for fault tests).
    #[doc(hidden)]
    pub fn inject_sync_failure(&self) {
        self.fail_next_sync.store(true, Ordering::SeqCst);
    }

    /// Flushes and closes the tree. Later calls fail.
    pub async fn close(&self) -> Result<()> {
        self.tree.flush_wal(true).map_err(kv_err)?;
        self.tree.close().await.map_err(kv_err)
    }

    /// Waits for a WAL sync covering everything applied so far. An error means the
    /// outcome of the caller's (applied) batch is unknown.
    async fn sync(&self) -> std::result::Result<(), String> {
        let (tx, rx) = oneshot::channel();
        // The queue is bounded; a full queue makes this task wait, holding no thread.
        self.sync_tx.send(tx).await.map_err(|_| "group-commit syncer stopped".to_string())?;
        rx.await.map_err(|_| "group-commit syncer stopped".to_string())?
    }

    /// One attempt at applying `batch`. A batch that writes a hot key runs on a task of its
    /// own, holding the hot-cache guard: a caller that gives up (a dropped request) cannot
    /// stop it between surrealkv accepting the commit and the commit becoming visible, so the
    /// guard is held until the write really is visible. Other batches (object writes) need no
    /// guard and run here.
    async fn try_apply(&self, batch: &Arc<WriteBatch>) -> std::result::Result<WriteOutcome, surrealkv::Error> {
        let Some(guard) = self.hot_write(batch.ops.iter().map(Op::key)) else {
            return Self::apply_once(&self.tree, batch).await;
        };
        let (tree, batch) = (Arc::clone(&self.tree), Arc::clone(batch));
        tokio::spawn(async move {
            let _hot = guard;
            Self::apply_once(&tree, &batch).await
        })
        .await
        .map_err(|e| surrealkv::Error::Other(e.to_string()))?
    }

    async fn apply_once(tree: &Tree, batch: &WriteBatch) -> std::result::Result<WriteOutcome, surrealkv::Error> {
        let mut tx = tree.begin_with_mode(Mode::ReadWrite)?;
        tx.set_durability(Durability::Eventual);
        for cond in &batch.conditions {
            let Condition::Equals(key, expected) = cond;
            let current = tx.get_for_update(key.as_slice())?;
            if current.as_deref() != expected.as_deref() {
                tx.rollback();
                return Ok(WriteOutcome::ConditionFailed);
            }
        }
        for op in &batch.ops {
            match op {
                Op::Put(k, v) => tx.set(k.as_slice(), v.as_slice())?,
                Op::Delete(k) => tx.delete(k.as_slice())?,
            }
        }
        tx.commit().await?;
        Ok(WriteOutcome::Applied)
    }
}

/// The group-commit syncer: one fsync of the WAL for every waiter queued meanwhile.
struct Syncer {
    tree: Arc<Tree>,
    failed: Arc<Mutex<Option<String>>>,
    fail_next: Arc<AtomicBool>,
}

impl Syncer {
    fn run(self, mut rx: mpsc::Receiver<SyncWaiter>) {
        while let Some(first) = rx.blocking_recv() {
            let mut waiters = vec![first];
            while let Ok(w) = rx.try_recv() {
                waiters.push(w);
            }
            let res = if self.fail_next.swap(false, Ordering::SeqCst) {
                Err("injected WAL sync failure".to_string())
            } else {
                self.tree.flush_wal(true).map_err(|e| e.to_string())
            };
            if let Err(e) = &res {
                tracing::error!(error = %e, "metadata WAL sync failed: the store is read-only until restarted");
                let mut f = self.failed.lock().unwrap_or_else(|p| p.into_inner());
                f.get_or_insert_with(|| format!("a WAL sync failed: {e}"));
                METRICS.kv_read_only.set(1);
            }
            for w in waiters {
                let _ = w.send(res.clone());
            }
        }
    }
}

/// A single node: a group of one whose leader it is, every applied batch committed.
#[async_trait]
impl KvLifecycle for LocalKv {
    fn not_ready(&self) -> Option<String> {
        self.read_only_reason().map(|r| format!("the metadata store is read-only ({r})"))
    }

    fn status(&self) -> GroupStatus {
        let applied = self.applied.load(Ordering::Relaxed);
        GroupStatus {
            node_id: 1,
            leader_id: 1,
            term: 1,
            committed_index: applied,
            applied_index: applied,
            members: vec![Member {
                id: 1,
                role: "leader".into(),
                match_index: applied,
                healthy: true,
                lag_ms: 0,
                lag_entries: 0,
                last_contact_ms: Some(0),
            }],
        }
    }

    fn metrics(&self) -> Arc<KvMetrics> {
        self.metrics.clone()
    }

    async fn close(&self) -> Result<()> {
        LocalKv::close(self).await
    }
}

#[async_trait]
impl Kv for LocalKv {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let started = Instant::now();
        let ticket = match self.hot.get(key) {
            Lookup::Hit(v) => {
                self.metrics.read(started);
                return Ok(v);
            }
            Lookup::Miss(t) => Some(t),
            Lookup::NotHot => None,
        };
        // The async read: a table block missed by the cache is read on surrealkv's I/O pool
        // (a synchronous `get` on a blocking thread measured 0.62x of this at 2M objects).
        let tx = self.tree.begin_with_mode(Mode::ReadOnly).map_err(kv_err)?;
        let res = tx.get_async(key).await.map_err(kv_err);
        if let (Some(t), Ok(v)) = (ticket, &res) {
            self.hot.fill(key, t, v.as_deref());
        }
        self.metrics.read(started);
        res
    }

    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if limit == 0 || start >= end {
            return Ok(Vec::new());
        }
        let tree = Arc::clone(&self.tree);
        let (start, end) = (start.to_vec(), end.to_vec());
        let started = Instant::now();
        let res = tokio::task::spawn_blocking(move || -> std::result::Result<_, surrealkv::Error> {
            let tx = tree.begin_with_mode(Mode::ReadOnly)?;
            let mut it = tx.range(start.as_slice(), end.as_slice())?;
            let mut out = Vec::new();
            let mut valid = it.seek_first()?;
            while valid && out.len() < limit {
                out.push((it.key().user_key().to_vec(), it.value()?));
                valid = it.next()?;
            }
            Ok(out)
        })
        .await
        .map_err(kv_err)?
        .map_err(kv_err);
        self.metrics.read(started);
        res
    }

    async fn write(&self, batch: WriteBatch) -> Result<WriteOutcome> {
        let started = Instant::now();
        let batch = Arc::new(batch);
        for attempt in 0..MAX_CONFLICT_RETRIES {
            if let Some(why) = self.read_only_reason() {
                return Err(MetaError::Unavailable(format!("metadata store is read-only: {why}")));
            }
            match self.try_apply(&batch).await {
                Ok(WriteOutcome::Applied) => {
                    // Applied (visible) from here on: a failed sync leaves its fate unknown.
                    self.sync().await.map_err(MetaError::CommitUnknown)?;
                    self.applied.fetch_add(1, Ordering::Relaxed);
                    self.metrics.committed(started);
                    return Ok(WriteOutcome::Applied);
                }
                Ok(WriteOutcome::ConditionFailed) => return Ok(WriteOutcome::ConditionFailed),
                Err(surrealkv::Error::TransactionWriteConflict) => {
                    // Writers of one hot key keep colliding if they retry in lockstep: back
                    // off a random while, longer with every attempt (at most ~2 ms).
                    let cap_us = 20u64 << attempt.min(7);
                    let wait = rand::random_range(0..=cap_us);
                    tokio::time::sleep(std::time::Duration::from_micros(wait)).await;
                }
                Err(e) => return Err(kv_err(e)),
            }
        }
        Err(MetaError::Conflict(MAX_CONFLICT_RETRIES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree's flushes and compactions run on `Background`, never on the opener's runtime:
    /// a store opened where there is no runtime at all (surrealkv's own tasks would have
    /// nowhere to run) takes writes that fill many memtables, and reads them back after a
    /// reopen, served by a runtime of one thread that never hosted those tasks.
    #[test]
    fn the_trees_own_tasks_run_on_its_background_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let opts = KvOptions { block_cache_bytes: 8 << 20, memtable_bytes: 1 << 20 };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let value = vec![7u8; 4096];
        let kv = LocalKv::open_with(dir.path(), opts).unwrap();
        rt.block_on(async {
            for i in 0..2_000u32 {
                let mut b = WriteBatch::new();
                b.put(format!("k{i:05}").into_bytes(), value.clone());
                assert_eq!(kv.write(b).await.unwrap(), WriteOutcome::Applied);
            }
            kv.close().await.unwrap();
        });
        drop(kv);
        let kv = LocalKv::open_with(dir.path(), opts).unwrap();
        rt.block_on(async {
            let all = kv.scan(b"k", b"l", 10_000).await.unwrap();
            assert_eq!(all.len(), 2_000);
            assert!(all.iter().all(|(_, v)| v == &value));
            kv.close().await.unwrap();
        });
    }
}
