//! Mapping between the metadata model (`ObjectVersion`) and MinIO's xl.meta versions, so the
//! legacy track stores our objects in MinIO's format and reads MinIO-written ones.
//!
//! How our fields are kept in xl.meta (format version 1 of this mapping):
//! - version id: a UUID, or the zero id for the `null` version; mtime: `MTime` (ns)
//! - erasure: `EcAlgo` = [`ALGO_RS_SIMD`] (MinIO's GF(2^8) Vandermonde code is 1; ours is
//!   not interchangeable), `EcM`/`EcN`/`EcBSize`, `EcDist[i]` = 1 + the drive holding shard i,
//!   `EcIndex` = 1 + this drive's position, `CSumAlgo` = [`BITROT_XXH3_BOUND`] (frames bound
//!   to their place; [`BITROT_XXH3`] for older shards), `DDir` = data dir
//! - parts: `PartNums`, `PartSizes`, `PartETags`; shard file names other than `part.N`
//!   in `MetaSys["x-rustfs-internal-part-files"]` (JSON list)
//! - `MetaUsr`: `etag`, `content-type`, the standard headers by their header names, and user
//!   metadata as `X-Amz-Meta-<name>` (MinIO's convention)
//! - checksums: `MetaSys["x-rustfs-internal-checksums"]` (JSON object)
//! - shards kept in the KV layout (under a bucket id, not the key's folder):
//!   `MetaSys["x-rustfs-internal-bucket-id"]`
//! - inline bytes: the inline data section, keyed by version id (`null` for the null version)
//! - tags: `MetaUsr["X-Amz-Tagging"]` (URL-encoded `k=v&...`), object lock:
//!   `MetaUsr["X-Amz-Object-Lock-Mode"]`, `["X-Amz-Object-Lock-Retain-Until-Date"]` (RFC 3339)
//!   and `["X-Amz-Object-Lock-Legal-Hold"]` (`ON`/`OFF`): MinIO's names, so tags and locks of
//!   an adopted deployment are honoured and survive a migration either way
//! - server-side encryption (this server's, see `sse`): `MetaSys["x-rustfs-internal-sse"]`
//!   (JSON of `metadata::Encryption`); part sizes are then ciphertext sizes
//!
//! This module only converts; it never touches drives.

use std::collections::BTreeMap;

use metadata::{ErasureLayout, NULL_VERSION, ObjectData, ObjectVersion, PartInfo};

use crate::xlmeta::{VersionType, XlMeta, XlObject, XlVersion};

/// Our erasure algorithm id in xl.meta (MinIO's Reed-Solomon is 1).
pub const ALGO_RS_SIMD: i64 = 128;
/// MinIO's erasure algorithm id.
pub const ALGO_MINIO_RS: i64 = 1;
/// Our bitrot algorithm ids in xl.meta (MinIO's HighwayHash is 1): v1 frames (xxh3 of the
/// shard) and v2 frames (bound to their place, see `bitrot`).
pub const BITROT_XXH3: i64 = 128;
/// MinIO's bitrot algorithm id (HighwayHash-256, streaming frames).
pub const BITROT_MINIO_HIGHWAY: i64 = 1;
pub const BITROT_XXH3_BOUND: i64 = 129;
const PART_FILES: &str = "x-rustfs-internal-part-files";
const CHECKSUMS: &str = "x-rustfs-internal-checksums";
const SSE: &str = "x-rustfs-internal-sse";
const BUCKET_ID: &str = "x-rustfs-internal-bucket-id";
/// A version's ACL (`access`'s stored form), which MinIO keeps no equivalent of and ignores.
pub const ACL: &str = "x-rustfs-internal-acl";
const USER_META_PREFIX: &str = "x-amz-meta-";
const TAGGING: &str = "X-Amz-Tagging";
const LOCK_MODE: &str = "X-Amz-Object-Lock-Mode";
const LOCK_UNTIL: &str = "X-Amz-Object-Lock-Retain-Until-Date";
const LEGAL_HOLD: &str = "X-Amz-Object-Lock-Legal-Hold";

