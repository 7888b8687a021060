//! The on-demand heal walk: heals the shards (and, on the legacy track, the xl.meta files) of
//! every object version of one bucket or all, counting first for progress, as a job on the
//! server's `background::Runner` (one object per unit). One walk at a time; the progress of
//! the running or last walk stays readable (admin API, metrics, `rustfs-admin heal`). In a
//! cluster the progress is also kept in the metadata KV (`s/heal-progress`, about once a
//! second), so every node shows the walk the leader runs (see `heal_mark`).
//! This module must never change object metadata: it only rewrites missing or corrupt
//! shards.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use metadata::background::{JobCtx, Runner};
use metadata::{Kv, ListItem, MetadataStore, ObjectData, ObjectVersion, VersionQuery, WriteBatch, schema};
use serde::{Deserialize, Serialize};

use crate::legacy::store::LegacyStore;
use crate::{EcStore, HealOutcome};

const MAX_REPORTED_FAILURES: usize = 100;

/// The progress of a heal walk, as the admin API serves it and `rustfs-admin` reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealProgress {
    pub id: u64,
    pub bucket: Option<String>,
    pub running: bool,
    pub objects_scanned: u64,
    pub objects_healed: u64,
    pub objects_failed: u64,
    pub shards_healed: u64,
    pub bytes_healed: u64,
    /// Object versions to scan, counted before the walk starts.
    pub objects_total: u64,
    pub error: Option<String>,
    pub failures: Vec<String>,
    /// When the walk started (ns since the epoch, on the node that runs it).
    #[serde(default)]
    pub started_ns: i64,
    /// When it finished (0 while it runs).
    #[serde(default)]
    pub finished_ns: i64,
    /// The heal mark the walk honours (see `heal_mark`), if it was started for one.
    #[serde(default)]
    pub mark: Option<u64>,
    /// In a cluster: the heal mark stored now, i.e. a walk the cluster still wants (set when
    /// a write missed drives or drives came back; the leader runs a walk once every drive
    /// is online, and clears it after a walk that restored everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wanted: Option<crate::HealWanted>,
}

/// How often a running walk's progress is written to the KV.
const PERSIST_EVERY: Duration = Duration::from_secs(1);

fn progress_key() -> Vec<u8> {
    schema::system_key("heal-progress")
}

/// What a walk reads and heals.
#[derive(Clone)]
pub struct HealTargets {
    pub store: Arc<EcStore>,
    pub meta: Arc<dyn MetadataStore>,
    /// The legacy track's store when it is in use: its xl.meta files are healed too.
    pub legacy: Option<Arc<LegacyStore>>,
}

/// The heal walks of a server: the running or last one's progress.
#[derive(Default)]
pub struct HealJobs {
    current: Mutex<Option<HealProgress>>,
    /// Where a cluster keeps the progress for every node to read.
    kv: Option<Arc<dyn Kv>>,
}

impl HealJobs {
    /// Heal walks whose progress is also kept in `kv` (a cluster).
    pub fn shared(kv: Arc<dyn Kv>) -> Self {
        Self { current: Mutex::new(None), kv: Some(kv) }
    }

    /// The running or last walk of this node.
    pub fn status(&self) -> Option<HealProgress> {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The running or last walk of the cluster: this node's while it runs one, else the
    /// newest of this node's and the one kept in the KV.
    pub async fn cluster_status(&self) -> Option<HealProgress> {
        let local = self.status();
        if local.as_ref().is_some_and(|p| p.running) {
            return local;
        }
        let Some(kv) = &self.kv else { return local };
        let key = progress_key();
        let stored: Option<HealProgress> = match kv.get(&key).await {
            Ok(Some(raw)) => schema::decode(&key, &raw).ok(),
            _ => None,
        };
        let wanted = crate::HealMark::new(kv.clone()).load().await.ok().flatten().map(|(_, w)| w);
        let mut p = match (local, stored) {
            (Some(l), Some(s)) => Some(if s.started_ns >= l.started_ns { s } else { l }),
            (l, s) => s.or(l),
        };
        if wanted.is_some() {
            p.get_or_insert_with(HealProgress::default).wanted = wanted;
        }
        p
    }

    async fn persist(&self) {
        let (Some(kv), Some(p)) = (&self.kv, self.status()) else { return };
        let mut b = WriteBatch::new();
        b.put(progress_key(), schema::encode(&p));
        if let Err(e) = kv.write(b).await {
            tracing::debug!(error = %e, "heal progress not saved");
        }
    }

    fn update(&self, f: impl FnOnce(&mut HealProgress)) {
        if let Some(p) = self.current.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            f(p);
        }
    }

