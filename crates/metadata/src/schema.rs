//! The KV track's key schema and value codec (store format 3; what formats 1 and 2 differ in
//! is said below). Documented here because it is an on-disk format: changing it needs a new
//! format version and a migration.
//!
//! Keys (bucket names never contain `/` or NUL; `esc(k)` is an order-preserving escape of an
//! object key: NUL becomes `00 FF` and the key ends with `00 01`):
//!
//! | family | key | value |
//! | --- | --- | --- |
//! | bucket | `b/<bucket>` | `BucketInfo` without its settings |
//! | bucket settings | `c/<bucket>` | `BucketSettings` (`bucket_settings`): the policy, ACL, tags, CORS rules, object lock configuration, lifecycle rules and default encryption, absent when none is set; kept apart so the bucket record every write requires stays small |
//! | latest | `l/<bucket>/<key>` | `Latest`: the current version of a key (may be a delete marker) without its inline bytes, whether it has any, and whether it is also stored whole under `d/` |
//! | whole current | `d/<bucket>/<key>` | format 2: the current version whole, inline bytes included, when they are at most `WHOLE_BYTES_MAX` long; present exactly when the key's `l/` record says so |
//! | version | `v/<bucket>/<esc(key)><!mtime_ns BE 8><version_id>` | every `ObjectVersion`, newest first per key, except a current version stored whole under `d/`: format 3 writes no `v/` record for a new one, and a value without its bytes (the format byte `FORMAT_V2_BYTES_IN_WHOLE`, as format 2 did for every one) for one that had a `v/` record |
//! | upload | `u/<bucket>/<esc(key)><upload_id>` | `MultipartUpload` |
//! | part | `p/<upload_id>/<part number BE 4>` | `UploadedPart` |
//! | shadow pending | `q/<bucket>/<key>` | ns since the epoch when a DualTrack write marked the key: its shadow track may lag until the key is synced (see `dualtrack::shadow`) |
//! | system | `s/<name>` | system records: `s/schema` = the store's format version (`STORE_FORMAT`, a `u8`; see below), `s/migration` = `MigrationState`, `s/migrator` = the migrator's checkpoint, `s/validation` = the last validation report, `s/heal-wanted` = a cluster's heal mark and `s/heal-progress` = its last heal walk (both `ecstore::heal_mark`), `s/member-format/<node id>` = what a member of a replicated group last said of its build (`kv_store::MemberFormat`: the newest format it reads, the one it writes, when) |
//! | IAM | `i/...` | users, access keys, groups, policies and a change counter (see `iam`) |
//! | replication | `r/<name>` | reserved for the replicated `Kv`'s own state, written in the same batch as the entries it applies (e.g. the applied index); never read or written by `KvStore` |
//!
//! Values are one format byte (`FORMAT_V1`) followed by MessagePack with named fields, so
//! fields can be added with `#[serde(default)]` without a new format. A version value whose
//! inline bytes are in the key's `d/` record has the format byte `FORMAT_V2_BYTES_IN_WHOLE`
//! instead (then the same MessagePack, with no data): a build that does not know where those
//! bytes are fails to decode it, and so never serves such a version without them.
//!
//! Format 2 (the one-lookup GET): a GET of a small object reads the key's `d/` record and
//! nothing else, while a listing still reads the small `l/` records only. Every batch that
//! writes a key's `l/` record writes or deletes its `d/` record with it, so `d/` is never
//! stale; a build that does not know `d/` must therefore never write a format-2 store (the
//! format record refuses it at start; builds older than the record do not check it). In
//! format 1 there was no `d/` and every version value was `FORMAT_V1`: a format-1 store is
//! valid format 2, so a store is raised from 1 to 2 by rewriting its record alone, and its
//! keys take the new layout as they are written. Which stores are raised: see `KvStore`.
//!
//! Format 3 (one record fewer per small PUT): a current version stored whole has no `v/`
//! record; `l/` and `d/` are all there is of it. So whatever enumerates a key's versions, or
//! a bucket's, takes the current one from `l/`/`d/` where `l/` says it is whole, and merges
//! it into the `v/` scan at the position its `v/` key would have (`version_key`; escaped and
//! raw keys sort alike, see `latest_bound`); a format-2 `v/` value without bytes at that
//! position is the same version. The writer that makes such a version non-current writes its
//! full `v/` value; the one that makes a non-current version current and whole replaces its
//! `v/` value by one without bytes (format 2's), so that no reader of `l/` then `v/` misses
//! it. A bucket with objects may have no `v/` record at all, so emptiness is checked
//! on `l/` too. A format-2 store is valid format 3 (its leftover `v/` values without bytes
//! are read as said), so it is raised by rewriting its record alone, as 1 to 2 was; a
//! format-2 build must never write a format-3 store (it would write a stripped `v/` value
//! and leave the `d/` version listed twice, or lose it from enumerations), and its record
//! check refuses it.
//!
//! The store's format version, `s/schema`, is written when a store is first recovered
//! (`MetadataStore::recover`, at start-up) and checked at every start: a build refuses a store
//! whose version is above its `STORE_FORMAT` (`MetaError::NewerStore`), so that a change of
//! the key schema or of what a value means (format 2 onwards) can never be read by a build
//! that would misread it. Stores made before the record existed are version 1.
//!
//! This module must never perform I/O.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{MetaError, Result};

