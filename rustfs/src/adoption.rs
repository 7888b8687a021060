//! Wiring of an adopted MinIO deployment at start: MinIO's format of every pool (a pool none
//! of this node's drives is in is read from another node's drive), the adoption logged,
//! MinIO's `pool.bin` applied (pools it decommissions take no new objects), MinIO's buckets
//! imported, and what is tried again in the background until it succeeds (bucket imports
//! and `pool.bin` on a cluster node starting before the others; the switch to this server's
//! format once the replicated migration phase is `complete`).
//! This module must never write anything MinIO keeps; the ecstore does the work.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecstore::adopt::{Adoption, AdoptionReport};
use ecstore::legacy::minio_buckets::BucketImport;
use ecstore::legacy::minio_pools::{PoolMetaError, apply_pool_meta};
use ecstore::legacy::store::LegacyStore;
use ecstore::{DriveSpec, EcStore};
use metadata::Kv;
use metadata::dualtrack::MigrationState;

/// The adoption as this node runs it (what `rustfs-admin info` shows).
pub struct AdoptedState {
    pub report: AdoptionReport,
    /// MinIO's buckets as imported (some may still be pending).
    pub buckets: Arc<Mutex<Vec<BucketImport>>>,
    /// Each pool's state (`active`, or why it takes no new objects).
    pub pools: Arc<Mutex<Vec<String>>>,
}

impl AdoptedState {
    /// The report with the pools' current states.
    pub fn current_report(&self) -> AdoptionReport {
        let mut r = self.report.clone();
        if let Ok(states) = self.pools.lock() {
            for (p, s) in r.pools.iter_mut().zip(states.iter()) {
                p.state = s.clone();
            }
        }
        r
    }
}

