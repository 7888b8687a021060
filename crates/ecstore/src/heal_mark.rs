//! Heal across a cluster: a durable "heal wanted" mark (`s/heal-wanted` in the replicated
//! metadata KV, see `metadata::schema`) and the scheduler that acts on it.
//!
//! Any node notes that heal is wanted (a write missed drives, a drive of another node came
//! back online, a replaced empty drive was formatted, or an operator asked) and its drive
//! monitor writes the mark once; the mark survives restarts and leader changes. The
//! metadata leader's `HealScheduler` runs one heal walk for the mark once every drive is
//! online again, and removes the mark only if the walk restored everything and nobody
//! marked again meanwhile (a compare-and-set on the record). The walk's progress is kept in
//! the KV too (`s/heal-progress`), so `rustfs-admin heal status` shows it through any node.
//!
//! This module must never remove a mark a walk did not fully honour.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use metadata::background::{Runner, Worker, WorkerState};
use metadata::{Kv, MetaError, WriteBatch, WriteOutcome, schema};
use serde::{Deserialize, Serialize};

use crate::heal_walk::{HealJobs, HealTargets};

/// How long the scheduler waits before it tries a mark again after a walk left failures
/// (doubling after each such walk, up to `RETRY_MAX`).
const RETRY_AFTER: Duration = Duration::from_secs(30);
const RETRY_MAX: Duration = Duration::from_secs(3600);

/// The record of `s/heal-wanted` (format: the KV's value codec, named fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealWanted {
    /// Tells marks apart (a walk reports the id it honours).
    pub id: u64,
    /// When it was first marked (ns since the epoch, the marking node's clock).
    pub since_ns: i64,
    pub reason: String,
    /// Only this bucket (an operator's request); `None`: everything.
    pub bucket: Option<String>,
    /// Verify every frame of every shard (an operator's request); else a walk looks for
    /// missing shards only (drives came back, writes missed drives).
    #[serde(default)]
    pub deep: bool,
}

fn wanted_key() -> Vec<u8> {
    schema::system_key("heal-wanted")
}

/// The cluster's heal mark, as one node sees and sets it.
pub struct HealMark {
    kv: Arc<dyn Kv>,
    /// A reason noted here and not yet written.
    pending: Mutex<Option<String>>,
}

impl HealMark {
    pub fn new(kv: Arc<dyn Kv>) -> Arc<Self> {
        Arc::new(Self { kv, pending: Mutex::new(None) })
    }

    pub fn kv(&self) -> &Arc<dyn Kv> {
        &self.kv
    }

    /// Notes that heal is wanted (cheap: the drive monitor writes it, see `sync`).
    pub fn note(&self, reason: &str) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_none() {
            *p = Some(reason.to_string());
        }
    }

    /// The stored mark and its raw value.
    pub async fn load(&self) -> Result<Option<(Vec<u8>, HealWanted)>, MetaError> {
        let key = wanted_key();
        match self.kv.get(&key).await? {
            Some(raw) => Ok(Some((raw.clone(), schema::decode(&key, &raw)?))),
            None => Ok(None),
        }
    }

    /// Writes a noted reason unless a mark is stored (a whole-cluster one covers it).
    pub async fn sync(&self) -> Result<(), MetaError> {
        let Some(reason) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            return Ok(());
        };
        match self.load().await? {
            Some((_, w)) if w.bucket.is_none() => {}
            current => {
                let deep = current.as_ref().is_some_and(|(_, w)| w.deep);
                self.put(current.map(|(raw, _)| raw), &reason, None, deep).await?;
            }
        }
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
        Ok(())
    }

    /// An operator's request for a walk (of `bucket` or everything): the mark it made, or
    /// the stored one that already covers it.
    pub async fn request(&self, bucket: Option<String>) -> Result<HealWanted, MetaError> {
        for _ in 0..8 {
            let current = self.load().await?;
            if let Some((_, w)) = &current
                && w.deep
                && (w.bucket.is_none() || w.bucket == bucket)
            {
                return Ok(w.clone());
            }
            // A stored mark widens to everything when it covers another bucket or everything.
            let widened = match &current {
                Some((_, w)) if w.bucket != bucket => None,
                _ => bucket.clone(),
            };
            if let Some(w) = self.put(current.map(|(raw, _)| raw), "requested by an operator", widened, true).await? {
                return Ok(w);
            }
        }
        Err(MetaError::Conflict(8))
    }

    async fn put(
        &self,
        expected: Option<Vec<u8>>,
        reason: &str,
        bucket: Option<String>,
        deep: bool,
    ) -> Result<Option<HealWanted>, MetaError> {
        let w = HealWanted {
            id: uuid::Uuid::new_v4().as_u64_pair().0,
            since_ns: metadata::clock::now_ns(),
            reason: reason.into(),
            bucket,
            deep,
        };
        let mut b = WriteBatch::new();
        b.require(wanted_key(), expected).put(wanted_key(), schema::encode(&w));
        Ok((self.kv.write(b).await? == WriteOutcome::Applied).then_some(w))
    }

    /// Removes the mark if it is still exactly `raw`.
    pub async fn clear(&self, raw: Vec<u8>) -> Result<bool, MetaError> {
        let mut b = WriteBatch::new();
        b.require(wanted_key(), Some(raw)).delete(wanted_key());
        Ok(self.kv.write(b).await? == WriteOutcome::Applied)
    }
}

