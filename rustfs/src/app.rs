//! The running server's state: opened stores and start time. Opening checks the data
//! folder lock, the drives (quorum) and the metadata KV; closing flushes the KV.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ecstore::{EcStore, HealJobs, HealTargets};
use metadata::dualtrack::jobs::Jobs;
use metadata::dualtrack::migrator::Migrator;
use metadata::dualtrack::validator::Validator;
use metadata::dualtrack::{DualOptions, DualTrack, MigrationState};
use metadata::{Kv, KvLifecycle, KvStore, LocalKv, MetadataStore};

use crate::config::{Config, Engine};

/// The DualTrack machinery of a deployment moving from xl.meta to the KV.
pub struct Dual {
    pub router: Arc<DualTrack>,
    /// A cluster node's way to the coordinator (see `coordinator`); `None` on a single node.
    pub link: Option<Arc<crate::coordinator::Link>>,
    pub migrator: Arc<Migrator>,
    pub validator: Arc<Validator>,
    /// Cleanup and rebuild-kv jobs.
    pub jobs: Arc<Jobs>,
}

pub struct App {
    pub cfg: Config,
    pub ec: Arc<EcStore>,
    /// The metadata KV (any engine: `App` never holds a concrete one) and the handle on its
    /// backend's lifecycle.
    pub kv: Arc<dyn Kv>,
    pub kv_life: Arc<dyn KvLifecycle>,
    pub meta: Arc<dyn MetadataStore>,
    /// The KV track's store under `meta` (its format record: `cluster_admin`).
    pub kv_store: Arc<KvStore>,
    /// The legacy track's store when it is in use (heal also restores its xl.meta files).
    pub legacy: Option<Arc<ecstore::legacy::store::LegacyStore>>,
    /// Set when the deployment runs DualTrack (engine legacy, or a persisted migration state).
    pub dual: Option<Dual>,
    pub started: Instant,
    /// The on-demand heal walks (run on `runner`).
    pub heal: Arc<HealJobs>,
    /// What the lifecycle scanner did and where it is.
    pub lifecycle: Arc<s3api::lifecycle::scan::LifecycleStats>,
    /// A cluster's heal mark: walks run on the leader when it is set (see `ecstore::heal_mark`).
    pub heal_mark: Option<Arc<ecstore::HealMark>>,
    /// Runs every background worker (leader-only ones only while this node leads).
    pub runner: Arc<metadata::background::Runner>,
    /// A cluster node's internode port (shard RPC, Raft).
    pub internode: Option<crate::node::Internode>,
    /// The MinIO deployment adopted on the drives: its report, buckets and pools.
    pub adopted: Option<crate::adoption::AdoptedState>,
    /// The users (configured and managed at runtime) and the access model over them.
    pub iam: Arc<s3api::iam::Iam>,
    pub authz: Arc<s3api::authz::Authz>,
    _lock: std::fs::File,
}

fn lock_data_dir(data: &Path) -> Result<std::fs::File, String> {
    std::fs::create_dir_all(data).map_err(|e| format!("cannot create data folder {}: {e}", data.display()))?;
    let p = data.join(".rustfs.lock");
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| format!("cannot open {}: {e}", p.display()))?;
    f.try_lock().map_err(|_| format!("another rustfs server is already running on data folder {}", data.display()))?;
    Ok(f)
}

/// The metadata KV of a starting server, and the lock on its data folder.
pub struct KvHandle {
    lock: std::fs::File,
    pub kv: Arc<dyn Kv>,
    pub life: Arc<dyn KvLifecycle>,
    /// A cluster node's internode port, started before the KV (its drives are served at once).
    pub internode: Option<crate::node::Internode>,
}

impl KvHandle {
    /// Locks the data folder and opens (or joins) the metadata KV; a cluster node first
    /// serves its drives on the internode port, which the metadata group shares.
    pub async fn open(cfg: &Config) -> Result<Self, String> {
        let lock = lock_data_dir(&cfg.data)?;
        let internode = crate::node::Internode::start(cfg).await?;
        let router = internode.as_ref().map(|n| n.router.clone());
        let (kv, life): (Arc<dyn Kv>, Arc<dyn KvLifecycle>) = match &cfg.replication {
            None => {
                let local = Arc::new(
                    LocalKv::open_with(&cfg.meta_dir, cfg.kv)
                        .map_err(|e| format!("cannot open metadata KV {}: {e}", cfg.meta_dir.display()))?,
                );
                (local.clone(), local)
            }
            Some(r) => {
                let raft = replication::RaftKv::start_on(r.clone(), &cfg.meta_dir, &cfg.data.join("meta-raft"), router)
                    .await
                    .map_err(|e| format!("cannot start metadata replication: {e}"))?;
                (raft.clone(), raft)
            }
        };
        Ok(Self { lock, kv, life, internode })
    }
}

