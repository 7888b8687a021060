//! xl.meta files on the drives of a set: writes go to every online drive (tmp file, fsync,
//! rename, fsync of the folder) and succeed with a write quorum; reads take the content a
//! write quorum of drives agrees on, so one stale or corrupt copy never decides an answer.
//!
//! When no content has a write quorum (an overwrite cut by a crash can leave 6 new and 6
//! old copies), versions are voted on one by one, as MinIO merges them. With `n` drives and
//! a write quorum `q`, a version removed by an acknowledged write is left on at most
//! `n - q` drives, so a version on more than that is kept (an acknowledged one, or one of a
//! write cut short, whose data is complete: shards are durable before any xl.meta is
//! written), and one on fewer is dropped; when drives that did not answer could tip a
//! version either way, the read fails rather than guess. Heal then writes the merged file
//! to every drive. This module must never return a version that an acknowledged write
//! removed, nor answer with fewer than `quorum` drives.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::drives::{self, Drive};
use crate::error::{Result, StoreError};
use crate::legacy::minio_inline;
use crate::paths;
use crate::xlmeta::{self, XlMeta, XlVersion};

pub use crate::paths::XL_META;

/// `bucket/key`'s xl.meta, relative to a drive.
fn xl_path(bucket: &str, key: &str) -> PathBuf {
    paths::object_dir(Path::new(""), bucket, key).join(XL_META)
}

/// Largest xl.meta read (MinIO keeps small objects inline, up to 128 KiB each, in it).
const MAX_XL_META: u64 = 64 << 20;

/// What identifies the content of an xl.meta across drives (the per-drive erasure index and
/// header signatures aside). MinIO's v1 versions count by their decoded fields (their
/// msgpack holds the drive's index).
fn fingerprint(m: &XlMeta) -> Vec<u8> {
    let mut c = m.clone();
    minio_inline::strip(&mut c);
    let mut v1 = Vec::new();
    for v in &mut c.versions {
        v.signature = None;
        v.flags = 0;
        v.v1_raw = None;
        if let Some(o) = &mut v.object {
            o.erasure_index = 0;
        }
        if v.kind == xlmeta::VersionType::Legacy {
            v1.extend(serde_json::to_vec(v).unwrap_or_default());
        }
    }
    let mut out = xlmeta::encode(&c);
    out.extend(v1);
    out
}

/// The drive's metadata of `bucket/key`: its xl.meta, else (`xl_json`: MinIO's first
/// placement, where objects of releases before 2020 keep it) its `xl.json`.
fn read_meta(d: &Drive, rel: &Path, xl_json: bool) -> std::io::Result<Vec<u8>> {
    match d.io.read_all(rel, MAX_XL_META) {
        Err(e) if xl_json && e.kind() == std::io::ErrorKind::NotFound => {
            d.io.read_all(&rel.with_file_name(xlmeta::v1::XL_JSON), MAX_XL_META)
        }
        other => other,
    }
}

/// Reads `bucket/key`'s xl.meta with quorum: `Ok(None)` when no version is held by enough
/// drives (none, or only the leftovers of a write never acknowledged), an error when too
/// few drives answered.
///
/// Reads the copies of the first `quorum` online drives first (at once where they wait on
/// other nodes), and the others only when those do not decide: when they do not all agree,
/// or the copy holds MinIO inline objects (each copy carries its drive's shard). A quorum
/// over half the set decides alone: no other content can reach it.
pub fn read(set: &[Arc<Drive>], bucket: &str, key: &str, quorum: usize, xl_json: bool) -> Result<Option<XlMeta>> {
    paths::check_legacy_key(key)?;
    let up: Vec<Arc<Drive>> = set.iter().filter(|d| d.is_online()).cloned().collect();
    if quorum * 2 > set.len() && up.len() > quorum {
        let rel = xl_path(bucket, key);
        let first = drives::on_each(&up[..quorum], |_, d| read_meta(d, &rel, xl_json));
        if let Some(m) = unanimous(&first) {
            return Ok(Some(m));
        }
        // Absent from a quorum: at most `n - quorum` copies exist, never an acknowledged write.
        if first.iter().all(|c| c.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)) {
            return Ok(None);
        }
    }
    read_agreement(set, bucket, key, quorum, xl_json).map(|r| r.meta)
}

