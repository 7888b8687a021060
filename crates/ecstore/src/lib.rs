//! The erasure-coded data store: drives grouped in sets of 12, objects placed on a set by a
//! stable hash and cut into 1 MiB blocks coded 8+4 with reed-solomon-simd, each shard block
//! framed with a bitrot hash; quorum writes through tmp + fsync + rename; reads that rebuild
//! missing or corrupt shards on the fly; a heal queue and on-demand heal.
//!
//! Public API: [`EcStore`] and the types it returns. Nothing here knows about HTTP or S3
//! types, and nothing here makes an object visible: metadata commits do that.

pub mod adopt;
pub mod bitrot;
pub mod disk;
pub mod drives;
pub mod erasure;
pub mod error;
pub mod free;
pub mod gc;
pub mod heal;
pub mod heal_mark;
pub mod heal_walk;
pub mod legacy;
pub mod metrics;
pub mod minio;
pub mod paths;
mod reader;
mod shape;
pub mod topology;
pub mod workers;
mod writer;
pub mod xlmeta;

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use metadata::{ErasureLayout, PartInfo};
use tokio::sync::mpsc;

pub use drives::{Drive, DriveInfo, DriveSpec, DriveState, SET_DRIVES};
pub use erasure::{
    ALGORITHM, ALGORITHM_MINIO, ALGORITHM_MINIO_INLINE, ALGORITHM_REFUSED_PREFIX, ALGORITHM_V1, Erasure,
};
pub use error::{Result, StoreError};
pub use free::{FreeStats, ReadGuard};
pub use gc::GcReport;
pub use heal::{HealOutcome, HealStats, HealTask};
pub use heal_mark::{HealMark, HealScheduler, HealWanted};
pub use heal_walk::{HealJobs, HealProgress, HealTargets};
pub use shape::MinioPlacement;
pub use writer::Written;

pub const DATA_SHARDS: usize = 8;
pub const PARITY_SHARDS: usize = 4;
pub const DEFAULT_BLOCK_SIZE: usize = 1 << 20;
/// How long a shard reader or writer waits for the client side to take or give a block
/// before it gives up (a stalled client must not hold a thread for longer).
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(60);
const HEAL_QUEUE: usize = 10_000;
/// How often the drives of other nodes are probed (see `workers::DriveMonitor`).
const DRIVE_CHECK_INTERVAL: Duration = Duration::from_secs(2);
const READ_AHEAD_BLOCKS: usize = 4;

/// How a store is opened (see [`EcStore::open_drives`]).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub block_size: usize,
    /// How long replaced data waits before it is freed (readers may still stream it).
    pub free_delay: Duration,
    /// How long a reader or writer waits for a stalled client.
    pub io_timeout: Duration,
    /// Erasure sets per pool, in pool order (empty: one pool of every set).
    pub pools: Vec<usize>,
    /// Refuse to open when a set lacks write quorum (a single node). A cluster node opens
    /// anyway: drives of nodes not up yet come online later (`DriveMonitor`), and the store
    /// is not ready until every set has quorum.
    pub require_quorum: bool,
    /// Open to look only: nothing is written to the drives (see `drives::Geometry::read_only`);
    /// such a store is for reads (MinIO's files before an adoption), never for writes.
    pub read_only: bool,
    /// An adopted MinIO deployment (its drives given in MinIO's set order), MinIO's format
    /// of each pool in pool order (empty: not adopted): set sizes, drive uuids and placement,
    /// and MinIO's parity for new objects (the first pool's default, as MinIO keeps one
    /// parity for every pool). The pools then come from these formats, not from `pools`.
    pub minio: Vec<minio::MinioFormat>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            block_size: DEFAULT_BLOCK_SIZE,
            free_delay: free::DEFAULT_FREE_DELAY,
            io_timeout: DEFAULT_IO_TIMEOUT,
            pools: Vec::new(),
            require_quorum: true,
            read_only: false,
            minio: Vec::new(),
        }
    }
}

pub struct EcStore {
    deployment_id: String,
    sets: Vec<Vec<Arc<Drive>>>,
    /// The sets of each pool (consecutive ranges of `sets`).
    pools: Vec<std::ops::Range<usize>>,
    /// Free bytes on each pool's online drives, as last measured (new objects go to the
    /// pools in proportion).
    pool_free: Vec<std::sync::atomic::AtomicU64>,
    /// The erasure code of new objects in each pool (pools of an adopted MinIO deployment
    /// may differ in set size).
    erasure: Vec<Erasure>,
    heal_tx: mpsc::Sender<HealTask>,
    heal_rx: std::sync::Mutex<Option<mpsc::Receiver<HealTask>>>,
    heal_queued: AtomicUsize,
    pub heal_stats: HealStats,
    in_use: Arc<free::InUse>,
    free: free::FreeQueue,
    io_timeout: Duration,
    /// A cluster's heal mark (see `heal_mark`): set when writes miss drives or drives return.
    heal_mark: std::sync::OnceLock<Arc<HealMark>>,
    /// MinIO's placement, for an adopted deployment: the keyed layout's sets by MinIO's hash.
    minio: Option<MinioPlacement>,
    /// Pools that take no new objects (MinIO's decommissioned or draining pools).
    suspended: Vec<AtomicBool>,
    /// New objects of the keyed layout are written in MinIO's format (an adopted deployment
    /// before its migration completes, so MinIO can still read everything).
    minio_writes: AtomicBool,
}

