//! Where things live on a drive. This module must never touch the file system.
//!
//! Drive layout, format version 2 (version 1 had only the keyed layout):
//!
//! | what | path |
//! | --- | --- |
//! | shards of objects whose metadata is in the KV | `<drive>/.rustfs.sys/data/<bucket id>/<first 2 hex of the data dir>/<data dir>/<part file>` |
//! | shards of objects whose metadata is xl.meta (legacy track, MinIO's layout) | `<drive>/<bucket>/<key>/<data dir>/<part file>` |
//! | xl.meta of the legacy track | `<drive>/<bucket>/<key>/xl.meta` (`<key without '/'>__XLDIR__` for keys ending in `/`) |
//! | writes in progress | `<drive>/.rustfs.sys/tmp/<id>-<part file>` (a PUT's shard), `<drive>/.rustfs.sys/tmp/<id>/` (heal) |
//!
//! In the KV layout nothing is derived from the object key: a bucket id is a UUID given at
//! bucket creation (a bucket deleted and re-created gets a new one), a data dir is a UUID
//! given to each written version, so every key S3 allows works and no key can collide with
//! another object's files or with the server's own. The keyed layout is kept for the legacy
//! track, because MinIO and RustFS must be able to read it; it accepts only the keys
//! [`check_legacy_key`] allows.

use std::path::{Path, PathBuf};

use metadata::ErasureLayout;

use crate::drives::SYS_DIR;
use crate::error::{Result, StoreError};

const NAME_MAX: usize = 255;
/// Longest object key S3 accepts, in bytes.
pub const KEY_MAX: usize = 1024;
/// Folder under `.rustfs.sys` holding the KV layout's shards.
pub const DATA_DIR: &str = "data";
/// Name of the legacy track's per-object metadata file.
pub const XL_META: &str = "xl.meta";

/// Folder suffix of keys that end in `/` (MinIO's convention), so `dir/` and `dir` differ.
pub const DIR_SUFFIX: &str = "__XLDIR__";

/// Why a key cannot live in the keyed (legacy) layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyKeyProblem {
    /// Empty, `.` or `..` segments, a leading `/`, NUL, or a segment over 255 bytes.
    NotAPath,
    /// A segment named `xl.meta` or ending in `__XLDIR__`: it would share a file with
    /// another key.
    Reserved,
}

/// Checks a key S3 accepts on any engine: 1 to 1,024 bytes of UTF-8 (Rust strings are).
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > KEY_MAX {
        return Err(StoreError::InvalidName(key.to_string()));
    }
    Ok(())
}

/// Which keys the keyed (legacy) layout refuses, as MinIO does: keys that are not a clean
/// relative path (empty, `.` or `..` segments — a single trailing `/` is allowed —, a
/// leading `/`, NUL, a segment longer than 255 bytes), and keys whose files would collide
/// with another key's (`a/xl.meta` with `a`, `x__XLDIR__` with `x/`).
pub fn legacy_key_problem(key: &str) -> Option<LegacyKeyProblem> {
    let trimmed = key.strip_suffix('/').unwrap_or(key);
    if trimmed.is_empty() || key.len() > KEY_MAX || key.contains('\0') || key.starts_with('/') {
        return Some(LegacyKeyProblem::NotAPath);
    }
    for c in trimmed.split('/') {
        if c.is_empty() || c == "." || c == ".." || c.len() > NAME_MAX {
            return Some(LegacyKeyProblem::NotAPath);
        }
    }
    if trimmed.split('/').any(|c| c == XL_META || c.ends_with(DIR_SUFFIX)) {
        return Some(LegacyKeyProblem::Reserved);
    }
    None
}

/// `Ok` when `key` can live in the keyed (legacy) layout.
pub fn check_legacy_key(key: &str) -> Result<()> {
    match legacy_key_problem(key) {
        None => Ok(()),
        Some(_) => Err(StoreError::InvalidName(key.to_string())),
    }
}

/// The folder of a key: the key itself, or `<key without '/'>__XLDIR__` for a key ending in `/`.
pub fn object_dir(drive: &Path, bucket: &str, key: &str) -> PathBuf {
    match key.strip_suffix('/') {
        Some(k) => drive.join(bucket).join(format!("{k}{DIR_SUFFIX}")),
        None => drive.join(bucket).join(key),
    }
}

/// The key a folder path (relative to the bucket) stands for.
pub fn key_of_dir(rel: &str) -> String {
    match rel.strip_suffix(DIR_SUFFIX) {
        Some(k) => format!("{k}/"),
        None => rel.to_string(),
    }
}

/// `<drive>/.rustfs.sys/data/<bucket id>`: every shard of one bucket in the KV layout.
pub fn bucket_data_root(drive: &Path, bucket_id: &str) -> PathBuf {
    drive.join(SYS_DIR).join(DATA_DIR).join(bucket_id)
}

/// Whether a name is a UUID as the server makes them (data dirs, bucket ids).
pub fn is_uuid(name: &str) -> bool {
    uuid::Uuid::try_parse(name).is_ok()
}

