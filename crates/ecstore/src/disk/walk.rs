//! Walking the xl.meta files of a bucket on a drive in S3 key (byte) order (the legacy
//! track's listings). It runs where the drive is: `DiskIo::walk` of a local drive walks its
//! folder, that of a drive of another node asks that node to (one call per page, not one per
//! folder).
//!
//! A key `K` is the folder `<drive>/<bucket>/K` holding an `xl.meta` (or, on a MinIO
//! deployment of its first placement, MinIO's older `xl.json`). Folder order is not key
//! order (`a-b` sorts before `a/x` because `-` < `/`), so each child `c` of a folder yields two
//! entries, its own key `c` and its subtree `c/`, and the entries are visited sorted by bytes:
//! that visits keys in exact byte order. Subtrees before the resume point or outside the
//! prefix are skipped, and with the `/` delimiter a subtree is reported as one common prefix
//! instead of being walked. This module only reads folder entries; it never decodes xl.meta.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::paths::XL_META;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Entry {
    Key(String),
    CommonPrefix(String),
}

impl Entry {
    pub fn name(&self) -> &str {
        match self {
            Entry::Key(k) | Entry::CommonPrefix(k) => k,
        }
    }
}

pub struct Walk<'a> {
    pub prefix: &'a str,
    /// Only entries strictly after this key.
    pub after: Option<&'a str>,
    /// Only `/` is folded into common prefixes while walking; other delimiters are applied
    /// by the caller on the keys.
    pub slash_delimiter: bool,
    pub limit: usize,
    /// A folder holding MinIO's `xl.json` is a key too (see [`WalkQuery::xl_json`]).
    pub xl_json: bool,
}

/// A walk as it is asked of a drive (owned, so it can cross the shard RPC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkQuery {
    pub prefix: String,
    pub after: Option<String>,
    pub slash_delimiter: bool,
    pub limit: usize,
    /// Where MinIO's first placement (`CRCMOD`) may hold objects of releases before 2020,
    /// whose metadata is `xl.json`.
    #[serde(default)]
    pub xl_json: bool,
}

impl WalkQuery {
    pub fn walk(&self) -> Walk<'_> {
        Walk {
            prefix: &self.prefix,
            after: self.after.as_deref(),
            slash_delimiter: self.slash_delimiter,
            limit: self.limit,
            xl_json: self.xl_json,
        }
    }
}

/// A data dir of the keyed layout (never a key, nor a folder of keys); see
/// [`crate::gc::is_keyed_data_dir`].
fn is_data_dir(path: &Path, name: &str) -> bool {
    if !crate::paths::is_uuid(name) {
        return false;
    }
    let Ok(it) = std::fs::read_dir(path) else { return false };
    let Ok(entries) = it
        .map(|e| e.map(|e| (e.file_name().to_string_lossy().into_owned(), e.file_type().is_ok_and(|t| t.is_file()))))
        .collect::<std::io::Result<Vec<_>>>()
    else {
        return false;
    };
    crate::gc::is_keyed_data_dir(name, entries.iter().map(|(n, f)| (n.as_str(), *f)))
}

/// Whether folder `dir` is a key: it holds an xl.meta (or, `xl_json`, MinIO's `xl.json`).
fn is_key(dir: &Path, xl_json: bool) -> bool {
    dir.join(XL_META).is_file() || (xl_json && dir.join(crate::xlmeta::v1::XL_JSON).is_file())
}

/// Whether any key lives strictly below folder `dir` (stops at the first one found).
fn has_key_below(dir: &Path, xl_json: bool) -> bool {
    let Ok(it) = std::fs::read_dir(dir) else { return false };
    it.flatten().any(|e| {
        let p = e.path();
        e.file_type().is_ok_and(|t| t.is_dir())
            && !e.file_name().to_str().is_none_or(|n| is_data_dir(&p, n))
            && (is_key(&p, xl_json) || has_key_below(&p, xl_json))
    })
}