    /// Starts a walk on `runner` unless one runs (every frame of every shard verified);
    /// returns the running walk's progress.
    pub fn start(self: &Arc<Self>, runner: &Arc<Runner>, targets: HealTargets, bucket: Option<String>) -> HealProgress {
        self.start_for(runner, targets, bucket, None, true)
    }

    /// Like `start`, for the heal mark `mark` (see `heal_mark`); without `deep` a shard is
    /// checked by its length only (the walk after drives came back looks for missing ones).
    pub fn start_for(
        self: &Arc<Self>,
        runner: &Arc<Runner>,
        targets: HealTargets,
        bucket: Option<String>,
        mark: Option<u64>,
        deep: bool,
    ) -> HealProgress {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = cur.as_ref().filter(|p| p.running) {
            return p.clone();
        }
        let id = cur.as_ref().map_or(1, |p| p.id + 1);
        let mut p = HealProgress {
            id,
            bucket: bucket.clone(),
            running: true,
            started_ns: metadata::clock::now_ns(),
            mark,
            ..Default::default()
        };
        *cur = Some(p.clone());
        drop(cur);
        let me = self.clone();
        let started = runner.spawn_job("heal-walk", false, |ctx| async move {
            me.persist().await;
            let res = me.run(&ctx, &targets, bucket, deep).await;
            me.update(|p| {
                p.running = false;
                p.finished_ns = metadata::clock::now_ns();
                p.error = res.clone().err();
            });
            me.persist().await;
            res
        });
        if !started {
            p.running = false;
            p.error = Some("the server is shutting down".into());
            self.update(|c| *c = p.clone());
        }
        p
    }

    async fn run(&self, ctx: &JobCtx, t: &HealTargets, bucket: Option<String>, deep: bool) -> Result<(), String> {
        let store = t.store.clone();
        tokio::task::spawn_blocking(move || store.recheck_drives()).await.map_err(|e| e.to_string())?;
        let buckets = match bucket {
            Some(b) => {
                t.meta.get_bucket(&b).await.map_err(|e| e.to_string())?;
                vec![b]
            }
            None => t.meta.list_buckets().await.map_err(|e| e.to_string())?.into_iter().map(|b| b.name).collect(),
        };
        let mut total = 0u64;
        for b in &buckets {
            let mut pages = Versions::new(b);
            while let Some(page) = pages.next_page(t.meta.as_ref()).await? {
                total += page.len() as u64;
                ctx.may_go_on()?;
            }
        }
        self.update(|p| p.objects_total = total);
        let mut persisted = tokio::time::Instant::now();
        for b in &buckets {
            let mut pages = Versions::new(b);
            // Versions of a key arrive together; its xl.meta (legacy track) is healed once.
            let mut meta_healed: Option<String> = None;
            while let Some(page) = pages.next_page(t.meta.as_ref()).await? {
                for o in page {
                    let first_of_key = meta_healed.as_deref() != Some(o.key.as_str());
                    if first_of_key {
                        meta_healed = Some(o.key.clone());
                    }
                    if let Some(l) = t.legacy.as_ref().filter(|_| first_of_key)
                        && let Err(e) = l.heal_meta(&o.bucket, &o.key).await
                    {
                        self.update(|p| {
                            if p.failures.len() < MAX_REPORTED_FAILURES {
                                p.failures.push(format!("{}/{}: xl.meta: {e}", o.bucket, o.key));
                            }
                        });
                    }
                    let res = match &o.data {
                        ObjectData::Erasure(l) => match t.store.heal_object_with(&o.bucket, &o.key, l, deep).await {
                            // A version replaced or deleted since the listing took its data
                            // with it: nothing is left to heal.
                            Err(e) if gone(t.meta.as_ref(), &o).await => {
                                tracing::debug!(bucket = %o.bucket, key = %o.key, error = %e, "heal skips a version deleted meanwhile");
                                None
                            }
                            r => Some(r),
                        },
                        _ => None,
                    };
                    self.update(|p| record(p, &o, res));
                    ctx.unit()?;
                    if persisted.elapsed() >= PERSIST_EVERY {
                        self.persist().await;
                        persisted = tokio::time::Instant::now();
                    }
                }
            }
        }
        Ok(())
    }

