//! Garbage collection of shard data that no committed metadata references: writes that
//! died between their shards and their metadata commit, frees a crash interrupted or the
//! free queue turned away, buckets deleted with data left, and leftovers under
//! `.rustfs.sys/tmp`.
//!
//! How a data dir is found and judged:
//! - KV layout (`.rustfs.sys/data/<bucket id>/<xx>/<data dir>`): a bucket id no live bucket
//!   has is garbage as a whole; otherwise the data dir ids found on disk are compared with
//!   the ids the metadata references. No key is parsed.
//! - Keyed layout (legacy track, `<bucket>/<key>/<data dir>`): a data dir is a folder named
//!   by a UUID that holds only regular `part.*` files (a key folder holds `xl.meta` or
//!   folders, never that), and its references are the versions and uploads of its key.
//!   Only its part files are removed, never anything else that might appear in it.
//!
//! Only data dirs older than the grace period are candidates. References are read in the
//! order they can move: uploads before versions (completing an upload moves its data dir
//! from the upload to a version in one commit), and the stores in the order given
//! (the legacy track before the KV: migration copies from the first to the second). A
//! reference that moves while the scan runs is therefore seen at least once. Data dirs a
//! reader holds are skipped. This module must never remove a data dir without having
//! read every reference store after finding it old.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use metadata::{ListItem, MetaError, MetadataStore, ObjectData, UploadQuery, VersionQuery};
use serde::Serialize;

use crate::disk::DiskIo;
use crate::drives::{Drive, SYS_DIR};
use crate::paths;

/// Where a data dir found on the drives lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Home {
    /// KV layout: under a bucket id.
    Bucket(String),
    /// Keyed layout: in the folder of `key` of bucket `bucket`.
    Key { bucket: String, key: String },
}

/// A data dir seen on at least one drive of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    pub set: usize,
    pub home: Home,
    pub data_dir: String,
    /// Newest modification time seen across drives.
    pub modified: SystemTime,
}

#[derive(Debug, Default, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct GcReport {
    pub data_dirs_seen: u64,
    pub data_dirs_young: u64,
    /// Old unreferenced data dirs a reader still held (left for a later run).
    pub data_dirs_in_use: u64,
    pub data_dirs_removed: u64,
    /// Bucket ids on the drives that no bucket has any more (deleted buckets), removed.
    pub deleted_buckets_removed: u64,
}

/// Whether a folder named `name` whose entries are `entries` (name, regular file) is a data
/// dir of the keyed layout: a UUID-named folder whose entries are all regular `part.*` files.
/// A key folder named like a UUID holds `xl.meta` or folders (`exports/<uuid>/part.0.parquet`
/// is the folder of a key), so it never matches.
pub fn is_keyed_data_dir<'a>(name: &str, mut entries: impl Iterator<Item = (&'a str, bool)>) -> bool {
    paths::is_uuid(name) && entries.all(|(n, is_file)| is_file && paths::is_part_file(n))
}

/// `is_keyed_data_dir` of folder `rel` on a drive.
fn is_keyed_data_dir_on(io: &dyn DiskIo, rel: &Path, name: &str) -> bool {
    paths::is_uuid(name)
        && io.list(rel).is_ok_and(|l| is_keyed_data_dir(name, l.iter().map(|e| (e.name.as_str(), e.is_file))))
}

fn time_of(mtime_ns: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(mtime_ns.max(0) as u64)
}

fn walk_keyed(io: &dyn DiskIo, root: &Path, dir: &Path, out: &mut Vec<(String, String, SystemTime)>) {
    let Ok(entries) = io.list(dir) else { return };
    for e in entries.into_iter().filter(|e| e.is_dir) {
        let p = dir.join(&e.name);
        if dir != root && is_keyed_data_dir_on(io, &p, &e.name) {
            if let Ok(rel) = dir.strip_prefix(root) {
                out.push((paths::key_of_dir(&rel.to_string_lossy()), e.name, time_of(e.mtime_ns)));
            }
        } else {
            walk_keyed(io, root, &p, out);
        }
    }
}

/// Every keyed-layout data dir of `bucket` on the online drives of one set (blocking).
pub fn find_keyed(set: usize, drives: &[Arc<Drive>], bucket: &str) -> Vec<DataDir> {
    let mut seen: BTreeMap<(String, String), SystemTime> = BTreeMap::new();
    for d in drives.iter().filter(|d| d.is_online()) {
        let root = Path::new(bucket);
        let mut found = Vec::new();
        walk_keyed(d.io.as_ref(), root, root, &mut found);
        for (key, dd, m) in found {
            let e = seen.entry((key, dd)).or_insert(m);
            *e = (*e).max(m);
        }
    }
    seen.into_iter()
        .map(|((key, data_dir), modified)| DataDir {
            set,
            home: Home::Key { bucket: bucket.to_string(), key },
            data_dir,
            modified,
        })
        .collect()
}

