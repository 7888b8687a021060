//! xl.meta files on the drives of a set: writes go to every online drive (tmp file, fsync,
//! rename, fsync of the folder) and succeed with a write quorum; reads take the content a
//! read quorum of drives agrees on, so one stale or corrupt copy never decides an answer.
//! This module must never return an xl.meta fewer than `quorum` drives hold.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use crate::drives::{self, Drive};
use crate::error::{Result, StoreError};
use crate::paths;
use crate::xlmeta::{self, XlMeta};

pub const XL_META: &str = "xl.meta";

fn xl_path(d: &Drive, bucket: &str, key: &str) -> PathBuf {
    paths::object_dir(&d.path, bucket, key).join(XL_META)
}

/// What identifies the content of an xl.meta across drives (the per-drive erasure index and
/// header signatures aside).
fn fingerprint(m: &XlMeta) -> Vec<u8> {
    let mut c = m.clone();
    for v in &mut c.versions {
        v.signature = None;
        v.flags = 0;
        if let Some(o) = &mut v.object {
            o.erasure_index = 0;
        }
    }
    xlmeta::encode(&c)
}

/// Reads `bucket/key`'s xl.meta with quorum: `Ok(None)` when no drive holds a copy and enough
/// drives answered, an error when copies exist without quorum agreement.
pub fn read(set: &[Arc<Drive>], bucket: &str, key: &str, quorum: usize) -> Result<Option<XlMeta>> {
    read_agreement(set, bucket, key, quorum).map(|r| r.meta)
}

/// A quorum read, and how many online drives hold exactly that content.
pub struct Agreement {
    pub meta: Option<XlMeta>,
    /// Online drives whose copy matches `meta` (or that lack one, when `meta` is `None`).
    pub agreeing: usize,
    pub online: usize,
}

