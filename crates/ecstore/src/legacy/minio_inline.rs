//! MinIO's inline objects, which differ per drive: MinIO keeps an object below its inline
//! threshold (128 KiB) in the xl.meta itself, and each drive's copy carries that drive's own
//! shard (framed by its HighwayHash) and its own `EcIndex` (the shard number it holds). So
//! the copies of one xl.meta are never byte-equal, and no one copy is the object.
//!
//! The files layer uses this module to compare copies without their per-drive parts
//! ([`strip`]), to rebuild each such object from the shards of every copy read
//! ([`gather`]: the in-memory `XlMeta` then holds the whole object, marked in
//! `decoded_inline`), and to write one drive's copy back in MinIO's form ([`PerDrive`]: the
//! object re-encoded, the drive's shard and erasure index), so that MinIO reads what this
//! server rewrites. The erasure index of MinIO's non-inline versions is set per drive the
//! same way. This module must never put one drive's shard where the object is expected,
//! nor write a version whose shards it could not read.

use std::collections::BTreeMap;

use crate::legacy::mapping::ALGO_MINIO_RS;
use crate::minio::{Codec, MinioError, PartLayout, PartReader, write_part};
use crate::xlmeta::{FLAG_INLINE_DATA, XlMeta, XlObject, XlVersion};

/// MinIO marks inline versions in their system metadata too (older files have no flags).
pub use crate::xlmeta::MINIO_INLINE_META;

fn key_of(v: &XlVersion) -> String {
    v.version_id.clone().unwrap_or_else(|| metadata::NULL_VERSION.to_string())
}

/// Whether `v` is one of MinIO's erasure-coded versions (its shards are MinIO's).
pub fn is_minio(v: &XlVersion) -> bool {
    v.object.as_ref().is_some_and(|o| o.erasure_algorithm == ALGO_MINIO_RS)
}

/// Whether `v` is a MinIO version whose data lives in the xl.meta (per drive).
pub fn is_minio_inline(m: &XlMeta, v: &XlVersion) -> bool {
    is_minio(v)
        && (v.flags & FLAG_INLINE_DATA != 0
            || m.inline_data(v).is_some()
            || v.object.as_ref().is_some_and(|o| o.meta_sys.contains_key(MINIO_INLINE_META)))
}

/// `m` without what differs per drive in MinIO's versions: their inline shards.
pub fn strip(m: &mut XlMeta) {
    let keys: Vec<String> = m.versions.iter().filter(|v| is_minio(v)).map(key_of).collect();
    for k in keys {
        m.inline.remove(&k);
    }
}

/// Decodes one MinIO inline object from the shards `(erasure index, framed shard)` of the
/// copies read: frames that fail their hash are dropped, and fewer than `data` good shards
/// is an error, never other bytes.
pub fn decode(o: &XlObject, shards: &[(i64, &[u8])]) -> Result<Vec<u8>, MinioError> {
    let data = usize::try_from(o.erasure_data).unwrap_or(0);
    let parity = usize::try_from(o.erasure_parity).unwrap_or(usize::MAX);
    let codec = Codec::new(data, parity)?;
    let block = u64::try_from(o.erasure_block_size).unwrap_or(0);
    let layout = PartLayout::new(u64::try_from(o.size).unwrap_or(u64::MAX), block, data)?;
    let mut slots: Vec<Option<&[u8]>> = vec![None; codec.total()];
    for (index, bytes) in shards {
        if let Some(slot) = usize::try_from(*index - 1).ok().and_then(|i| slots.get_mut(i))
            && slot.is_none()
        {
            *slot = Some(bytes);
        }
    }
    let mut reader = PartReader::new(&codec, layout, slots)?;
    let mut out = Vec::with_capacity(layout.size as usize);
    reader.copy_to(&mut out)?;
    Ok(out)
}