/// Every KV-layout data dir on the online drives of one set, and the bucket ids seen
/// (blocking).
pub fn find_by_id(set: usize, drives: &[Arc<Drive>]) -> Vec<DataDir> {
    let mut seen: BTreeMap<(String, String), SystemTime> = BTreeMap::new();
    let dirs = |io: &dyn DiskIo, p: &Path| -> Vec<crate::disk::Entry> {
        io.list(p).unwrap_or_default().into_iter().filter(|e| e.is_dir).collect()
    };
    for d in drives.iter().filter(|d| d.is_online()) {
        let io = d.io.as_ref();
        let root = Path::new(SYS_DIR).join(paths::DATA_DIR);
        for b in dirs(io, &root).into_iter().filter(|b| paths::is_uuid(&b.name)) {
            let bdir = root.join(&b.name);
            for fan in dirs(io, &bdir) {
                for dd in dirs(io, &bdir.join(&fan.name)).into_iter().filter(|dd| paths::is_uuid(&dd.name)) {
                    let m = time_of(dd.mtime_ns);
                    let e = seen.entry((b.name.clone(), dd.name)).or_insert(m);
                    *e = (*e).max(m);
                }
            }
        }
    }
    seen.into_iter()
        .map(|((id, data_dir), modified)| DataDir { set, home: Home::Bucket(id), data_dir, modified })
        .collect()
}

/// Removes a keyed-layout data dir (`dir`, relative) on one drive: its part files, then the
/// folder if that left it empty (never a file it does not know).
pub fn remove_keyed(io: &dyn DiskIo, dir: &Path) {
    for e in io.list(dir).unwrap_or_default() {
        if e.is_file && paths::is_part_file(&e.name) {
            let _ = io.remove_all(&dir.join(&e.name));
        }
    }
    let _ = io.remove_empty_dir(dir);
}

/// Removes everything under each drive's tmp folder (only safe when no write is running,
/// i.e. at start-up, under the data folder lock). Returns the entries removed.
pub fn clear_tmp(drives: &[Arc<Drive>]) -> usize {
    let mut n = 0;
    for d in drives.iter().filter(|d| d.is_online()) {
        let tmp = Drive::tmp_rel();
        for e in d.io.list(&tmp).unwrap_or_default() {
            if d.io.remove_all(&tmp.join(&e.name)).is_ok() {
                n += 1;
            }
        }
    }
    n
}

fn meta_err(e: MetaError) -> String {
    e.to_string()
}

/// Removes from `candidates` every data dir an upload or a version of `bucket` references,
/// on every store (uploads first, then versions; stores in the given order).
async fn drop_referenced(
    stores: &[Arc<dyn MetadataStore>],
    bucket: &str,
    candidates: &mut HashSet<String>,
) -> Result<(), String> {
    for s in stores {
        let mut q = UploadQuery { max_uploads: 1000, ..Default::default() };
        loop {
            let page = match s.list_uploads(bucket, &q).await {
                Err(MetaError::NoSuchBucket(_)) => break,
                r => r.map_err(meta_err)?,
            };
            for u in page.objects() {
                candidates.remove(&u.data_dir);
            }
            match page.objects().last() {
                Some(u) if page.truncated => {
                    q.key_marker = Some(u.key.clone());
                    q.upload_id_marker = Some(u.upload_id.clone());
                }
                _ => break,
            }
        }
    }
    for s in stores {
        let mut q = VersionQuery { max_keys: 1000, ..Default::default() };
        loop {
            let page = match s.list_versions(bucket, &q).await {
                Err(MetaError::NoSuchBucket(_)) => break,
                r => r.map_err(meta_err)?,
            };
            for v in page.objects() {
                if let ObjectData::Erasure(l) = &v.data {
                    candidates.remove(&l.data_dir);
                }
            }
            match page.items.last() {
                Some(ListItem::Object(v)) if page.truncated => {
                    q.key_marker = Some(v.key.clone());
                    q.version_id_marker = Some(v.version_id.clone());
                }
                _ => break,
            }
        }
    }
    Ok(())
}