/// Runs a heal walk for the stored mark (leader only), see the module documentation.
pub struct HealScheduler {
    mark: Arc<HealMark>,
    jobs: Weak<HealJobs>,
    targets: HealTargets,
    runner: Weak<Runner>,
    every: Duration,
    /// The mark the running or last walk was started for, and when to try it again.
    started: Option<(Vec<u8>, tokio::time::Instant)>,
    /// The wait before the next try of a mark whose walk left failures.
    backoff: Duration,
}

impl HealScheduler {
    pub fn new(mark: &Arc<HealMark>, jobs: &Arc<HealJobs>, targets: HealTargets, runner: &Arc<Runner>) -> Self {
        Self {
            mark: mark.clone(),
            jobs: Arc::downgrade(jobs),
            targets,
            runner: Arc::downgrade(runner),
            every: Duration::from_secs(2),
            started: None,
            backoff: RETRY_AFTER,
        }
    }
}

#[async_trait]
impl Worker for HealScheduler {
    fn name(&self) -> String {
        "heal-scheduler".into()
    }

    fn leader_only(&self) -> bool {
        true
    }

    async fn work(&mut self) -> Result<WorkerState, String> {
        let (Some(jobs), Some(runner)) = (self.jobs.upgrade(), self.runner.upgrade()) else {
            return Ok(WorkerState::Done);
        };
        let Some((raw, wanted)) = self.mark.load().await.map_err(|e| e.to_string())? else {
            return Ok(WorkerState::Idle);
        };
        let last = jobs.status();
        if last.as_ref().is_some_and(|p| p.running) {
            return Ok(WorkerState::Idle);
        }
        if let Some((done_for, retry_at)) = &self.started
            && *done_for == raw
        {
            // The walk for this mark finished: clear the mark if it restored everything.
            let clean =
                last.as_ref().is_some_and(|p| p.mark == Some(wanted.id) && p.error.is_none() && p.objects_failed == 0);
            if clean {
                self.mark.clear(raw).await.map_err(|e| e.to_string())?;
                self.started = None;
                self.backoff = RETRY_AFTER;
                return Ok(WorkerState::Busy);
            }
            if tokio::time::Instant::now() < *retry_at {
                return Ok(WorkerState::Idle);
            }
            self.backoff = (self.backoff * 2).min(RETRY_MAX);
        }
        // Every drive must answer: a walk while a node is away would only fail on its shards.
        if self.targets.store.drives().any(|d| !d.is_online()) {
            return Ok(WorkerState::Idle);
        }
        tracing::info!(reason = %wanted.reason, bucket = ?wanted.bucket, "starting a heal walk the cluster asked for");
        jobs.start_for(&runner, self.targets.clone(), wanted.bucket.clone(), Some(wanted.id), wanted.deep);
        self.started = Some((raw, tokio::time::Instant::now() + self.backoff));
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(self.every).await;
    }
}