/// Characters a tag keeps as they are in `X-Amz-Tagging` (URL query encoding).
const TAG_ENCODE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Sets (or removes) the `MetaUsr` entries of a version's tags, retention and legal hold.
pub fn set_data_mgmt(
    meta_user: &mut BTreeMap<String, String>,
    tags: &metadata::Tags,
    retention: Option<&metadata::Retention>,
    legal_hold: bool,
) {
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, TAG_ENCODE).to_string();
    let tagging: Vec<String> = tags.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
    let mut set = |k: &str, v: Option<String>| match v {
        Some(v) => {
            meta_user.insert(k.to_string(), v);
        }
        None => {
            meta_user.remove(k);
        }
    };
    set(TAGGING, (!tagging.is_empty()).then(|| tagging.join("&")));
    set(LOCK_MODE, retention.map(|r| r.mode.as_str().to_string()));
    let rfc3339 = |ns: i64| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
    };
    set(LOCK_UNTIL, retention.and_then(|r| rfc3339(r.until_ns)));
    set(LEGAL_HOLD, legal_hold.then(|| "ON".to_string()));
}

/// Reads one `MetaUsr` entry (lower-case name) into the version's data-management fields;
/// `false` if it is not one of them.
fn get_data_mgmt(
    obj: &mut ObjectVersion,
    lower: &str,
    val: &str,
    mode: &mut Option<String>,
    until: &mut Option<i64>,
) -> bool {
    match lower {
        "x-amz-tagging" => {
            let dec =
                |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
            obj.tags = val
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').map_or_else(|| (dec(p), String::new()), |(k, v)| (dec(k), dec(v))))
                .collect();
        }
        "x-amz-object-lock-mode" => *mode = Some(val.to_string()),
        "x-amz-object-lock-retain-until-date" => {
            *until = time::OffsetDateTime::parse(val, &time::format_description::well_known::Rfc3339)
                .ok()
                .and_then(|t| i64::try_from(t.unix_timestamp_nanos()).ok());
        }
        "x-amz-object-lock-legal-hold" => obj.legal_hold = val.eq_ignore_ascii_case("ON"),
        _ => return false,
    }
    true
}