pub const FORMAT_V1: u8 = 1;
/// The format byte of a version value stored without its inline bytes, which are in the
/// key's `d/` record (format 2).
pub const FORMAT_V2_BYTES_IN_WHOLE: u8 = 2;
/// The store format this build writes and the newest it reads (`s/schema`).
pub const STORE_FORMAT: u8 = 3;
/// The first store format with the `d/` family.
pub const FORMAT_WHOLE_CURRENT: u8 = 2;
/// The first store format where a current version stored whole has no `v/` record.
pub const FORMAT_WHOLE_ONLY: u8 = 3;
/// A current version with at most this many inline bytes is stored whole under `d/` (format
/// 2), so its GET reads one record. Larger ones are not: their bytes would be written twice
/// or moved at every overwrite for a saving that their transfer dwarfs. A writer's choice,
/// not a format: readers follow what `l/` says.
pub const WHOLE_BYTES_MAX: usize = 4096;
/// The name of the store's format record under the system family.
pub const FORMAT_RECORD: &str = "schema";

pub const BUCKET: &[u8] = b"b/";
pub const BUCKET_SETTINGS: &[u8] = b"c/";
pub const LATEST: &[u8] = b"l/";
pub const WHOLE: &[u8] = b"d/";
pub const VERSION: &[u8] = b"v/";
pub const UPLOAD: &[u8] = b"u/";
pub const PART: &[u8] = b"p/";
pub const SYSTEM: &[u8] = b"s/";
pub const PENDING: &[u8] = b"q/";
/// Reserved for the replicated `Kv`'s own state (see the table above).
pub const REPLICATION: &[u8] = b"r/";
/// The families nearly every request reads and almost nothing writes: a `LocalKv` keeps
/// their keys in memory (`hot_cache`). Not a format: changing it changes no byte on disk.
pub const HOT_FAMILIES: &[&[u8]] = &[BUCKET, BUCKET_SETTINGS];

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_V1];
    // Serializing plain model structs into a Vec cannot fail.
    rmp_serde::encode::write_named(&mut out, value).unwrap_or_default();
    out
}

/// Encodes a version value whose inline bytes are in the key's `d/` record: `value` must
/// hold no data.
pub fn encode_bytes_in_whole<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = encode(value);
    out[0] = FORMAT_V2_BYTES_IN_WHOLE;
    out
}

pub fn decode<T: DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T> {
    match value.first() {
        Some(&FORMAT_V1) => body(key, value),
        Some(&v) => Err(MetaError::UnsupportedFormat(v)),
        None => Err(empty(key)),
    }
}

/// Decodes a version value, and says whether it is stored without its inline bytes (they are
/// then in the key's `d/` record).
pub fn decode_version<T: DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<(T, bool)> {
    match value.first() {
        Some(&FORMAT_V1) => Ok((body(key, value)?, false)),
        Some(&FORMAT_V2_BYTES_IN_WHOLE) => Ok((body(key, value)?, true)),
        Some(&v) => Err(MetaError::UnsupportedFormat(v)),
        None => Err(empty(key)),
    }
}

fn body<T: DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T> {
    rmp_serde::from_slice(&value[1..])
        .map_err(|e| MetaError::Corrupt { key: String::from_utf8_lossy(key).into_owned(), reason: e.to_string() })
}