    /// The walk's progress as metrics (`rustfs_heal_job_*`), read at scrape time.
    pub fn register_metrics(self: &Arc<Self>, reg: &prometheus::Registry) -> prometheus::Result<()> {
        use metadata::metrics::{Family, Kind, SnapshotCollector};
        let fam = |name, help| Family::new(name, help, Kind::Gauge, &[]);
        let families = vec![
            fam("rustfs_heal_job_running", "1 while an on-demand heal job runs"),
            fam("rustfs_heal_job_objects_total", "Object versions the current or last heal job has to scan"),
            fam("rustfs_heal_job_objects_scanned", "Object versions the current or last heal job scanned"),
            fam("rustfs_heal_job_objects_healed", "Objects the current or last heal job rewrote shards of"),
            fam("rustfs_heal_job_objects_failed", "Objects the current or last heal job could not fully restore"),
            fam("rustfs_heal_job_bytes_healed", "Bytes the current or last heal job wrote to rebuilt shards"),
        ];
        let weak = Arc::downgrade(self);
        let c = SnapshotCollector::new(families, move |s| {
            let p = weak.upgrade().and_then(|j| j.status()).unwrap_or_default();
            s.set("rustfs_heal_job_running", &[], f64::from(u8::from(p.running)));
            s.set("rustfs_heal_job_objects_total", &[], p.objects_total as f64);
            s.set("rustfs_heal_job_objects_scanned", &[], p.objects_scanned as f64);
            s.set("rustfs_heal_job_objects_healed", &[], p.objects_healed as f64);
            s.set("rustfs_heal_job_objects_failed", &[], p.objects_failed as f64);
            s.set("rustfs_heal_job_bytes_healed", &[], p.bytes_healed as f64);
        })?;
        reg.register(Box::new(c))
    }
}

/// Whether version `o` no longer exists (deleted or replaced after the walk listed it).
async fn gone(meta: &dyn MetadataStore, o: &ObjectVersion) -> bool {
    matches!(
        meta.get_object(&o.bucket, &o.key, Some(&o.version_id)).await,
        Err(metadata::MetaError::NoSuchKey { .. } | metadata::MetaError::NoSuchVersion { .. })
    )
}

/// Pages through every version of a bucket.
struct Versions {
    bucket: String,
    q: Option<VersionQuery>,
}

impl Versions {
    fn new(bucket: &str) -> Self {
        Self { bucket: bucket.to_string(), q: Some(VersionQuery { max_keys: 1000, ..Default::default() }) }
    }

    async fn next_page(&mut self, meta: &dyn MetadataStore) -> Result<Option<Vec<ObjectVersion>>, String> {
        let Some(q) = self.q.take() else {
            return Ok(None);
        };
        let page = meta.list_versions(&self.bucket, &q).await.map_err(|e| e.to_string())?;
        let truncated = page.truncated;
        let versions: Vec<_> = page
            .items
            .into_iter()
            .filter_map(|i| match i {
                ListItem::Object(o) => Some(o),
                ListItem::CommonPrefix(_) => None,
            })
            .collect();
        if truncated && let Some(last) = versions.last() {
            self.q = Some(VersionQuery {
                key_marker: Some(last.key.clone()),
                version_id_marker: Some(last.version_id.clone()),
                ..q
            });
        }
        Ok(Some(versions))
    }
}

fn record(p: &mut HealProgress, o: &ObjectVersion, res: Option<crate::Result<HealOutcome>>) {
    p.objects_scanned += 1;
    let failure = match res {
        Some(Ok(r)) => {
            if r.shards_healed > 0 {
                p.objects_healed += 1;
            }
            p.shards_healed += r.shards_healed;
            p.bytes_healed += r.bytes_healed;
            (r.shards_failed > 0)
                .then(|| format!("{}/{}: {} shard(s) could not be written", o.bucket, o.key, r.shards_failed))
        }
        Some(Err(e)) => Some(format!("{}/{}: {e}", o.bucket, o.key)),
        None => None,
    };
    if let Some(f) = failure {
        p.objects_failed += 1;
        if p.failures.len() < MAX_REPORTED_FAILURES {
            p.failures.push(f);
        }
    }
}