/// Like [`read`], also telling whether every online copy agrees (heal uses it to rewrite
/// missing, stale and corrupt copies).
pub fn read_agreement(set: &[Arc<Drive>], bucket: &str, key: &str, quorum: usize) -> Result<Agreement> {
    paths::check_key(key)?;
    let mut missing = 0;
    let mut online = 0;
    let mut groups: Vec<(Vec<u8>, XlMeta, usize)> = Vec::new();
    for d in set.iter().filter(|d| d.is_online()) {
        online += 1;
        let p = xl_path(d, bucket, key);
        match fs::read(&p) {
            Ok(buf) => match xlmeta::decode(&buf) {
                Ok(m) => {
                    let fp = fingerprint(&m);
                    match groups.iter_mut().find(|g| g.0 == fp) {
                        Some(g) => g.2 += 1,
                        None => groups.push((fp, m, 1)),
                    }
                }
                Err(e) => {
                    d.note_error();
                    tracing::warn!(path = %p.display(), error = %e, "corrupt xl.meta");
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing += 1,
            Err(_) => d.note_error(),
        }
    }
    if let Some((_, m, n)) = groups.iter().max_by_key(|g| g.2)
        && *n >= quorum
    {
        return Ok(Agreement { meta: Some(m.clone()), agreeing: *n, online });
    }
    // "Not found" only when no drive holds any copy: copies without quorum mean the answer
    // is unavailable (drives lost or a write still to heal), never that the key is absent.
    if groups.is_empty() && missing > set.len().saturating_sub(quorum) {
        return Ok(Agreement { meta: None, agreeing: missing, online });
    }
    Err(StoreError::ReadQuorum(format!("{bucket}/{key} (xl.meta)"), quorum))
}

/// Writes `meta` as `bucket/key`'s xl.meta on every online drive; `for_drive` adjusts the
/// content per drive position (its erasure index). Fails without quorum.
pub fn write(
    set: &[Arc<Drive>],
    bucket: &str,
    key: &str,
    quorum: usize,
    for_drive: impl Fn(usize) -> XlMeta,
) -> Result<()> {
    paths::check_key(key)?;
    let mut ok = 0;
    for (pos, d) in set.iter().enumerate() {
        if !d.check_alive() {
            continue;
        }
        let dir = paths::object_dir(&d.path, bucket, key);
        let body = xlmeta::encode(&for_drive(pos));
        let res =
            drives::create_dir_all_durable(&dir).and_then(|()| drives::write_file_durable(&dir.join(XL_META), &body));
        match res {
            Ok(()) => ok += 1,
            Err(e) => {
                d.note_error();
                tracing::warn!(drive = %d.path.display(), error = %e, "xl.meta write failed");
            }
        }
    }
    if ok < quorum {
        return Err(StoreError::WriteQuorum { set: set.first().map_or(0, |d| d.set), online: ok, needed: quorum });
    }
    Ok(())
}

/// Removes `bucket/key`'s xl.meta from every drive (its last version is gone).
pub fn remove(set: &[Arc<Drive>], bucket: &str, key: &str) -> Result<()> {
    paths::check_key(key)?;
    for d in set.iter().filter(|d| d.is_online()) {
        let p = xl_path(d, bucket, key);
        match fs::remove_file(&p) {
            Ok(()) => {
                if let Some(parent) = p.parent() {
                    let _ = drives::sync_dir(parent);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => d.note_error(),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::xlmeta::{VersionType, XlVersion};

    fn meta(mtime: i64) -> XlMeta {
        let v = XlVersion {
            kind: VersionType::DeleteMarker,
            version_id: None,
            mod_time_ns: mtime,
            signature: None,
            flags: 0,
            object: None,
        };
        XlMeta { major: 1, minor: 3, versions: vec![v], inline: BTreeMap::new() }
    }

    fn set() -> (tempfile::TempDir, Vec<Arc<Drive>>) {
        let root = tempfile::tempdir().unwrap();
        let paths: Vec<_> = (0..12).map(|i| root.path().join(format!("d{i}"))).collect();
        let (_, sets) = drives::open_drives(&paths, 8).unwrap();
        let set = sets.into_iter().next().unwrap().into_iter().map(Arc::new).collect();
        (root, set)
    }

    #[test]
    fn quorum_reads_survive_missing_stale_and_corrupt_copies() {
        let (_root, set) = set();
        assert!(read(&set, "b", "k", 8).unwrap().is_none());
        write(&set, "b", "k", 8, |_| meta(1)).unwrap();
        assert_eq!(read(&set, "b", "k", 8).unwrap().unwrap().versions[0].mod_time_ns, 1);
        // A newer write that reached only 3 drives (no quorum) does not win...
        write(&set[..3], "b", "k", 3, |_| meta(2)).unwrap();
        assert_eq!(read(&set, "b", "k", 8).unwrap().unwrap().versions[0].mod_time_ns, 1);
        // ...and corrupt copies are outvoted.
        fs::write(xl_path(&set[4], "b", "k"), b"XL2 garbage").unwrap();
        assert_eq!(read(&set, "b", "k", 8).unwrap().unwrap().versions[0].mod_time_ns, 1);
        // Too many disagreeing copies: a clean error, never a guess.
        write(&set[..5], "b", "k", 5, |_| meta(3)).unwrap();
        assert!(matches!(read(&set, "b", "k", 8), Err(StoreError::ReadQuorum(..))));
        remove(&set, "b", "k").unwrap();
        assert!(read(&set, "b", "k", 8).unwrap().is_none());
        // A partial write (3 copies) is not "absent": it needs heal or cleanup.
        write(&set[..3], "b", "p", 3, |_| meta(1)).unwrap();
        assert!(matches!(read(&set, "b", "p", 8), Err(StoreError::ReadQuorum(..))));
        // Agreement counts only matching copies.
        write(&set, "b", "q", 8, |_| meta(1)).unwrap();
        fs::write(xl_path(&set[7], "b", "q"), b"XL2 garbage").unwrap();
        let a = read_agreement(&set, "b", "q", 8).unwrap();
        assert_eq!((a.agreeing, a.online), (11, 12));
        assert!(matches!(read(&set, "b", "../x", 8), Err(StoreError::InvalidName(_))));
    }
}