/// The xl.meta version (and its inline bytes) for one of our object versions, as written
/// on the drive at `drive_position` of its set.
pub fn to_xl(obj: &ObjectVersion, drive_position: usize) -> (XlVersion, Option<Vec<u8>>) {
    let version_id = (!obj.is_null_version()).then(|| obj.version_id.clone());
    if obj.delete_marker {
        let v = XlVersion {
            kind: VersionType::DeleteMarker,
            version_id,
            mod_time_ns: obj.mtime_ns,
            signature: None,
            flags: 0,
            object: None,
            v1_raw: None,
        };
        return (v, None);
    }
    let mut meta_user = BTreeMap::new();
    meta_user.insert("etag".to_string(), obj.etag.clone());
    if let Some(ct) = &obj.content_type {
        meta_user.insert("content-type".to_string(), ct.clone());
    }
    for (k, v) in &obj.headers {
        meta_user.insert(k.clone(), v.clone());
    }
    for (k, v) in &obj.user_meta {
        meta_user.insert(format!("X-Amz-Meta-{k}"), v.clone());
    }
    set_data_mgmt(&mut meta_user, &obj.tags, obj.retention.as_ref(), obj.legal_hold);
    let mut meta_sys = BTreeMap::new();
    if !obj.checksums.is_empty() {
        meta_sys.insert(CHECKSUMS.to_string(), serde_json::to_vec(&obj.checksums).unwrap_or_default());
    }
    if let Some(acl) = &obj.acl {
        meta_sys.insert(ACL.to_string(), acl.clone());
    }
    if let Some(sse) = &obj.sse {
        meta_sys.insert(SSE.to_string(), serde_json::to_vec(sse).unwrap_or_default());
    }
    let (object, inline) = match &obj.data {
        ObjectData::Erasure(l) => {
            let files: Vec<String> = l.parts.iter().map(PartInfo::file_name).collect();
            if l.parts.iter().any(|p| p.file.is_some()) {
                meta_sys.insert(PART_FILES.to_string(), serde_json::to_vec(&files).unwrap_or_default());
            }
            if let Some(id) = &l.bucket_id {
                meta_sys.insert(BUCKET_ID.to_string(), id.as_bytes().to_vec());
            }
            let minio = l.algorithm == crate::ALGORITHM_MINIO;
            let o = XlObject {
                data_dir: l.data_dir.clone(),
                erasure_algorithm: if minio { ALGO_MINIO_RS } else { ALGO_RS_SIMD },
                erasure_data: i64::from(l.data),
                erasure_parity: i64::from(l.parity),
                erasure_block_size: i64::from(l.block_size),
                erasure_index: drive_position as i64 + 1,
                erasure_distribution: if minio {
                    minio_distribution(&l.distribution)
                } else {
                    l.distribution.iter().map(|d| d + 1).collect()
                },
                bitrot_algorithm: if minio {
                    BITROT_MINIO_HIGHWAY
                } else if l.algorithm == crate::ALGORITHM {
                    BITROT_XXH3_BOUND
                } else {
                    BITROT_XXH3
                },
                part_numbers: l.parts.iter().map(|p| i64::from(p.number)).collect(),
                part_etags: l.parts.iter().map(|p| p.etag.clone()).collect(),
                part_sizes: l.parts.iter().map(|p| p.size as i64).collect(),
                part_actual_sizes: l.parts.iter().map(|p| p.size as i64).collect(),
                size: obj.size as i64,
                meta_sys,
                meta_user,
                unreadable: None,
            };
            (o, None)
        }
        data => {
            let bytes = match data {
                ObjectData::Inline(b) => b.clone(),
                _ => Vec::new(),
            };
            let o = XlObject {
                erasure_algorithm: ALGO_RS_SIMD,
                erasure_data: 1,
                erasure_block_size: bytes.len() as i64,
                erasure_index: 1,
                erasure_distribution: vec![1],
                bitrot_algorithm: BITROT_XXH3,
                part_numbers: vec![1],
                part_sizes: vec![obj.size as i64],
                part_actual_sizes: vec![obj.size as i64],
                size: obj.size as i64,
                meta_sys,
                meta_user,
                ..Default::default()
            };
            (o, Some(bytes))
        }
    };
    let v = XlVersion {
        kind: VersionType::Object,
        version_id,
        mod_time_ns: obj.mtime_ns,
        signature: None,
        flags: 0,
        object: Some(object),
        v1_raw: None,
    };
    (v, inline)
}