/// The server-side encryption keyring: `--sse-keys-file`, else (single node) `DATA/sse.keys`,
/// created with one fresh key at the first start. A cluster's nodes must share one keyring,
/// so a cluster without `--sse-keys-file` has none (SSE-S3 and SSE-KMS are refused; SSE-C
/// needs no server key). `RUSTFS_SSE_KEYS` may carry the keyring's text instead of a file
/// (lines separated by newlines or `;`).
pub fn sse_keyring(cfg: &Config) -> Result<Option<Arc<rustfs_sse::Keyring>>, String> {
    if let Ok(text) = std::env::var("RUSTFS_SSE_KEYS")
        && !text.trim().is_empty()
    {
        let ring = rustfs_sse::Keyring::parse(&text.replace(';', "\n")).map_err(|e| format!("RUSTFS_SSE_KEYS: {e}"))?;
        return Ok(Some(Arc::new(ring)));
    }
    let path = match (&cfg.sse_keys_file, &cfg.replication) {
        (Some(p), _) => p.clone(),
        (None, Some(_)) => return Ok(None),
        (None, None) => cfg.data.join("sse.keys"),
    };
    let ring = match &cfg.sse_keys_file {
        Some(_) => std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|t| rustfs_sse::Keyring::parse(&t).map_err(|e| format!("{}: {e}", path.display())))?,
        None => rustfs_sse::Keyring::load_or_create(&path).map_err(|e| e.to_string())?,
    };
    tracing::info!(keys = ?ring.ids(), current = ring.current(), "server-side encryption keyring loaded");
    Ok(Some(Arc::new(ring)))
}