/// Rebuilds, in `meta` (the copy a quorum chose), every MinIO inline object from the shards
/// of all `copies` read (the same version: same id and modification time). Each rebuilt
/// object replaces the version's inline bytes and is marked in `decoded_inline`; one that
/// cannot be rebuilt loses its inline bytes (it reads as unreadable, and is never
/// rewritten: see [`PerDrive::new`]).
pub fn gather(meta: &mut XlMeta, copies: &[XlMeta], what: &str) {
    let wanted: Vec<(String, i64)> =
        meta.versions.iter().filter(|v| is_minio_inline(meta, v)).map(|v| (key_of(v), v.mod_time_ns)).collect();
    for (key, mtime) in wanted {
        let mut shards: Vec<(i64, &[u8])> = Vec::new();
        for c in copies {
            let found = c.versions.iter().find(|v| key_of(v) == key && v.mod_time_ns == mtime);
            if let Some(v) = found
                && let (Some(o), Some(bytes)) = (&v.object, c.inline_data(v))
            {
                shards.push((o.erasure_index, bytes));
            }
        }
        let Some(o) = meta.versions.iter().find(|v| key_of(v) == key).and_then(|v| v.object.as_ref()) else {
            continue;
        };
        match decode(o, &shards) {
            Ok(object) => {
                meta.inline.insert(key.clone(), object);
                meta.decoded_inline.insert(key);
            }
            Err(e) => {
                tracing::warn!(object = %what, version = %key, error = %e, "MinIO inline object unreadable");
                meta.inline.remove(&key);
                meta.decoded_inline.remove(&key);
            }
        }
    }
}

/// What one drive's copy of an xl.meta holding MinIO versions needs: each MinIO inline
/// object re-encoded into its shards (once for all drives).
pub struct PerDrive {
    shards: BTreeMap<String, Vec<Vec<u8>>>,
}

impl PerDrive {
    /// Encodes the decoded MinIO inline objects of `meta`. Fails when a MinIO inline version
    /// was not decoded (its shards were unreadable): writing it would destroy the shards
    /// still on the drives.
    pub fn new(meta: &XlMeta) -> Result<Self, String> {
        let mut shards = BTreeMap::new();
        for v in meta.versions.iter().filter(|v| is_minio_inline(meta, v)) {
            let key = key_of(v);
            let (Some(o), Some(object)) = (&v.object, meta.inline.get(&key)) else {
                return Err(format!("version {key}: MinIO inline shards unreadable; not rewriting them"));
            };
            if !meta.decoded_inline.contains(&key) {
                return Err(format!("version {key}: MinIO inline data not decoded; not rewriting it"));
            }
            let data = usize::try_from(o.erasure_data).unwrap_or(0);
            let parity = usize::try_from(o.erasure_parity).unwrap_or(usize::MAX);
            let codec = Codec::new(data, parity).map_err(|e| e.to_string())?;
            let mut files: Vec<Vec<u8>> = vec![Vec::new(); codec.total()];
            let block = u64::try_from(o.erasure_block_size).unwrap_or(0);
            write_part(&codec, block, object.len() as u64, &mut object.as_slice(), &mut files)
                .map_err(|e| e.to_string())?;
            shards.insert(key, files);
        }
        Ok(Self { shards })
    }

