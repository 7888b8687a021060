//! The running server's state: opened stores and start time. Opening checks the data
//! folder lock, the drives (quorum) and the metadata KV; closing flushes the KV.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ecstore::EcStore;
use metadata::{KvStore, LocalKv, MetadataStore};

use crate::config::{Config, Engine};
use crate::heal_job::HealJobs;

pub struct App {
    pub cfg: Config,
    pub ec: Arc<EcStore>,
    pub kv: Arc<LocalKv>,
    pub meta: Arc<dyn MetadataStore>,
    /// The legacy track's store when it is the engine (heal also restores its xl.meta files).
    pub legacy: Option<Arc<ecstore::legacy::store::LegacyStore>>,
    pub started: Instant,
    pub heal: HealJobs,
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

impl App {
    pub fn open(cfg: Config) -> Result<Arc<Self>, String> {
        let lock = lock_data_dir(&cfg.data)?;
        let ec = EcStore::open(&cfg.drives, ecstore::DEFAULT_BLOCK_SIZE).map_err(|e| e.to_string())?;
        let kv = Arc::new(
            LocalKv::open(&cfg.meta_dir)
                .map_err(|e| format!("cannot open metadata KV {}: {e}", cfg.meta_dir.display()))?,
        );
        let ec = Arc::new(ec);
        let legacy =
            (cfg.engine == Engine::Legacy).then(|| Arc::new(ecstore::legacy::store::LegacyStore::new(ec.clone())));
        let meta: Arc<dyn MetadataStore> = match &legacy {
            Some(l) => l.clone(),
            None => Arc::new(KvStore::new(kv.clone())),
        };
        Ok(Arc::new(Self {
            cfg,
            ec,
            kv,
            meta,
            legacy,
            started: Instant::now(),
            heal: HealJobs::default(),
            _lock: lock,
        }))
    }

    pub fn ready(&self) -> bool {
        self.ec.ready()
    }

    pub async fn close(&self) {
        if let Err(e) = self.kv.close().await {
            tracing::error!(error = %e, "closing the metadata KV failed");
        }
    }
}