fn empty(key: &[u8]) -> MetaError {
    MetaError::Corrupt { key: String::from_utf8_lossy(key).into_owned(), reason: "empty value".into() }
}

fn family(prefix: &[u8], bucket: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + bucket.len() + 1);
    k.extend_from_slice(prefix);
    k.extend_from_slice(bucket.as_bytes());
    k.push(b'/');
    k
}

/// Appends the order-preserving escape of `s` (without the terminator).
pub fn push_escaped(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
}

pub fn push_terminator(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0, 1]);
}

pub fn bucket_key(bucket: &str) -> Vec<u8> {
    let mut k = BUCKET.to_vec();
    k.extend_from_slice(bucket.as_bytes());
    k
}

pub fn bucket_settings_key(bucket: &str) -> Vec<u8> {
    let mut k = BUCKET_SETTINGS.to_vec();
    k.extend_from_slice(bucket.as_bytes());
    k
}

pub fn latest_base(bucket: &str) -> Vec<u8> {
    family(LATEST, bucket)
}

pub fn latest_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = latest_base(bucket);
    k.extend_from_slice(key.as_bytes());
    k
}

pub fn whole_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = family(WHOLE, bucket);
    k.extend_from_slice(key.as_bytes());
    k
}

pub fn version_base(bucket: &str) -> Vec<u8> {
    family(VERSION, bucket)
}

/// The prefix shared by all versions of `key`.
pub fn versions_of(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = version_base(bucket);
    push_escaped(&mut k, key.as_bytes());
    push_terminator(&mut k);
    k
}

pub fn version_key(bucket: &str, key: &str, mtime_ns: i64, version_id: &str) -> Vec<u8> {
    let mut k = versions_of(bucket, key);
    // Newest first: store the bitwise complement of the (non-negative) timestamp.
    k.extend_from_slice(&(!(mtime_ns.max(0) as u64)).to_be_bytes());
    k.extend_from_slice(version_id.as_bytes());
    k
}

pub fn upload_base(bucket: &str) -> Vec<u8> {
    family(UPLOAD, bucket)
}

pub fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let mut k = upload_base(bucket);
    push_escaped(&mut k, key.as_bytes());
    push_terminator(&mut k);
    k.extend_from_slice(upload_id.as_bytes());
    k
}

pub fn parts_base(upload_id: &str) -> Vec<u8> {
    family(PART, upload_id)
}

pub fn part_key(upload_id: &str, number: u32) -> Vec<u8> {
    let mut k = parts_base(upload_id);
    k.extend_from_slice(&number.to_be_bytes());
    k
}

pub fn pending_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = family(PENDING, bucket);
    k.extend_from_slice(key.as_bytes());
    k
}

/// Splits a `q/` key back into bucket and object key.
pub fn parse_pending_key(k: &[u8]) -> Option<(String, String)> {
    let rest = k.strip_prefix(PENDING)?;
    let i = rest.iter().position(|&b| b == b'/')?;
    Some((String::from_utf8(rest[..i].to_vec()).ok()?, String::from_utf8(rest[i + 1..].to_vec()).ok()?))
}

