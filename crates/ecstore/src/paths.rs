//! Where things live on a drive: `<drive>/<bucket>/<key>/<data_dir>/<part file>` for shards
//! and `<drive>/.rustfs.sys/tmp/<id>/` for writes in progress. Object keys are mapped to
//! path components only after checking they cannot escape the bucket folder. This module
//! must never touch the file system.

use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

const NAME_MAX: usize = 255;

/// Checks that a key maps to a safe relative path: no `.`/`..` or empty components
/// (a single trailing `/` is allowed), no NUL, no component longer than 255 bytes.
pub fn check_key(key: &str) -> Result<()> {
    let trimmed = key.strip_suffix('/').unwrap_or(key);
    if trimmed.is_empty() || key.contains('\0') || key.starts_with('/') {
        return Err(StoreError::InvalidName(key.to_string()));
    }
    for c in trimmed.split('/') {
        if c.is_empty() || c == "." || c == ".." || c.len() > NAME_MAX {
            return Err(StoreError::InvalidName(key.to_string()));
        }
    }
    Ok(())
}

/// Folder suffix of keys that end in `/` (MinIO's convention), so `dir/` and `dir` differ.
pub const DIR_SUFFIX: &str = "__XLDIR__";

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

pub fn data_dir(drive: &Path, bucket: &str, key: &str, data_dir: &str) -> PathBuf {
    object_dir(drive, bucket, key).join(data_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_keys_get_their_own_folder() {
        let d = Path::new("/d");
        assert_eq!(object_dir(d, "b", "x/y/"), Path::new("/d/b/x/y__XLDIR__"));
        assert_eq!(object_dir(d, "b", "x/y"), Path::new("/d/b/x/y"));
        assert_eq!(key_of_dir("x/y__XLDIR__"), "x/y/");
        assert_eq!(key_of_dir("x/y"), "x/y");
    }

    #[test]
    fn rejects_escaping_keys() {
        for bad in ["", "/", "../x", "a/../b", "a//b", "./a", "a/.", "/abs", "a\0b", &"x".repeat(256)] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "a/b", "dir/", "a.b/..c/d", "日本/語"] {
            assert!(check_key(good).is_ok(), "{good:?}");
        }
    }
}
