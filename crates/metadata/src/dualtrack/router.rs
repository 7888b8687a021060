//! `DualTrack`: the `MetadataStore` the server runs while a deployment moves from xl.meta
//! (the legacy track) to the KV. It routes every operation by the migration state:
//!
//! - writes go to the primary track of the key's phase and, where the phase keeps a shadow,
//!   to the other track: synchronously (`strong`), through the bounded shadow queue
//!   (`eventual`), or not at all (`lazy` while xl.meta is primary). The shadow copy is a
//!   whole-key copy from the primary, so it cannot replay an operation wrongly;
//! - reads of keys in the KV's scope follow the level (`strong` reads both and counts
//!   divergence, `eventual` tries the KV and falls back to xl.meta, `lazy` reads xl.meta and
//!   queues a copy when the KV is behind); pending keys and a stale KV read xl.meta;
//! - listings come from the KV once it is complete (after a migrator pass in `fullout`),
//!   else from xl.meta.
//!
//! A per-key lock serialises client writes, shadow copies, the migrator and the validator on
//! a key, which is why a write racing the migrator always wins. A transition drains the
//! shadow queue under a barrier that holds new writes, so no phase ever starts with shadow
//! work of the previous one outstanding. The locks, the barrier and the queue live in this
//! process: in a cluster every operation passes the `gate`, open on one node at a time (the
//! coordinator, see `forward`). This module must never touch object data.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::compare::{self, Class};
use super::gate::Gate;
use super::shadow::ShadowQueue;
use super::state::{Level, MigrationState, Phase, TransitionError};
use crate::error::{MetaError, Result};
use crate::kv_store::KvStore;
use crate::metrics::TrackLabel;
use crate::model::{BucketInfo, MultipartUpload, ObjectVersion, UploadedPart};
use crate::store::{
    CompleteOutcome, ListItem, ListPage, ListQuery, MetadataStore, PutCondition, UploadQuery, VersionQuery,
};
use crate::timed::Timed;

const LOCK_STRIPES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Track {
    Legacy,
    Kv,
}

impl Track {
    pub fn other(self) -> Self {
        match self {
            Track::Legacy => Track::Kv,
            Track::Kv => Track::Legacy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Only(Track),
    Dual { primary: Track, level: Level },
}

impl Route {
    fn primary(self) -> Track {
        match self {
            Route::Only(t) | Route::Dual { primary: t, .. } => t,
        }
    }
}

/// Counters of routing decisions (exported by the server's metrics).
#[derive(Debug, Default, Serialize)]
pub struct DualCounters {
    /// Reads that found the tracks disagreeing (`strong` compares, fallbacks in kv_primary).
    pub consistency_errors: AtomicU64,
    /// Reads answered by the KV.
    pub kv_reads: AtomicU64,
    /// Reads answered by xl.meta.
    pub fs_reads: AtomicU64,
    /// KV misses answered by xl.meta.
    pub fallbacks: AtomicU64,
    /// Copies queued by lazy reads.
    pub lazy_copies: AtomicU64,
}

#[derive(Debug, Clone)]
pub struct DualOptions {
    pub queue_capacity: usize,
    /// The eventual level's window: a queued key older than this makes writers copy inline.
    pub window: Duration,
    pub workers: usize,
    /// In kv_primary, a KV miss may be answered by xl.meta.
    pub fallback_to_fs: bool,
    /// A cluster node: the router's gate stays closed until the node takes over the
    /// coordination (`take_over`).
    pub coordinated: bool,
}

impl Default for DualOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 10_000,
            window: Duration::from_secs(60),
            workers: 2,
            fallback_to_fs: true,
            coordinated: false,
        }
    }
}

/// Why a phase change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PhaseError {
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("the shadow queue could not be drained: {0}")]
    Drain(String),
}

/// What one key's migration step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOutcome {
    /// The KV already held what xl.meta holds.
    InSync,
    /// The KV was brought in line with xl.meta.
    Copied,
    /// The key left the KV's scope and was removed from it.
    Purged,
    /// Nothing to do (the key is outside the KV's scope and not in it).
    Skipped,
}

/// The validator's repair strategies (the seed's `RepairStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Repair {
    /// The KV wins: xl.meta is made to hold exactly what the KV holds.
    UseKv,
    /// xl.meta wins: the KV is made to hold exactly what xl.meta holds.
    UseFs,
    /// Additive: the KV gains the versions only xl.meta has (xl.meta's copy wins a clash).
    SyncToKv,
    /// Additive: xl.meta gains the versions only the KV has (the KV's copy wins a clash).
    SyncToFs,
}

impl std::str::FromStr for Repair {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "use-kv" => Ok(Self::UseKv),
            "use-fs" => Ok(Self::UseFs),
            "sync-to-kv" => Ok(Self::SyncToKv),
            "sync-to-fs" => Ok(Self::SyncToFs),
            o => Err(format!("unknown repair strategy {o:?}: use-kv, use-fs, sync-to-kv or sync-to-fs")),
        }
    }
}

