//! The migrator: walks every bucket's keys (the union of both tracks, in key order) and
//! brings the KV in line with xl.meta for keys in its scope, through
//! `DualTrack::migrate_key` (which holds the key's lock, so a racing client write wins).
//!
//! A pass fixes its bucket order at the start (priority strategy), checkpoints its position
//! in the KV (`s/migrator`) after every batch, and resumes from it after a crash or stop; it
//! honours a concurrency and a rate limit (`objects_per_day`, 0 = unlimited). A pass that
//! finishes in the epoch it started in marks the KV complete (`migrator_done` in fullout)
//! and no longer stale. This module must never write xl.meta.

use crate::background::{JobCtx, Runner};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::router::{DualTrack, KeyOutcome};
use super::state::Phase;
use crate::error::{MetaError, Result};
use crate::kv::WriteBatch;
use crate::schema;
use crate::store::MetadataStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Buckets with the most requests since start-up first.
    #[default]
    AccessFrequency,
    /// Buckets with the fewest keys first (most buckets finished soonest).
    Size,
    /// A random bucket order.
    Random,
}

impl std::str::FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "access_frequency" => Ok(Self::AccessFrequency),
            "size" => Ok(Self::Size),
            "random" => Ok(Self::Random),
            o => Err(format!("unknown priority strategy {o:?}: access_frequency, size or random")),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MigratorConfig {
    pub concurrency: usize,
    /// Rate limit; 0 = unlimited.
    pub objects_per_day: u64,
    pub priority: Priority,
}

impl Default for MigratorConfig {
    fn default() -> Self {
        Self { concurrency: 8, objects_per_day: 0, priority: Priority::AccessFrequency }
    }
}

/// The persisted position of a pass (format 1 of `s/migrator`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    pub pass: u64,
    /// The migration state's epoch the pass started in.
    pub epoch: u64,
    pub order: Vec<String>,
    pub bucket_index: usize,
    /// Last key done in the current bucket.
    pub after: Option<String>,
    pub scanned: u64,
    pub copied: u64,
    pub in_sync: u64,
    pub purged: u64,
    pub errors: u64,
    /// Keys counted on xl.meta when the pass started (for progress and ETA).
    pub total: u64,
    pub started_ns: i64,
    pub updated_ns: i64,
    pub done: bool,
}

/// What `rustfs-admin migration status` shows of the migrator.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MigratorStatus {
    pub running: bool,
    pub config: Option<MigratorConfig>,
    pub checkpoint: Option<Checkpoint>,
    /// Keys per second over the current run.
    pub rate: f64,
    pub eta_secs: Option<u64>,
    pub last_error: Option<String>,
    pub current_bucket: Option<String>,
}

pub struct Migrator {
    dt: Arc<DualTrack>,
    /// Runs the passes (leader only).
    runner: std::sync::Weak<Runner>,
    running: AtomicBool,
    stop: AtomicBool,
    status: Mutex<MigratorStatus>,
    next_slot: tokio::sync::Mutex<Option<Instant>>,
}

const BATCH: usize = 256;
const KEY: &str = "migrator";

impl Migrator {
    pub fn new(dt: Arc<DualTrack>, runner: &Arc<Runner>) -> Self {
        Self {
            dt,
            runner: Arc::downgrade(runner),
            running: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            status: Mutex::new(MigratorStatus::default()),
            next_slot: tokio::sync::Mutex::new(None),
        }
    }

    fn with_status<T>(&self, f: impl FnOnce(&mut MigratorStatus) -> T) -> T {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub async fn load_checkpoint(&self) -> Result<Option<Checkpoint>> {
        let key = schema::system_key(KEY);
        match self.dt.kv_store().kv().get(&key).await? {
            Some(raw) => Ok(Some(schema::decode(&key, &raw)?)),
            None => Ok(None),
        }
    }

    async fn save_checkpoint(&self, c: &Checkpoint) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(schema::system_key(KEY), schema::encode(c));
        self.dt.kv_store().kv().write(b).await?;
        Ok(())
    }

    /// The live status, with the persisted checkpoint when no pass has run since start-up.
    pub async fn status(&self) -> MigratorStatus {
        let mut s = self.with_status(|s| s.clone());
        if s.checkpoint.is_none() {
            s.checkpoint = self.load_checkpoint().await.ok().flatten();
        }
        s
    }

    /// The in-memory status, without touching the KV (for metrics scrapes).
    pub fn snapshot(&self) -> MigratorStatus {
        self.with_status(|s| s.clone())
    }

