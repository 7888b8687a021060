//! The drives of the deployment: `format.json` identity (deployment id, set and drive
//! index), start-up checks (missing, empty/replaced, swapped, foreign drives), state and
//! usage, and the durable file helpers every writer uses. A drive of an adopted MinIO
//! deployment is recognised by MinIO's own `.minio.sys/format.json` (its drive uuid at the
//! position MinIO's sets give it) and gets our format beside it, recording that uuid. This module must never decide
//! what an object is: it deals in directories and files only.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use crate::disk::{DiskIo, LocalDisk};
use crate::error::{Result, StoreError};

/// Drives per erasure set of a deployment this server formats (an adopted MinIO deployment
/// keeps its own set size, 2 to 16).
pub const SET_DRIVES: usize = 12;
/// Folder on every drive for the server's own files (never a bucket: bucket names cannot
/// start with a dot).
pub const SYS_DIR: &str = ".rustfs.sys";
pub const FORMAT_FILE: &str = "format.json";
const FORMAT_NAME: &str = "rustfs-erasure";
const FORMAT_VERSION: u32 = 1;

/// `<drive>/.rustfs.sys/format.json`, format version 1. `minio_drive` (absent on drives this
/// server formatted) is the MinIO drive uuid of an adopted drive: the deployment id is then
/// MinIO's, and set and drive are the drive's place in MinIO's sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Format {
    pub version: u32,
    pub format: String,
    pub deployment_id: String,
    pub set: usize,
    pub drive: usize,
    pub sets: usize,
    pub drives_per_set: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minio_drive: Option<String>,
}

/// How the drives given are grouped: drives per set and, for an adopted MinIO deployment,
/// the MinIO drive uuid expected at each position of each set (the sets of every pool in
/// pool order; then each set has as many drives as its list, which may differ by pool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    pub per_set: usize,
    pub minio: Option<Vec<Vec<String>>>,
    /// Probe the drives and write nothing (no format, no lock): a drive to adopt is read
    /// as it is, an empty one stays offline. For a look at MinIO's files before adopting.
    pub read_only: bool,
}

impl Geometry {
    /// The drive count of each set for `drives` drives, or why they do not fit.
    fn set_sizes(&self, drives: usize) -> Result<Vec<usize>> {
        if let Some(m) = &self.minio {
            let sizes: Vec<usize> = m.iter().map(Vec::len).collect();
            if sizes.iter().sum::<usize>() != drives || sizes.contains(&0) {
                return Err(StoreError::Format(format!(
                    "{drives} drives given for MinIO's {} sets of {sizes:?} drives",
                    sizes.len()
                )));
            }
            return Ok(sizes);
        }
        let per_set = self.per_set;
        if drives == 0 || per_set == 0 || !drives.is_multiple_of(per_set) {
            return Err(StoreError::Format(format!("{drives} drives given; need a multiple of {per_set}")));
        }
        Ok(vec![per_set; drives / per_set])
    }
}

