//! DualTrack's background workers (run by the server's `background::Runner`): the shadow
//! workers, which copy keys the eventual level queued to their shadow track, the state
//! watch, which takes a migration state changed through another node, and the schedules
//! of the migrator and the validator (leader only: one pass per cluster). This module must
//! never copy a key outside the router's locks.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;

use super::migrator::{Migrator, MigratorConfig};
use super::router::DualTrack;
use super::validator::Validator;
use crate::background::{Worker, WorkerState};

/// Copies queued keys to their shadow track, one key per unit of work.
pub struct ShadowWorker {
    dt: Weak<DualTrack>,
    index: usize,
    next: Option<(String, String)>,
}

impl ShadowWorker {
    pub(crate) fn new(dt: Weak<DualTrack>, index: usize) -> Self {
        Self { dt, index, next: None }
    }
}

#[async_trait]
impl Worker for ShadowWorker {
    fn name(&self) -> String {
        format!("shadow-copy-{}", self.index)
    }

    async fn work(&mut self) -> Result<WorkerState, String> {
        let Some(dt) = self.dt.upgrade() else { return Ok(WorkerState::Done) };
        let Some((b, k)) = self.next.take() else { return Ok(WorkerState::Idle) };
        if dt.copy_queued(&b, &k).await {
            return Ok(WorkerState::Busy);
        }
        // The key went back to the queue: back off instead of spinning on it (e.g. drives
        // without quorum).
        drop(dt);
        tokio::time::sleep(Duration::from_millis(200)).await;
        Err(format!("{b}/{k}: shadow copy failed; queued again"))
    }

    async fn wait_for_work(&mut self) {
        loop {
            let Some(dt) = self.dt.upgrade() else { return std::future::pending().await };
            tokio::select! {
                id = dt.shadow.next() => {
                    self.next = Some(id);
                    return;
                }
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// Re-reads the stored migration state every `every`.
pub struct StateWatch {
    dt: Weak<DualTrack>,
    every: Duration,
}

impl StateWatch {
    pub(crate) fn new(dt: Weak<DualTrack>, every: Duration) -> Self {
        Self { dt, every }
    }
}

#[async_trait]
impl Worker for StateWatch {
    fn name(&self) -> String {
        "migration-state-watch".into()
    }

    async fn work(&mut self) -> Result<WorkerState, String> {
        let Some(dt) = self.dt.upgrade() else { return Ok(WorkerState::Done) };
        dt.refresh_state().await.map_err(|e| format!("cannot re-read the migration state: {e}"))?;
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(self.every).await;
    }
}

/// Starts a migrator pass whenever the migration needs one (looks every 2 s).
pub struct MigratorSchedule {
    m: Weak<Migrator>,
    cfg: MigratorConfig,
}

impl MigratorSchedule {
    pub fn new(m: &Arc<Migrator>, cfg: MigratorConfig) -> Self {
        Self { m: Arc::downgrade(m), cfg }
    }
}

#[async_trait]
impl Worker for MigratorSchedule {
    fn name(&self) -> String {
        "migrator-schedule".into()
    }

    fn leader_only(&self) -> bool {
        true
    }

    async fn work(&mut self) -> Result<WorkerState, String> {
        let Some(m) = self.m.upgrade() else { return Ok(WorkerState::Done) };
        m.start_if_needed(&self.cfg).await;
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Starts a sampling validation every `interval` while two tracks hold metadata.
pub struct ValidatorSchedule {
    v: Weak<Validator>,
    interval: Duration,
    sample: f64,
    first: bool,
}

impl ValidatorSchedule {
    pub fn new(v: &Arc<Validator>, interval: Duration, sample: f64) -> Self {
        Self { v: Arc::downgrade(v), interval, sample, first: true }
    }
}

#[async_trait]
impl Worker for ValidatorSchedule {
    fn name(&self) -> String {
        "validator-schedule".into()
    }

    fn leader_only(&self) -> bool {
        true
    }

    async fn work(&mut self) -> Result<WorkerState, String> {
        // The first check waits one interval, as the schedule always did.
        if std::mem::take(&mut self.first) {
            return Ok(WorkerState::Idle);
        }
        let Some(v) = self.v.upgrade() else { return Ok(WorkerState::Done) };
        v.start_periodic(self.sample);
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(self.interval).await;
    }
}
