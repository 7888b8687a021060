//! `LocalKv`: the `Kv` contract on a local surrealkv tree.
//!
//! Durability: every applied batch is on disk (WAL fsynced) before `write` returns. Commits
//! go to the WAL without a sync and then wait on a group-commit syncer thread, so that many
//! concurrent commits share one fsync instead of paying one each. This module must never
//! acknowledge a write whose WAL sync has not completed.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Instant;

use async_trait::async_trait;
use surrealkv::{Durability, LSMIterator, Mode, Tree, TreeBuilder};
use tokio::sync::oneshot;

use crate::error::{MetaError, Result};
use crate::kv::{Condition, Kv, Op, WriteBatch, WriteOutcome};
use crate::metrics::METRICS;

/// How many times a batch is retried when surrealkv reports an optimistic-concurrency conflict.
const MAX_CONFLICT_RETRIES: u32 = 64;
/// Waiters queued for the group-commit syncer at most (a bounded queue).
const SYNC_QUEUE: usize = 8192;

type SyncWaiter = oneshot::Sender<std::result::Result<(), String>>;

pub struct LocalKv {
    tree: Arc<Tree>,
    sync_tx: std_mpsc::SyncSender<SyncWaiter>,
}

fn kv_err(e: impl std::fmt::Display) -> MetaError {
    MetaError::Kv(e.to_string())
}

impl LocalKv {
    /// Opens (or creates) the tree at `path` and starts its group-commit syncer.
    pub fn open(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(kv_err)?;
        let tree = TreeBuilder::new().with_path(path.to_path_buf()).build().map_err(kv_err)?;
        let tree = Arc::new(tree);
        let (sync_tx, sync_rx) = std_mpsc::sync_channel::<SyncWaiter>(SYNC_QUEUE);
        let sync_tree = Arc::clone(&tree);
        std::thread::Builder::new()
            .name("kv-group-commit".into())
            .spawn(move || group_commit_loop(&sync_tree, &sync_rx))
            .map_err(kv_err)?;
        Ok(Self { tree, sync_tx })
    }

    /// Flushes and closes the tree. Later calls fail.
    pub async fn close(&self) -> Result<()> {
        self.tree.flush_wal(true).map_err(kv_err)?;
        self.tree.close().await.map_err(kv_err)
    }

    async fn sync(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let sender = self.sync_tx.clone();
        // The queue is bounded; a full queue blocks only this task's blocking helper.
        tokio::task::spawn_blocking(move || sender.send(tx))
            .await
            .map_err(kv_err)?
            .map_err(|_| MetaError::Kv("group-commit syncer stopped".into()))?;
        rx.await.map_err(|_| MetaError::Kv("group-commit syncer stopped".into()))?.map_err(MetaError::Kv)
    }

    async fn try_apply(&self, batch: &WriteBatch) -> std::result::Result<WriteOutcome, surrealkv::Error> {
        let mut tx = self.tree.begin_with_mode(Mode::ReadWrite)?;
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

fn group_commit_loop(tree: &Tree, rx: &std_mpsc::Receiver<SyncWaiter>) {
    while let Ok(first) = rx.recv() {
        let mut waiters = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        let res = tree.flush_wal(true).map_err(|e| e.to_string());
        for w in waiters {
            let _ = w.send(res.clone());
        }
    }
}

#[async_trait]
impl Kv for LocalKv {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let started = Instant::now();
        let tx = self.tree.begin_with_mode(Mode::ReadOnly).map_err(kv_err)?;
        let res = tx.get_async(key).await.map_err(kv_err);
        METRICS.kv_read(started);
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
        METRICS.kv_read(started);
        res
    }

    async fn write(&self, batch: WriteBatch) -> Result<WriteOutcome> {
        let started = Instant::now();
        for _ in 0..MAX_CONFLICT_RETRIES {
            match self.try_apply(&batch).await {
                Ok(WriteOutcome::Applied) => {
                    self.sync().await?;
                    METRICS.kv_committed(started);
                    return Ok(WriteOutcome::Applied);
                }
                Ok(WriteOutcome::ConditionFailed) => return Ok(WriteOutcome::ConditionFailed),
                Err(surrealkv::Error::TransactionWriteConflict) => {
                    tokio::task::yield_now().await;
                }
                Err(e) => return Err(kv_err(e)),
            }
        }
        Err(MetaError::Conflict(MAX_CONFLICT_RETRIES))
    }
}