impl EcStore {
    /// Opens (formatting when new) the drives. Fails when a set lacks write quorum.
    pub fn open(paths: &[PathBuf], block_size: usize) -> Result<Self> {
        Self::open_with(paths, block_size, free::DEFAULT_FREE_DELAY, DEFAULT_IO_TIMEOUT)
    }

    /// Like [`EcStore::open`], with the delay before replaced data is freed and the time a
    /// reader or writer waits for a stalled client.
    pub fn open_with(paths: &[PathBuf], block_size: usize, free_delay: Duration, io_timeout: Duration) -> Result<Self> {
        let specs = paths.iter().map(|p| drives::DriveSpec::local(p)).collect();
        let opts = StoreOptions { block_size, free_delay, io_timeout, ..Default::default() };
        Self::open_drives(specs, || uuid::Uuid::new_v4().to_string(), opts)
    }

    /// Opens a deployment whose drives may be on other nodes (`specs` in set order; see
    /// `drives::open_drives` for `new_id`).
    pub fn open_drives(
        specs: Vec<drives::DriveSpec>,
        new_id: impl FnOnce() -> String,
        o: StoreOptions,
    ) -> Result<Self> {
        let shape::Shape { geometry, counts, erasure, placement, minio_id } = shape::of(&o, specs.len())?;
        let new_id = move || minio_id.unwrap_or_else(new_id);
        if counts.contains(&0) {
            return Err(StoreError::Format(format!("pools of {counts:?} sets: a pool has no set")));
        }
        let mut pools = Vec::new();
        for &n in &counts {
            let start = pools.last().map_or(0, |r: &std::ops::Range<usize>| r.end);
            pools.push(start..start + n);
        }
        let set_erasure = |set: usize| pools.iter().position(|r| r.contains(&set)).and_then(|p| erasure.get(p));
        let quorum =
            |set: usize| if o.require_quorum { set_erasure(set).map_or(usize::MAX, Self::quorum_of) } else { 0 };
        let (deployment_id, sets) = drives::open_drives(specs, &geometry, quorum, new_id)?;
        let sets: Vec<Vec<Arc<Drive>>> = sets.into_iter().map(|s| s.into_iter().map(Arc::new).collect()).collect();
        if counts.iter().sum::<usize>() != sets.len() {
            return Err(StoreError::Format(format!("pools of {counts:?} sets do not add up to {} sets", sets.len())));
        }
        let (heal_tx, heal_rx) = mpsc::channel(HEAL_QUEUE);
        let (free_delay, io_timeout) = (o.free_delay, o.io_timeout);
        let suspended = pools.iter().map(|_| AtomicBool::new(false)).collect();
        let store = Self {
            deployment_id,
            pool_free: pools.iter().map(|_| std::sync::atomic::AtomicU64::new(0)).collect(),
            pools,
            sets,
            suspended,
            erasure,
            heal_tx,
            heal_rx: std::sync::Mutex::new(Some(heal_rx)),
            heal_queued: AtomicUsize::new(0),
            heal_stats: HealStats::default(),
            in_use: Arc::new(free::InUse::default()),
            free: free::FreeQueue::new(free_delay),
            io_timeout,
            heal_mark: std::sync::OnceLock::new(),
            minio: placement,
            minio_writes: AtomicBool::new(false),
        };
        store.measure_pools();
        Ok(store)
    }

    pub fn pool_count(&self) -> usize {
        self.pools.len()
    }

    /// The pool set `set` belongs to.
    pub fn pool_of_set(&self, set: usize) -> usize {
        self.pools.iter().position(|r| r.contains(&set)).unwrap_or(0)
    }

    /// Measures the free space of each pool's online drives (blocking: drives of other nodes
    /// are asked over the network). With one pool there is nothing to weigh.
    pub fn measure_pools(&self) {
        if self.pools.len() < 2 {
            return;
        }
        for (i, r) in self.pools.iter().enumerate() {
            let free: u64 = self.sets[r.clone()]
                .iter()
                .flatten()
                .filter(|d| d.is_online())
                .filter_map(|d| d.io.usage().ok())
                .map(|u| u.free_bytes)
                .sum();
            self.pool_free[i].store(free, Ordering::Relaxed);
        }
    }

    /// The pool a new object goes to: by its hash, weighted by the pools' free space (every
    /// pool alike until they are measured).
    fn pool_for_new(&self, h: u64) -> usize {
        if self.pools.len() < 2 {
            return 0;
        }
        // In MiB, so that the sum cannot overflow; a suspended pool weighs nothing (unless
        // every pool is suspended).
        let all_suspended = self.suspended.iter().all(|s| s.load(Ordering::Relaxed));
        let free: Vec<u64> =
            self.pool_free
                .iter()
                .zip(&self.suspended)
                .map(|(f, s)| {
                    if s.load(Ordering::Relaxed) && !all_suspended {
                        0
                    } else {
                        (f.load(Ordering::Relaxed) >> 20).max(1)
                    }
                })
                .collect();
        let total: u64 = free.iter().sum();
        let mut at = h.rotate_left(17) % total;
        for (i, f) in free.iter().enumerate() {
            if at < *f {
                return i;
            }
            at -= f;
        }
        0
    }

    fn quorum_of(e: &Erasure) -> usize {
        e.data + usize::from(e.data == e.parity)
    }

