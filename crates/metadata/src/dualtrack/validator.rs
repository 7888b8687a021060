//! The validator: samples keys uniformly at random (each key of the walk is picked with
//! probability `sample`, so every key has the same chance, not the first N), compares the
//! tracks for each through `DualTrack::check_key` (version ids, ETag, size, mtime, parts,
//! user metadata), counts the seed's `ValidationStats` classes, optionally repairs, keeps
//! the last report in the KV (`s/validation`) and records whether a whole-deployment run
//! was clean (the `complete` guard). This module must never change a key except through a
//! requested repair.

use crate::background::{JobCtx, Runner};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::compare::Class;
use super::router::{DualTrack, Repair};
use super::state::Phase;
use crate::error::{MetaError, Result};
use crate::kv::WriteBatch;
use crate::schema;
use crate::store::MetadataStore;

/// The seed's `ValidationStats`, plus repairs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ValidationStats {
    pub checked: u64,
    pub in_sync: u64,
    pub diverged: u64,
    pub kv_only: u64,
    pub fs_only: u64,
    pub missing: u64,
    pub errors: u64,
    pub repaired: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub bucket: String,
    pub key: String,
    pub class: String,
    pub detail: Option<String>,
    pub repaired: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationReport {
    pub id: u64,
    pub running: bool,
    pub bucket: Option<String>,
    pub sample: f64,
    pub repair: Option<Repair>,
    pub phase: Phase,
    pub stats: ValidationStats,
    /// Keys in the KV's scope walked (the population sampled from).
    pub population: u64,
    /// Nothing diverged, or every difference found was repaired.
    pub clean: bool,
    /// Up to 100 keys that were not in sync.
    pub findings: Vec<Finding>,
    pub started_ns: i64,
    pub finished_ns: Option<i64>,
    pub error: Option<String>,
}

/// Totals over every run since start-up, by class (exported as metrics).
#[derive(Debug, Default)]
pub struct ValidationCounters {
    pub in_sync: AtomicU64,
    pub diverged: AtomicU64,
    pub kv_only: AtomicU64,
    pub fs_only: AtomicU64,
    pub missing: AtomicU64,
    pub errors: AtomicU64,
    pub repaired: AtomicU64,
    pub runs: AtomicU64,
}

pub struct Validator {
    dt: Arc<DualTrack>,
    /// Runs the validations (leader only).
    runner: std::sync::Weak<Runner>,
    running: AtomicBool,
    report: Mutex<Option<ValidationReport>>,
    pub counters: ValidationCounters,
}

const KEY: &str = "validation";
const MAX_FINDINGS: usize = 100;
const BATCH: usize = 512;

impl Validator {
    pub fn new(dt: Arc<DualTrack>, runner: &Arc<Runner>) -> Self {
        Self {
            dt,
            runner: Arc::downgrade(runner),
            running: AtomicBool::new(false),
            report: Mutex::new(None),
            counters: ValidationCounters::default(),
        }
    }