/// What the key sealing users' secrets is derived from: the cluster secret on a cluster
/// (every node must unseal what any node sealed), else `DATA/iam.key`, 32 random bytes made
/// at the first start (readable by the server's user only; keep it with the metadata).
fn iam_seed(cfg: &Config) -> Result<Vec<u8>, String> {
    if let Some(r) = &cfg.replication {
        return Ok(r.secret.as_bytes().to_vec());
    }
    let p = cfg.data.join("iam.key");
    match std::fs::read(&p) {
        Ok(b) if b.len() >= 32 => return Ok(b),
        Ok(_) => return Err(format!("{} is shorter than 32 bytes: restore it from a backup", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", p.display())),
    }
    let key: [u8; 32] = rand::random();
    let tmp = p.with_extension("key.tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        f.write_all(&key).and_then(|()| f.sync_all()).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    }
    std::fs::rename(&tmp, &p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
    ecstore::drives::sync_dir(&cfg.data).map_err(|e| e.to_string())?;
    Ok(key.to_vec())
}

impl App {
    pub async fn open(cfg: Config) -> Result<Arc<Self>, String> {
        let h = KvHandle::open(&cfg).await?;
        Self::open_with(cfg, h).await
    }

    /// Opens the drives and the metadata stores over an opened KV.
    pub async fn open_with(mut cfg: Config, h: KvHandle) -> Result<Arc<Self>, String> {
        let KvHandle { lock, kv, life: kv_life, internode } = h;
        let specs = crate::node::drive_specs(&cfg, internode.as_ref());
        let minio = match &mut cfg.adoption {
            Some(a) => crate::adoption::resolve_formats(a, &specs, &cfg.topology).await?,
            None => Vec::new(),
        };
        if !minio.is_empty() {
            crate::adoption::precheck_pool_meta(
                specs.clone(),
                minio.clone(),
                &cfg.topology.pool_args,
                ecstore::DEFAULT_BLOCK_SIZE,
            )
            .await?;
        }
        let opts = ecstore::StoreOptions {
            block_size: ecstore::DEFAULT_BLOCK_SIZE,
            free_delay: cfg.limits.free_delay,
            io_timeout: cfg.limits.idle_timeout,
            pools: cfg.topology.pools.clone(),
            require_quorum: cfg.cluster.is_none(),
            read_only: false,
            minio,
        };
        let new_id = match (&cfg.cluster, &cfg.replication) {
            (Some(_), Some(r)) => cfg.topology.deployment_id(&r.cluster_id),
            _ => uuid::Uuid::new_v4().to_string(),
        };
        let ec = tokio::task::spawn_blocking(move || EcStore::open_drives(specs, move || new_id, opts))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let life = kv_life.clone();
        let runner = metadata::background::Runner::new(Arc::new(move || {
            let st = life.status();
            st.leader_id == st.node_id
        }));
        let ec = Arc::new(ec);
        let (heal, heal_mark) = if cfg.cluster.is_some() {
            let mark = ecstore::HealMark::new(kv.clone());
            ec.set_heal_mark(mark.clone());
            (Arc::new(HealJobs::shared(kv.clone())), Some(mark))
        } else {
            (Arc::new(HealJobs::default()), None)
        };
        // A replicated group's members may run older builds (a rolling upgrade): its store
        // keeps its format; a single node's takes this build's at start.
        let kv_store = Arc::new(if cfg.replication.is_some() {
            KvStore::replicated(kv.clone())
        } else {
            KvStore::new(kv.clone())
        });
        let persisted =
            MigrationState::load(kv.as_ref()).await.map_err(|e| format!("cannot read the migration state: {e}"))?;
        let m = &cfg.migration;
        let dual_on = persisted.is_some() || m.dual;
        // A DualTrack migration reads and writes xl.meta on the drives: over a replicated KV
        // only when the drives are the cluster's too (a metadata group over local drives has
        // no xl.meta every node can read).
        if cfg.replication.is_some()
            && cfg.cluster.is_none()
            && (m.dual || persisted.as_ref().is_some_and(|p| p.0.phase != metadata::dualtrack::Phase::Complete))
        {
            return Err("a DualTrack migration needs the xl.meta of every node: run it on a single node, or on a cluster whose drives are given as http://host:port/path".into());
        }
        if persisted.is_none()
            && dual_on
            && matches!(m.phase, metadata::dualtrack::Phase::KvPrimary | metadata::dualtrack::Phase::Complete)
        {
            return Err(format!(
                "the start-up phase {} (RUSTFS_METADATA_ENGINE or migration.phase) names where a running migration stands, and this deployment has none stored: start with the legacy engine and move through the phases with `rustfs-admin migration phase`",
                m.phase
            ));
        }
        if persisted.is_some() && !m.dual {
            tracing::warn!(
                "a persisted migration state exists: running DualTrack although the configuration asks for the kv engine alone"
            );
        }
        if let Some(a) = &cfg.adoption {
            crate::adoption::log_report(&a.report);
            if !dual_on && cfg.engine == Engine::Kv {
                return Err("the drives hold a MinIO deployment, whose metadata is in xl.meta: start with RUSTFS_METADATA_ENGINE=legacy (and migrate to the KV with `rustfs-admin migration`)".into());
            }
        }
        let legacy = (dual_on || cfg.engine == Engine::Legacy)
            .then(|| Arc::new(ecstore::legacy::store::LegacyStore::new(ec.clone())));
        let (meta, dual): (Arc<dyn MetadataStore>, Option<Dual>) = match &legacy {
            Some(l) if dual_on => {
                let startup = MigrationState::initial(m.phase, m.ratio, m.level, metadata::clock::now_ns());
                let opts = DualOptions {
                    queue_capacity: m.queue_capacity,
                    window: m.window,
                    workers: 8,
                    fallback_to_fs: m.fallback_to_fs,
                    coordinated: cfg.cluster.is_some(),
                };
                let router = Arc::new(DualTrack::new(l.clone(), kv_store.clone(), startup, opts));
                if let Some(w) =
                    router.init_state().await.map_err(|e| format!("cannot store the migration state: {e}"))?
                {
                    tracing::warn!("{w}");
                }
                for n in &m.notes {
                    tracing::warn!("{n}");
                }
                // A cluster node runs each call on the coordinator (see `coordinator`).
                let link = match (&cfg.cluster, &internode) {
                    (Some(c), Some(net)) => {
                        net.router.register(
                            crate::coordinator::INTERNODE_KINDS,
                            crate::coordinator::Service::new(router.clone()),
                        )?;
                        Some(Arc::new(crate::coordinator::Link::new(net.peers.clone(), kv_life.clone(), c.clone())))
                    }
                    _ => None,
                };
                let meta: Arc<dyn MetadataStore> = match &link {
                    Some(l) => Arc::new(metadata::dualtrack::forward::Forwarded::new(
                        router.clone(),
                        l.clone(),
                        crate::coordinator::FORWARD_WAIT,
                    )),
                    None => router.clone(),
                };
                let d = Dual {
                    migrator: Arc::new(Migrator::new(router.clone(), &runner)),
                    validator: Arc::new(Validator::new(router.clone(), &runner)),
                    router: router.clone(),
                    link,
                    jobs: Arc::new(Jobs::default()),
                };
                (meta, Some(d))
            }
            _ => (Arc::new(metadata::Timed::new(kv_store.clone(), metadata::metrics::TrackLabel::Kv)), None),
        };
        // On an adopted deployment, new objects stay in MinIO's format until the migration
        // completes, so that MinIO can still be started on the drives until then.
        let complete = dual.as_ref().is_some_and(|d| d.router.state().phase == metadata::dualtrack::Phase::Complete);
        ec.set_minio_writes(cfg.adoption.is_some() && !complete);
        if cfg.adoption.is_some() && cfg.cluster.is_some() && !complete {
            crate::adoption::watch_for_complete(kv.clone(), ec.clone());
        }
        let adopted = match (&cfg.adoption, &legacy) {
            (Some(a), Some(l)) => {
                Some(crate::adoption::start(a, l, &ec, &cfg.topology.pool_args, &cfg.root.access_key).await?)
            }
            _ => None,
        };
        let seed = iam_seed(&cfg)?;
        let iam = Arc::new(s3api::iam::Iam::new(kv.clone(), &seed, &cfg.users));
        if let Err(e) = iam.refresh(true).await {
            tracing::warn!(error = %e, "cannot read the managed users yet: they load once the metadata answers");
        }
        let authz = Arc::new(s3api::authz::Authz::new(meta.clone(), iam.clone()));
        if let Some(d) = &dual {
            if let Err(e) = d.migrator.prime().await {
                tracing::warn!(error = %e, "cannot read the migrator checkpoint");
            }
            d.validator.prime().await;
        }
        Ok(Arc::new(Self {
            cfg,
            ec,
            kv,
            kv_life,
            meta,
            kv_store,
            legacy,
            dual,
            started: Instant::now(),
            heal,
            lifecycle: Arc::default(),
            heal_mark,
            runner,
            internode,
            adopted,
            iam,
            authz,
            _lock: lock,
        }))
    }

    /// The stores whose references keep shard data alive (both tracks under DualTrack).
    pub fn reference_stores(&self) -> Vec<Arc<dyn MetadataStore>> {
        match &self.dual {
            Some(d) => vec![d.router.legacy().clone(), d.router.kv_store().clone()],
            None => vec![self.meta.clone()],
        }
    }

    /// What a heal walk reads and heals.
    pub fn heal_targets(&self) -> HealTargets {
        HealTargets { store: self.ec.clone(), meta: self.meta.clone(), legacy: self.legacy.clone() }
    }

    pub fn ready(&self) -> bool {
        self.not_ready_reason().is_none()
    }

    /// Why the server cannot take writes right now, if it cannot.
    pub fn not_ready_reason(&self) -> Option<String> {
        if let Some(why) = self.ec.quorum_problem() {
            return Some(why);
        }
        self.kv_life.not_ready()
    }

    /// Stops the background workers (a unit in progress finishes, up to `deadline`), then
    /// closes the metadata KV.
    pub async fn close(&self, deadline: std::time::Duration) {
        let cancelled = self.runner.shutdown(deadline).await;
        if cancelled > 0 {
            tracing::warn!(workers = cancelled, "background workers cancelled at shutdown");
        }
        if let Err(e) = self.kv_life.close().await {
            tracing::error!(error = %e, "closing the metadata KV failed");
        }
    }
}
