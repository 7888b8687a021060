//! The store's background workers, run by the server's `metadata::background::Runner`: heal
//! of the objects degraded reads and writes queued, deferred frees of replaced data (once
//! their delay passed and no reader holds them), and periodic garbage collection. Each does
//! one object (or one GC pass) per unit of work. This module must never free a data dir a
//! reader holds, nor run GC with a grace shorter than it was given.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use metadata::MetadataStore;
use metadata::background::{Worker, WorkerState};
use tokio::sync::mpsc;

use crate::free::{self, FreeTask};
use crate::{EcStore, HealTask};

/// Heals the objects queued by degraded reads and writes, one at a time.
pub struct HealWorker {
    store: Weak<EcStore>,
    rx: mpsc::Receiver<HealTask>,
    next: Option<HealTask>,
}

impl HealWorker {
    pub(crate) fn new(store: Weak<EcStore>, rx: mpsc::Receiver<HealTask>) -> Self {
        Self { store, rx, next: None }
    }
}

#[async_trait]
impl Worker for HealWorker {
    fn name(&self) -> String {
        "heal-queue".into()
    }

    async fn work(&mut self) -> Result<WorkerState, String> {
        let Some(task) = self.next.take().or_else(|| self.rx.try_recv().ok()) else {
            return Ok(WorkerState::Idle);
        };
        let Some(store) = self.store.upgrade() else { return Ok(WorkerState::Done) };
        match store.heal_object(&task.bucket, &task.key, &task.layout).await {
            Ok(o) if o.shards_healed > 0 => {
                tracing::info!(bucket = %task.bucket, key = %task.key, shards = o.shards_healed, "healed object");
            }
            Ok(_) => {}
            Err(e) => return Err(format!("{}/{}: {e}", task.bucket, task.key)),
        }
        Ok(WorkerState::Busy)
    }

    async fn wait_for_work(&mut self) {
        self.next = self.rx.recv().await;
        if self.next.is_none() {
            // The store is gone: nothing will come.
            std::future::pending::<()>().await;
        }
    }
}

/// Frees replaced data once its delay passed and no reader holds it.
pub struct FreeWorker {
    store: Weak<EcStore>,
    rx: mpsc::Receiver<FreeTask>,
    waiting: Vec<FreeTask>,
}

impl FreeWorker {
    pub(crate) fn new(store: Weak<EcStore>, rx: mpsc::Receiver<FreeTask>) -> Self {
        Self { store, rx, waiting: Vec::new() }
    }
}

#[async_trait]
impl Worker for FreeWorker {
    fn name(&self) -> String {
        "free".into()
    }

    async fn work(&mut self) -> Result<WorkerState, String> {
        while let Ok(t) = self.rx.try_recv() {
            self.waiting.push(t);
        }
        let Some(store) = self.store.upgrade() else { return Ok(WorkerState::Done) };
        let (go, rest) = free::ready(std::mem::take(&mut self.waiting), store.in_use(), tokio::time::Instant::now());
        self.waiting = rest;
        for t in &go {
            store.delete_object_data(&t.layout, &t.bucket, &t.key).await;
            store.count_freed();
        }
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        // Wait for a new task; while some wait for their time or a reader, look again twice
        // a second.
        let next = if self.waiting.is_empty() {
            self.rx.recv().await
        } else {
            tokio::time::timeout(Duration::from_millis(500), self.rx.recv()).await.ok().flatten()
        };
        match next {
            Some(t) => self.waiting.push(t),
            None if self.waiting.is_empty() => std::future::pending::<()>().await,
            None => {}
        }
    }
}

/// Garbage collection every `interval` (see `gc`), over the stores whose references keep
/// shard data alive (in the order references move: legacy track first).
pub struct GcWorker {
    store: Weak<EcStore>,
    stores: Vec<Arc<dyn MetadataStore>>,
    interval: Duration,
    grace: Duration,
    due: tokio::time::Instant,
}

impl GcWorker {
    pub fn new(store: &Arc<EcStore>, stores: Vec<Arc<dyn MetadataStore>>, interval: Duration, grace: Duration) -> Self {
        Self { store: Arc::downgrade(store), stores, interval, grace, due: tokio::time::Instant::now() + interval }
    }
}

#[async_trait]
impl Worker for GcWorker {
    fn name(&self) -> String {
        "gc".into()
    }

    /// The drives of a cluster are shared: one node collects for all.
    fn leader_only(&self) -> bool {
        true
    }

    async fn work(&mut self) -> Result<WorkerState, String> {
        if tokio::time::Instant::now() < self.due {
            return Ok(WorkerState::Idle);
        }
        self.due = tokio::time::Instant::now() + self.interval;
        let Some(store) = self.store.upgrade() else { return Ok(WorkerState::Done) };
        let r = store.collect_garbage(&self.stores, self.grace).await?;
        if r.data_dirs_removed > 0 || r.deleted_buckets_removed > 0 {
            tracing::info!(
                removed = r.data_dirs_removed,
                buckets = r.deleted_buckets_removed,
                "garbage collection done"
            );
        }
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep_until(self.due).await;
    }
}

/// Watches the drives every `every` (a cluster, or several pools): a drive of another node
/// that stopped answering goes offline (so writes stop waiting on it), an offline drive that
/// answers again with its format comes back (and notes the heal mark, which this worker
/// writes to the KV), an empty one is formatted as a replacement; each pool's free space is
/// measured for the placement of new objects. All I/O runs on blocking threads. Online
/// drives of this node are checked as before (at writes, readiness probes and heal).
pub struct DriveMonitor {
    store: Weak<EcStore>,
    every: Duration,
    /// When a set without quorum was last logged.
    logged: Option<tokio::time::Instant>,
}

impl DriveMonitor {
    pub fn new(store: &Arc<EcStore>, every: Duration) -> Self {
        Self { store: Arc::downgrade(store), every, logged: None }
    }
}

#[async_trait]
impl Worker for DriveMonitor {
    fn name(&self) -> String {
        "drive-monitor".into()
    }

    async fn work(&mut self) -> Result<WorkerState, String> {
        let Some(store) = self.store.upgrade() else { return Ok(WorkerState::Done) };
        if store.drives().all(|d| d.local) && store.pool_count() < 2 {
            return Ok(WorkerState::Done);
        }
        let s = store.clone();
        tokio::task::spawn_blocking(move || {
            s.check_drives();
            s.measure_pools();
        })
        .await
        .map_err(|e| e.to_string())?;
        if let Some(m) = store.heal_mark() {
            m.sync().await.map_err(|e| format!("cannot save the heal mark: {e}"))?;
        }
        // A node that cannot reach quorum says why, every 10 s while it lasts.
        match store.quorum_problem() {
            Some(why) if self.logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) => {
                tracing::warn!(reason = %why, "not every erasure set has quorum; waiting for drives");
                self.logged = Some(tokio::time::Instant::now());
            }
            Some(_) => {}
            None => self.logged = None,
        }
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(self.every).await;
    }
}
