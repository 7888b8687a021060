//! Small JSON records (bucket records, multipart uploads and parts) kept under
//! `.rustfs.sys/` on a group of drives: written durably to every drive, read as the content a
//! majority agrees on. This module must never return a record fewer than a majority holds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use metadata::{MetaError, Result};

use crate::drives::{self, Drive, SYS_DIR};

fn path(d: &Drive, rel: &Path) -> PathBuf {
    d.path.join(SYS_DIR).join(rel)
}

fn majority(drives: &[Arc<Drive>]) -> usize {
    drives.len() / 2 + 1
}

/// The record at `rel` (relative to `.rustfs.sys`), if a majority of drives holds the same one.
pub fn read(drives: &[Arc<Drive>], rel: &Path) -> Result<Option<Vec<u8>>> {
    let mut groups: Vec<(Vec<u8>, usize)> = Vec::new();
    let mut missing = 0;
    for d in drives.iter().filter(|d| d.is_online()) {
        match std::fs::read(path(d, rel)) {
            Ok(b) => match groups.iter_mut().find(|g| g.0 == b) {
                Some(g) => g.1 += 1,
                None => groups.push((b, 1)),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing += 1,
            Err(_) => d.note_error(),
        }
    }
    let need = majority(drives);
    match groups.into_iter().max_by_key(|g| g.1) {
        Some((b, c)) if c >= need => Ok(Some(b)),
        _ if missing >= need => Ok(None),
        _ => Err(MetaError::Unavailable(format!("{}: no majority of drives agrees", rel.display()))),
    }
}

/// Writes the record at `rel` durably to every drive; fails without a majority.
pub fn write(drives: &[Arc<Drive>], rel: &Path, body: &[u8]) -> Result<()> {
    let mut ok = 0;
    for d in drives.iter().filter(|d| d.check_alive()) {
        let p = path(d, rel);
        let res = p
            .parent()
            .map_or(Ok(()), drives::create_dir_all_durable)
            .and_then(|()| drives::write_file_durable(&p, body));
        match res {
            Ok(()) => ok += 1,
            Err(_) => d.note_error(),
        }
    }
    if ok >= majority(drives) {
        Ok(())
    } else {
        Err(MetaError::Unavailable(format!("{}: written to {ok} of {} drives", rel.display(), drives.len())))
    }
}

/// Removes the record (or folder of records) at `rel` from every drive.
pub fn remove(drives: &[Arc<Drive>], rel: &Path) {
    for d in drives.iter().filter(|d| d.is_online()) {
        let p = path(d, rel);
        let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
        if let Some(parent) = p.parent() {
            let _ = drives::sync_dir(parent);
        }
    }
}

/// Names in the folder `rel` on any drive (the union; callers read each with `read`).
pub fn list(drives: &[Arc<Drive>], rel: &Path) -> Vec<String> {
    let mut names: Vec<String> = drives
        .iter()
        .filter(|d| d.is_online())
        .flat_map(|d| std::fs::read_dir(path(d, rel)).into_iter().flatten().flatten())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.contains(".tmp-"))
        .collect();
    names.sort();
    names.dedup();
    names
}