pub struct DualTrack {
    legacy: Arc<dyn MetadataStore>,
    kv: Arc<Timed<KvStore>>,
    state: RwLock<Arc<MigrationState>>,
    /// Writes hold it shared for their whole duration; a transition holds it exclusively.
    barrier: tokio::sync::RwLock<()>,
    locks: Vec<tokio::sync::Mutex<()>>,
    pub shadow: ShadowQueue,
    pub counters: DualCounters,
    access: Mutex<HashMap<String, u64>>,
    opts: DualOptions,
    gate: Gate,
}

fn not_found(e: &MetaError) -> bool {
    matches!(e, MetaError::NoSuchKey { .. } | MetaError::NoSuchVersion { .. } | MetaError::NoSuchBucket(_))
}

impl DualTrack {
    /// A router over the two tracks in `state` (call `recover` before serving).
    /// Both tracks are measured (`rustfs_fs_*` and `rustfs_kv_*` latencies) through `Timed`.
    pub fn new(legacy: Arc<dyn MetadataStore>, kv: Arc<KvStore>, state: MigrationState, opts: DualOptions) -> Self {
        let legacy: Arc<dyn MetadataStore> = Arc::new(Timed::new(legacy, TrackLabel::Fs));
        let kv = Arc::new(Timed::new(kv, TrackLabel::Kv));
        let shadow = ShadowQueue::new(kv.kv().clone(), opts.queue_capacity, opts.window);
        Self {
            legacy,
            kv,
            state: RwLock::new(Arc::new(state)),
            barrier: tokio::sync::RwLock::new(()),
            locks: (0..LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            shadow,
            counters: DualCounters::default(),
            access: Mutex::new(HashMap::new()),
            gate: Gate::new(!opts.coordinated),
            opts,
        }
    }

    /// The gate every operation passes (see `gate`).
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Starts coordinating (a cluster node that became the metadata leader, once the previous
    /// coordinator closed its gate): takes the stored state, finishes what a crash or the
    /// previous coordinator left (interrupted bucket deletes, pending shadow copies, from
    /// their durable markers), then opens the gate.
    pub async fn take_over(&self) -> Result<Vec<String>> {
        self.refresh_state().await?;
        self.shadow.reset();
        let repaired = self.recover().await?;
        self.gate.open();
        Ok(repaired)
    }

    /// Stops coordinating: refuses new operations, waits for those running, and forgets the
    /// shadow queue (its markers stay in the KV for the next coordinator).
    pub async fn step_down(&self) {
        self.gate.close().await;
        self.shadow.reset();
    }

    pub fn state(&self) -> Arc<MigrationState> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_state(&self, s: MigrationState) {
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(s);
    }

    pub fn legacy(&self) -> &Arc<dyn MetadataStore> {
        &self.legacy
    }

    pub fn kv_store(&self) -> &Arc<Timed<KvStore>> {
        &self.kv
    }

    pub fn store(&self, t: Track) -> Arc<dyn MetadataStore> {
        match t {
            Track::Legacy => self.legacy.clone(),
            Track::Kv => self.kv.clone(),
        }
    }

    fn lock_of(&self, bucket: &str, key: &str) -> &tokio::sync::Mutex<()> {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in bucket.bytes().chain(std::iter::once(0)).chain(key.bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        &self.locks[(h % LOCK_STRIPES as u64) as usize]
    }

    /// Requests per bucket since start-up (the migrator's access-frequency priority).
    pub fn access_counts(&self) -> HashMap<String, u64> {
        self.access.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn count_access(&self, bucket: &str) {
        let mut g = self.access.lock().unwrap_or_else(|e| e.into_inner());
        match g.get_mut(bucket) {
            Some(n) => *n += 1,
            None => {
                g.insert(bucket.to_string(), 1);
            }
        }
    }

    fn key_route(st: &MigrationState, bucket: &str, key: &str) -> Route {
        match st.phase {
            Phase::Legacy => Route::Only(Track::Legacy),
            Phase::Canary if !st.canaried(bucket, key) => Route::Only(Track::Legacy),
            Phase::Canary | Phase::Fullout => Route::Dual { primary: Track::Legacy, level: st.level },
            Phase::KvPrimary => Route::Dual { primary: Track::Kv, level: st.level },
            Phase::Complete => Route::Only(Track::Kv),
        }
    }

    /// Buckets exist on both tracks from canary to kv_primary (canaried keys need them).
    fn bucket_route(st: &MigrationState) -> Route {
        match st.phase {
            Phase::Legacy => Route::Only(Track::Legacy),
            Phase::Canary | Phase::Fullout => Route::Dual { primary: Track::Legacy, level: Level::Strong },
            Phase::KvPrimary => Route::Dual { primary: Track::Kv, level: Level::Strong },
            Phase::Complete => Route::Only(Track::Kv),
        }
    }

    /// Whether listings may come from the KV.
    fn kv_lists(st: &MigrationState) -> bool {
        match st.phase {
            Phase::Legacy | Phase::Canary => false,
            Phase::Fullout => st.migrator_done && !st.kv_stale,
            Phase::KvPrimary | Phase::Complete => true,
        }
    }

    /// Copies the bucket record from `from` to `to` when `to` lacks it.
    async fn copy_bucket(&self, bucket: &str, from: Track, to: Track) -> Result<()> {
        let info = self.store(from).get_bucket(bucket).await?;
        match self.store(to).create_bucket(info).await {
            Ok(()) | Err(MetaError::BucketExists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Makes `to` hold exactly the versions `from` holds for the key (caller holds its lock).
    async fn copy_key(&self, bucket: &str, key: &str, from: Track, to: Track) -> Result<()> {
        let versions = match self.store(from).key_versions(bucket, key).await {
            Ok(v) => v,
            // The bucket is gone from the source: there is nothing left to copy.
            Err(MetaError::NoSuchBucket(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        match self.store(to).replace_key(bucket, key, versions.clone()).await {
            Err(MetaError::NoSuchBucket(_)) if !versions.is_empty() => {
                self.copy_bucket(bucket, from, to).await?;
                self.store(to).replace_key(bucket, key, versions).await
            }
            Err(MetaError::NoSuchBucket(_)) => Ok(()),
            r => r,
        }
    }

    /// Copies a pending key to its shadow and forgets it (caller holds the key's lock).
    /// Returns whether it succeeded (a failed key is queued again).
    async fn sync_pending(&self, bucket: &str, key: &str) -> bool {
        let st = self.state();
        let res = match Self::key_route(&st, bucket, key) {
            Route::Dual { primary, .. } => self.copy_key(bucket, key, primary, primary.other()).await,
            Route::Only(_) => Ok(()),
        };
        let res = match res {
            Ok(()) => self.shadow.done(bucket, key).await.map_err(|e| format!("could not clear its marker: {e}")),
            Err(e) => Err(e.to_string()),
        };
        match res {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(bucket, key, error = %e, "shadow copy failed; retrying later");
                self.shadow.retry(bucket, key);
                false
            }
        }
    }

    /// Runs a write of `bucket/key` on its primary track with the shadow handling of the
    /// key's route. `op` receives the track the write must go to.
    async fn write<T, F, Fut>(&self, bucket: &str, key: &str, op: F) -> Result<T>
    where
        F: FnOnce(Track) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.count_access(bucket);
        let _b = self.barrier.read().await;
        let _g = self.lock_of(bucket, key).lock().await;
        let st = self.state();
        match Self::key_route(&st, bucket, key) {
            Route::Only(t) => op(t).await,
            Route::Dual { primary, level } => {
                let shadowed = !(primary == Track::Legacy && level == Level::Lazy);
                if shadowed {
                    self.shadow.mark(bucket, key).await?;
                }
                let r = op(primary).await;
                if shadowed && (level == Level::Strong || !self.shadow.enqueue(bucket, key)) {
                    if level != Level::Strong {
                        self.shadow.counters.inline.fetch_add(1, Ordering::Relaxed);
                    }
                    self.sync_pending(bucket, key).await;
                }
                r
            }
        }
    }

    /// Syncs the pending keys of `bucket` under `prefix` (before a KV listing).
    async fn flush_pending(&self, bucket: &str, prefix: &str) {
        for key in self.shadow.pending_under(bucket, prefix) {
            let _g = self.lock_of(bucket, &key).lock().await;
            if self.shadow.is_pending(bucket, &key) {
                self.sync_pending(bucket, &key).await;
            }
        }
    }

    /// Syncs every pending key; fails if any is left.
    pub async fn drain(&self) -> std::result::Result<(), String> {
        let _pass = self.gate.enter().map_err(|e| e.to_string())?;
        self.drain_queue().await
    }

    async fn drain_queue(&self) -> std::result::Result<(), String> {
        for (b, k) in self.shadow.all_pending() {
            let _g = self.lock_of(&b, &k).lock().await;
            if self.shadow.is_pending(&b, &k) {
                self.sync_pending(&b, &k).await;
            }
        }
        match self.shadow.depth() {
            0 => Ok(()),
            n => Err(format!("{n} keys could not be copied to the shadow track (see the server log)")),
        }
    }

    /// Starts the shadow queue's background workers.
    /// Takes the stored migration state when it differs from the one in memory (another
    /// node changed it through the shared KV). Returns whether it changed.
    pub async fn refresh_state(&self) -> Result<bool> {
        let Some((stored, _)) = MigrationState::load(self.kv.kv().as_ref()).await? else {
            return Ok(false);
        };
        if *self.state() == stored {
            return Ok(false);
        }
        tracing::info!(phase = %stored.phase, ratio = stored.ratio, level = ?stored.level, "migration state changed elsewhere; taking it");
        self.set_state(stored);
        Ok(true)
    }

    /// Starts the router's background workers on `runner`: the shadow-copy workers, and the
    /// state watch that re-reads the stored migration state every `every` (so a change made
    /// through another node reaches this one).
    pub fn start_workers(self: &Arc<Self>, runner: &Arc<crate::background::Runner>, every: Duration) {
        for i in 0..self.opts.workers.max(1) {
            runner.spawn(super::workers::ShadowWorker::new(Arc::downgrade(self), i));
        }
        runner.spawn(super::workers::StateWatch::new(Arc::downgrade(self), every));
    }

    /// Copies one key the shadow queue handed out (under the barrier and the key's lock).
    /// Returns `false` when the key went back to the queue.
    pub(crate) async fn copy_queued(&self, bucket: &str, key: &str) -> bool {
        let Ok(_pass) = self.gate.enter() else {
            // Not the coordinator any more: the key's marker stays for the one that is.
            return true;
        };
        let _bar = self.barrier.read().await;
        let _g = self.lock_of(bucket, key).lock().await;
        !self.shadow.is_pending(bucket, key) || self.sync_pending(bucket, key).await
    }

    /// Changes phase, ratio and/or level: drains the shadow queue while holding new writes,
    /// then saves the new state with compare-and-set and applies it at once.
    pub async fn set_phase(
        &self,
        to: Phase,
        ratio: Option<f64>,
        level: Option<Level>,
    ) -> std::result::Result<MigrationState, PhaseError> {
        let _pass = self.gate.enter()?;
        let _w = self.barrier.write().await;
        self.drain_queue().await.map_err(PhaseError::Drain)?;
        let (cur, raw) = match MigrationState::load(self.kv.kv().as_ref()).await? {
            Some((s, raw)) => (s, Some(raw)),
            None => ((*self.state()).clone(), None),
        };
        let next = cur.transition(to, ratio, level, crate::clock::now_ns())?;
        if cur.phase == Phase::Legacy && next.phase != Phase::Legacy {
            // Canaried keys need their buckets in the KV.
            for b in self.legacy.list_buckets().await? {
                match self.kv.create_bucket(b.clone()).await {
                    Ok(()) | Err(MetaError::BucketExists(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if !next.save_if(self.kv.kv().as_ref(), raw).await? {
            return Err(MetaError::Conflict(1).into());
        }
        tracing::info!(from = %cur.phase, to = %next.phase, ratio = next.ratio, level = ?next.level, "migration phase changed");
        self.set_state(next.clone());
        Ok(next)
    }

    /// Updates the persisted state with `f` (compare-and-set, retried) and applies it.
    pub async fn update_state(&self, f: impl Fn(&mut MigrationState)) -> Result<MigrationState> {
        let _pass = self.gate.enter()?;
        for _ in 0..16 {
            let (mut s, raw) = match MigrationState::load(self.kv.kv().as_ref()).await? {
                Some((s, raw)) => (s, Some(raw)),
                None => ((*self.state()).clone(), None),
            };
            f(&mut s);
            if s.save_if(self.kv.kv().as_ref(), raw).await? {
                self.set_state(s.clone());
                return Ok(s);
            }
        }
        Err(MetaError::Conflict(16))
    }

    /// Persists the start-up state when none is stored yet; returns the state to run with
    /// and a warning when a stored state overrides a differing start-up value.
    pub async fn init_state(&self) -> Result<Option<String>> {
        let startup = (*self.state()).clone();
        let loaded = MigrationState::load(self.kv.kv().as_ref()).await?;
        let (st, warning) = MigrationState::reconcile(loaded.as_ref().map(|(s, _)| s.clone()), startup.clone());
        if loaded.is_none() {
            if st.phase != Phase::Legacy {
                for b in self.legacy.list_buckets().await? {
                    match self.kv.create_bucket(b).await {
                        Ok(()) | Err(MetaError::BucketExists(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            st.save_if(self.kv.kv().as_ref(), None).await?;
        }
        self.set_state(st);
        Ok(warning)
    }

    /// Brings one key of the legacy track's scope into the KV (the migrator's step). A
    /// client write to the key waits for it, or it for the write, so the newest write wins.
    pub async fn migrate_key(&self, bucket: &str, key: &str) -> Result<KeyOutcome> {
        let _pass = self.gate.enter()?;
        let _g = self.lock_of(bucket, key).lock().await;
        let st = self.state();
        if !matches!(st.phase, Phase::Canary | Phase::Fullout) {
            return Err(MetaError::Backend(format!("the migrator does not run in phase {}", st.phase)));
        }
        let kv = match self.kv.key_versions(bucket, key).await {
            Ok(v) => v,
            Err(MetaError::NoSuchBucket(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        if !st.canaried(bucket, key) {
            if kv.is_empty() {
                return Ok(KeyOutcome::Skipped);
            }
            self.kv.replace_key(bucket, key, Vec::new()).await?;
            return Ok(KeyOutcome::Purged);
        }
        let fs = match self.legacy.key_versions(bucket, key).await {
            Ok(v) => v,
            Err(MetaError::NoSuchBucket(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        if compare::diff(&fs, &kv).is_none() {
            if self.shadow.is_pending(bucket, key) {
                self.shadow.done(bucket, key).await?;
            }
            return Ok(KeyOutcome::InSync);
        }
        match self.kv.replace_key(bucket, key, fs.clone()).await {
            Err(MetaError::NoSuchBucket(_)) if !fs.is_empty() => {
                self.copy_bucket(bucket, Track::Legacy, Track::Kv).await?;
                self.kv.replace_key(bucket, key, fs).await?;
            }
            Err(MetaError::NoSuchBucket(_)) => {}
            r => r?,
        }
        if self.shadow.is_pending(bucket, key) {
            self.shadow.done(bucket, key).await?;
        }
        Ok(KeyOutcome::Copied)
    }

    /// Compares one key across the tracks (after syncing it if pending) and, with a
    /// strategy, repairs a difference. Returns the class found and whether it repaired.
    pub async fn check_key(&self, bucket: &str, key: &str, repair: Option<Repair>) -> Result<(Class, bool)> {
        let _pass = self.gate.enter()?;
        let _g = self.lock_of(bucket, key).lock().await;
        if self.shadow.is_pending(bucket, key) {
            self.sync_pending(bucket, key).await;
        }
        let read = |t: Track| async move {
            match self.store(t).key_versions(bucket, key).await {
                Err(MetaError::NoSuchBucket(_)) => Ok(Vec::new()),
                r => r,
            }
        };
        let fs = read(Track::Legacy).await?;
        let kv = read(Track::Kv).await?;
        let class = compare::classify(&fs, &kv);
        let Some(strategy) = repair.filter(|_| !matches!(class, Class::InSync | Class::Missing)) else {
            return Ok((class, false));
        };
        let (target, versions) = match strategy {
            Repair::UseKv => (Track::Legacy, kv),
            Repair::UseFs => (Track::Kv, fs),
            Repair::SyncToKv => (Track::Kv, compare::union(&fs, &kv)),
            Repair::SyncToFs => (Track::Legacy, compare::union(&kv, &fs)),
        };
        let source = target.other();
        match self.store(target).replace_key(bucket, key, versions.clone()).await {
            Err(MetaError::NoSuchBucket(_)) => {
                self.copy_bucket(bucket, source, target).await?;
                self.store(target).replace_key(bucket, key, versions).await?;
            }
            r => r?,
        }
        Ok((class, true))
    }

    /// Removes a key's xl.meta once the KV holds the key (cleanup after `complete`).
    /// Returns whether it removed it.
    pub async fn cleanup_key(&self, bucket: &str, key: &str) -> Result<bool> {
        let _pass = self.gate.enter()?;
        let _g = self.lock_of(bucket, key).lock().await;
        if self.state().phase != Phase::Complete {
            return Err(MetaError::Backend("cleanup runs only in phase complete".into()));
        }
        let kv = match self.kv.key_versions(bucket, key).await {
            Ok(v) => v,
            Err(MetaError::NoSuchBucket(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        if kv.is_empty() {
            tracing::warn!(bucket, key, "cleanup keeps an xl.meta whose key the KV does not hold");
            return Ok(false);
        }
        self.legacy.replace_key(bucket, key, Vec::new()).await?;
        Ok(true)
    }

    /// Rebuilds one key of the KV from xl.meta (`metadata rebuild-kv`): adds the versions
    /// xl.meta has and takes xl.meta's copy of those both have, but never deletes a KV
    /// version xl.meta merely lacks (xl.meta may be stale; the validator reports such keys
    /// and repairs them on request). Refused once the KV is primary.
    pub async fn rebuild_key(&self, bucket: &str, key: &str) -> Result<()> {
        let _pass = self.gate.enter()?;
        let _g = self.lock_of(bucket, key).lock().await;
        let phase = self.state().phase;
        if matches!(phase, Phase::KvPrimary | Phase::Complete) {
            return Err(MetaError::Backend(format!(
                "rebuild-kv refused in phase {phase}: the KV is primary and xl.meta may be stale or cleaned up"
            )));
        }
        let fs = match self.legacy.key_versions(bucket, key).await {
            Ok(v) => v,
            Err(MetaError::NoSuchBucket(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let kv = match self.kv.key_versions(bucket, key).await {
            Ok(v) => v,
            Err(MetaError::NoSuchBucket(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut merged = fs.clone();
        merged.extend(kv.into_iter().filter(|k| !fs.iter().any(|f| f.version_id == k.version_id)));
        merged.sort_by_key(|v| std::cmp::Reverse(v.mtime_ns));
        if !merged.is_empty() {
            match self.kv.replace_key(bucket, key, merged.clone()).await {
                Err(MetaError::NoSuchBucket(_)) => {
                    self.copy_bucket(bucket, Track::Legacy, Track::Kv).await?;
                    self.kv.replace_key(bucket, key, merged).await?;
                }
                r => r?,
            }
        }
        if self.shadow.is_pending(bucket, key) {
            self.shadow.done(bucket, key).await?;
        }
        Ok(())
    }

    /// The next keys of `bucket` after `after` on either track (at most about `batch`), in
    /// order, and whether the bucket is exhausted.
    pub async fn union_keys(&self, bucket: &str, after: Option<&str>, batch: usize) -> Result<(Vec<String>, bool)> {
        let _pass = self.gate.enter()?;
        let read = |s: Arc<dyn MetadataStore>| async move {
            match s.keys_after(bucket, after, batch).await {
                Err(MetaError::NoSuchBucket(_)) => Ok(Vec::new()),
                r => r,
            }
        };
        let fs = read(self.legacy.clone()).await?;
        let kv = read(self.kv.clone()).await?;
        // Only keys up to the smaller cut-off are known to be complete on both sides.
        let cut = [(&fs, fs.len() >= batch), (&kv, kv.len() >= batch)]
            .iter()
            .filter(|(_, full)| *full)
            .filter_map(|(v, _)| v.last().cloned())
            .min();
        let mut keys: Vec<String> = fs.into_iter().chain(kv).filter(|k| cut.as_ref().is_none_or(|c| k <= c)).collect();
        keys.sort();
        keys.dedup();
        Ok((keys, cut.is_none()))
    }

    /// Gets a key from one track, counting which track answered.
    async fn get_from(&self, t: Track, bucket: &str, key: &str, vid: Option<&str>) -> Result<ObjectVersion> {
        let c = match t {
            Track::Legacy => &self.counters.fs_reads,
            Track::Kv => &self.counters.kv_reads,
        };
        c.fetch_add(1, Ordering::Relaxed);
        self.store(t).get_object(bucket, key, vid).await
    }

    /// The track holding an upload (the primary first, then the other).
    async fn upload_home(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(Track, MultipartUpload)> {
        let primary = Self::key_route(&self.state(), bucket, key).primary();
        match self.store(primary).get_upload(bucket, key, upload_id).await {
            Ok(u) => Ok((primary, u)),
            Err(e @ (MetaError::NoSuchUpload(_) | MetaError::NoSuchBucket(_))) => {
                match self.store(primary.other()).get_upload(bucket, key, upload_id).await {
                    Ok(u) => Ok((primary.other(), u)),
                    Err(_) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Applies a bucket change to the primary, then to the shadow.
    async fn bucket_write<F, Fut>(&self, name: &str, op: F) -> Result<()>
    where
        F: Fn(Arc<dyn MetadataStore>, bool) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let _b = self.barrier.read().await;
        let _g = self.lock_of(name, "").lock().await;
        match Self::bucket_route(&self.state()) {
            Route::Only(t) => op(self.store(t), false).await,
            Route::Dual { primary, .. } => {
                op(self.store(primary), false).await?;
                if let Err(e) = op(self.store(primary.other()), true).await {
                    self.counters.consistency_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(bucket = name, error = %e, "bucket change did not reach the shadow track");
                }
                Ok(())
            }
        }
    }
}

/// Merges two upload pages (each in key order) into one of at most `max` items.
fn merge_uploads(a: ListPage<MultipartUpload>, b: ListPage<MultipartUpload>, max: usize) -> ListPage<MultipartUpload> {
    let sort_key = |i: &ListItem<MultipartUpload>| match i {
        ListItem::Object(u) => (u.key.clone(), u.upload_id.clone()),
        ListItem::CommonPrefix(p) => (p.clone(), String::new()),
    };
    let truncated = a.truncated || b.truncated;
    let mut items: Vec<_> = a.items.into_iter().chain(b.items).collect();
    items.sort_by_key(sort_key);
    items.dedup_by(|x, y| sort_key(x) == sort_key(y));
    let over = items.len() > max;
    items.truncate(max);
    ListPage { items, truncated: truncated || over }
}

#[async_trait]
impl MetadataStore for DualTrack {
    async fn create_bucket(&self, info: BucketInfo) -> Result<()> {
        let _pass = self.gate.enter()?;
        let name = info.name.clone();
        self.bucket_write(&name, |s, shadow| {
            let info = info.clone();
            async move {
                match s.create_bucket(info.clone()).await {
                    Err(MetaError::BucketExists(_)) if shadow => s.update_bucket(info).await,
                    r => r,
                }
            }
        })
        .await
    }

    async fn get_bucket(&self, name: &str) -> Result<BucketInfo> {
        let _pass = self.gate.enter()?;
        let t = Self::bucket_route(&self.state()).primary();
        self.store(t).get_bucket(name).await
    }

    async fn update_bucket(&self, info: BucketInfo) -> Result<()> {
        let _pass = self.gate.enter()?;
        let name = info.name.clone();
        self.bucket_write(&name, |s, shadow| {
            let info = info.clone();
            async move {
                match s.update_bucket(info.clone()).await {
                    Err(MetaError::NoSuchBucket(_)) if shadow => s.create_bucket(info).await,
                    r => r,
                }
            }
        })
        .await
    }

    async fn delete_bucket(&self, name: &str) -> Result<()> {
        let _pass = self.gate.enter()?;
        // Pending keys of the bucket are copied first, so the shadow is as empty as the primary.
        self.flush_pending(name, "").await;
        self.bucket_write(name, |s, shadow| async move {
            match s.delete_bucket(name).await {
                Err(MetaError::NoSuchBucket(_)) if shadow => Ok(()),
                r => r,
            }
        })
        .await
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let _pass = self.gate.enter()?;
        let t = Self::bucket_route(&self.state()).primary();
        self.store(t).list_buckets().await
    }

    async fn get_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectVersion> {
        let _pass = self.gate.enter()?;
        self.count_access(bucket);
        let st = self.state();
        match Self::key_route(&st, bucket, key) {
            Route::Only(t) => self.get_from(t, bucket, key, version_id).await,
            Route::Dual { primary: Track::Kv, .. } => match self.get_from(Track::Kv, bucket, key, version_id).await {
                Err(e) if not_found(&e) && self.opts.fallback_to_fs && !self.shadow.is_pending(bucket, key) => {
                    match self.get_from(Track::Legacy, bucket, key, version_id).await {
                        Ok(v) => {
                            self.counters.fallbacks.fetch_add(1, Ordering::Relaxed);
                            self.counters.consistency_errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(bucket, key, "the KV lacks a key xl.meta holds; answered from xl.meta");
                            Ok(v)
                        }
                        Err(_) => Err(e),
                    }
                }
                r => r,
            },
            Route::Dual { primary: Track::Legacy, level } => {
                if self.shadow.is_pending(bucket, key) || (st.kv_stale && level != Level::Lazy) {
                    return self.get_from(Track::Legacy, bucket, key, version_id).await;
                }
                match level {
                    Level::Strong => {
                        let (fs, kv) = tokio::join!(
                            self.get_from(Track::Legacy, bucket, key, version_id),
                            self.kv.get_object(bucket, key, version_id)
                        );
                        self.counters.kv_reads.fetch_add(1, Ordering::Relaxed);
                        let differs = match (&fs, &kv) {
                            (Ok(a), Ok(b)) => compare::diff(std::slice::from_ref(a), std::slice::from_ref(b)).is_some(),
                            (Err(a), Ok(_)) => not_found(a),
                            _ => false,
                        };
                        if differs {
                            self.counters.consistency_errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(bucket, key, "strong read found the tracks disagreeing; queueing a copy");
                            self.shadow.enqueue_copy(bucket, key);
                        }
                        fs
                    }
                    Level::Eventual => match self.get_from(Track::Kv, bucket, key, version_id).await {
                        Ok(v) => Ok(v),
                        Err(_) => {
                            self.counters.fallbacks.fetch_add(1, Ordering::Relaxed);
                            self.get_from(Track::Legacy, bucket, key, version_id).await
                        }
                    },
                    Level::Lazy => {
                        let r = self.get_from(Track::Legacy, bucket, key, version_id).await;
                        if let Ok(v) = &r
                            && version_id.is_none()
                        {
                            let behind = match self.kv.get_object(bucket, key, None).await {
                                Ok(k) => k.version_id != v.version_id || k.mtime_ns != v.mtime_ns,
                                Err(_) => true,
                            };
                            if behind && self.shadow.enqueue_copy(bucket, key) {
                                self.counters.lazy_copies.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        r
                    }
                }
            }
        }
    }

    async fn put_object(&self, obj: ObjectVersion, cond: PutCondition) -> Result<Vec<ObjectVersion>> {
        let _pass = self.gate.enter()?;
        let (bucket, key) = (obj.bucket.clone(), obj.key.clone());
        self.write(&bucket, &key, |t| {
            let s = self.store(t);
            async move { s.put_object(obj, cond).await }
        })
        .await
    }

    async fn delete_version(&self, bucket: &str, key: &str, version_id: &str) -> Result<Option<ObjectVersion>> {
        let _pass = self.gate.enter()?;
        self.write(bucket, key, |t| async move { self.store(t).delete_version(bucket, key, version_id).await }).await
    }

    async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        change: &crate::model::VersionUpdate,
    ) -> Result<ObjectVersion> {
        let _pass = self.gate.enter()?;
        self.write(bucket, key, |t| async move { self.store(t).update_version(bucket, key, version_id, change).await })
            .await
    }

    async fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage<ObjectVersion>> {
        let _pass = self.gate.enter()?;
        self.count_access(bucket);
        let st = self.state();
        if Self::kv_lists(&st) {
            if st.phase == Phase::Fullout {
                self.flush_pending(bucket, &q.prefix).await;
            }
            return self.kv.list_objects(bucket, q).await;
        }
        self.legacy.list_objects(bucket, q).await
    }

    async fn list_versions(&self, bucket: &str, q: &VersionQuery) -> Result<ListPage<ObjectVersion>> {
        let _pass = self.gate.enter()?;
        self.count_access(bucket);
        let st = self.state();
        if Self::kv_lists(&st) {
            if st.phase == Phase::Fullout {
                self.flush_pending(bucket, &q.prefix).await;
            }
            return self.kv.list_versions(bucket, q).await;
        }
        self.legacy.list_versions(bucket, q).await
    }

    async fn create_upload(&self, upload: MultipartUpload) -> Result<()> {
        let _pass = self.gate.enter()?;
        let t = Self::key_route(&self.state(), &upload.bucket, &upload.key).primary();
        match self.store(t).create_upload(upload.clone()).await {
            // The KV may lack a bucket created before the canary reached it.
            Err(MetaError::NoSuchBucket(_)) if t == Track::Kv => {
                self.copy_bucket(&upload.bucket, Track::Legacy, Track::Kv).await?;
                self.store(t).create_upload(upload).await
            }
            r => r,
        }
    }

    async fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<MultipartUpload> {
        let _pass = self.gate.enter()?;
        Ok(self.upload_home(bucket, key, upload_id).await?.1)
    }

    async fn put_part(&self, upload: &MultipartUpload, part: UploadedPart) -> Result<Option<UploadedPart>> {
        let _pass = self.gate.enter()?;
        // Under the key's lock: a completion that moves the upload between tracks checks
        // the part records and commits without a part changing in between.
        let _g = self.lock_of(&upload.bucket, &upload.key).lock().await;
        let (t, _) = self.upload_home(&upload.bucket, &upload.key, &upload.upload_id).await?;
        self.store(t).put_part(upload, part).await
    }

    async fn list_parts(&self, upload_id: &str, after: u32, max: usize) -> Result<Vec<UploadedPart>> {
        let _pass = self.gate.enter()?;
        let parts = self.kv.list_parts(upload_id, after, max).await?;
        if !parts.is_empty() {
            return Ok(parts);
        }
        self.legacy.list_parts(upload_id, after, max).await
    }

    async fn list_uploads(&self, bucket: &str, q: &UploadQuery) -> Result<ListPage<MultipartUpload>> {
        let _pass = self.gate.enter()?;
        let primary = Self::bucket_route(&self.state()).primary();
        let a = self.store(primary).list_uploads(bucket, q).await?;
        let b = match self.store(primary.other()).list_uploads(bucket, q).await {
            Ok(p) => p,
            Err(MetaError::NoSuchBucket(_)) => ListPage { items: Vec::new(), truncated: false },
            Err(e) => return Err(e),
        };
        Ok(merge_uploads(a, b, q.max_uploads))
    }

    async fn complete_upload(
        &self,
        upload: &MultipartUpload,
        obj: ObjectVersion,
        used: &[UploadedPart],
        cond: PutCondition,
    ) -> Result<CompleteOutcome> {
        let _pass = self.gate.enter()?;
        let (home, _) = self.upload_home(&upload.bucket, &upload.key, &upload.upload_id).await?;
        self.write(&upload.bucket, &upload.key, |t| async move {
            if t == home {
                return self.store(t).complete_upload(upload, obj, used, cond).await;
            }
            // The phase changed while the upload ran: its records live on the other track.
            // The object is committed first and the upload removed after it, so at every
            // moment one of them references the data dir (garbage collection never sees it
            // unreferenced). A crash in between leaves an upload whose data an object uses:
            // aborting it frees nothing a version references (s3api checks).
            let mut stored = Vec::new();
            let mut after = 0;
            loop {
                let chunk = self.store(home).list_parts(&upload.upload_id, after, 1000).await?;
                let Some(last) = chunk.last() else { break };
                after = last.number;
                let n = chunk.len();
                stored.extend(chunk);
                if n < 1000 {
                    break;
                }
            }
            let unused_parts = crate::store::check_used_parts(&stored, used)?;
            let replaced = self.store(t).put_object(obj, cond).await?;
            self.store(home).abort_upload(upload).await?;
            Ok(CompleteOutcome { replaced, unused_parts })
        })
        .await
    }

    async fn abort_upload(&self, upload: &MultipartUpload) -> Result<Vec<UploadedPart>> {
        let _pass = self.gate.enter()?;
        let (t, _) = self.upload_home(&upload.bucket, &upload.key, &upload.upload_id).await?;
        self.store(t).abort_upload(upload).await
    }

    async fn key_versions(&self, bucket: &str, key: &str) -> Result<Vec<ObjectVersion>> {
        let _pass = self.gate.enter()?;
        let t = Self::key_route(&self.state(), bucket, key).primary();
        self.store(t).key_versions(bucket, key).await
    }

    async fn replace_key(&self, bucket: &str, key: &str, versions: Vec<ObjectVersion>) -> Result<()> {
        let _pass = self.gate.enter()?;
        self.write(bucket, key, |t| async move { self.store(t).replace_key(bucket, key, versions).await }).await
    }

    async fn keys_after(&self, bucket: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let _pass = self.gate.enter()?;
        let st = self.state();
        let t = if Self::kv_lists(&st) { Track::Kv } else { Track::Legacy };
        self.store(t).keys_after(bucket, after, limit).await
    }

    async fn recover(&self) -> Result<Vec<String>> {
        let mut repaired = self.legacy.recover().await?;
        for b in self.kv.recover().await? {
            if !repaired.contains(&b) {
                repaired.push(b);
            }
        }
        let n = self.shadow.load().await?;
        if n > 0 {
            tracing::warn!(keys = n, "shadow copies a previous run left pending are being redone");
        }
        Ok(repaired)
    }

    /// Until `complete`, xl.meta may be read (and rolled back to), so data stays where the
    /// legacy track finds it.
    fn keyed_data(&self) -> bool {
        self.state().phase != Phase::Complete
    }

    async fn all_bucket_ids(&self) -> Result<Vec<String>> {
        let _pass = self.gate.enter()?;
        let mut ids = self.legacy.all_bucket_ids().await?;
        ids.extend(self.kv.all_bucket_ids().await?);
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}