    fn with_report<T>(&self, f: impl FnOnce(&mut Option<ValidationReport>) -> T) -> T {
        f(&mut self.report.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The in-memory report, without touching the KV (for metrics scrapes).
    pub fn snapshot(&self) -> Option<ValidationReport> {
        self.with_report(|r| r.clone())
    }

    /// Loads the persisted last report into memory (call once at start-up).
    pub async fn prime(&self) {
        if self.with_report(|r| r.is_none())
            && let Some(r) = self.status().await
        {
            self.with_report(|cur| {
                if cur.is_none() {
                    *cur = Some(r);
                }
            });
        }
    }

    /// The running or last report (the persisted one after a restart).
    pub async fn status(&self) -> Option<ValidationReport> {
        if let Some(r) = self.with_report(|r| r.clone()) {
            return Some(r);
        }
        let key = schema::system_key(KEY);
        let raw = self.dt.kv_store().kv().get(&key).await.ok().flatten()?;
        schema::decode(&key, &raw).ok()
    }

    /// Starts a run in the background unless one is running; returns its first report.
    pub fn start(
        self: &Arc<Self>,
        bucket: Option<String>,
        sample: f64,
        repair: Option<Repair>,
    ) -> std::result::Result<ValidationReport, String> {
        if !(sample > 0.0 && sample <= 1.0) {
            return Err(format!("sample {sample} must be in (0, 1]"));
        }
        let phase = self.dt.state().phase;
        if phase == Phase::Legacy {
            return Err("nothing to validate in phase legacy: the KV holds no objects yet".into());
        }
        let Some(runner) = self.runner.upgrade() else {
            return Err("the server is shutting down".into());
        };
        if self.running.swap(true, Ordering::SeqCst) {
            return self.with_report(|r| r.clone()).ok_or_else(|| "a validation is starting".to_string());
        }
        let id = self.with_report(|r| r.as_ref().map_or(1, |r| r.id + 1));
        let report = ValidationReport {
            id,
            running: true,
            bucket: bucket.clone(),
            sample,
            repair,
            phase,
            stats: ValidationStats::default(),
            population: 0,
            clean: false,
            findings: Vec::new(),
            started_ns: crate::clock::now_ns(),
            finished_ns: None,
            error: None,
        };
        self.with_report(|r| *r = Some(report.clone()));
        let me = self.clone();
        let started = runner.spawn_job("validation", true, |ctx| async move {
            let res = me.run(&ctx, bucket.as_deref(), sample, repair).await;
            let out = res.as_ref().map(|_| ()).map_err(|e| e.to_string());
            me.finish(res).await;
            out
        });
        if !started {
            self.with_report(|r| {
                if let Some(r) = r.as_mut() {
                    r.running = false;
                    r.error = Some("the server is shutting down".into());
                }
            });
            self.running.store(false, Ordering::SeqCst);
            return Err("the server is shutting down".into());
        }
        Ok(report)
    }

    async fn finish(&self, res: Result<()>) {
        let whole = self.with_report(|r| {
            let r = r.as_mut()?;
            r.running = false;
            r.finished_ns = Some(crate::clock::now_ns());
            r.error = res.as_ref().err().map(|e| e.to_string());
            let s = &r.stats;
            let unsynced = s.diverged + s.kv_only + s.fs_only;
            r.clean = r.error.is_none() && s.errors == 0 && (unsynced == 0 || s.repaired == unsynced);
            Some((r.clone(), r.bucket.is_none()))
        });
        self.counters.runs.fetch_add(1, Ordering::Relaxed);
        if let Some((report, whole)) = whole {
            let mut b = WriteBatch::new();
            b.put(schema::system_key(KEY), schema::encode(&report));
            if let Err(e) = self.dt.kv_store().kv().write(b).await {
                tracing::warn!(error = %e, "could not save the validation report");
            }
            if whole {
                let clean = report.clean;
                if let Err(e) = self.dt.update_state(|s| s.last_validation_clean = Some(clean)).await {
                    tracing::warn!(error = %e, "could not record the validation outcome");
                }
            }
            tracing::info!(id = report.id, clean = report.clean, stats = ?report.stats, "validation finished");
        }
        self.running.store(false, Ordering::SeqCst);
    }

    fn record(&self, bucket: &str, key: &str, res: Result<(Class, bool)>) {
        let c = &self.counters;
        self.with_report(|r| {
            let Some(r) = r.as_mut() else { return };
            let s = &mut r.stats;
            s.checked += 1;
            let (name, detail, repaired) = match res {
                Ok((class, repaired)) => {
                    if repaired {
                        s.repaired += 1;
                        c.repaired.fetch_add(1, Ordering::Relaxed);
                    }
                    match class {
                        Class::InSync => {
                            s.in_sync += 1;
                            c.in_sync.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Class::Missing => {
                            s.missing += 1;
                            c.missing.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Class::Diverged(d) => {
                            s.diverged += 1;
                            c.diverged.fetch_add(1, Ordering::Relaxed);
                            ("diverged", Some(d), repaired)
                        }
                        Class::KvOnly => {
                            s.kv_only += 1;
                            c.kv_only.fetch_add(1, Ordering::Relaxed);
                            ("kv_only", None, repaired)
                        }
                        Class::FsOnly => {
                            s.fs_only += 1;
                            c.fs_only.fetch_add(1, Ordering::Relaxed);
                            ("fs_only", None, repaired)
                        }
                    }
                }
                Err(e) => {
                    s.errors += 1;
                    c.errors.fetch_add(1, Ordering::Relaxed);
                    ("error", Some(e.to_string()), false)
                }
            };
            if r.findings.len() < MAX_FINDINGS {
                r.findings.push(Finding {
                    bucket: bucket.into(),
                    key: key.into(),
                    class: name.into(),
                    detail,
                    repaired,
                });
            }
        });
    }

    async fn run(&self, ctx: &JobCtx, only: Option<&str>, sample: f64, repair: Option<Repair>) -> Result<()> {
        let buckets: Vec<String> = match only {
            Some(b) => {
                self.dt.get_bucket(b).await?;
                vec![b.to_string()]
            }
            None => {
                let mut names: Vec<String> =
                    self.dt.legacy().list_buckets().await?.into_iter().map(|b| b.name).collect();
                for b in self.dt.kv_store().list_buckets().await? {
                    if !names.contains(&b.name) {
                        names.push(b.name);
                    }
                }
                names
            }
        };
        for bucket in buckets {
            let mut after: Option<String> = None;
            loop {
                ctx.may_go_on().map_err(MetaError::Backend)?;
                let batch = tracing::info_span!("validation_batch", bucket = %bucket, keys = tracing::field::Empty);
                let (keys, last, picked) = async {
                    let (keys, last) = self.dt.union_keys(&bucket, after.as_deref(), BATCH).await?;
                    tracing::Span::current().record("keys", keys.len());
                    let st = self.dt.state();
                    let mut picked = 0;
                    for k in &keys {
                        if !st.canaried(&bucket, k) {
                            continue;
                        }
                        picked += 1;
                        if rand::random::<f64>() >= sample {
                            continue;
                        }
                        let res = self.dt.check_key(&bucket, k, repair).await;
                        self.record(&bucket, k, res);
                        ctx.unit().map_err(MetaError::Backend)?;
                    }
                    Ok::<_, MetaError>((keys, last, picked))
                }
                .instrument(batch)
                .await?;
                self.with_report(|r| {
                    if let Some(r) = r.as_mut() {
                        r.population += picked;
                    }
                });
                after = keys.last().cloned().or(after);
                if last {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Runs a validation every `interval` in the phases where both tracks hold keys.
    /// Starts a sampling validation if the phase has two tracks to compare.
    pub fn start_periodic(self: &Arc<Self>, sample: f64) -> bool {
        if !matches!(self.dt.state().phase, Phase::Canary | Phase::Fullout | Phase::KvPrimary) {
            return false;
        }
        match self.start(None, sample, None) {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(error = %e, "periodic validation not started");
                false
            }
        }
    }
}