    /// `meta` as the drive at set position `pos` keeps it: MinIO versions carry the shard
    /// number that drive holds (`EcDist[pos]`) and, inline, that shard.
    pub fn for_drive(&self, meta: &XlMeta, pos: usize) -> XlMeta {
        let mut m = meta.clone();
        m.decoded_inline.clear();
        for v in &mut m.versions {
            let key = key_of(v);
            let Some(o) = v.object.as_mut().filter(|o| o.erasure_algorithm == ALGO_MINIO_RS) else { continue };
            let Some(shard) = o.erasure_distribution.get(pos).copied() else { continue };
            o.erasure_index = i64::from(shard);
            if let Some(files) = self.shards.get(&key)
                && let Some(f) = files.get(usize::from(shard).wrapping_sub(1))
            {
                m.inline.insert(key, f.clone());
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xlmeta::{VersionType, XlVersion};

    fn version(data: i64, parity: i64, size: usize) -> XlVersion {
        XlVersion {
            kind: VersionType::Object,
            version_id: Some("7c9e6679-7425-40de-944b-e07fc1f90ae7".into()),
            mod_time_ns: 1_700_000_000_000_000_000,
            signature: None,
            flags: FLAG_INLINE_DATA,
            object: Some(XlObject {
                erasure_algorithm: ALGO_MINIO_RS,
                erasure_data: data,
                erasure_parity: parity,
                erasure_block_size: 1 << 20,
                erasure_distribution: vec![3, 1, 5, 2, 4, 6][..(data + parity) as usize].to_vec(),
                bitrot_algorithm: 1,
                part_numbers: vec![1],
                part_sizes: vec![size as i64],
                part_actual_sizes: vec![size as i64],
                size: size as i64,
                ..Default::default()
            }),
            v1_raw: None,
        }
    }

    /// The copies MinIO would write on each drive of the set, from a decoded meta.
    fn copies(meta: &XlMeta) -> Vec<XlMeta> {
        let p = PerDrive::new(meta).unwrap();
        let n = meta.versions[0].object.as_ref().unwrap().erasure_distribution.len();
        (0..n).map(|pos| crate::xlmeta::decode(&crate::xlmeta::encode(&p.for_drive(meta, pos))).unwrap()).collect()
    }

    #[test]
    fn striped_inline_objects_round_trip_through_per_drive_copies() {
        for (data, parity, size) in [(4, 2, 100_000), (3, 2, 5), (1, 3, 77), (2, 2, 0)] {
            let body: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let v = version(data, parity, size);
            let mut meta = XlMeta { major: 1, minor: 3, versions: vec![v], ..Default::default() };
            meta.inline.insert(key_of(&meta.versions[0]), body.clone());
            meta.decoded_inline.insert(key_of(&meta.versions[0]));
            let cs = copies(&meta);
            // Each copy names the shard it holds, as MinIO's EcIndex does.
            for (pos, c) in cs.iter().enumerate() {
                let o = c.versions[0].object.as_ref().unwrap();
                assert_eq!(o.erasure_index, i64::from(o.erasure_distribution[pos]));
            }
            // Any `parity` copies lost: rebuilt; one more: unreadable, and not rewritable.
            for lost in 0..=(parity as usize) {
                let mut chosen = cs[0].clone();
                gather(&mut chosen, &cs[lost..], "t");
                assert_eq!(chosen.inline.get(&key_of(&chosen.versions[0])), Some(&body), "{data}+{parity} lost {lost}");
            }
            if size > 0 {
                let mut chosen = cs[0].clone();
                gather(&mut chosen, &cs[parity as usize + 1..], "t");
                assert!(chosen.inline.is_empty());
                assert!(PerDrive::new(&chosen).is_err());
            }
        }
    }

    #[test]
    fn corrupt_shards_are_dropped_not_served() {
        let body = vec![7u8; 4000];
        let mut meta = XlMeta { major: 1, minor: 3, versions: vec![version(4, 2, 4000)], ..Default::default() };
        meta.inline.insert(key_of(&meta.versions[0]), body.clone());
        meta.decoded_inline.insert(key_of(&meta.versions[0]));
        let mut cs = copies(&meta);
        for c in cs.iter_mut().take(2) {
            for b in c.inline.values_mut() {
                b[40] ^= 1;
            }
        }
        let mut chosen = cs[0].clone();
        gather(&mut chosen, &cs, "t");
        assert_eq!(chosen.inline.values().next(), Some(&body));
        cs[2].inline.values_mut().for_each(|b| b[50] ^= 1);
        let mut chosen = cs[0].clone();
        gather(&mut chosen, &cs, "t");
        assert!(chosen.inline.is_empty(), "three bad of 4+2: an error");
    }
}
