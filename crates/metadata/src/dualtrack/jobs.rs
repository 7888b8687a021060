//! Long DualTrack jobs besides the migrator and the validator: `cleanup` (removes the
//! xl.meta files of migrated keys once the phase is `complete`) and `rebuild-kv` (rebuilds
//! the KV's object metadata from xl.meta after the KV was lost or corrupted). Each walks
//! every key of both tracks, counts first for progress, and runs one at a time, as a
//! leader-only job on the server's `background::Runner` (one key per unit).
//! This module must never run cleanup outside phase `complete`, nor rebuild-kv once the KV
//! is primary.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{DualTrack, Phase};
use crate::background::{JobCtx, Runner};
use crate::store::MetadataStore;

/// A cleanup or rebuild-kv job's progress, as the admin API serves it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    pub id: u64,
    pub kind: String,
    pub running: bool,
    pub total: u64,
    pub done: u64,
    /// Keys changed: xl.meta removed (cleanup) or KV entries rewritten (rebuild-kv).
    pub changed: u64,
    /// Keys left alone (cleanup: the KV does not hold them).
    pub kept: u64,
    pub errors: u64,
    pub error: Option<String>,
    pub failures: Vec<String>,
}

#[derive(Default)]
pub struct Jobs {
    current: Mutex<Option<JobProgress>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Cleanup,
    RebuildKv,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Cleanup => "cleanup",
            Kind::RebuildKv => "rebuild-kv",
        }
    }
}

impl Jobs {
    pub fn status(&self) -> Option<JobProgress> {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut JobProgress)) {
        if let Some(p) = self.current.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            f(p);
        }
    }

    /// Starts a job on `runner` unless one runs; errors when the phase does not allow it.
    pub fn start(
        self: &Arc<Self>,
        runner: &Arc<Runner>,
        dt: Arc<DualTrack>,
        kind: Kind,
    ) -> Result<JobProgress, String> {
        let phase = dt.state().phase;
        if kind == Kind::Cleanup && phase != Phase::Complete {
            return Err(format!(
                "cleanup removes xl.meta files and runs only in phase complete (now {phase}); every earlier phase can still roll back to them"
            ));
        }
        if kind == Kind::RebuildKv && matches!(phase, Phase::KvPrimary | Phase::Complete) {
            return Err(format!(
                "rebuild-kv refused in phase {phase}: the KV is primary, and xl.meta may lack its newest writes (or, after cleanup, everything); roll back to fullout first if the KV must be rebuilt"
            ));
        }
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = cur.as_ref().filter(|p| p.running) {
            return Err(format!("a {} job is running", p.kind));
        }
        let p = JobProgress {
            id: cur.as_ref().map_or(1, |p| p.id + 1),
            kind: kind.name().into(),
            running: true,
            ..Default::default()
        };
        *cur = Some(p.clone());
        drop(cur);
        let me = self.clone();
        let started = runner.spawn_job(kind.name(), true, |ctx| async move {
            let res = me.run(&ctx, &dt, kind).await;
            me.update(|p| {
                p.running = false;
                p.error = res.clone().err();
            });
            res
        });
        if !started {
            self.update(|p| {
                p.running = false;
                p.error = Some("the server is shutting down".into());
            });
            return Err("the server is shutting down".into());
        }
        Ok(p)
    }

    async fn keys_of(dt: &DualTrack, bucket: &str, after: Option<&str>) -> Result<(Vec<String>, bool), String> {
        dt.union_keys(bucket, after, 512).await.map_err(|e| e.to_string())
    }

    async fn run(&self, ctx: &JobCtx, dt: &DualTrack, kind: Kind) -> Result<(), String> {
        let fs_buckets = dt.legacy().list_buckets().await.map_err(|e| e.to_string())?;
        let mut buckets: Vec<String> = fs_buckets.iter().map(|b| b.name.clone()).collect();
        if kind == Kind::RebuildKv {
            // Shadow copies still queued would be overwritten anyway; finish them first.
            if let Err(e) = dt.drain().await {
                tracing::warn!(error = %e, "rebuild-kv starts with shadow copies pending");
            }
            for b in fs_buckets {
                match dt.kv_store().create_bucket(b).await {
                    Ok(()) | Err(crate::MetaError::BucketExists(_)) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            for b in dt.kv_store().list_buckets().await.map_err(|e| e.to_string())? {
                if !buckets.contains(&b.name) {
                    buckets.push(b.name);
                }
            }
        }
        let mut total = 0;
        for b in &buckets {
            let mut after: Option<String> = None;
            loop {
                let (keys, last) = Self::keys_of(dt, b, after.as_deref()).await?;
                total += keys.len() as u64;
                ctx.may_go_on()?;
                after = keys.last().cloned().or(after);
                if last {
                    break;
                }
            }
        }
        self.update(|p| p.total = total);
        for b in &buckets {
            let mut after: Option<String> = None;
            loop {
                let (keys, last) = Self::keys_of(dt, b, after.as_deref()).await?;
                for k in &keys {
                    let res = match kind {
                        Kind::Cleanup => dt.cleanup_key(b, k).await,
                        Kind::RebuildKv => dt.rebuild_key(b, k).await.map(|()| true),
                    };
                    self.update(|p| {
                        p.done += 1;
                        match res {
                            Ok(true) => p.changed += 1,
                            Ok(false) => p.kept += 1,
                            Err(e) => {
                                p.errors += 1;
                                if p.failures.len() < 100 {
                                    p.failures.push(format!("{b}/{k}: {e}"));
                                }
                            }
                        }
                    });
                    ctx.unit()?;
                }
                after = keys.last().cloned().or(after);
                if last {
                    break;
                }
            }
        }
        if kind == Kind::RebuildKv {
            // The KV now mirrors xl.meta: complete and fresh wherever the phase lets it be.
            dt.update_state(|s| {
                if !s.kv_may_skip() && s.phase != Phase::Legacy && s.phase != Phase::Canary {
                    s.kv_stale = false;
                    s.migrator_done = true;
                } else if s.phase == Phase::Canary {
                    // Keys outside the canary are in the KV now: a migrator pass removes them.
                    s.kv_stale = true;
                }
            })
            .await
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