pub fn system_key(name: &str) -> Vec<u8> {
    let mut k = SYSTEM.to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

/// The record in which member `node_id` of a replicated group says which store formats its
/// build reads (`kv_store::MemberFormat`).
pub fn member_format_key(node_id: u64) -> Vec<u8> {
    system_key(&format!("member-format/{node_id}"))
}

/// Maps a position in a bucket's `v/` family to one in its `l/` family, for scanning both
/// families in step. As a start: every key with a `v/` key at or after `vpos` has its `l/`
/// key at or after the result (a scan from there filters its entries by their `v/` keys).
/// As an exclusive end, for a position between keys (a family's or a prefix's end, with no
/// key's terminator in it): every key whose `v/` keys are all before `vpos` has its `l/` key
/// before the result, and no other. It rests on the escape keeping order: raw keys and
/// escaped ones sort alike, and a key sorts before every longer key it begins.
pub fn latest_bound(bucket: &str, vpos: &[u8]) -> Vec<u8> {
    let vbase = version_base(bucket);
    let mut out = latest_base(bucket);
    let Some(rest) = vpos.strip_prefix(vbase.as_slice()) else {
        // Before the family: its start; after it: past the whole `l/` family of the bucket.
        return if vpos < vbase.as_slice() { out } else { prefix_end(&out).unwrap_or(out) };
    };
    let mut i = 0;
    while i < rest.len() {
        match (rest[i], rest.get(i + 1)) {
            (0, Some(0xFF)) => {
                out.push(0);
                i += 2;
            }
            // The key ends here (its terminator, or a position among or after its own
            // entries): a start at the key itself, whose entries the scan then filters.
            (0, _) => return out,
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The smallest byte string greater than every string that starts with `prefix`
/// (`None` when there is none, i.e. `prefix` is all `0xFF`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_keys_keep_order() {
        let keys = ["", "a", "a\0", "a\0b", "a/", "a/b", "ab", "b"];
        let enc: Vec<Vec<u8>> = keys.iter().map(|k| versions_of("bk", k)).collect();
        for w in enc.windows(2) {
            assert!(w[0] < w[1], "{:?} !< {:?}", w[0], w[1]);
        }
    }

    #[test]
    fn versions_newest_first() {
        let old = version_key("b", "k", 100, "x");
        let new = version_key("b", "k", 200, "a");
        assert!(new < old);
        assert!(old.starts_with(&versions_of("b", "k")));
    }

    #[test]
    fn latest_bounds_keep_every_key_on_its_side() {
        let keys = ["", "a", "a\0", "a\0b", "a/", "a/b", "ab", "b", "\u{ff}"];
        let vpositions: Vec<Vec<u8>> = keys
            .iter()
            .flat_map(|k| {
                let mut after = versions_of("bk", k);
                after.pop();
                after.push(2);
                let mut esc = version_base("bk");
                push_escaped(&mut esc, k.as_bytes());
                [esc, versions_of("bk", k), version_key("bk", k, 5, "x"), after]
            })
            .chain([b"v/bk".to_vec(), b"v/bk0".to_vec(), b"a".to_vec(), b"z".to_vec()])
            .collect();
        for p in &vpositions {
            let l = latest_bound("bk", p);
            for k in keys {
                let (vk, lk) = (version_key("bk", k, 5, "x"), latest_key("bk", k));
                if vk >= *p {
                    assert!(lk >= l, "start {p:?}: key {k:?} would be skipped");
                }
                let at_key_end = p.len() > version_base("bk").len() && p.starts_with(&version_base("bk")) && {
                    let rest = &p[version_base("bk").len()..];
                    rest.windows(2).any(|w| w[0] == 0 && w[1] != 0xFF) || rest.last() == Some(&0)
                };
                if !at_key_end {
                    assert_eq!(versions_of("bk", k) < *p, lk < l, "end {p:?}, key {k:?}");
                }
            }
        }
    }

    #[test]
    fn prefix_end_bounds_prefix() {
        assert_eq!(prefix_end(b"a/"), Some(b"a0".to_vec()));
        assert_eq!(prefix_end(&[0x61, 0xFF]), Some(vec![0x62]));
        assert_eq!(prefix_end(&[0xFF]), None);
    }

    #[test]
    fn codec_rejects_unknown_format_and_garbage() {
        let v = encode(&"hello".to_string());
        assert_eq!(decode::<String>(b"k", &v).unwrap(), "hello");
        assert!(matches!(decode::<String>(b"k", &[9, 1]), Err(MetaError::UnsupportedFormat(9))));
        assert!(matches!(decode::<String>(b"k", &[FORMAT_V1, 0xc1]), Err(MetaError::Corrupt { .. })));
        assert!(decode::<String>(b"k", &[]).is_err());
    }

    #[test]
    fn a_version_without_its_bytes_is_marked_and_refused_by_the_plain_decoder() {
        let v = encode_bytes_in_whole(&"meta".to_string());
        assert_eq!(v[0], FORMAT_V2_BYTES_IN_WHOLE);
        assert_eq!(decode_version::<String>(b"k", &v).unwrap(), ("meta".to_string(), true));
        assert_eq!(decode_version::<String>(b"k", &encode(&"meta".to_string())).unwrap(), ("meta".to_string(), false));
        // What a format-1 reader does with it: an error, never a version without its bytes.
        assert!(matches!(decode::<String>(b"k", &v), Err(MetaError::UnsupportedFormat(FORMAT_V2_BYTES_IN_WHOLE))));
        assert!(matches!(decode_version::<String>(b"k", &[3, 0xa0]), Err(MetaError::UnsupportedFormat(3))));
    }
}