/// Our object version for an xl.meta version of `bucket/key` (as read from `meta`).
/// MinIO-written erasure objects keep MinIO's algorithm id, so a reader can tell their shards
/// are not ours.
pub fn from_xl(bucket: &str, key: &str, meta: &XlMeta, v: &XlVersion) -> ObjectVersion {
    let version_id = v.version_id.clone().unwrap_or_else(|| NULL_VERSION.to_string());
    let mut obj = ObjectVersion {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id,
        delete_marker: v.kind == VersionType::DeleteMarker,
        size: 0,
        etag: String::new(),
        mtime_ns: v.mod_time_ns,
        content_type: None,
        headers: BTreeMap::new(),
        user_meta: BTreeMap::new(),
        checksums: BTreeMap::new(),
        data: ObjectData::None,
        acl: None,
        tags: Default::default(),
        retention: None,
        legal_hold: false,
        sse: None,
    };
    let Some(o) = &v.object else { return obj };
    obj.size = o.size.max(0) as u64;
    let (mut mode, mut until) = (None, None);
    for (k, val) in &o.meta_user {
        let lower = k.to_ascii_lowercase();
        if get_data_mgmt(&mut obj, &lower, val, &mut mode, &mut until) {
            continue;
        }
        if lower == "etag" {
            obj.etag = val.clone();
        } else if lower == "content-type" {
            obj.content_type = Some(val.clone());
        } else if let Some(name) = lower.strip_prefix(USER_META_PREFIX) {
            obj.user_meta.insert(name.to_string(), val.clone());
        } else if metadata::STD_HEADERS.contains(&lower.as_str()) {
            obj.headers.insert(lower, val.clone());
        }
    }
    if let (Some(mode), Some(until_ns)) = (mode.as_deref().and_then(metadata::RetentionMode::parse), until) {
        obj.retention = Some(metadata::Retention { mode, until_ns });
    }
    if let Some(c) = o.meta_sys.get(CHECKSUMS) {
        obj.checksums = serde_json::from_slice(c).unwrap_or_default();
    }
    obj.acl = o.meta_sys.get(ACL).cloned();
    obj.sse = o.meta_sys.get(SSE).and_then(|s| serde_json::from_slice(s).ok());
    if let Some(why) = o.unreadable.clone().or_else(|| minio_transformed(o)) {
        // Stored compressed or encrypted by MinIO, or a v1 record this server cannot verify:
        // its bytes are not the object. Refused with the reason (see `EcStore::set_of`),
        // never served as they are.
        if let Some(actual) = minio_internal(o, "actual-size").and_then(|a| a.parse::<u64>().ok()) {
            obj.size = actual;
        }
        obj.data = ObjectData::Erasure(ErasureLayout {
            algorithm: format!("{}{why}", crate::ALGORITHM_REFUSED_PREFIX),
            data: o.erasure_data.clamp(1, 255) as u8,
            parity: o.erasure_parity.clamp(0, 255) as u8,
            block_size: o.erasure_block_size.clamp(1, i64::from(u32::MAX)) as u32,
            set: 0,
            distribution: Vec::new(),
            data_dir: o.data_dir.clone(),
            bucket_id: None,
            parts: Vec::new(),
        });
        return obj;
    }
    let inline_key = v.version_id.as_deref().unwrap_or(NULL_VERSION);
    if let Some(bytes) = meta.inline_data(v) {
        obj.data = match minio_inline(o, bytes) {
            // Rebuilt from every drive's shard (`legacy::minio_inline`): the object.
            Some(_) if meta.decoded_inline.contains(inline_key) => ObjectData::Inline(bytes.to_vec()),
            Some(data) => data,
            None => ObjectData::Inline(bytes.to_vec()),
        };
        return obj;
    }
    if crate::legacy::minio_inline::is_minio_inline(meta, v) {
        // Its shards could not be read back: unreadable, never empty or other bytes.
        obj.data = unreadable_minio_inline(o);
        return obj;
    }
    let files: Vec<String> =
        o.meta_sys.get(PART_FILES).and_then(|f| serde_json::from_slice(f).ok()).unwrap_or_default();
    let parts = o
        .part_numbers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let number = (*n).max(0) as u32;
            let file = files.get(i).filter(|f| **f != format!("part.{number}")).cloned();
            PartInfo {
                number,
                size: o.part_sizes.get(i).copied().unwrap_or(0).max(0) as u64,
                etag: o.part_etags.get(i).cloned().unwrap_or_default(),
                file,
            }
        })
        .collect();
    let algorithm = if o.erasure_algorithm == ALGO_RS_SIMD {
        if o.bitrot_algorithm == BITROT_XXH3_BOUND { crate::ALGORITHM } else { crate::ALGORITHM_V1 }.to_string()
    } else {
        format!("minio-{}", o.erasure_algorithm)
    };
    // MinIO's `EcDist[i]` is the shard the drive at position i holds; ours is the drive
    // holding shard i. A MinIO distribution that is no permutation is left as read, and
    // the store refuses it.
    let distribution: Vec<u8> = match (o.erasure_algorithm, minio_shard_drives(&o.erasure_distribution)) {
        (ALGO_MINIO_RS, Some(d)) => d,
        _ => o.erasure_distribution.iter().map(|d| d.saturating_sub(1)).collect(),
    };
    obj.data = ObjectData::Erasure(ErasureLayout {
        algorithm,
        data: o.erasure_data.clamp(0, 255) as u8,
        parity: o.erasure_parity.clamp(0, 255) as u8,
        block_size: o.erasure_block_size.clamp(0, i64::from(u32::MAX)) as u32,
        set: 0,
        distribution,
        data_dir: o.data_dir.clone(),
        bucket_id: o.meta_sys.get(BUCKET_ID).and_then(|b| String::from_utf8(b.clone()).ok()),
        parts,
    });
    obj
}