impl Walk<'_> {
    /// Whether any key starting with `p` can be wanted.
    fn subtree_wanted(&self, p: &str) -> bool {
        let in_prefix = p.starts_with(self.prefix) || self.prefix.starts_with(p);
        // Every key under p sorts after p; keys after the marker exist under p unless the
        // marker is past the whole subtree.
        let not_past = self.after.is_none_or(|a| a <= p || a.starts_with(p));
        in_prefix && not_past
    }

    /// Adds a common prefix once, if it lies after the resume point.
    fn push_prefix(&self, cp: String, out: &mut Vec<Entry>) {
        let after_marker = self.after.is_none_or(|a| cp.as_str() > a && !a.starts_with(cp.as_str()));
        if after_marker && out.last().is_none_or(|l| l.name() != cp) {
            out.push(Entry::CommonPrefix(cp));
        }
    }

    /// Entries of the bucket folder `root`, in order, at most `limit`.
    pub fn run(&self, root: &Path) -> Vec<Entry> {
        let mut out = Vec::new();
        self.visit(root, "", &mut out);
        out
    }

    fn visit(&self, dir: &Path, rel: &str, out: &mut Vec<Entry>) {
        let Ok(it) = std::fs::read_dir(dir) else { return };
        // (key or subtree prefix, is subtree, folder name): sorted by key string, a key before
        // a subtree of the same string (`x/` the key sorts before the keys under `x/`).
        let mut entries: Vec<(String, bool, String)> = Vec::new();
        for e in it.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
            if is_data_dir(&e.path(), &name) {
                continue;
            }
            if let Some(stem) = name.strip_suffix(crate::paths::DIR_SUFFIX) {
                // A key ending in '/': only that key lives in this folder.
                entries.push((format!("{rel}{stem}/"), false, name));
                continue;
            }
            entries.push((format!("{rel}{name}"), false, name.clone()));
            entries.push((format!("{rel}{name}/"), true, name));
        }
        entries.sort();
        for (p, subtree, folder) in entries {
            if out.len() >= self.limit {
                return;
            }
            let sub = dir.join(&folder);
            if !subtree {
                let is_key = is_key(&sub, self.xl_json);
                if !is_key || !p.starts_with(self.prefix) {
                    continue;
                }
                // With the '/' delimiter a key like `x/` (below the prefix) rolls into `x/`.
                if self.slash_delimiter
                    && let Some(i) = p[self.prefix.len()..].find('/')
                {
                    let cp = p[..self.prefix.len() + i + 1].to_string();
                    self.push_prefix(cp, out);
                } else if self.after.is_none_or(|a| p.as_str() > a) {
                    out.push(Entry::Key(p));
                }
                continue;
            }
            if !self.subtree_wanted(&p) {
                continue;
            }
            if self.slash_delimiter && p.len() > self.prefix.len() && p.starts_with(self.prefix) {
                // Below the prefix, the first '/' ends a common prefix.
                if has_key_below(&sub, self.xl_json) {
                    self.push_prefix(p, out);
                }
                continue;
            }
            self.visit(&sub, &p, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(root: &Path, keys: &[&str]) {
        for k in keys {
            let d = crate::paths::object_dir(root, "", k);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(XL_META), b"x").unwrap();
        }
        // A data dir must never show up as a key.
        let dd = root.join("a").join(uuid::Uuid::new_v4().to_string());
        std::fs::create_dir_all(&dd).unwrap();
        std::fs::write(dd.join("part.1"), b"x").unwrap();
    }

    /// Keys under a folder named like a data dir (what Spark and Dask write) are keys.
    #[test]
    fn folders_named_like_data_dirs_are_walked() {
        let dir = tempfile::tempdir().unwrap();
        let keys = [
            "exports/3f2b8c1e-6a1d-4d7e-9c1a-0b2c3d4e5f60/part.0.parquet",
            "exports/3f2b8c1e-6a1d-4d7e-9c1a-0b2c3d4e5f60/part.1",
            "f0e1d2c3b4a5968778695a4b3c2d1e0f/part.7",
        ];
        make(dir.path(), &keys);
        let all = Walk { prefix: "", after: None, slash_delimiter: false, limit: 100, xl_json: false }.run(dir.path());
        let mut want: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(names(&all), want);
    }

    /// MinIO's `xl.json` folders (with their `part.N` files) are keys only where asked.
    #[test]
    fn xl_json_folders_are_keys_where_minio_kept_them() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), &["new/a"]);
        for k in ["old/b", "old/deep/c"] {
            let d = dir.path().join(k);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(crate::xlmeta::v1::XL_JSON), b"{}").unwrap();
            std::fs::write(d.join("part.1"), b"x").unwrap();
        }
        let walk = |xl_json, slash| Walk { prefix: "", after: None, slash_delimiter: slash, limit: 100, xl_json };
        assert_eq!(names(&walk(false, false).run(dir.path())), ["new/a"]);
        assert_eq!(names(&walk(true, false).run(dir.path())), ["new/a", "old/b", "old/deep/c"]);
        assert_eq!(names(&walk(false, true).run(dir.path())), ["[new/]"]);
        assert_eq!(names(&walk(true, true).run(dir.path())), ["[new/]", "[old/]"]);
    }

    fn names(v: &[Entry]) -> Vec<String> {
        v.iter()
            .map(|e| match e {
                Entry::Key(k) => k.clone(),
                Entry::CommonPrefix(p) => format!("[{p}]"),
            })
            .collect()
    }

    #[test]
    fn byte_order_prefix_marker_and_delimiter() {
        let dir = tempfile::tempdir().unwrap();
        let keys = ["a", "a-b", "a/", "a/x", "a/y/z", "b", "b/c", "c.d"];
        make(dir.path(), &keys);
        let all = Walk { prefix: "", after: None, slash_delimiter: false, limit: 100, xl_json: false }.run(dir.path());
        let mut sorted: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
        sorted.sort();
        assert_eq!(names(&all), sorted);
        let w = Walk { prefix: "a/", after: None, slash_delimiter: false, limit: 100, xl_json: false }.run(dir.path());
        assert_eq!(names(&w), ["a/", "a/x", "a/y/z"]);
        let w =
            Walk { prefix: "", after: Some("a-b"), slash_delimiter: false, limit: 2, xl_json: false }.run(dir.path());
        assert_eq!(names(&w), ["a/", "a/x"]);
        let w = Walk { prefix: "", after: None, slash_delimiter: true, limit: 100, xl_json: false }.run(dir.path());
        assert_eq!(names(&w), ["a", "a-b", "[a/]", "b", "[b/]", "c.d"]);
        let w =
            Walk { prefix: "", after: Some("a/"), slash_delimiter: true, limit: 100, xl_json: false }.run(dir.path());
        assert_eq!(names(&w), ["b", "[b/]", "c.d"]);
        let w = Walk { prefix: "a/", after: None, slash_delimiter: true, limit: 100, xl_json: false }.run(dir.path());
        assert_eq!(names(&w), ["a/", "a/x", "[a/y/]"]);
    }
}
