//! Finding garbage on the drives: data dirs (`<bucket>/<key>/<uuid>/part.*`) that may no
//! longer be referenced, and leftovers of writes in progress under `.rustfs.sys/tmp`.
//! This module only finds and removes what the caller says; deciding that a data dir is
//! unreferenced belongs to the metadata side, never to this module.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use crate::drives::{Drive, SYS_DIR};

/// A data dir seen on at least one drive of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    pub set: usize,
    pub bucket: String,
    pub key: String,
    pub data_dir: String,
    /// Newest modification time seen across drives.
    pub modified: SystemTime,
}

fn is_data_dir(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    uuid::Uuid::parse_str(name).is_ok()
        && std::fs::read_dir(path)
            .map(|it| it.flatten().any(|e| e.file_name().to_string_lossy().starts_with("part.")))
            .unwrap_or(false)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String, SystemTime)>) {
    let Ok(it) = std::fs::read_dir(dir) else {
        return;
    };
    for e in it.flatten() {
        let p = e.path();
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if is_data_dir(&p) {
            let key = p
                .parent()
                .and_then(|k| k.strip_prefix(root).ok())
                .map(|k| crate::paths::key_of_dir(&k.to_string_lossy()));
            let modified = e.metadata().and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
            if let Some(key) = key {
                out.push((key, p.file_name().unwrap_or_default().to_string_lossy().into_owned(), modified));
            }
        } else {
            walk(root, &p, out);
        }
    }
}

/// Every data dir of `bucket` on the given drives of one set (blocking).
pub fn find_data_dirs(set: usize, drives: &[std::sync::Arc<Drive>], bucket: &str) -> Vec<DataDir> {
    let mut seen: BTreeMap<(String, String), SystemTime> = BTreeMap::new();
    for d in drives.iter().filter(|d| d.is_online()) {
        let root = d.path.join(bucket);
        let mut found = Vec::new();
        walk(&root, &root, &mut found);
        for (key, dd, m) in found {
            let e = seen.entry((key, dd)).or_insert(m);
            *e = (*e).max(m);
        }
    }
    seen.into_iter()
        .map(|((key, data_dir), modified)| DataDir { set, bucket: bucket.to_string(), key, data_dir, modified })
        .collect()
}

/// Removes everything under each drive's tmp folder (only safe when no write is running,
/// i.e. at start-up, under the data folder lock). Returns the entries removed.
pub fn clear_tmp(drives: &[std::sync::Arc<Drive>]) -> usize {
    let mut n = 0;
    for d in drives.iter().filter(|d| d.is_online()) {
        let tmp = d.path.join(SYS_DIR).join("tmp");
        for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            if std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path())).is_ok() {
                n += 1;
            }
        }
    }
    n
}
