//! Small JSON records (bucket records, multipart uploads and parts) kept under
//! `.rustfs.sys/` on a group of drives: written durably to every drive, read as the content a
//! majority agrees on. This module must never return a record fewer than a majority holds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use metadata::{MetaError, Result};

use crate::drives::{self, Drive, SYS_DIR};

/// A record's path relative to a drive.
fn on_drive(rel: &Path) -> PathBuf {
    Path::new(SYS_DIR).join(rel)
}

/// Largest record read.
const MAX_RECORD: u64 = 4 << 20;

fn majority(drives: &[Arc<Drive>]) -> usize {
    drives.len() / 2 + 1
}

/// The record at `rel` (relative to `.rustfs.sys`), if a majority of drives holds the same one.
///
/// A write or a remove is acknowledged once a majority of drives holds its result, so when
/// every drive answered and neither one content nor absence has a majority, the record is
/// the trace of a write or remove the crash (or a concurrent reader) cut short, which was
/// never acknowledged: either outcome is allowed, and the answer is the largest group
/// (absence winning ties, then the smallest content), the same on every read until the next
/// write. With drives missing, the missing ones could hold the majority: unavailable.
pub fn read(drives: &[Arc<Drive>], rel: &Path) -> Result<Option<Vec<u8>>> {
    let mut groups: Vec<(Vec<u8>, usize)> = Vec::new();
    let mut missing = 0;
    let mut unknown = 0;
    let p = on_drive(rel);
    let copies = drives::on_each(drives, |_, d| d.is_online().then(|| d.io.read_all(&p, MAX_RECORD)));
    for (d, copy) in drives.iter().zip(copies) {
        let Some(copy) = copy else {
            unknown += 1;
            continue;
        };
        match copy {
            Ok(b) => match groups.iter_mut().find(|g| g.0 == b) {
                Some(g) => g.1 += 1,
                None => groups.push((b, 1)),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing += 1,
            Err(_) => {
                d.note_error();
                unknown += 1;
            }
        }
    }
    let need = majority(drives);
    // Largest group first; among equals, the smallest content (a fixed order).
    groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let best = groups.into_iter().next();
    let count = best.as_ref().map_or(0, |g| g.1);
    match best {
        Some((b, c)) if c >= need => Ok(Some(b)),
        _ if missing >= need => Ok(None),
        _ if unknown > 0 => Err(MetaError::Unavailable(format!("{}: no majority of drives agrees", rel.display()))),
        Some((b, c)) if c > missing => Ok(Some(b)),
        _ => {
            tracing::debug!(record = %rel.display(), copies = count, missing, "record of an interrupted write or remove");
            Ok(None)
        }
    }
}

/// Writes the record at `rel` durably to every drive; fails without a majority.
pub fn write(drives: &[Arc<Drive>], rel: &Path, body: &[u8]) -> Result<()> {
    let p = on_drive(rel);
    let written = drives::on_each(drives, |_, d| {
        let ok = d.check_alive() && d.io.write_durable(&p, body).is_ok();
        if !ok && d.is_online() {
            d.note_error();
        }
        ok
    });
    let ok = written.iter().filter(|w| **w).count();
    if ok >= majority(drives) {
        Ok(())
    } else {
        Err(MetaError::Unavailable(format!("{}: written to {ok} of {} drives", rel.display(), drives.len())))
    }
}

/// Removes the record (or folder of records) at `rel` from every drive.
pub fn remove(drives: &[Arc<Drive>], rel: &Path) {
    let p = on_drive(rel);
    drives::on_each(drives, |_, d| {
        if d.is_online() {
            let _ = d.io.remove_durable(&p);
        }
    });
}

/// Names in the folder `rel` on any drive (the union; callers read each with `read`).
pub fn list(drives: &[Arc<Drive>], rel: &Path) -> Vec<String> {
    let p = on_drive(rel);
    let lists =
        drives::on_each(drives, |_, d| if d.is_online() { d.io.list(&p).unwrap_or_default() } else { Vec::new() });
    let mut names: Vec<String> = lists.into_iter().flatten().map(|e| e.name).filter(|n| !n.contains(".tmp-")).collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn path(d: &Drive, rel: &Path) -> PathBuf {
        d.path.join(on_drive(rel))
    }

    fn drives(dir: &Path) -> Vec<Arc<Drive>> {
        let paths: Vec<PathBuf> = (0..12).map(|i| dir.join(format!("d{i}"))).collect();
        for p in &paths {
            std::fs::create_dir_all(p).unwrap();
        }
        let (_, sets) = drives::open_drives(
            paths.iter().map(|p| drives::DriveSpec::local(p)).collect(),
            &drives::Geometry::default(),
            |_| 9,
            || "test".into(),
        )
        .unwrap();
        sets.into_iter().flatten().map(Arc::new).collect()
    }

    /// Leaves `body` on the first `n` drives only (a write or a remove cut short).
    fn torn(ds: &[Arc<Drive>], rel: &Path, body: &[u8], n: usize) {
        write(ds, rel, body).unwrap();
        for d in &ds[n..] {
            let _ = std::fs::remove_file(path(d, rel));
        }
    }

    #[test]
    fn majority_decides() {
        let t = tempfile::tempdir().unwrap();
        let ds = drives(t.path());
        let rel = Path::new("r/one.json");
        assert_eq!(read(&ds, rel).unwrap(), None);
        torn(&ds, rel, b"a", 7);
        assert_eq!(read(&ds, rel).unwrap(), Some(b"a".to_vec()));
        torn(&ds, rel, b"a", 5);
        assert_eq!(read(&ds, rel).unwrap(), None);
    }

    #[test]
    fn an_interrupted_write_or_remove_reads_the_same_every_time() {
        let t = tempfile::tempdir().unwrap();
        let ds = drives(t.path());
        let rel = Path::new("r/two.json");
        // Half the drives: absence wins the tie, and keeps winning.
        torn(&ds, rel, b"a", 6);
        for _ in 0..3 {
            assert_eq!(read(&ds, rel).unwrap(), None);
        }
        // An overwrite cut short: 6 old, 4 new, 2 missing: the largest group.
        write(&ds, rel, b"old").unwrap();
        for d in &ds[..4] {
            std::fs::write(path(d, rel), b"new").unwrap();
        }
        for d in &ds[4..6] {
            std::fs::remove_file(path(d, rel)).unwrap();
        }
        assert_eq!(read(&ds, rel).unwrap(), Some(b"old".to_vec()));
        // 5 "x", 5 "b", 2 missing: the smallest content among the largest groups.
        for (i, d) in ds.iter().enumerate() {
            let p = path(d, rel);
            match i {
                0..5 => std::fs::write(&p, b"x").unwrap(),
                5..10 => std::fs::write(&p, b"b").unwrap(),
                _ => std::fs::remove_file(&p).unwrap(),
            }
        }
        assert_eq!(read(&ds, rel).unwrap(), Some(b"b".to_vec()));
    }

    #[test]
    fn drives_that_did_not_answer_could_hold_the_majority() {
        let t = tempfile::tempdir().unwrap();
        let ds = drives(t.path());
        let rel = Path::new("r/three.json");
        torn(&ds, rel, b"a", 6);
        std::fs::remove_file(ds[11].sys_dir().join(drives::FORMAT_FILE)).unwrap();
        assert!(!ds[11].check_alive());
        assert!(matches!(read(&ds, rel), Err(MetaError::Unavailable(_))));
        // Still decided when the answering drives alone hold a majority.
        torn(&ds, rel, b"a", 8);
        assert_eq!(read(&ds, rel).unwrap(), Some(b"a".to_vec()));
    }
}