    /// The erasure code of new objects on set `set` (its pool's).
    fn erasure_of_set(&self, set: usize) -> &Erasure {
        &self.erasure[self.pool_of_set(set).min(self.erasure.len() - 1)]
    }

    /// Drives of set `set` a write (of data or of an xl.meta) needs.
    pub fn write_quorum(&self, set: usize) -> usize {
        Self::quorum_of(self.erasure_of_set(set))
    }

    /// Marks pool `pool` as taking no new objects (a MinIO pool being or having been
    /// decommissioned), or as taking them again.
    pub fn set_pool_suspended(&self, pool: usize, on: bool) {
        if let Some(s) = self.suspended.get(pool) {
            s.store(on, Ordering::Relaxed);
        }
    }

    pub fn pool_suspended(&self, pool: usize) -> bool {
        self.suspended.get(pool).is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// Erasure sets in each pool, in pool order.
    pub fn pool_sets(&self) -> Vec<usize> {
        self.pools.iter().map(|r| r.len()).collect()
    }

    pub fn deployment_id(&self) -> &str {
        &self.deployment_id
    }

    pub fn set_count(&self) -> usize {
        self.sets.len()
    }

    pub fn drives(&self) -> impl Iterator<Item = &Arc<Drive>> {
        self.sets.iter().flatten()
    }

    pub fn drive_infos(&self) -> Vec<DriveInfo> {
        self.drives().map(|d| d.info()).collect()
    }

    /// Sets that currently have enough online drives to read and write.
    pub fn sets_with_quorum(&self) -> usize {
        (0..self.sets.len()).filter(|&i| self.online_in_set(i) >= self.write_quorum(i)).count()
    }

    fn online_in_set(&self, set: usize) -> usize {
        self.set_drives(set).iter().filter(|d| d.is_online()).count()
    }

    pub fn ready(&self) -> bool {
        self.sets_with_quorum() == self.sets.len()
    }

    /// Why the store cannot serve every object now: the first set without write quorum,
    /// with its offline drives and why each is offline.
    pub fn quorum_problem(&self) -> Option<String> {
        let (i, set) = self.sets.iter().enumerate().find(|(i, _)| self.online_in_set(*i) < self.write_quorum(*i))?;
        let offline: Vec<String> = set
            .iter()
            .filter_map(|d| match d.state() {
                DriveState::Offline(why) => Some(format!("{} ({why})", d.io.location())),
                DriveState::Online => None,
            })
            .collect();
        Some(format!(
            "erasure set {i} has {} of {} drives online, {} needed; offline: {}",
            set.len() - offline.len(),
            set.len(),
            self.write_quorum(i),
            offline.join(", ")
        ))
    }

    /// Re-probes offline drives (a replaced drive comes back online, formatted).
    pub fn recheck_drives(&self) {
        for d in self.drives() {
            if !d.is_online() {
                d.recheck(&self.deployment_id, self.sets.len());
            }
        }
    }

    /// Checks that this node's online drives still carry their format (a removed or
    /// unmounted drive goes offline). Cheap: one `stat` per drive. Drives of other nodes are
    /// the `DriveMonitor`'s (their checks are network calls).
    pub fn probe_drives(&self) {
        for d in self.drives().filter(|d| d.is_online() && d.local) {
            d.check_alive();
        }
    }

    /// Probes the drives of other nodes and re-checks every offline one (blocking: network
    /// calls, in parallel). A drive that comes back, or an empty one formatted as a
    /// replacement, notes the heal mark. Returns how many drives are online afterwards.
    pub fn check_drives(&self) -> usize {
        let sets = self.sets.len();
        let drives: Vec<&Arc<Drive>> = self.drives().filter(|d| !d.local || !d.is_online()).collect();
        let came_back = AtomicUsize::new(0);
        std::thread::scope(|sc| {
            for d in drives {
                let came_back = &came_back;
                sc.spawn(move || {
                    if d.is_online() {
                        d.check_alive();
                    } else {
                        d.recheck(&self.deployment_id, sets);
                        if d.is_online() {
                            tracing::info!(drive = %d.io.location(), fresh = d.fresh.load(Ordering::Relaxed), "drive back online");
                            came_back.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        if came_back.load(Ordering::Relaxed) > 0 {
            self.note_heal("drives came back online");
        }
        self.drives().filter(|d| d.is_online()).count()
    }

    /// Makes the store note the cluster's heal mark (see `heal_mark`).
    pub fn set_heal_mark(&self, mark: Arc<HealMark>) {
        let _ = self.heal_mark.set(mark);
    }

    pub fn heal_mark(&self) -> Option<&Arc<HealMark>> {
        self.heal_mark.get()
    }

    fn note_heal(&self, why: &str) {
        if let Some(m) = self.heal_mark.get() {
            m.note(why);
        }
    }

    fn hash(bucket: &str, key: &str) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(bucket.as_bytes());
        h.update(b"/");
        h.update(key.as_bytes());
        h.digest()
    }

    /// The erasure set of `bucket/key` in the keyed layout (the legacy track: its xl.meta
    /// and data are found again by the key alone), by a stable hash over the first pool's
    /// sets: pools added later never move a key. (Objects of the KV layout spread over every
    /// pool: their metadata says where they are.) On an adopted MinIO deployment of several
    /// pools a key may be in any pool: see [`EcStore::key_sets`].
    pub fn set_index(&self, bucket: &str, key: &str) -> usize {
        self.key_set_in_pool(0, bucket, key)
    }

    /// The set of pool `pool` that `bucket/key` hashes to.
    fn key_set_in_pool(&self, pool: usize, bucket: &str, key: &str) -> usize {
        let Some(r) = self.pools.get(pool) else { return 0 };
        let n = r.len().max(1);
        r.start
            + match &self.minio {
                // MinIO hashes the object name alone, with each pool's own algorithm.
                Some(m) => {
                    let algo = m.distributions.get(pool).copied().unwrap_or(minio::Distribution::SipParity);
                    minio::format::set_index(algo, key, n, &m.deployment)
                }
                None => (Self::hash(bucket, key) % n as u64) as usize,
            }
    }

    /// The sets a keyed-layout key may live on, one per pool in pool order: on an adopted
    /// MinIO deployment a key is in whichever pool MinIO put it (the set its hash names in
    /// that pool); on this server's own deployments only on the first pool's.
    pub fn key_sets(&self, bucket: &str, key: &str) -> Vec<usize> {
        match &self.minio {
            Some(_) => (0..self.pools.len()).map(|p| self.key_set_in_pool(p, bucket, key)).collect(),
            None => vec![self.set_index(bucket, key)],
        }
    }

    /// The set a keyed-layout key that is on no pool yet goes to: on an adopted MinIO
    /// deployment of several pools, a pool chosen by the key's hash in proportion to the
    /// pools' free space (suspended pools take none), as MinIO spreads new objects.
    pub fn new_key_set(&self, bucket: &str, key: &str) -> usize {
        match &self.minio {
            Some(_) if self.pools.len() > 1 => {
                self.key_set_in_pool(self.pool_for_new(Self::hash(bucket, key)), bucket, key)
            }
            _ => self.set_index(bucket, key),
        }
    }

    /// MinIO's placement, when this deployment was adopted from MinIO.
    pub fn minio_placement(&self) -> Option<&MinioPlacement> {
        self.minio.as_ref()
    }

    /// Whether MinIO's v1 metadata (`xl.json`) can hold objects here: on an adopted
    /// deployment with a pool of MinIO's first placement (`CRCMOD`), as MinIO itself decides.
    pub fn minio_v1_metadata(&self) -> bool {
        self.minio.as_ref().is_some_and(|m| m.distributions.contains(&minio::Distribution::Crc))
    }

    /// Whether new objects of the keyed layout are written in MinIO's format.
    pub fn minio_writes(&self) -> bool {
        self.minio_writes.load(Ordering::Relaxed)
    }

    /// Writes new keyed-layout objects in MinIO's format (`true`; only on an adopted
    /// deployment) or in ours.
    pub fn set_minio_writes(&self, on: bool) {
        self.minio_writes.store(on && self.minio.is_some(), Ordering::Relaxed);
    }

    /// Data and parity shards of new objects on set `set` (its pool's).
    pub fn geometry(&self, set: usize) -> (usize, usize) {
        let e = self.erasure_of_set(set);
        (e.data, e.parity)
    }

    /// The drives of erasure set `i` (empty if there is no such set).
    pub fn set_drives(&self, i: usize) -> &[Arc<Drive>] {
        self.sets.get(i).map_or(&[], Vec::as_slice)
    }

    /// A new, empty layout for `bucket/key`: its pool in proportion to free space (with a
    /// bucket id) and its set in the pool by a stable hash, and its shard order rotated by the
    /// same hash so that data shards spread over all drives. With a bucket id the shards live
    /// under it (KV layout: the layout, kept in the metadata, says where they are); without,
    /// in the key's folder on the key's set (keyed layout: found again by the key's hash; on
    /// an adopted MinIO deployment of several pools the set comes from where the key is, see
    /// [`EcStore::keyed_layout`]). On an adopted MinIO deployment before its migration
    /// completes, keyed layouts are MinIO's (see [`EcStore::new_layout_with`]).
    pub fn new_layout(&self, bucket: &str, key: &str, bucket_id: Option<&str>) -> ErasureLayout {
        self.new_layout_with(bucket, key, bucket_id, self.minio_writes())
    }

    /// `new_layout`, in MinIO's format (codec, framing, shard order) if `minio` and the
    /// layout is keyed: what a multipart upload created in that format keeps using.
    pub fn new_layout_with(&self, bucket: &str, key: &str, bucket_id: Option<&str>, minio: bool) -> ErasureLayout {
        let h = Self::hash(bucket, key);
        match bucket_id {
            Some(_) => {
                let pool = &self.pools[self.pool_for_new(h)];
                let set = pool.start + (h % pool.len() as u64) as usize;
                self.layout_on(set, bucket, key, bucket_id, false)
            }
            None => self.layout_on(self.set_index(bucket, key), bucket, key, None, minio),
        }
    }

    /// A new layout for `bucket/key` on set `set` with the erasure code of the set's pool:
    /// keyed (no `bucket_id`; `set` one of [`EcStore::key_sets`]: where the key is, or
    /// [`EcStore::new_key_set`]), in MinIO's format if `minio`; or under a bucket id (what a
    /// multipart upload placed on `set` keeps using).
    pub fn layout_on(
        &self,
        set: usize,
        bucket: &str,
        key: &str,
        bucket_id: Option<&str>,
        minio: bool,
    ) -> ErasureLayout {
        let h = Self::hash(bucket, key);
        let e = self.erasure_of_set(set);
        let n = e.total();
        let minio = bucket_id.is_none() && minio;
        let start = ((h >> 32) % n as u64) as usize;
        let mut distribution: Vec<u8> = (0..n).map(|i| ((start + i) % n) as u8).collect();
        if minio {
            // MinIO's shard order for the key (the shard of each drive), turned into ours
            // (the drive of each shard).
            let positions: Vec<u8> = (0..n as u8).collect();
            let order = minio::format::hash_order(&format!("{bucket}/{key}"), n);
            if let Ok(d) = minio::set_order_to_shards(positions, &order) {
                distribution = d;
            }
        }
        ErasureLayout {
            algorithm: if minio { ALGORITHM_MINIO } else { ALGORITHM }.to_string(),
            data: e.data as u8,
            parity: e.parity as u8,
            block_size: e.block_size as u32,
            set: set as u32,
            distribution,
            data_dir: uuid::Uuid::new_v4().to_string(),
            bucket_id: bucket_id.map(str::to_string),
            parts: Vec::new(),
        }
    }

    /// The drives of a layout's set, after checking that the layout (read from metadata)
    /// is one this store can serve, so that no corrupt value can make I/O index out of range.
    fn set_of(&self, layout: &ErasureLayout) -> Result<&Vec<Arc<Drive>>> {
        let drives = self.sets.get(layout.set as usize).ok_or_else(|| {
            StoreError::Format(format!("object refers to erasure set {} which does not exist", layout.set))
        })?;
        let total = layout.data as usize + layout.parity as usize;
        if let Some(why) = layout.algorithm.strip_prefix(ALGORITHM_REFUSED_PREFIX) {
            return Err(StoreError::Unsupported(why.to_string()));
        }
        if layout.algorithm == ALGORITHM_MINIO_INLINE {
            // Kept by MinIO inline in each drive's xl.meta, and too few of those shards pass
            // their bitrot check.
            return Err(StoreError::ReadQuorum(
                format!("{:?} (MinIO inline shards)", layout.data_dir),
                layout.data as usize,
            ));
        }
        let minio = layout.algorithm == ALGORITHM_MINIO;
        let valid = (layout.algorithm == ALGORITHM || layout.algorithm == ALGORITHM_V1 || minio)
            && (!minio || (total <= 16 && layout.parity <= 8))
            && layout.data > 0
            && layout.block_size > 0
            && total <= drives.len()
            && layout.distribution.len() == total
            && layout.distribution.iter().all(|&d| (d as usize) < drives.len())
            && (paths::safe_name(&layout.data_dir) || is_xl_json_layout(layout))
            && layout.bucket_id.as_deref().is_none_or(paths::is_uuid)
            && layout.parts.iter().all(|p| paths::safe_name(&p.file_name()));
        if !valid {
            return Err(StoreError::Format(format!("invalid erasure layout for data dir {:?}", layout.data_dir)));
        }
        Ok(drives)
    }

    /// The shard folder of `layout` on each drive of its set (in set order), relative to
    /// the drive (see `disk`).
    fn shard_dirs(&self, layout: &ErasureLayout, bucket: &str, key: &str) -> Result<Vec<PathBuf>> {
        let n = self.set_of(layout)?.len();
        let dir = if is_xl_json_layout(layout) {
            paths::check_legacy_key(key)?;
            paths::object_dir(Path::new(""), bucket, key)
        } else {
            paths::shard_dir(Path::new(""), bucket, key, layout)?
        };
        Ok(vec![dir; n])
    }

    /// Streams one part's bytes to the drives of `layout`'s set as `file` in its data dir.
    /// On failure nothing of this file remains. Not visible until the caller commits metadata.
    pub async fn write_part<S>(
        &self,
        layout: &ErasureLayout,
        bucket: &str,
        key: &str,
        file: &str,
        body: S,
        max_size: u64,
    ) -> Result<Written>
    where
        S: Stream<Item = Result<Bytes>> + Unpin + Send,
    {
        let drives = self.set_of(layout)?;
        if is_xl_json_layout(layout) {
            return Err(StoreError::Format("nothing is written beside a MinIO xl.json".into()));
        }
        let dirs = self.shard_dirs(layout, bucket, key)?;
        let online = drives.iter().filter(|d| d.is_online()).count();
        let needed = Self::quorum_of(&self.erasure_of(layout));
        if online < needed {
            return Err(StoreError::WriteQuorum { set: layout.set as usize, online, needed });
        }
        let keys: Vec<bitrot::FrameKey> = (0..layout.distribution.len())
            .map(|i| erasure::frame_key(&layout.algorithm, &layout.data_dir, file, i))
            .collect();
        let target = writer::PartTarget {
            drives,
            dirs: &dirs,
            distribution: &layout.distribution,
            file,
            keys: &keys,
            idle: self.io_timeout,
            minio: match layout.algorithm.as_str() {
                ALGORITHM_MINIO => Some(
                    minio::Codec::new(layout.data as usize, layout.parity as usize)
                        .map_err(|e| StoreError::Format(e.to_string()))?,
                ),
                _ => None,
            },
        };
        let res = writer::write_part(self.erasure_of(layout), target, body, max_size, needed).await;
        match &res {
            Err(_) => self.delete_files(layout, bucket, key, vec![file.to_string()]).await,
            Ok(w) if w.degraded() => self.note_heal("a write missed drives"),
            Ok(_) => {}
        }
        res
    }

    fn erasure_of(&self, layout: &ErasureLayout) -> Erasure {
        Erasure::new(layout.data as usize, layout.parity as usize, layout.block_size as usize)
    }

    /// Opens a reader of `range` (half-open) of an erasure-coded object. The first block is
    /// read before this returns, so an unreadable object fails here with a clean error.
    /// The data dir is not freed while the reader lives.
    pub async fn read(
        &self,
        layout: &ErasureLayout,
        bucket: &str,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<ObjectReader> {
        // A layout this store cannot serve says why before any range is judged.
        self.set_of(layout)?;
        let guard = self.in_use.hold(&layout.data_dir);
        let total: u64 = layout.parts.iter().map(|p| p.size).sum();
        if range.start > range.end || range.end > total {
            return Err(StoreError::InvalidRange);
        }
        let target = reader::ReadTarget {
            drives: self.set_of(layout)?.clone(),
            dirs: self.shard_dirs(layout, bucket, key)?,
            layout: layout.clone(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            send_timeout: self.io_timeout,
        };
        let (tx, mut rx) = mpsc::channel(READ_AHEAD_BLOCKS);
        let heal_tx = self.heal_tx.clone();
        let span = tracing::debug_span!("erasure_read", set = layout.set, degraded = tracing::field::Empty);
        tokio::task::spawn_blocking(move || {
            let _in = span.enter();
            let degraded = AtomicBool::new(false);
            let ok = reader::produce(&target, range, &tx, &degraded);
            let degraded = degraded.load(Ordering::Relaxed);
            span.record("degraded", degraded);
            let outcome = match (ok, degraded) {
                (false, _) => "failed",
                (true, true) => "degraded",
                (true, false) => "clean",
            };
            metrics::METRICS.reads.with_label_values(&[outcome]).inc();
            if degraded {
                let _ = heal_tx.try_send(HealTask { bucket: target.bucket, key: target.key, layout: target.layout });
            }
        });
        let first = match rx.recv().await {
            Some(Err(e)) => return Err(e),
            other => other,
        };
        Ok(ObjectReader { first, rx, _guard: guard })
    }

    /// Removes a data dir on every drive of its set at once: for data that was never
    /// visible (a write that failed before its commit, an aborted upload).
    pub async fn delete_object_data(&self, layout: &ErasureLayout, bucket: &str, key: &str) {
        if is_xl_json_layout(layout) {
            return self.delete_xl_json_object(layout, bucket, key).await;
        }
        let Ok(dir) = paths::shard_dir(Path::new(""), bucket, key, layout) else {
            return;
        };
        let root = removal_root(layout.bucket_id.as_deref(), bucket);
        let drives = self.set_drives(layout.set as usize).to_vec();
        let keyed = layout.bucket_id.is_none();
        let _ = tokio::task::spawn_blocking(move || remove_dirs(&drives, &dir, &root, keyed)).await;
    }

    /// Removes a replaced MinIO v1 object: its `part.N` files and `xl.json` in the object's
    /// folder on every drive of its set, files only (a folder of such a name is a key below
    /// it, written since), then the folder and its parents if empty.
    async fn delete_xl_json_object(&self, layout: &ErasureLayout, bucket: &str, key: &str) {
        if paths::check_legacy_key(key).is_err() {
            return;
        }
        let dir = paths::object_dir(Path::new(""), bucket, key);
        let mut files: Vec<String> =
            layout.parts.iter().map(|p| p.file_name()).filter(|f| paths::safe_name(f)).collect();
        files.push(xlmeta::v1::XL_JSON.to_string());
        let root = PathBuf::from(bucket);
        let drives = self.set_drives(layout.set as usize).to_vec();
        let _ = tokio::task::spawn_blocking(move || {
            for d in &drives {
                for f in &files {
                    let p = dir.join(f);
                    if d.io.stat(&p).is_ok_and(|s| !s.is_dir) {
                        let _ = d.io.remove_all(&p);
                    }
                }
                if d.io.remove_empty_dir(&dir).unwrap_or(false) {
                    prune_empty_parents(d.io.as_ref(), &dir, &root);
                }
            }
        })
        .await;
    }

    /// Frees a version's data once no reader can still need it (see [`free`]).
    pub fn free_later(&self, bucket: &str, key: &str, layout: ErasureLayout) {
        self.free.push(bucket.to_string(), key.to_string(), layout);
    }

    /// Frees counted so far, and frees waiting.
    pub fn free_stats(&self) -> (&FreeStats, usize) {
        (&self.free.stats, self.free.len())
    }

    /// Gives part files of `from`'s data dir second names in `to`'s (another data dir of the
    /// same set): `names` as `(file in from, file in to)`, hard links made durable on each
    /// drive of the set that holds them. Needs a write quorum of drives where every link was
    /// made; short of it, `to`'s data dir is removed again. `from` is left as it was.
    pub async fn link_parts(
        &self,
        from: &ErasureLayout,
        to: &ErasureLayout,
        bucket: &str,
        key: &str,
        names: Vec<(String, String)>,
    ) -> Result<()> {
        self.set_of(from)?;
        if from.set != to.set || from.bucket_id != to.bucket_id || from.data_dir == to.data_dir {
            return Err(StoreError::Format("parts link only into another data dir of the same set".into()));
        }
        if names.iter().any(|(a, b)| !paths::safe_name(a) || !paths::safe_name(b)) {
            return Err(StoreError::Format("part file names must be plain names".into()));
        }
        let src = paths::shard_dir(Path::new(""), bucket, key, from)?;
        let dst = paths::shard_dir(Path::new(""), bucket, key, to)?;
        let drives = self.set_drives(from.set as usize).to_vec();
        let needed = Self::quorum_of(&self.erasure_of(from));
        let set = from.set as usize;
        tokio::task::spawn_blocking(move || {
            let links: Vec<(PathBuf, PathBuf)> = names.iter().map(|(a, b)| (src.join(a), dst.join(b))).collect();
            let made = drives.iter().filter(|d| d.is_online() && d.io.link_durable(&links).is_ok()).count();
            if made < needed {
                for d in &drives {
                    let _ = d.io.remove_all(&dst);
                }
                return Err(StoreError::WriteQuorum { set, online: made, needed });
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Erasure(e.to_string()))?
    }

    /// Removes some part files of a data dir (replaced or unused multipart parts).
    pub async fn delete_files(&self, layout: &ErasureLayout, bucket: &str, key: &str, files: Vec<String>) {
        if self.set_of(layout).is_err() {
            return;
        }
        let Ok(dir) = paths::shard_dir(Path::new(""), bucket, key, layout) else {
            return;
        };
        let root = removal_root(layout.bucket_id.as_deref(), bucket);
        let drives = self.set_drives(layout.set as usize).to_vec();
        let _ = tokio::task::spawn_blocking(move || {
            for d in &drives {
                for f in files.iter().filter(|f| paths::safe_name(f)) {
                    let _ = d.io.remove_all(&dir.join(f));
                }
                if d.io.remove_empty_dir(&dir).unwrap_or(false) {
                    prune_empty_parents(d.io.as_ref(), &dir, &root);
                }
            }
        })
        .await;
    }

    /// Removes leftovers of writes that were in progress when the server last stopped, on
    /// this node's drives. Call at start-up only, before serving (a cluster node calls
    /// [`clear_local_tmp`] instead, before its drives are served to the other nodes).
    pub fn clear_tmp(&self) -> usize {
        let drives: Vec<Arc<Drive>> = self.drives().filter(|d| d.local).cloned().collect();
        gc::clear_tmp(&drives)
    }

    /// Every KV-layout data dir on the drives.
    pub async fn find_data_dirs_by_id(&self) -> Vec<gc::DataDir> {
        let sets: Vec<(usize, Vec<Arc<Drive>>)> = self.sets.iter().cloned().enumerate().collect();
        tokio::task::spawn_blocking(move || sets.iter().flat_map(|(i, d)| gc::find_by_id(*i, d)).collect())
            .await
            .unwrap_or_default()
    }

    /// Every keyed-layout data dir of `bucket` on the drives.
    pub async fn find_keyed_data_dirs(&self, bucket: &str) -> Vec<gc::DataDir> {
        let sets: Vec<(usize, Vec<Arc<Drive>>)> = self.sets.iter().cloned().enumerate().collect();
        let bucket = bucket.to_string();
        tokio::task::spawn_blocking(move || sets.iter().flat_map(|(i, d)| gc::find_keyed(*i, d, &bucket)).collect())
            .await
            .unwrap_or_default()
    }

    /// Removes one data dir found by garbage collection from every drive of its set, unless
    /// a reader holds it (then returns `false`).
    pub async fn remove_data_dir(&self, d: &gc::DataDir) -> bool {
        if self.in_use.is_held(&d.data_dir) {
            return false;
        }
        let Some(drives) = self.sets.get(d.set) else {
            return false;
        };
        let (bucket, key, bucket_id) = match &d.home {
            gc::Home::Bucket(id) => (String::new(), String::new(), Some(id.as_str())),
            gc::Home::Key { bucket, key } => (bucket.clone(), key.clone(), None),
        };
        let Ok(dir) = paths::shard_dir_of(Path::new(""), &bucket, &key, bucket_id, &d.data_dir) else {
            return false;
        };
        let root = removal_root(bucket_id, &bucket);
        let drives = drives.clone();
        let keyed = bucket_id.is_none();
        let _ = tokio::task::spawn_blocking(move || remove_dirs(&drives, &dir, &root, keyed)).await;
        true
    }

    /// Removes a bucket id's folder on every drive (the data of a deleted bucket). Returns
    /// whether anything was removed.
    pub async fn remove_bucket_root(&self, bucket_id: &str) -> bool {
        if !paths::is_uuid(bucket_id) {
            return false;
        }
        let drives: Vec<Arc<Drive>> = self.drives().cloned().collect();
        let root = paths::bucket_data_root(Path::new(""), bucket_id);
        tokio::task::spawn_blocking(move || {
            let mut any = false;
            for d in drives {
                any |= d.io.stat(&root).is_ok() && d.io.remove_all(&root).is_ok();
            }
            any
        })
        .await
        .unwrap_or(false)
    }

    /// Queues an object for background heal (dropped, and counted, when the queue is full).
    pub fn queue_heal(&self, task: HealTask) {
        if self.heal_tx.try_send(task).is_ok() {
            self.heal_queued.fetch_add(1, Ordering::Relaxed);
        } else {
            self.heal_stats.queue_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Objects waiting in the heal queue.
    pub fn heal_queue_len(&self) -> usize {
        HEAL_QUEUE - self.heal_tx.capacity()
    }

    /// Heals one object now, every frame of every shard verified; blocking work runs off the
    /// runtime.
    pub async fn heal_object(self: &Arc<Self>, bucket: &str, key: &str, layout: &ErasureLayout) -> Result<HealOutcome> {
        self.heal_object_with(bucket, key, layout, true).await
    }

    /// Like `heal_object`; without `deep`, only missing or truncated shards are found (the
    /// quick check of a walk after drives came back).
    pub async fn heal_object_with(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        layout: &ErasureLayout,
        deep: bool,
    ) -> Result<HealOutcome> {
        if layout.algorithm.starts_with(ALGORITHM_REFUSED_PREFIX) || is_xl_json_layout(layout) {
            // Stored compressed or encrypted by MinIO, or described by MinIO's per-drive
            // xl.json files (which only MinIO writes): not ours to rewrite.
            return Ok(HealOutcome::default());
        }
        let _guard = self.in_use.hold(&layout.data_dir);
        let drives = self.set_of(layout)?.clone();
        let dirs = self.shard_dirs(layout, bucket, key)?;
        let l = layout.clone();
        let size: u64 = layout.parts.iter().map(|p| p.size).sum();
        self.heal_stats.bytes_scanned.fetch_add(size, Ordering::Relaxed);
        let res = tokio::task::spawn_blocking(move || heal::heal_object(&drives, &dirs, &l, deep))
            .await
            .map_err(|e| StoreError::Erasure(e.to_string()))?;
        self.heal_stats.record(&res);
        res
    }

    /// Starts this store's background workers on `runner` (once): heal of queued objects,
    /// deferred frees, and (drives on other nodes) the drive monitor. They stop with the
    /// runner, or when the store is dropped.
    pub fn start_workers(self: &Arc<Self>, runner: &Arc<metadata::background::Runner>) {
        if let Some(rx) = self.heal_rx.lock().unwrap_or_else(|e| e.into_inner()).take() {
            runner.spawn(workers::HealWorker::new(Arc::downgrade(self), rx));
        }
        if let Some(rx) = self.free.rx.lock().unwrap_or_else(|e| e.into_inner()).take() {
            runner.spawn(workers::FreeWorker::new(Arc::downgrade(self), rx));
            if self.drives().any(|d| !d.local) || self.pools.len() > 1 {
                runner.spawn(workers::DriveMonitor::new(self, DRIVE_CHECK_INTERVAL));
            }
        }
    }

    pub(crate) fn in_use(&self) -> &free::InUse {
        &self.in_use
    }

    pub(crate) fn count_freed(&self) {
        self.free.stats.freed.fetch_add(1, Ordering::Relaxed);
    }
}

/// A MinIO v1 object read from `xl.json`: its shard files are in the object's folder itself
/// (no data dir). Only read, and freed file by file, never written or removed as a folder.
fn is_xl_json_layout(layout: &ErasureLayout) -> bool {
    layout.data_dir.is_empty() && layout.bucket_id.is_none() && layout.algorithm == ALGORITHM_MINIO
}

/// Where pruning of empty parent folders stops (relative to a drive): the bucket id's folder
/// (KV layout) or the bucket's (keyed layout).
fn removal_root(bucket_id: Option<&str>, bucket: &str) -> PathBuf {
    match bucket_id {
        Some(id) => paths::bucket_data_root(Path::new(""), id),
        None => PathBuf::from(bucket),
    }
}

/// Removes data dir `dir` (relative) on every drive, then its empty parents up to `root`.
/// Keyed layout: only part files and then the folder if empty; KV layout: the whole folder.
fn remove_dirs(drives: &[Arc<Drive>], dir: &Path, root: &Path, keyed: bool) {
    for d in drives {
        if keyed {
            gc::remove_keyed(d.io.as_ref(), dir);
        } else {
            let _ = d.io.remove_all(dir);
        }
        prune_empty_parents(d.io.as_ref(), dir, root);
    }
}

fn prune_empty_parents(io: &dyn disk::DiskIo, dir: &Path, stop: &Path) {
    let mut cur = dir.parent();
    while let Some(p) = cur {
        if p == stop || !p.starts_with(stop) || !io.remove_empty_dir(p).unwrap_or(false) {
            break;
        }
        cur = p.parent();
    }
}

/// The bytes of an object range, as a stream of verified chunks.
pub struct ObjectReader {
    first: Option<Result<Bytes>>,
    rx: mpsc::Receiver<Result<Bytes>>,
    _guard: ReadGuard,
}

impl Stream for ObjectReader {
    type Item = Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(f) = self.first.take() {
            return Poll::Ready(Some(f));
        }
        self.rx.poll_recv(cx)
    }
}

/// Removes leftovers of interrupted writes in the tmp folders of this node's drive folders
/// `paths` (those that hold a format). Call before the drives are served to other nodes.
pub fn clear_local_tmp(paths: &[PathBuf]) -> usize {
    let mut n = 0;
    for p in paths {
        let io = disk::LocalDisk::new(p);
        let tmp = Drive::tmp_rel();
        for e in disk::DiskIo::list(&io, &tmp).unwrap_or_default() {
            n += usize::from(disk::DiskIo::remove_all(&io, &tmp.join(&e.name)).is_ok());
        }
    }
    n
}

/// The single part of an object written in one PUT.
pub fn single_part(size: u64, etag: &str) -> PartInfo {
    PartInfo { number: 1, size, etag: etag.to_string(), file: None }
}