    /// Loads the persisted checkpoint into the in-memory status (call once at start-up), so
    /// `snapshot` shows the last pass's progress after a restart.
    pub async fn prime(&self) -> Result<()> {
        let c = self.load_checkpoint().await?;
        self.with_status(|s| {
            if s.checkpoint.is_none() {
                s.checkpoint = c;
            }
        });
        Ok(())
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// Asks a running pass to stop after its current batch (its checkpoint stays).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Starts a pass in the background unless one runs. Errors when the phase has no
    /// migrator work (it runs in canary and fullout).
    pub fn start(self: &Arc<Self>, cfg: MigratorConfig) -> std::result::Result<(), String> {
        let phase = self.dt.state().phase;
        if !matches!(phase, Phase::Canary | Phase::Fullout) {
            return Err(format!("the migrator runs in canary and fullout, not in {phase}"));
        }
        let Some(runner) = self.runner.upgrade() else {
            return Err("the server is shutting down".into());
        };
        if self.running.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.stop.store(false, Ordering::SeqCst);
        self.with_status(|s| {
            s.running = true;
            s.config = Some(cfg.clone());
            s.last_error = None;
        });
        let me = self.clone();
        let started = runner.spawn_job("migrator-pass", true, |ctx| async move {
            let res = me.run_pass(&ctx, &cfg).await.map_err(|e| e.to_string());
            if let Err(e) = &res {
                tracing::warn!(error = %e, "migrator pass stopped");
            }
            me.with_status(|s| {
                s.running = false;
                s.current_bucket = None;
                s.last_error = res.clone().err();
            });
            me.running.store(false, Ordering::SeqCst);
            res
        });
        if !started {
            self.with_status(|s| s.running = false);
            self.running.store(false, Ordering::SeqCst);
            return Err("the server is shutting down".into());
        }
        Ok(())
    }

    /// Runs passes in the background whenever the phase needs one (`migration.enabled`).
    /// Starts a pass if the migration needs one now (canary with a stale KV, or fullout not
    /// yet migrated) and none runs or finished for this epoch. Returns whether it started.
    pub async fn start_if_needed(self: &Arc<Self>, cfg: &MigratorConfig) -> bool {
        let st = self.dt.state();
        let needed = matches!(st.phase, Phase::Canary | Phase::Fullout)
            && (st.kv_stale || (st.phase == Phase::Fullout && !st.migrator_done));
        if !needed || self.is_running() || st.kv_may_skip() {
            return false;
        }
        let current = matches!(self.load_checkpoint().await, Ok(Some(c)) if c.done && c.epoch == st.epoch);
        !current && self.start(cfg.clone()).is_ok()
    }

    async fn rate_limit(&self, objects_per_day: u64) {
        if objects_per_day == 0 {
            return;
        }
        let interval = Duration::from_secs_f64(86_400.0 / objects_per_day as f64);
        let at = {
            let mut next = self.next_slot.lock().await;
            let now = Instant::now();
            let at = next.map_or(now, |n| n.max(now));
            *next = Some(at + interval);
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }

    async fn bucket_order(&self, priority: Priority) -> Result<(Vec<String>, u64)> {
        let mut names: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        for b in self.dt.legacy().list_buckets().await?.into_iter().chain(self.dt.kv_store().list_buckets().await?) {
            if seen.insert(b.name.clone()) {
                names.push(b.name);
            }
        }
        let mut sized = Vec::new();
        let mut total = 0;
        for n in names {
            let c = self.count_keys(&n).await?;
            total += c;
            sized.push((n, c));
        }
        match priority {
            Priority::AccessFrequency => {
                let counts = self.dt.access_counts();
                sized.sort_by(|a, b| {
                    counts.get(&b.0).unwrap_or(&0).cmp(counts.get(&a.0).unwrap_or(&0)).then(a.0.cmp(&b.0))
                });
            }
            Priority::Size => sized.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0))),
            Priority::Random => sized.shuffle(&mut rand::rng()),
        }
        Ok((sized.into_iter().map(|(n, _)| n).collect(), total))
    }

    async fn count_keys(&self, bucket: &str) -> Result<u64> {
        let mut after: Option<String> = None;
        let mut n = 0;
        loop {
            let keys = match self.dt.legacy().keys_after(bucket, after.as_deref(), 4096).await {
                Ok(k) => k,
                Err(MetaError::NoSuchBucket(_)) => return Ok(n),
                Err(e) => return Err(e),
            };
            n += keys.len() as u64;
            if keys.len() < 4096 {
                return Ok(n);
            }
            after = keys.last().cloned();
        }
    }

    async fn migrate_one(&self, bucket: &str, key: &str, objects_per_day: u64) -> Result<KeyOutcome> {
        self.rate_limit(objects_per_day).await;
        self.dt.migrate_key(bucket, key).await
    }

    async fn run_pass(&self, ctx: &JobCtx, cfg: &MigratorConfig) -> Result<()> {
        let st = self.dt.state();
        let mut cp = match self.load_checkpoint().await? {
            Some(c) if !c.done && c.epoch == st.epoch => c,
            prev => {
                let (order, total) = self.bucket_order(cfg.priority).await?;
                let now = crate::clock::now_ns();
                Checkpoint {
                    pass: prev.map_or(1, |c| c.pass + 1),
                    epoch: st.epoch,
                    order,
                    total,
                    started_ns: now,
                    updated_ns: now,
                    ..Default::default()
                }
            }
        };
        self.save_checkpoint(&cp).await?;
        let t0 = Instant::now();
        let scanned0 = cp.scanned;
        let fs_buckets: HashSet<String> = self.dt.legacy().list_buckets().await?.into_iter().map(|b| b.name).collect();
        while cp.bucket_index < cp.order.len() {
            let bucket = cp.order[cp.bucket_index].clone();
            self.with_status(|s| s.current_bucket = Some(bucket.clone()));
            loop {
                if self.stop.load(Ordering::SeqCst) {
                    return Err(MetaError::Backend("stopped; the next start resumes from the checkpoint".into()));
                }
                ctx.may_go_on()
                    .map_err(|e| MetaError::Backend(format!("{e}; the next pass resumes from the checkpoint")))?;
                if self.dt.state().epoch != cp.epoch {
                    return Err(MetaError::Backend("the migration state changed; a new pass starts over".into()));
                }
                let batch = tracing::info_span!("migration_batch", bucket = %bucket, keys = tracing::field::Empty);
                let (keys, last, results) = async {
                    let (keys, last) = self.dt.union_keys(&bucket, cp.after.as_deref(), BATCH).await?;
                    tracing::Span::current().record("keys", keys.len());
                    let mut results: Vec<Result<KeyOutcome>> = Vec::with_capacity(keys.len());
                    let mut inflight = futures::stream::FuturesUnordered::new();
                    let mut todo = keys.iter();
                    loop {
                        while inflight.len() < cfg.concurrency.max(1) {
                            let Some(k) = todo.next() else { break };
                            inflight.push(self.migrate_one(&bucket, k, cfg.objects_per_day));
                        }
                        match inflight.next().await {
                            Some(r) => results.push(r),
                            None => break,
                        }
                    }
                    drop(inflight);
                    Ok::<_, MetaError>((keys, last, results))
                }
                .instrument(batch)
                .await?;
                for r in results {
                    cp.scanned += 1;
                    match r {
                        Ok(KeyOutcome::Copied) => cp.copied += 1,
                        Ok(KeyOutcome::InSync) => cp.in_sync += 1,
                        Ok(KeyOutcome::Purged) => cp.purged += 1,
                        Ok(KeyOutcome::Skipped) => {}
                        Err(e) => {
                            cp.errors += 1;
                            tracing::warn!(bucket = %bucket, error = %e, "migrating a key failed");
                        }
                    }
                }
                cp.after = keys.last().cloned().or(cp.after.take());
                cp.updated_ns = crate::clock::now_ns();
                if last {
                    if !fs_buckets.contains(&bucket) {
                        // Gone from xl.meta: its keys just left the KV too.
                        let _ = self.dt.kv_store().delete_bucket(&bucket).await;
                    }
                    cp.bucket_index += 1;
                    cp.after = None;
                }
                self.save_checkpoint(&cp).await?;
                ctx.unit()
                    .map_err(|e| MetaError::Backend(format!("{e}; the next pass resumes from the checkpoint")))?;
                let rate = (cp.scanned - scanned0) as f64 / t0.elapsed().as_secs_f64().max(1e-3);
                self.with_status(|s| {
                    s.rate = rate;
                    s.eta_secs = (rate > 0.0).then(|| (cp.total.saturating_sub(cp.scanned) as f64 / rate) as u64);
                    s.checkpoint = Some(cp.clone());
                });
                if last {
                    break;
                }
            }
        }
        if cp.errors > 0 {
            let msg = format!("{} keys could not be migrated; run the migrator again", cp.errors);
            // Finished with errors: the next start begins a new pass.
            cp.done = true;
            self.save_checkpoint(&cp).await?;
            return Err(MetaError::Backend(msg));
        }
        cp.done = true;
        self.save_checkpoint(&cp).await?;
        let epoch = cp.epoch;
        let s = self
            .dt
            .update_state(|s| {
                if s.epoch == epoch && !s.kv_may_skip() {
                    s.kv_stale = false;
                    if s.phase == Phase::Fullout {
                        s.migrator_done = true;
                    }
                }
            })
            .await?;
        self.with_status(|st| st.checkpoint = Some(cp.clone()));
        tracing::info!(
            pass = cp.pass,
            scanned = cp.scanned,
            copied = cp.copied,
            migrator_done = s.migrator_done,
            "migrator pass finished"
        );
        Ok(())
    }
}