impl Default for Geometry {
    fn default() -> Self {
        Self { per_set: SET_DRIVES, minio: None, read_only: false }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum DriveState {
    Online,
    Offline(String),
}

#[derive(Debug)]
pub struct Drive {
    /// The drive's folder when it is on this node; its location (`node:path`) otherwise.
    pub path: PathBuf,
    /// The drive's bytes: a folder here, or a drive of another node (see `disk`).
    pub io: Arc<dyn DiskIo>,
    /// On this node: this server locks it while it runs (a remote drive is locked by the
    /// node that serves it).
    pub local: bool,
    /// The node holding it (`host:port`), in a cluster.
    pub node: Option<String>,
    pub set: usize,
    pub index: usize,
    /// Drives in the drive's set.
    pub per_set: usize,
    /// The MinIO drive uuid this drive is (an adopted deployment).
    pub minio_drive: Option<String>,
    /// Opened to look only (see `Geometry::read_only`): nothing is ever written to it.
    read_only: bool,
    state: RwLock<DriveState>,
    /// Set when the drive was found empty and formatted at start: its shards need heal.
    pub fresh: AtomicBool,
    pub io_errors: AtomicU64,
    lock: Mutex<Option<File>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriveInfo {
    pub path: String,
    /// The node holding the drive (`host:port`), in a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub set: usize,
    pub index: usize,
    #[serde(flatten)]
    pub state: DriveState,
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub used_bytes: u64,
    pub io_errors: u64,
}

impl Drive {
    pub fn is_online(&self) -> bool {
        matches!(*self.state.read().unwrap_or_else(|e| e.into_inner()), DriveState::Online)
    }

    pub fn state(&self) -> DriveState {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn sys_dir(&self) -> PathBuf {
        self.path.join(SYS_DIR)
    }

    /// The drive's tmp folder, relative to its root (for `io`).
    pub fn tmp_rel() -> PathBuf {
        Path::new(SYS_DIR).join("tmp")
    }

    /// Checks, before writing, that the drive is still the formatted drive it was (its
    /// `format.json` is there); a drive that vanished or was unmounted goes offline instead
    /// of having its folders silently recreated on another file system.
    pub fn check_alive(&self) -> bool {
        if !self.is_online() {
            return false;
        }
        let why = match self.io.stat(&Path::new(SYS_DIR).join(FORMAT_FILE)) {
            Ok(s) if !s.is_dir => return true,
            Err(e) if !self.local && e.kind() != std::io::ErrorKind::NotFound => {
                format!("drive {} is unreachable: {e}", self.io.location())
            }
            _ => format!("drive {} lost its {SYS_DIR}/{FORMAT_FILE} while running", self.io.location()),
        };
        tracing::error!(drive = %self.io.location(), reason = %why, "taking the drive offline");
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = DriveState::Offline(why);
        false
    }

    /// Counts an I/O error against the drive.
    pub fn note_error(&self) {
        self.io_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn info(&self) -> DriveInfo {
        // An offline drive of another node is not asked (the call would wait out its timeout).
        let usage = if self.local || self.is_online() { self.io.usage().ok() } else { None };
        let (total, free) = usage.map_or((0, 0), |u| (u.total_bytes, u.free_bytes));
        DriveInfo {
            path: self.io.location().to_string(),
            node: self.node.clone(),
            set: self.set,
            index: self.index,
            state: self.state(),
            total_bytes: total,
            free_bytes: free,
            used_bytes: total.saturating_sub(free),
            io_errors: self.io_errors.load(Ordering::Relaxed),
        }
    }

    /// Re-checks a drive's format (e.g. after it was replaced) and brings it online.
    pub fn recheck(&self, deployment_id: &str, sets: usize) {
        let expected = Format {
            version: FORMAT_VERSION,
            format: FORMAT_NAME.into(),
            deployment_id: deployment_id.into(),
            set: self.set,
            drive: self.index,
            sets,
            drives_per_set: self.per_set,
            minio_drive: self.minio_drive.clone(),
        };
        let state = match classify(self.io.as_ref(), &expected) {
            Probe::Ok => DriveState::Online,
            Probe::Adopt if self.read_only => DriveState::Online,
            Probe::Empty if self.read_only => DriveState::Offline(format!("drive {} is empty", self.io.location())),
            Probe::Adopt => match write_format(self.io.as_ref(), &expected) {
                Ok(()) => {
                    tracing::info!(drive = %self.io.location(), minio_drive = ?self.minio_drive, set = self.set, index = self.index, "adopted MinIO drive");
                    DriveState::Online
                }
                Err(e) => DriveState::Offline(e.to_string()),
            },
            Probe::Empty => match write_format(self.io.as_ref(), &expected) {
                Ok(()) => {
                    self.fresh.store(true, Ordering::Relaxed);
                    DriveState::Online
                }
                Err(e) => DriveState::Offline(e.to_string()),
            },
            Probe::Bad(reason) => DriveState::Offline(reason),
        };
        if state == DriveState::Online
            && self.local
            && !self.read_only
            && let Err(e) = self.lock_drive()
        {
            *self.state.write().unwrap_or_else(|e| e.into_inner()) = DriveState::Offline(e.to_string());
            return;
        }
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = state;
    }

    fn lock_drive(&self) -> Result<()> {
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_some() {
            return Ok(());
        }
        let p = self.sys_dir().join("server.lock");
        let f = File::options().create(true).truncate(false).write(true).open(&p).map_err(|e| StoreError::io(&p, e))?;
        f.try_lock().map_err(|_| {
            StoreError::Format(format!("drive {} is in use by another running server", self.path.display()))
        })?;
        *guard = Some(f);
        Ok(())
    }
}

enum Probe {
    Ok,
    /// A MinIO drive at its MinIO position, without our format yet.
    Adopt,
    Empty,
    Bad(String),
}

fn format_rel() -> PathBuf {
    Path::new(SYS_DIR).join(FORMAT_FILE)
}

fn read_format(io: &dyn DiskIo) -> std::result::Result<Option<Format>, String> {
    match io.read_all(&format_rel(), 1 << 16) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("unreadable {}/{SYS_DIR}/{FORMAT_FILE}: {e}", io.location())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}/{SYS_DIR}/{FORMAT_FILE}: {e}", io.location())),
    }
}

/// Whether the drive holds nothing but (perhaps) the server's own folder.
fn is_empty_drive(io: &dyn DiskIo) -> bool {
    io.list(Path::new("")).is_ok_and(|l| l.iter().all(|e| e.name == SYS_DIR))
}

fn classify(io: &dyn DiskIo, expected: &Format) -> Probe {
    let place = io.location();
    match io.stat(Path::new("")) {
        Ok(s) if s.is_dir => {}
        Ok(_) => return Probe::Bad(format!("drive {place} is not a folder")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Probe::Bad(format!("drive {place} is missing"));
        }
        Err(e) => return Probe::Bad(format!("drive {place} is unreachable: {e}")),
    }
    match read_format(io) {
        Ok(Some(f)) if f.deployment_id != expected.deployment_id => {
            Probe::Bad(format!("drive {place} belongs to another deployment ({})", f.deployment_id))
        }
        Ok(Some(f)) if (f.set, f.drive) != (expected.set, expected.drive) => Probe::Bad(format!(
            "drive {place} holds set {} drive {} but is configured as set {} drive {} (drives swapped?)",
            f.set, f.drive, expected.set, expected.drive
        )),
        Ok(Some(_)) => Probe::Ok,
        Ok(None) if expected.minio_drive.is_some() => classify_minio(io, expected),
        Ok(None) if is_empty_drive(io) => Probe::Empty,
        Ok(None) => Probe::Bad(format!("drive {place} has data but no {SYS_DIR}/{FORMAT_FILE}")),
        Err(e) => Probe::Bad(e),
    }
}

/// A drive of an adopted MinIO deployment that has no format of ours yet: adopted when its
/// MinIO format names the deployment and the drive uuid of its position; formatted when
/// empty (a replaced drive); refused otherwise.
fn classify_minio(io: &dyn DiskIo, expected: &Format) -> Probe {
    let place = io.location();
    let rel = Path::new(crate::minio::MINIO_SYS).join(crate::minio::format::FORMAT_FILE);
    let want = expected.minio_drive.as_deref().unwrap_or_default();
    match io.read_all(&rel, 1 << 20) {
        Ok(b) => match crate::minio::MinioFormat::parse(&b) {
            Ok(f) if f.id != expected.deployment_id => {
                Probe::Bad(format!("drive {place} belongs to another MinIO deployment ({})", f.id))
            }
            Ok(f) if f.xl.this != want => Probe::Bad(format!(
                "drive {place} is MinIO drive {} but set {} drive {} is MinIO drive {want}",
                f.xl.this, expected.set, expected.drive
            )),
            Ok(_) => Probe::Adopt,
            Err(e) => Probe::Bad(format!("drive {place}: {e}")),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && is_empty_drive(io) => Probe::Empty,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Probe::Bad(format!("drive {place} has data but neither {SYS_DIR}/{FORMAT_FILE} nor MinIO's format.json"))
        }
        Err(e) => Probe::Bad(format!("cannot read {place}/{}: {e}", rel.display())),
    }
}

fn write_format(io: &dyn DiskIo, f: &Format) -> Result<()> {
    let body = serde_json::to_vec_pretty(f).map_err(|e| StoreError::Format(e.to_string()))?;
    io.write_durable(&format_rel(), &body).map_err(|e| StoreError::Format(format!("{}: {e}", io.location())))
}

/// A drive of the deployment as configured: its bytes (see `disk`) and, when it is on this
/// node, its folder.
#[derive(Clone)]
pub struct DriveSpec {
    pub io: Arc<dyn DiskIo>,
    pub local: Option<PathBuf>,
    /// The node holding it (`host:port`), in a cluster.
    pub node: Option<String>,
}

impl DriveSpec {
    /// A folder of this node.
    pub fn local(path: &Path) -> Self {
        Self { io: Arc::new(LocalDisk::new(path)), local: Some(path.to_path_buf()), node: None }
    }
}

/// Opens the drives of a deployment (`specs` in set order, grouped in sets as `geometry`
/// says), formatting a fresh one. The deployment id is the one most drives carry, else `new_id()`
/// (a new deployment: every node of a cluster must derive the same one; an adopted MinIO
/// deployment: MinIO's). Returns it with the drives grouped by set; fails when a set has
/// fewer than `quorum(set)` usable drives.
pub fn open_drives(
    specs: Vec<DriveSpec>,
    geometry: &Geometry,
    quorum: impl Fn(usize) -> usize,
    new_id: impl FnOnce() -> String,
) -> Result<(String, Vec<Vec<Drive>>)> {
    let sizes = geometry.set_sizes(specs.len())?;
    let sets = sizes.len();
    // (set, index in the set) of each drive, in order.
    let places: Vec<(usize, usize)> =
        sizes.iter().enumerate().flat_map(|(s, &n)| (0..n).map(move |i| (s, i))).collect();
    let formats: Vec<_> = specs.iter().map(|s| read_format(s.io.as_ref()).ok().flatten()).collect();
    // An adopted MinIO deployment opened without MinIO's layout (a node whose own drives all
    // lost their format.json) would place and write objects as MinIO cannot read them.
    if geometry.minio.is_none()
        && let Some(f) = formats.iter().flatten().find(|f| f.minio_drive.is_some())
    {
        return Err(StoreError::Format(format!(
            "the drives belong to the adopted MinIO deployment {}, but none of the drives of this node carries MinIO's format.json: restore one, or start the node with a drive of the deployment",
            f.deployment_id
        )));
    }
    // The deployment id is the one most drives carry; none at all means a new deployment.
    let mut counts: Vec<(String, usize)> = Vec::new();
    for f in formats.iter().flatten() {
        match counts.iter_mut().find(|(id, _)| *id == f.deployment_id) {
            Some((_, n)) => *n += 1,
            None => counts.push((f.deployment_id.clone(), 1)),
        }
    }
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let deployment_id = match counts.first() {
        Some((id, _)) => id.clone(),
        None => {
            if !geometry.read_only {
                for p in specs.iter().filter_map(|s| s.local.as_deref()) {
                    create_dir_all_durable(p)?;
                }
            }
            new_id()
        }
    };
    let drives: Vec<Drive> = specs
        .into_iter()
        .enumerate()
        .map(|(i, spec)| {
            let (set, index) = places[i];
            Drive {
                path: spec.local.clone().unwrap_or_else(|| PathBuf::from(spec.io.location())),
                local: spec.local.is_some(),
                node: spec.node,
                io: spec.io,
                set,
                index,
                per_set: sizes[set],
                minio_drive: geometry.minio.as_ref().and_then(|m| m.get(set)?.get(index).cloned()),
                read_only: geometry.read_only,
                state: RwLock::new(DriveState::Offline("not checked".into())),
                fresh: AtomicBool::new(false),
                io_errors: AtomicU64::new(0),
                lock: Mutex::new(None),
            }
        })
        .collect();
    // Probed in parallel: a drive of a node that is down costs one timeout, not one each.
    std::thread::scope(|sc| {
        for d in &drives {
            let id = &deployment_id;
            sc.spawn(move || d.recheck(id, sets));
        }
    });
    let mut out: Vec<Vec<Drive>> = Vec::with_capacity(sets);
    for drive in drives {
        if let DriveState::Offline(reason) = drive.state() {
            tracing::error!(drive = %drive.io.location(), set = drive.set, index = drive.index, %reason, "drive offline");
        } else if drive.fresh.load(Ordering::Relaxed) && !counts.is_empty() {
            tracing::warn!(drive = %drive.io.location(), "empty drive formatted as a replacement; run heal to refill it");
        }
        if drive.index == 0 {
            out.push(Vec::with_capacity(drive.per_set));
        }
        if let Some(set) = out.last_mut() {
            set.push(drive);
        }
    }
    for (s, set) in out.iter().enumerate() {
        let online = set.iter().filter(|d| d.is_online()).count();
        let quorum = quorum(s);
        if online < quorum {
            return Err(StoreError::Format(format!(
                "erasure set {s} has only {online} of {} drives usable; {quorum} are needed to start",
                set.len()
            )));
        }
    }
    Ok((deployment_id, out))
}

/// Runs `f` on every drive at once: on the drives of other nodes from threads of their own
/// (their calls wait on the network), on this node's one after another on the calling
/// thread meanwhile. Results in drive order. Blocking.
pub fn on_each<T: Send>(drives: &[Arc<Drive>], f: impl Fn(usize, &Drive) -> T + Sync) -> Vec<T> {
    if drives.iter().all(|d| d.local) {
        return drives.iter().enumerate().map(|(i, d)| f(i, d)).collect();
    }
    std::thread::scope(|sc| {
        let f = &f;
        let remote: Vec<_> =
            drives.iter().enumerate().map(|(i, d)| (!d.local).then(|| sc.spawn(move || f(i, d)))).collect();
        let local: Vec<Option<T>> = drives.iter().enumerate().map(|(i, d)| d.local.then(|| f(i, d))).collect();
        remote
            .into_iter()
            .zip(local)
            .enumerate()
            .map(|(i, (r, l))| match (r, l) {
                (Some(h), _) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                (None, Some(v)) => v,
                (None, None) => f(i, &drives[i]),
            })
            .collect()
    })
}

/// Creates `dir` and any missing parents, making each new entry durable in its parent.
pub fn create_dir_all_durable(dir: &Path) -> Result<()> {
    crate::disk::local::create_dirs_durable(None, dir).map_err(|e| StoreError::io(dir, e))
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    crate::disk::local::sync_dir(dir).map_err(|e| StoreError::io(dir, e))
}

/// Writes `body` to `path` atomically and durably (temporary file, fsync, rename, fsync dir).
pub fn write_file_durable(path: &Path, body: &[u8]) -> Result<()> {
    crate::disk::local::write_file_durable(path, body).map_err(|e| StoreError::io(path, e))
}