/// Completes `adoption` with the MinIO format of every pool: those this node's drives
/// carry, the others read from a drive of the pool (`specs`, every drive in order: other
/// nodes' through the shard RPC), waiting for the pool's nodes if none answers yet.
pub async fn resolve_formats(
    adoption: &mut Adoption,
    specs: &[DriveSpec],
    topology: &ecstore::topology::Topology,
) -> Result<Vec<ecstore::minio::MinioFormat>, String> {
    if let Some(f) = adoption.known_formats() {
        return Ok(f);
    }
    let known = adoption.formats.clone();
    let ios: Vec<_> = specs.iter().map(|s| s.io.clone()).collect();
    let ranges = topology.pool_ranges();
    let formats = tokio::task::spawn_blocking(move || {
        ecstore::adopt::complete_formats(&known, &ios, &ranges, |p, why| {
            tracing::warn!(pool = p + 1, %why, "waiting for a node of the pool to read its MinIO format.json");
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("adopting the MinIO deployment on the drives: {e}"))?;
    adoption.complete(formats.clone(), &topology.pool_args);
    Ok(formats)
}

/// Checks MinIO's `pool.bin` before anything is written to the drives (our formats are
/// written when the store opens, recording each drive's set: a pool removed afterwards
/// would move every later pool's sets), through a store opened to look only: a start MinIO
/// would refuse (a pool it decommissioned given, a pool it knows left out) is refused here.
/// Unreadable now (a cluster node starting before the others): checked again once open.
pub async fn precheck_pool_meta(
    specs: Vec<DriveSpec>,
    formats: Vec<ecstore::minio::MinioFormat>,
    pool_args: &[String],
    block_size: usize,
) -> Result<(), String> {
    let opts = ecstore::StoreOptions {
        block_size,
        require_quorum: false,
        read_only: true,
        minio: formats,
        ..Default::default()
    };
    let id = opts.minio.first().map(|f| f.id.clone()).unwrap_or_default();
    let look = tokio::task::spawn_blocking(move || EcStore::open_drives(specs, move || id, opts))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    match apply_pool_meta(&Arc::new(look), pool_args).await {
        Err(PoolMetaError::Refused(why)) => Err(format!("adopting the MinIO deployment: {why}")),
        _ => Ok(()),
    }
}

/// Logs what was adopted.
pub fn log_report(r: &AdoptionReport) {
    tracing::info!(
        deployment = %r.deployment_id, pools = r.pools.len(), sets = r.sets, drives_per_set = r.drives_per_set,
        data = r.data, parity = r.parity, distribution = %r.distribution,
        buckets = r.buckets.len(), objects = r.objects, objects_capped = r.objects_capped,
        "adopting the MinIO deployment on the drives"
    );
    if r.pools.len() > 1 {
        for (i, p) in r.pools.iter().enumerate() {
            tracing::info!(
                pool = i + 1, args = %p.args, sets = p.sets, drives_per_set = p.drives_per_set,
                data = p.data, parity = p.parity, distribution = %p.distribution, "adopted MinIO pool"
            );
        }
    }
    for u in &r.unclaimed {
        tracing::warn!(minio_drive = %u, "no drive given carries this MinIO drive: its position is empty or replaced");
    }
    for o in &r.other_drives {
        tracing::warn!(drive = %o, "drive without this deployment's MinIO format");
    }
    for n in &r.not_imported {
        tracing::warn!(what = %n, "not imported from MinIO");
    }
}

/// Applies MinIO's `pool.bin`, imports MinIO's buckets, and starts what is retried in the
/// background. Refuses (an error) when `pool.bin` forbids serving the pools given.
pub async fn start(
    adoption: &Adoption,
    legacy: &Arc<LegacyStore>,
    ec: &Arc<EcStore>,
    pool_args: &[String],
    owner: &str,
) -> Result<AdoptedState, String> {
    let pools = Arc::new(Mutex::new(vec!["active".to_string(); pool_args.len()]));
    match apply_pool_meta(ec, pool_args).await {
        Ok(states) => set_states(&pools, states),
        Err(PoolMetaError::Refused(why)) => return Err(format!("adopting the MinIO deployment: {why}")),
        Err(PoolMetaError::Unreadable(why)) => {
            tracing::warn!(%why, "cannot read MinIO's pool.bin yet: trying again");
            set_states(&pools, vec![format!("unknown until MinIO's pool.bin is read ({why})"); pool_args.len()]);
            retry_pool_meta(ec.clone(), pools.clone(), pool_args.to_vec());
        }
    }
    let imports = legacy.import_minio_buckets(&adoption.report.buckets, owner).await;
    let buckets = Arc::new(Mutex::new(imports));
    retry_bucket_imports(legacy.clone(), buckets.clone(), owner.to_string());
    Ok(AdoptedState { report: adoption.report.clone(), buckets, pools })
}

fn set_states(pools: &Mutex<Vec<String>>, states: Vec<String>) {
    for (i, s) in states.iter().enumerate().filter(|(_, s)| *s != "active") {
        tracing::warn!(pool = i + 1, state = %s, "MinIO pool takes no new objects");
    }
    if let Ok(mut p) = pools.lock() {
        *p = states;
    }
}

/// Doubling up to a minute: something that keeps failing does not flood the log.
fn next_wait(wait: Duration) -> Duration {
    (wait * 2).min(Duration::from_secs(60))
}

/// Reads `pool.bin` again (after 2 s, then less often) until it is read.
fn retry_pool_meta(ec: Arc<EcStore>, pools: Arc<Mutex<Vec<String>>>, args: Vec<String>) {
    tokio::spawn(async move {
        let mut wait = Duration::from_secs(2);
        loop {
            tokio::time::sleep(wait).await;
            wait = next_wait(wait);
            match apply_pool_meta(&ec, &args).await {
                Ok(states) => return set_states(&pools, states),
                Err(PoolMetaError::Refused(why)) => {
                    tracing::error!(%why, "MinIO's pool.bin forbids serving these pools: every pool stays suspended");
                    for p in 0..args.len() {
                        ec.set_pool_suspended(p, true);
                    }
                    return set_states(&pools, vec![format!("suspended: {why}"); args.len()]);
                }
                Err(PoolMetaError::Unreadable(_)) => {}
            }
        }
    });
}

/// Imports again (after 2 s, then less often) the MinIO buckets whose record could not be
/// written at start (a cluster node starting before the others has no write quorum), until
/// none is left.
fn retry_bucket_imports(legacy: Arc<LegacyStore>, imports: Arc<Mutex<Vec<BucketImport>>>, owner: String) {
    let pending = |i: &Mutex<Vec<BucketImport>>| -> Vec<String> {
        i.lock().map(|v| v.iter().filter(|b| b.pending.is_some()).map(|b| b.name.clone()).collect()).unwrap_or_default()
    };
    if pending(&imports).is_empty() {
        return;
    }
    tokio::spawn(async move {
        let mut wait = Duration::from_secs(2);
        loop {
            tokio::time::sleep(wait).await;
            wait = next_wait(wait);
            let names = pending(&imports);
            if names.is_empty() {
                return;
            }
            let done = legacy.import_minio_buckets(&names, &owner).await;
            if let Ok(mut v) = imports.lock() {
                for d in done {
                    if let Some(slot) = v.iter_mut().find(|b| b.name == d.name) {
                        *slot = d;
                    }
                }
            }
        }
    });
}

/// On a node of an adopted cluster: once the migration is complete (the phase changed
/// through any node, stored in the replicated KV), new objects take this server's format.
pub fn watch_for_complete(kv: Arc<dyn Kv>, ec: Arc<EcStore>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if let Ok(Some((s, _))) = MigrationState::load(kv.as_ref()).await
                && s.phase == metadata::dualtrack::Phase::Complete
            {
                ec.set_minio_writes(false);
                tracing::info!("the migration is complete: new objects are written in this server's format");
                return;
            }
        }
    });
}