/// A MinIO internal metadata value (`x-minio-internal-<name>`, in the system metadata or,
/// from older releases, the user metadata; any case).
fn minio_internal(o: &XlObject, name: &str) -> Option<String> {
    let want = format!("x-minio-internal-{name}");
    o.meta_sys
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&want))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .or_else(|| o.meta_user.iter().find(|(k, _)| k.eq_ignore_ascii_case(&want)).map(|(_, v)| v.clone()))
}

/// Why a MinIO version's stored bytes are not the object: compressed (S2) or encrypted
/// (SSE-S3, SSE-KMS through KES, SSE-C), which this server does not undo yet.
fn minio_transformed(o: &XlObject) -> Option<String> {
    // MinIO's names: `-S3-Sealed-Key`/`-S3-Kms-*` for SSE-S3, `-Kms-*` for SSE-KMS, a bare
    // `-Sealed-Key` for SSE-C; `-Iv` and `-Seal-Algorithm` go with each.
    let keys: Vec<String> = o.meta_sys.keys().chain(o.meta_user.keys()).map(|k| k.to_ascii_lowercase()).collect();
    let sse: Vec<&str> =
        keys.iter().filter_map(|k| k.strip_prefix("x-minio-internal-server-side-encryption")).collect();
    let encrypted = if sse.is_empty() {
        None
    } else if sse.iter().any(|r| r.starts_with("-s3-")) {
        Some("SSE-S3")
    } else if sse.iter().any(|r| r.starts_with("-kms-")) {
        Some("SSE-KMS, keys in KES")
    } else if sse.contains(&"-sealed-key") {
        Some("SSE-C, the client's key")
    } else {
        Some("server-side encryption")
    };
    if let Some(kind) = encrypted {
        return Some(format!(
            "the object was stored encrypted by MinIO ({kind}); this server cannot decrypt MinIO's objects yet"
        ));
    }
    minio_internal(o, "compression").map(|c| {
        format!("the object was stored compressed by MinIO ({c}); this server cannot decompress MinIO's objects yet")
    })
}

/// MinIO's `EcDist` (the shard number, 1-based, of each drive position) from our
/// distribution (the drive position of each shard).
fn minio_distribution(shard_drives: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; shard_drives.len()];
    for (shard, &drive) in shard_drives.iter().enumerate() {
        if let Some(slot) = out.get_mut(drive as usize) {
            *slot = shard as u8 + 1;
        }
    }
    out
}

/// An inline object version written in MinIO's format on an adopted deployment: MinIO's
/// erasure fields for a set of `data + parity` drives with MinIO's shard order
/// `distribution` (the shard number of each position), the object as the inline bytes (the
/// caller marks them decoded: each drive's copy gets its own shard, see `minio_inline`).
pub fn to_minio_inline(obj: &ObjectVersion, data: usize, parity: usize, distribution: Vec<u8>) -> (XlVersion, Vec<u8>) {
    let (mut v, inline) = to_xl(obj, 0);
    let bytes = inline.unwrap_or_default();
    if let Some(o) = v.object.as_mut() {
        o.data_dir = uuid::Uuid::new_v4().to_string();
        o.erasure_algorithm = ALGO_MINIO_RS;
        o.erasure_data = data as i64;
        o.erasure_parity = parity as i64;
        o.erasure_block_size = crate::DEFAULT_BLOCK_SIZE as i64;
        o.erasure_index = i64::from(distribution.first().copied().unwrap_or(1));
        o.erasure_distribution = distribution;
        o.bitrot_algorithm = BITROT_MINIO_HIGHWAY;
        o.meta_sys.insert(crate::legacy::minio_inline::MINIO_INLINE_META.to_string(), b"true".to_vec());
    }
    v.flags = crate::xlmeta::FLAG_INLINE_DATA;
    (v, bytes)
}

/// The drive position of each shard, from MinIO's shard number of each drive position.
fn minio_shard_drives(distribution: &[u8]) -> Option<Vec<u8>> {
    let positions: Vec<u8> = (0..distribution.len()).map(|p| u8::try_from(p).ok()).collect::<Option<_>>()?;
    crate::minio::set_order_to_shards(positions, distribution).ok()
}

