//! Comparing one key across the two tracks: the classes the validator counts (the seed's
//! `ValidationResult`) and a readable description of the first difference. Pure functions;
//! this module must never read a track itself.

use serde::Serialize;

use crate::model::ObjectVersion;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    InSync,
    /// Both tracks hold the key with different versions or fields.
    Diverged(String),
    KvOnly,
    FsOnly,
    /// Neither track holds the key (it was deleted while it was being checked).
    Missing,
}

/// Classifies a key from its versions on the legacy track (`fs`) and in the KV.
pub fn classify(fs: &[ObjectVersion], kv: &[ObjectVersion]) -> Class {
    match (fs.is_empty(), kv.is_empty()) {
        (true, true) => Class::Missing,
        (false, true) => Class::FsOnly,
        (true, false) => Class::KvOnly,
        (false, false) => match diff(fs, kv) {
            None => Class::InSync,
            Some(d) => Class::Diverged(d),
        },
    }
}

/// The first difference between two version lists (newest first), or `None` when they
/// hold the same versions with the same fields.
pub fn diff(a: &[ObjectVersion], b: &[ObjectVersion]) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("{} versions vs {}", a.len(), b.len()));
    }
    for (x, y) in a.iter().zip(b) {
        let field = if x.version_id != y.version_id {
            "version id"
        } else if x.delete_marker != y.delete_marker {
            "delete marker"
        } else if x.etag != y.etag {
            "etag"
        } else if x.size != y.size {
            "size"
        } else if x.mtime_ns != y.mtime_ns {
            "mtime"
        } else if x.user_meta != y.user_meta {
            "user metadata"
        } else if x.data != y.data {
            "parts / data layout"
        } else if x != y {
            "headers or checksums"
        } else {
            continue;
        };
        return Some(format!("{field} of version {} differs", x.version_id));
    }
    None
}

/// `a` plus the versions of `b` it lacks (by version id), newest first: the additive
/// repairs (`sync-to-kv`, `sync-to-fs`) keep what the target has and add what it lacks.
pub fn union(a: &[ObjectVersion], b: &[ObjectVersion]) -> Vec<ObjectVersion> {
    let mut out = a.to_vec();
    for v in b {
        if !out.iter().any(|o| o.version_id == v.version_id) {
            out.push(v.clone());
        }
    }
    out.sort_by(|x, y| y.mtime_ns.cmp(&x.mtime_ns).then_with(|| x.version_id.cmp(&y.version_id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ObjectData;

    fn v(id: &str, etag: &str, mtime: i64) -> ObjectVersion {
        ObjectVersion {
            bucket: "b".into(),
            key: "k".into(),
            version_id: id.into(),
            delete_marker: false,
            size: 3,
            etag: etag.into(),
            mtime_ns: mtime,
            content_type: None,
            headers: Default::default(),
            user_meta: Default::default(),
            checksums: Default::default(),
            data: ObjectData::Inline(b"abc".to_vec()),
            acl: None,
            tags: Default::default(),
            retention: None,
            legal_hold: false,
            sse: None,
        }
    }

    #[test]
    fn classes_and_differences() {
        let a = vec![v("2", "e2", 20), v("1", "e1", 10)];
        assert_eq!(classify(&a, &a), Class::InSync);
        assert_eq!(classify(&a, &[]), Class::FsOnly);
        assert_eq!(classify(&[], &a), Class::KvOnly);
        assert_eq!(classify(&[], &[]), Class::Missing);
        let mut b = a.clone();
        b[1].etag = "other".into();
        assert!(matches!(classify(&a, &b), Class::Diverged(d) if d.contains("etag of version 1")));
        let mut c = a.clone();
        c[0].user_meta.insert("x".into(), "y".into());
        assert!(diff(&a, &c).unwrap().contains("user metadata"));
        assert!(diff(&a, &a[..1]).unwrap().contains("2 versions vs 1"));
        let u = union(&a[..1], &[v("1", "e1", 10), v("3", "e3", 30)]);
        assert_eq!(u.iter().map(|x| x.version_id.as_str()).collect::<Vec<_>>(), vec!["3", "2", "1"]);
    }
}