/// The copy every one of `copies` holds, when they all decode to the same content without
/// MinIO inline objects.
fn unanimous(copies: &[std::io::Result<Vec<u8>>]) -> Option<XlMeta> {
    let mut chosen: Option<(Vec<u8>, XlMeta)> = None;
    for c in copies {
        let m = xlmeta::decode(c.as_ref().ok()?).ok()?;
        if m.versions.iter().any(|v| minio_inline::is_minio_inline(&m, v)) {
            return None;
        }
        let fp = fingerprint(&m);
        match &chosen {
            Some((f, _)) if *f != fp => return None,
            Some(_) => {}
            None => chosen = Some((fp, m)),
        }
    }
    chosen.map(|(_, m)| m)
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
pub fn read_agreement(set: &[Arc<Drive>], bucket: &str, key: &str, quorum: usize, xl_json: bool) -> Result<Agreement> {
    paths::check_legacy_key(key)?;
    let mut missing = 0;
    let mut groups: Vec<(Vec<u8>, XlMeta, usize)> = Vec::new();
    let rel = xl_path(bucket, key);
    let up: Vec<Arc<Drive>> = set.iter().filter(|d| d.is_online()).cloned().collect();
    let copies = drives::on_each(&up, |_, d| read_meta(d, &rel, xl_json));
    let online = up.len();
    // Every copy read, for MinIO's inline objects (each copy holds its drive's shard).
    let mut all: Vec<XlMeta> = Vec::new();
    for (d, copy) in up.iter().zip(copies) {
        match copy {
            Ok(buf) => match xlmeta::decode(&buf) {
                Ok(m) => {
                    let fp = fingerprint(&m);
                    match groups.iter_mut().find(|g| g.0 == fp) {
                        Some(g) => g.2 += 1,
                        None => groups.push((fp, m.clone(), 1)),
                    }
                    all.push(m);
                }
                Err(e) => {
                    d.note_error();
                    tracing::warn!(drive = %d.io.location(), path = %rel.display(), error = %e, "corrupt xl.meta");
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing += 1,
            Err(_) => d.note_error(),
        }
    }
    let what = format!("{bucket}/{key}");
    let gathered = |mut m: XlMeta| {
        minio_inline::gather(&mut m, &all, &what);
        m
    };
    if let Some((_, m, n)) = groups.iter().max_by_key(|g| g.2)
        && *n >= quorum
    {
        return Ok(Agreement { meta: Some(gathered(m.clone())), agreeing: *n, online });
    }
    if groups.is_empty() && missing > set.len().saturating_sub(quorum) {
        return Ok(Agreement { meta: None, agreeing: missing, online });
    }
    let answers = missing + groups.iter().map(|g| g.2).sum::<usize>();
    if answers < quorum {
        return Err(StoreError::ReadQuorum(format!("{bucket}/{key} (xl.meta)"), quorum));
    }
    let copies: Vec<(&XlMeta, usize)> = groups.iter().map(|g| (&g.1, g.2)).collect();
    let Some(meta) = merge_versions(&copies, set.len(), quorum, set.len() - answers) else {
        return Err(StoreError::ReadQuorum(format!("{bucket}/{key} (xl.meta, drives missing)"), quorum));
    };
    let agreeing = match &meta {
        Some(m) => {
            let fp = fingerprint(m);
            groups.iter().filter(|g| g.0 == fp).map(|g| g.2).sum()
        }
        None => missing,
    };
    Ok(Agreement { meta: meta.map(gathered), agreeing, online })
}

/// One version as the same bytes on every drive that holds it (with its inline data).
fn version_fingerprint(m: &XlMeta, v: &XlVersion) -> Vec<u8> {
    let mut c = v.clone();
    c.signature = None;
    c.flags = 0;
    if let Some(o) = &mut c.object {
        o.erasure_index = 0;
    }
    if c.kind == xlmeta::VersionType::Legacy {
        c.v1_raw = None;
        return serde_json::to_vec(&c).unwrap_or_default();
    }
    let mut inline = std::collections::BTreeMap::new();
    if let Some(b) = m.inline_data(v).filter(|_| !minio_inline::is_minio(v)) {
        inline.insert(v.version_id.clone().unwrap_or_else(|| "null".into()), b.to_vec());
    }
    xlmeta::encode(&XlMeta { major: 1, minor: 3, versions: vec![c], inline, ..Default::default() })
}

/// Votes version by version over copies that disagree (`(copy, drives holding it)`) on a
/// set of `n` drives with write quorum `q`, `unanswered` of which gave no copy nor a clear
/// "none": keeps the versions more than `n - q` drives hold, the newest one per version
/// id, newest first (`Some(None)`: no version is kept). `None` when the unanswered drives
/// could decide whether a version is kept.
fn merge_versions(copies: &[(&XlMeta, usize)], n: usize, q: usize, unanswered: usize) -> Option<Option<XlMeta>> {
    let threshold = n.saturating_sub(q) + 1;
    // (fingerprint, copy index, version index, votes)
    let mut votes: Vec<(Vec<u8>, usize, usize, usize)> = Vec::new();
    for (ci, (m, held)) in copies.iter().enumerate() {
        for (vi, v) in m.versions.iter().enumerate() {
            let fp = version_fingerprint(m, v);
            match votes.iter_mut().find(|e| e.0 == fp) {
                Some(e) => e.3 += held,
                None => votes.push((fp, ci, vi, *held)),
            }
        }
    }
    if votes.iter().any(|e| e.3 < threshold && e.3 + unanswered >= threshold) {
        return None;
    }
    let mut kept: Vec<(&XlMeta, &XlVersion, usize)> =
        votes.iter().filter(|e| e.3 >= threshold).map(|e| (copies[e.1].0, &copies[e.1].0.versions[e.2], e.3)).collect();
    // One version per id: the newest (a null version an overwrite replaced loses to it).
    kept.sort_by(|a, b| b.1.mod_time_ns.cmp(&a.1.mod_time_ns).then(b.2.cmp(&a.2)));
    let mut seen = std::collections::HashSet::new();
    kept.retain(|(_, v, _)| seen.insert(v.version_id.clone()));
    if kept.is_empty() {
        return Some(None);
    }
    let mut out = XlMeta { major: 1, minor: 3, versions: Vec::new(), ..Default::default() };
    for (m, v, _) in kept {
        if let Some(b) = m.inline_data(v) {
            out.inline.insert(v.version_id.clone().unwrap_or_else(|| "null".into()), b.to_vec());
        }
        out.versions.push(v.clone());
    }
    Some(Some(out))
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
    paths::check_legacy_key(key)?;
    let rel = xl_path(bucket, key);
    let bodies: Vec<Vec<u8>> = (0..set.len()).map(|pos| xlmeta::encode(&for_drive(pos))).collect();
    let written = drives::on_each(set, |pos, d| {
        if !d.check_alive() {
            return false;
        }
        match d.io.write_durable(&rel, &bodies[pos]) {
            Ok(()) => true,
            Err(e) => {
                d.note_error();
                tracing::warn!(drive = %d.io.location(), error = %e, "xl.meta write failed");
                false
            }
        }
    });
    let ok = written.iter().filter(|w| **w).count();
    if ok < quorum {
        return Err(StoreError::WriteQuorum { set: set.first().map_or(0, |d| d.set), online: ok, needed: quorum });
    }
    Ok(())
}

/// Removes `bucket/key`'s `xl.json` (MinIO's v1 metadata) from every drive: its object was
/// replaced or deleted. Only a file of that name goes (a folder `xl.json` is the key
/// `key/xl.json`). A drive that fails is noted and logged; its copy stays shadowed by the
/// key's xl.meta, or below read quorum.
pub fn remove_xl_json(set: &[Arc<Drive>], bucket: &str, key: &str) -> Result<()> {
    paths::check_legacy_key(key)?;
    let rel = xl_path(bucket, key).with_file_name(xlmeta::v1::XL_JSON);
    let online: Vec<Arc<Drive>> = set.iter().filter(|d| d.is_online()).cloned().collect();
    let failed = drives::on_each(&online, |_, d| {
        let is_file = d.io.stat(&rel).is_ok_and(|s| !s.is_dir);
        let failed = is_file && d.io.remove_durable(&rel).is_err();
        if failed {
            d.note_error();
        }
        failed
    });
    let failed = failed.iter().filter(|f| **f).count();
    if failed > 0 {
        tracing::warn!(bucket, key, failed, "removing MinIO's xl.json failed on some drives");
    }
    Ok(())
}

/// Removes `bucket/key`'s xl.meta from every drive (its last version is gone).
pub fn remove(set: &[Arc<Drive>], bucket: &str, key: &str) -> Result<()> {
    paths::check_legacy_key(key)?;
    let rel = xl_path(bucket, key);
    let online: Vec<Arc<Drive>> = set.iter().filter(|d| d.is_online()).cloned().collect();
    drives::on_each(&online, |_, d| {
        if d.io.remove_durable(&rel).is_err() {
            d.note_error();
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn file(d: &Drive, bucket: &str, key: &str) -> PathBuf {
        d.path.join(xl_path(bucket, key))
    }
    use crate::xlmeta::{VersionType, XlVersion};

    fn meta(mtime: i64) -> XlMeta {
        let v = XlVersion {
            kind: VersionType::DeleteMarker,
            version_id: None,
            mod_time_ns: mtime,
            signature: None,
            flags: 0,
            object: None,
            v1_raw: None,
        };
        XlMeta { major: 1, minor: 3, versions: vec![v], ..Default::default() }
    }

    fn set() -> (tempfile::TempDir, Vec<Arc<Drive>>) {
        let root = tempfile::tempdir().unwrap();
        let paths: Vec<_> = (0..12).map(|i| root.path().join(format!("d{i}"))).collect();
        let (_, sets) = drives::open_drives(
            paths.iter().map(|p| drives::DriveSpec::local(p)).collect(),
            &drives::Geometry::default(),
            |_| 8,
            || "test".into(),
        )
        .unwrap();
        let set = sets.into_iter().next().unwrap().into_iter().map(Arc::new).collect();
        (root, set)
    }

    #[test]
    fn quorum_reads_survive_missing_stale_and_corrupt_copies() {
        let (_root, set) = set();
        assert!(read(&set, "b", "k", 8, false).unwrap().is_none());
        write(&set, "b", "k", 8, |_| meta(1)).unwrap();
        assert_eq!(read(&set, "b", "k", 8, false).unwrap().unwrap().versions[0].mod_time_ns, 1);
        // A newer write that reached only 3 drives (no quorum) does not win...
        write(&set[..3], "b", "k", 3, |_| meta(2)).unwrap();
        assert_eq!(read(&set, "b", "k", 8, false).unwrap().unwrap().versions[0].mod_time_ns, 1);
        // ...and corrupt copies are outvoted.
        fs::write(file(&set[4], "b", "k"), b"XL2 garbage").unwrap();
        assert_eq!(read(&set, "b", "k", 8, false).unwrap().unwrap().versions[0].mod_time_ns, 1);
        // No content with a write quorum (7 old, 5 newer): versions are voted on one by
        // one; both have more than n - q = 4 copies, so the newer (delete marker, same null
        // id) write, whose outcome was unknown, wins.
        write(&set[..5], "b", "k", 5, |_| meta(3)).unwrap();
        assert_eq!(read(&set, "b", "k", 8, false).unwrap().unwrap().versions[0].mod_time_ns, 3);
        // 4 newer copies: that write was never acknowledged (an acknowledged one leaves
        // at most 4 old copies, never 8), the old version stays.
        write(&set[..8], "b", "k", 8, |_| meta(1)).unwrap();
        write(&set[..4], "b", "k", 4, |_| meta(3)).unwrap();
        assert_eq!(read(&set, "b", "k", 8, false).unwrap().unwrap().versions[0].mod_time_ns, 1);
        // An acknowledged overwrite on 8 drives, 3 of which now give no answer: the 4 old
        // copies could be an acknowledged state or the leftovers of the overwrite, so the
        // read fails rather than guess.
        write(&set, "b", "k", 8, |_| meta(1)).unwrap();
        write(&set[..8], "b", "k", 8, |_| meta(3)).unwrap();
        for d in &set[..3] {
            let p = file(d, "b", "k");
            fs::remove_file(&p).unwrap();
            fs::create_dir(&p).unwrap();
        }
        assert!(matches!(read(&set, "b", "k", 8, false), Err(StoreError::ReadQuorum(..))));
        for d in &set[..3] {
            fs::remove_dir(file(d, "b", "k")).unwrap();
        }
        remove(&set, "b", "k").unwrap();
        assert!(read(&set, "b", "k", 8, false).unwrap().is_none());
        // A write cut short after 3 copies was never acknowledged: the key is absent.
        write(&set[..3], "b", "p", 3, |_| meta(1)).unwrap();
        assert!(read(&set, "b", "p", 8, false).unwrap().is_none());
        // Agreement counts only matching copies.
        write(&set, "b", "q", 8, |_| meta(1)).unwrap();
        fs::write(file(&set[7], "b", "q"), b"XL2 garbage").unwrap();
        let a = read_agreement(&set, "b", "q", 8, false).unwrap();
        assert_eq!((a.agreeing, a.online), (11, 12));
        // The first 8 copies agree: the others are not read (the quorum decides alone).
        write(&set, "b", "q", 8, |_| meta(1)).unwrap();
        for d in &set[8..] {
            fs::write(file(d, "b", "q"), b"XL2 garbage").unwrap();
        }
        let errors =
            |s: &[Arc<Drive>]| s.iter().map(|d| d.io_errors.load(std::sync::atomic::Ordering::Relaxed)).sum::<u64>();
        let before = errors(&set[8..]);
        assert_eq!(read(&set, "b", "q", 8, false).unwrap().unwrap().versions[0].mod_time_ns, 1);
        assert_eq!(errors(&set[8..]), before, "the corrupt copies past the quorum were not read");
        read_agreement(&set, "b", "q", 8, false).unwrap();
        assert_eq!(errors(&set[8..]), before + 4, "a full read sees them");
        // A corrupt copy among the first 8: every copy is read, the 8 good ones still win.
        write(&set, "b", "q", 8, |_| meta(1)).unwrap();
        fs::write(file(&set[2], "b", "q"), b"XL2 garbage").unwrap();
        assert_eq!(read(&set, "b", "q", 8, false).unwrap().unwrap().versions[0].mod_time_ns, 1);
        // Absent from the first 8 and present on the last 4: a write never acknowledged.
        write(&set[8..], "b", "r", 4, |_| meta(1)).unwrap();
        assert!(read(&set, "b", "r", 8, false).unwrap().is_none());
        assert!(matches!(read(&set, "b", "../x", 8, false), Err(StoreError::InvalidName(_))));
    }

    /// An overwrite cut by a crash after 6 of 12 copies: neither file has a write quorum,
    /// the acknowledged version stays readable by voting, and heal can make them agree.
    #[test]
    fn half_written_overwrite_stays_readable() {
        let (_root, set) = set();
        let object = |mtime: i64, dd: &str| {
            let mut m = meta(mtime);
            m.versions[0].kind = crate::xlmeta::VersionType::Object;
            m.versions[0].object = Some(crate::xlmeta::XlObject { data_dir: dd.into(), ..Default::default() });
            m
        };
        let v1 = object(10, "d1");
        write(&set, "b", "k", 8, |_| v1.clone()).unwrap();
        // Unversioned overwrite: the null version is replaced, on 6 drives only.
        write(&set[..6], "b", "k", 6, |_| object(20, "d2")).unwrap();
        let a = read_agreement(&set, "b", "k", 8, false).unwrap();
        let m = a.meta.unwrap();
        assert_eq!(m.versions.len(), 1);
        assert_eq!(m.versions[0].mod_time_ns, 20, "a null version is the newest of its copies");
        assert_eq!(a.agreeing, 6);
        // Versioned: v1 stays on all 12, v2 added on 4 (what an acknowledged delete would
        // leave at most): v2 is dropped.
        let mut two = object(30, "d3");
        two.versions[0].version_id = Some("5f1f7a3e-4b7b-4a59-9c55-0c9b6a1d2f10".into());
        two.versions.push(v1.versions[0].clone());
        write(&set, "b", "v", 8, |_| v1.clone()).unwrap();
        write(&set[..4], "b", "v", 4, |_| two.clone()).unwrap();
        let m = read(&set, "b", "v", 8, false).unwrap().unwrap();
        assert_eq!(m.versions.iter().map(|v| v.mod_time_ns).collect::<Vec<_>>(), [10]);
        // ...and on 5, it is kept, newest first.
        write(&set[4..5], "b", "v", 1, |_| two.clone()).unwrap();
        let m = read(&set, "b", "v", 8, false).unwrap().unwrap();
        assert_eq!(m.versions.iter().map(|v| v.mod_time_ns).collect::<Vec<_>>(), [30, 10]);
    }
}