/// A MinIO object's inline bytes: its drive's shard framed by its HighwayHash. With one data
/// shard that is the object (verified, hash stripped); with more, one copy holds one shard,
/// and the version is marked unreadable (`ALGORITHM_MINIO_INLINE`) rather than served wrong.
/// `None` for our own objects (their inline bytes are the object).
fn minio_inline(o: &XlObject, bytes: &[u8]) -> Option<ObjectData> {
    if o.erasure_algorithm != ALGO_MINIO_RS {
        return None;
    }
    let hash = crate::minio::HASH_LEN;
    if o.erasure_data == 1 && crate::minio::bitrot::verify(bytes) && (bytes.len() - hash) as i64 == o.size {
        return Some(ObjectData::Inline(bytes[hash..].to_vec()));
    }
    Some(unreadable_minio_inline(o))
}

/// A MinIO inline version whose object is not at hand, marked so the store refuses it.
fn unreadable_minio_inline(o: &XlObject) -> ObjectData {
    ObjectData::Erasure(ErasureLayout {
        algorithm: crate::ALGORITHM_MINIO_INLINE.to_string(),
        data: o.erasure_data.clamp(0, 255) as u8,
        parity: o.erasure_parity.clamp(0, 255) as u8,
        block_size: o.erasure_block_size.clamp(0, i64::from(u32::MAX)) as u32,
        set: 0,
        distribution: Vec::new(),
        data_dir: o.data_dir.clone(),
        bucket_id: None,
        parts: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xlmeta;

    fn base(vid: &str) -> ObjectVersion {
        let mut headers = BTreeMap::new();
        headers.insert("cache-control".to_string(), "max-age=5".to_string());
        let mut user_meta = BTreeMap::new();
        user_meta.insert("color".to_string(), "blue".to_string());
        let mut checksums = BTreeMap::new();
        checksums.insert("CRC32".to_string(), "AAAAAA==".to_string());
        ObjectVersion {
            bucket: "b".into(),
            key: "dir/k".into(),
            version_id: vid.into(),
            delete_marker: false,
            size: 5,
            etag: "0123456789abcdef0123456789abcdef".into(),
            mtime_ns: 1_700_000_000_123_456_789,
            content_type: Some("text/plain".into()),
            headers,
            user_meta,
            checksums,
            data: ObjectData::Inline(b"hello".to_vec()),
            acl: None,
            retention: None,
            legal_hold: false,
            tags: Default::default(),
            sse: None,
        }
    }

    /// Writes versions through xl.meta bytes and reads them back.
    fn through_file(objs: &[ObjectVersion]) -> Vec<ObjectVersion> {
        let mut meta = XlMeta { major: 1, minor: 3, versions: Vec::new(), ..Default::default() };
        for o in objs {
            let (v, inline) = to_xl(o, 3);
            if let Some(b) = inline {
                meta.inline.insert(v.version_id.clone().unwrap_or_else(|| NULL_VERSION.into()), b);
            }
            meta.versions.push(v);
        }
        let back = xlmeta::decode(&xlmeta::encode(&meta)).unwrap();
        back.versions.iter().map(|v| from_xl("b", "dir/k", &back, v)).collect()
    }

    #[test]
    fn inline_null_version_round_trips() {
        let o = base(NULL_VERSION);
        assert_eq!(through_file(std::slice::from_ref(&o)), vec![o]);
    }

    #[test]
    fn tags_and_locks_round_trip_under_minio_names() {
        let mut o = base("5f1f7a3e-4b7b-4a59-9c55-0c9b6a1d2f10");
        o.tags = [("a b".to_string(), "x/y=z&".to_string()), ("é".to_string(), String::new())].into();
        o.retention = Some(metadata::Retention {
            mode: metadata::RetentionMode::Compliance,
            until_ns: 1_900_000_000_000_000_000,
        });
        o.legal_hold = true;
        o.sse = Some(metadata::Encryption {
            kind: metadata::SseKind::Kms,
            key_id: "k1".into(),
            sealed_key: vec![1, 2, 3],
            customer_key_md5: None,
            context: Some("e30=".into()),
        });
        assert_eq!(through_file(std::slice::from_ref(&o)), vec![o.clone()]);
        let (v, _) = to_xl(&o, 0);
        let meta = &v.object.as_ref().map(|x| x.meta_user.clone()).unwrap_or_default();
        assert_eq!(meta.get("X-Amz-Object-Lock-Mode").map(String::as_str), Some("COMPLIANCE"));
        assert_eq!(meta.get("X-Amz-Object-Lock-Retain-Until-Date").map(String::as_str), Some("2030-03-17T17:46:40Z"));
        assert_eq!(meta.get("X-Amz-Object-Lock-Legal-Hold").map(String::as_str), Some("ON"));
        assert_eq!(meta.get("X-Amz-Tagging").map(String::as_str), Some("a%20b=x%2Fy%3Dz%26&%C3%A9="));
        // Removing them removes their entries.
        let mut m = meta.clone();
        set_data_mgmt(&mut m, &Default::default(), None, false);
        assert!(!m.keys().any(|k| k.starts_with("X-Amz-Object-Lock") || k == "X-Amz-Tagging"));
    }

    #[test]
    fn erasure_multipart_and_markers_round_trip() {
        let mut big = base("5f1f7a3e-4b7b-4a59-9c55-0c9b6a1d2f10");
        big.size = 12 << 20;
        big.etag = "abcdef0123456789abcdef0123456789-2".into();
        big.data = ObjectData::Erasure(ErasureLayout {
            algorithm: crate::ALGORITHM.into(),
            data: 8,
            parity: 4,
            block_size: 1 << 20,
            set: 0,
            distribution: (0..12).map(|i| (i + 5) % 12).collect(),
            data_dir: "0d7a7f3c-9a5e-4c1e-8d0e-5f6a7b8c9d0e".into(),
            bucket_id: Some("6a1f0c3e-2b4d-4e5f-8a9b-0c1d2e3f4a5b".into()),
            parts: vec![
                PartInfo { number: 1, size: 8 << 20, etag: "e1".into(), file: Some("part.1.abc".into()) },
                PartInfo { number: 3, size: 4 << 20, etag: "e3".into(), file: Some("part.3.def".into()) },
            ],
        });
        let mut marker = base("7c9e6679-7425-40de-944b-e07fc1f90ae7");
        marker.delete_marker = true;
        marker.mtime_ns += 1;
        marker.size = 0;
        marker.etag = String::new();
        marker.content_type = None;
        marker.headers.clear();
        marker.user_meta.clear();
        marker.checksums.clear();
        marker.data = ObjectData::None;
        let back = through_file(&[big.clone(), marker.clone()]);
        assert_eq!(back, vec![marker, big], "newest first");
    }

    #[test]
    fn reads_minio_written_objects() {
        let f = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minio/xl.meta");
        let raw = std::fs::read(&f).unwrap_or_else(|e| panic!("vendored fixture {} is missing: {e}", f.display()));
        let m = xlmeta::decode(&raw).unwrap();
        let o = from_xl("bucket", "obj", &m, &m.versions[0]);
        assert_eq!(o.version_id, NULL_VERSION);
        assert_eq!(o.etag, "eb460a70e9e7eb0f36b2e28512318bb0");
        assert_eq!(o.content_type.as_deref(), Some("application/json"));
        let ObjectData::Erasure(l) = &o.data else { panic!("erasure object") };
        assert_eq!(l.algorithm, "minio-1", "MinIO's shards are marked as not ours");
        assert_eq!((l.data, l.parity, l.distribution.clone()), (2, 2, vec![2, 3, 0, 1]));
    }

    #[test]
    fn minio_distributions_become_shard_positions() {
        let f = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/minio/cicd-corpus/disk2/bucket/testobj/xl.meta");
        let m = xlmeta::decode(&std::fs::read(f).unwrap()).unwrap();
        let o = from_xl("bucket", "testobj", &m, &m.versions[0]);
        let ObjectData::Erasure(l) = &o.data else { panic!("erasure object") };
        // MinIO: the drive at position i holds shard [3, 4, 5, 1, 2][i]; ours: shard i is on
        // drive [3, 4, 0, 1, 2][i].
        assert_eq!((l.algorithm.as_str(), l.distribution.clone()), (crate::ALGORITHM_MINIO, vec![3, 4, 0, 1, 2]));
    }

    #[test]
    fn minio_inline_shards_are_served_only_when_they_are_the_object() {
        let mut o = XlObject { erasure_algorithm: ALGO_MINIO_RS, erasure_data: 1, size: 5, ..Default::default() };
        let mut framed = crate::minio::highway256(b"hello").to_vec();
        framed.extend_from_slice(b"hello");
        assert_eq!(minio_inline(&o, &framed), Some(ObjectData::Inline(b"hello".to_vec())));
        // A corrupt frame, or one shard of several: never served as the object's bytes.
        let mut bad = framed.clone();
        bad[40 - 4] ^= 1;
        for (data, bytes) in [(1, bad), (2, framed.clone())] {
            o.erasure_data = data;
            let Some(ObjectData::Erasure(l)) = minio_inline(&o, &bytes) else { panic!("marked unreadable") };
            assert_eq!(l.algorithm, crate::ALGORITHM_MINIO_INLINE);
        }
        let ours = XlObject { erasure_algorithm: ALGO_RS_SIMD, ..o };
        assert_eq!(minio_inline(&ours, &framed), None, "our inline bytes are the object");
    }

    #[test]
    fn minio_compressed_or_encrypted_objects_are_refused_with_the_reason() {
        let framed = |b: &[u8]| {
            let mut f = crate::minio::highway256(b).to_vec();
            f.extend_from_slice(b);
            f
        };
        let cases = [
            ("X-Minio-Internal-compression", &b"klauspost/compress/s2"[..], "compressed by MinIO"),
            ("X-Minio-Internal-Server-Side-Encryption-S3-Sealed-Key", &b"c2VhbGVk"[..], "encrypted by MinIO (SSE-S3)"),
            ("X-Minio-Internal-Server-Side-Encryption-Sealed-Key", &b"c2VhbGVk"[..], "encrypted by MinIO (SSE-C"),
            ("X-Minio-Internal-Server-Side-Encryption-Kms-Key-Id", &b"my-key"[..], "encrypted by MinIO (SSE-KMS"),
        ];
        for (name, value, reason) in cases {
            for inline in [false, true] {
                let mut o = XlObject {
                    data_dir: if inline { String::new() } else { "0d7a7f3c-9a5e-4c1e-8d0e-5f6a7b8c9d0e".into() },
                    erasure_algorithm: ALGO_MINIO_RS,
                    erasure_data: if inline { 1 } else { 2 },
                    erasure_parity: 2,
                    erasure_block_size: 1 << 20,
                    erasure_index: 1,
                    erasure_distribution: vec![1, 2, 3, 4],
                    bitrot_algorithm: BITROT_MINIO_HIGHWAY,
                    part_numbers: vec![1],
                    part_sizes: vec![5],
                    part_actual_sizes: vec![11],
                    size: 5,
                    ..Default::default()
                };
                o.meta_sys.insert(name.to_string(), value.to_vec());
                o.meta_sys.insert("X-Minio-Internal-actual-size".to_string(), b"11".to_vec());
                let v = XlVersion {
                    kind: crate::xlmeta::VersionType::Object,
                    version_id: None,
                    mod_time_ns: 1,
                    signature: None,
                    flags: 0,
                    object: Some(o),
                    v1_raw: None,
                };
                let mut m = XlMeta { major: 1, minor: 3, versions: vec![v.clone()], ..Default::default() };
                if inline {
                    // The stored bytes pass their frame check, yet they are not the object.
                    m.inline.insert(NULL_VERSION.into(), framed(b"s2..."));
                }
                let obj = from_xl("b", "k", &m, &v);
                assert_eq!(obj.size, 11, "the size the client wrote");
                let ObjectData::Erasure(l) = &obj.data else { panic!("{name} inline={inline}: not refused") };
                let why = l
                    .algorithm
                    .strip_prefix(crate::ALGORITHM_REFUSED_PREFIX)
                    .unwrap_or_else(|| panic!("{name} inline={inline}: algorithm {} is not a refusal", l.algorithm));
                assert!(why.contains(reason), "{why:?} names {reason:?}");
            }
        }
    }
}