/// The folder holding a version's shard files on `drive`, by its layout: the KV layout when
/// the layout names a bucket id, else the keyed layout (which checks the key).
pub fn shard_dir(drive: &Path, bucket: &str, key: &str, layout: &ErasureLayout) -> Result<PathBuf> {
    shard_dir_of(drive, bucket, key, layout.bucket_id.as_deref(), &layout.data_dir)
}

/// Like [`shard_dir`], from the parts of a layout.
pub fn shard_dir_of(drive: &Path, bucket: &str, key: &str, bucket_id: Option<&str>, data_dir: &str) -> Result<PathBuf> {
    if !is_uuid(data_dir) && !safe_name(data_dir) {
        return Err(StoreError::Format(format!("invalid data dir {data_dir:?}")));
    }
    match bucket_id {
        Some(id) => {
            if !is_uuid(id) || !is_uuid(data_dir) {
                return Err(StoreError::Format(format!("invalid bucket id {id:?} or data dir {data_dir:?}")));
            }
            Ok(bucket_data_root(drive, id).join(&data_dir[..2]).join(data_dir))
        }
        None => {
            check_legacy_key(key)?;
            Ok(object_dir(drive, bucket, key).join(data_dir))
        }
    }
}

/// A single path component that cannot climb out of its folder.
pub fn safe_name(n: &str) -> bool {
    !n.is_empty() && n != "." && n != ".." && !n.contains(['/', '\\', '\0']) && n.len() <= NAME_MAX
}

/// Whether a shard file name is one the server writes: `part.N`, or `part.N.<attempt>`
/// (12 hex digits) for multipart parts.
pub fn is_part_file(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("part.") else { return false };
    let (n, attempt) = match rest.split_once('.') {
        Some((n, a)) => (n, Some(a)),
        None => (rest, None),
    };
    let digits = |s: &str, max: usize| !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
    digits(n, 5) && attempt.is_none_or(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(bucket_id: Option<&str>, data_dir: &str) -> ErasureLayout {
        ErasureLayout {
            algorithm: String::new(),
            data: 8,
            parity: 4,
            block_size: 1,
            set: 0,
            distribution: Vec::new(),
            data_dir: data_dir.into(),
            bucket_id: bucket_id.map(str::to_string),
            parts: Vec::new(),
        }
    }

    #[test]
    fn directory_keys_get_their_own_folder() {
        let d = Path::new("/d");
        assert_eq!(object_dir(d, "b", "x/y/"), Path::new("/d/b/x/y__XLDIR__"));
        assert_eq!(object_dir(d, "b", "x/y"), Path::new("/d/b/x/y"));
        assert_eq!(key_of_dir("x/y__XLDIR__"), "x/y/");
        assert_eq!(key_of_dir("x/y"), "x/y");
    }

    #[test]
    fn legacy_layout_refuses_what_minio_refuses() {
        for bad in ["", "/", "../x", "a/../b", "a//b", "./a", "a/.", "/abs", "a\0b", &"x".repeat(256)] {
            assert_eq!(legacy_key_problem(bad), Some(LegacyKeyProblem::NotAPath), "{bad:?}");
        }
        for bad in ["a/xl.meta", "xl.meta", "x__XLDIR__", "a/x__XLDIR__/b"] {
            assert_eq!(legacy_key_problem(bad), Some(LegacyKeyProblem::Reserved), "{bad:?}");
        }
        for good in ["a", "a/b", "dir/", "a.b/..c/d", "日本/語", ".rustfs.sys/x", "xl.meta2", "a/xl.metadata"] {
            assert_eq!(legacy_key_problem(good), None, "{good:?}");
        }
    }

    #[test]
    fn kv_layout_never_uses_the_key() {
        let d = Path::new("/d");
        let id = "6a1f0c3e-2b4d-4e5f-8a9b-0c1d2e3f4a5b";
        let dd = "3f2b8c1e-6a1d-4d7e-9c1a-0b2c3d4e5f60";
        let want = Path::new(
            "/d/.rustfs.sys/data/6a1f0c3e-2b4d-4e5f-8a9b-0c1d2e3f4a5b/3f/3f2b8c1e-6a1d-4d7e-9c1a-0b2c3d4e5f60",
        );
        for key in ["../../etc", "a//b", "x/xl.meta", ".rustfs.sys/x", &"z".repeat(1024)] {
            assert_eq!(shard_dir(d, "b", key, &layout(Some(id), dd)).unwrap(), want);
        }
        assert!(shard_dir(d, "b", "a//b", &layout(None, dd)).is_err(), "the keyed layout checks keys");
        assert!(shard_dir(d, "b", "k", &layout(Some("../x"), dd)).is_err());
        assert!(shard_dir(d, "b", "k", &layout(Some(id), "../x")).is_err());
        assert_eq!(shard_dir(d, "b", "a/b", &layout(None, dd)).unwrap(), Path::new("/d/b/a/b").join(dd));
    }

    #[test]
    fn part_files() {
        for good in ["part.1", "part.10000", "part.3.0a1b2c3d4e5f"] {
            assert!(is_part_file(good), "{good}");
        }
        for bad in ["part.", "part.x", "part.0.parquet", "xl.meta", "parts.1", "part.1.xyz", "part.x.0a1b2c3d4e5f"] {
            assert!(!is_part_file(bad), "{bad}");
        }
    }
}