/// Whether an upload or a version of `bucket/key` references `data_dir` on any store
/// (uploads first, then versions).
pub async fn key_references(
    stores: &[Arc<dyn MetadataStore>],
    bucket: &str,
    key: &str,
    data_dir: &str,
) -> Result<bool, String> {
    for s in stores {
        let mut q = UploadQuery { prefix: key.to_string(), max_uploads: 1000, ..Default::default() };
        loop {
            let page = match s.list_uploads(bucket, &q).await {
                Err(MetaError::NoSuchBucket(_)) => break,
                r => r.map_err(meta_err)?,
            };
            let mut last = None;
            for u in page.objects() {
                if u.key == key && u.data_dir == data_dir {
                    return Ok(true);
                }
                last = Some((u.key.clone(), u.upload_id.clone()));
            }
            match last {
                Some((k, u)) if page.truncated && k == key => {
                    q.key_marker = Some(k);
                    q.upload_id_marker = Some(u);
                }
                _ => break,
            }
        }
    }
    for s in stores {
        match s.key_versions(bucket, key).await {
            Ok(versions) => {
                if versions.iter().any(|o| matches!(&o.data, ObjectData::Erasure(l) if l.data_dir == data_dir)) {
                    return Ok(true);
                }
            }
            Err(MetaError::NoSuchBucket(_) | MetaError::InvalidKey(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(false)
}

/// Live buckets: their names, their names by id, and every id in use (a bucket a delete is
/// checking included), over every store.
async fn live_buckets(
    stores: &[Arc<dyn MetadataStore>],
) -> Result<(Vec<String>, HashMap<String, String>, HashSet<String>), String> {
    let mut names = Vec::new();
    let mut by_id = HashMap::new();
    let mut ids = HashSet::new();
    for s in stores {
        ids.extend(s.all_bucket_ids().await.map_err(meta_err)?);
        for b in s.list_buckets().await.map_err(meta_err)? {
            if !b.id.is_empty() {
                by_id.insert(b.id.clone(), b.name.clone());
            }
            if !names.contains(&b.name) {
                names.push(b.name);
            }
        }
    }
    Ok((names, by_id, ids))
}

impl crate::EcStore {
    /// One garbage collection pass over every set; see the module documentation.
    pub async fn collect_garbage(
        &self,
        stores: &[Arc<dyn MetadataStore>],
        grace: Duration,
    ) -> Result<GcReport, String> {
        let mut report = GcReport::default();
        let (names, by_id, ids) = live_buckets(stores).await?;
        let now = SystemTime::now();
        let old = |d: &DataDir| now.duration_since(d.modified).unwrap_or_default() >= grace;

        // KV layout, by bucket id.
        let mut by_bucket: HashMap<String, Vec<DataDir>> = HashMap::new();
        for d in self.find_data_dirs_by_id().await {
            if let Home::Bucket(id) = &d.home {
                by_bucket.entry(id.clone()).or_default().push(d.clone());
            }
        }
        for (id, dirs) in by_bucket {
            report.data_dirs_seen += dirs.len() as u64;
            let (old_dirs, young): (Vec<DataDir>, Vec<DataDir>) = dirs.into_iter().partition(|d| old(d));
            report.data_dirs_young += young.len() as u64;
            if !ids.contains(&id) {
                // A deleted bucket's data: nothing can reference it any more.
                for d in &old_dirs {
                    if self.remove_data_dir(d).await {
                        report.data_dirs_removed += 1;
                    } else {
                        report.data_dirs_in_use += 1;
                    }
                }
                if young.is_empty() && self.remove_bucket_root(&id).await {
                    report.deleted_buckets_removed += 1;
                }
                continue;
            }
            // A bucket a delete is checking right now: leave its data alone this time.
            let Some(bucket) = by_id.get(&id) else { continue };
            let mut candidates: HashSet<String> = old_dirs.iter().map(|d| d.data_dir.clone()).collect();
            if candidates.is_empty() {
                continue;
            }
            drop_referenced(stores, bucket, &mut candidates).await?;
            for d in old_dirs.iter().filter(|d| candidates.contains(&d.data_dir)) {
                tracing::info!(bucket = %bucket, data_dir = %d.data_dir, "removing unreferenced shards");
                if self.remove_data_dir(d).await {
                    report.data_dirs_removed += 1;
                } else {
                    report.data_dirs_in_use += 1;
                }
            }
        }

        // Keyed layout, by bucket name and key.
        for b in &names {
            for d in self.find_keyed_data_dirs(b).await {
                report.data_dirs_seen += 1;
                if !old(&d) {
                    report.data_dirs_young += 1;
                    continue;
                }
                let Home::Key { bucket, key } = &d.home else { continue };
                if key_references(stores, bucket, key, &d.data_dir).await? || self.pool_copy_references(&d).await {
                    continue;
                }
                tracing::info!(bucket = %bucket, key = %key, data_dir = %d.data_dir, "removing unreferenced shards");
                if self.remove_data_dir(&d).await {
                    report.data_dirs_removed += 1;
                } else {
                    report.data_dirs_in_use += 1;
                }
            }
        }
        Ok(report)
    }

    /// On an adopted MinIO deployment of several pools, whether the xl.meta on a keyed data
    /// dir's own set references it: a key's older copy on another pool than the one serving
    /// it (a decommission cut short) keeps its data while its xl.meta is there (an
    /// unreadable xl.meta counts as referencing).
    async fn pool_copy_references(&self, d: &DataDir) -> bool {
        let Home::Key { bucket, key } = &d.home else { return false };
        if self.key_sets(bucket, key).len() < 2 {
            return false;
        }
        let drives = self.set_drives(d.set).to_vec();
        let quorum = self.write_quorum(d.set);
        let (b, k, dir) = (bucket.clone(), key.clone(), d.data_dir.clone());
        tokio::task::spawn_blocking(move || match crate::legacy::files::read(&drives, &b, &k, quorum, false) {
            Ok(Some(m)) => m.versions.iter().any(|v| v.object.as_ref().is_some_and(|o| o.data_dir == dir)),
            Ok(None) => false,
            Err(_) => true,
        })
        .await
        .unwrap_or(true)
    }
}
