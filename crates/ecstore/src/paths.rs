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

pub fn object_dir(drive: &Path, bucket: &str, key: &str) -> PathBuf {
    drive.join(bucket).join(key.strip_suffix('/').unwrap_or(key))
}

pub fn data_dir(drive: &Path, bucket: &str, key: &str, data_dir: &str) -> PathBuf {
    object_dir(drive, bucket, key).join(data_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

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
