//! The legacy track's store: bucket records and object versions kept as MinIO-format
//! xl.meta files on the drives. Every change to a key is a read-modify-write of its xl.meta
//! under a per-key lock, committed by a quorum write. (Listing and multipart state on this
//! track are the next step of issue 3.) This module must never acknowledge a change before
//! its quorum write completed.

use std::sync::Arc;

use metadata::{
    BucketInfo, ListItem, ListPage, ListQuery, MetaError, ObjectVersion, PutCondition, Result, VersionQuery,
};
use tokio::sync::Mutex;

use super::walk::{Entry, Walk};
use super::{files, mapping};
use crate::drives::{self, Drive, SYS_DIR};
use crate::xlmeta::XlMeta;
use crate::{EcStore, StoreError};

const LOCK_STRIPES: usize = 1024;

pub struct LegacyStore {
    ec: Arc<EcStore>,
    locks: Vec<Mutex<()>>,
}

fn backend(e: StoreError) -> MetaError {
    match e {
        StoreError::ReadQuorum(..) | StoreError::WriteQuorum { .. } => MetaError::Unavailable(e.to_string()),
        other => MetaError::Backend(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| MetaError::Backend(e.to_string()))
}

fn bucket_path(d: &Drive, name: &str) -> std::path::PathBuf {
    d.path.join(SYS_DIR).join("buckets").join(format!("{name}.json"))
}

impl LegacyStore {
    pub fn new(ec: Arc<EcStore>) -> Self {
        Self { ec, locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect() }
    }

    fn all_drives(&self) -> Vec<Arc<Drive>> {
        self.ec.drives().cloned().collect()
    }

    fn majority(&self) -> usize {
        self.ec.drives().count() / 2 + 1
    }

    fn lock_of(&self, bucket: &str, key: &str) -> &Mutex<()> {
        let h = xxhash_rust::xxh3::xxh3_64(format!("{bucket}/{key}").as_bytes());
        &self.locks[(h % LOCK_STRIPES as u64) as usize]
    }

    /// Reads a bucket record: the content a majority of drives agrees on.
    pub async fn get_bucket(&self, name: &str) -> Result<BucketInfo> {
        let drives = self.all_drives();
        let majority = self.majority();
        let n = name.to_string();
        let found = blocking(move || {
            let mut groups: Vec<(Vec<u8>, usize)> = Vec::new();
            let mut missing = 0;
            for d in drives.iter().filter(|d| d.is_online()) {
                match std::fs::read(bucket_path(d, &n)) {
                    Ok(b) => match groups.iter_mut().find(|g| g.0 == b) {
                        Some(g) => g.1 += 1,
                        None => groups.push((b, 1)),
                    },
                    Err(_) => missing += 1,
                }
            }
            match groups.into_iter().max_by_key(|g| g.1) {
                Some((b, c)) if c >= majority => Ok(Some(b)),
                _ if missing >= majority => Ok(None),
                _ => Err(MetaError::Unavailable(format!("bucket {n}: no majority of drives agrees"))),
            }
        })
        .await??;
        match found {
            Some(b) => serde_json::from_slice::<BucketInfo>(&b)
                .ok()
                .filter(|b| !b.deleting)
                .ok_or_else(|| MetaError::NoSuchBucket(name.to_string())),
            None => Err(MetaError::NoSuchBucket(name.to_string())),
        }
    }

    async fn write_bucket(&self, info: &BucketInfo) -> Result<()> {
        let drives = self.all_drives();
        let majority = self.majority();
        let body = serde_json::to_vec_pretty(info).map_err(|e| MetaError::Backend(e.to_string()))?;
        let name = info.name.clone();
        blocking(move || {
            let mut ok = 0;
            for d in drives.iter().filter(|d| d.check_alive()) {
                let p = bucket_path(d, &name);
                let res = p
                    .parent()
                    .map_or(Ok(()), drives::create_dir_all_durable)
                    .and_then(|()| drives::write_file_durable(&p, &body));
                if res.is_ok() {
                    ok += 1;
                }
            }
            if ok >= majority {
                Ok(())
            } else {
                Err(MetaError::Unavailable(format!("bucket {name}: written to {ok} drives")))
            }
        })
        .await?
    }

    pub async fn create_bucket(&self, info: BucketInfo) -> Result<()> {
        let _g = self.lock_of(&info.name, "").lock().await;
        match self.get_bucket(&info.name).await {
            Ok(_) => Err(MetaError::BucketExists(info.name)),
            Err(MetaError::NoSuchBucket(_)) => self.write_bucket(&info).await,
            Err(e) => Err(e),
        }
    }

    pub async fn update_bucket(&self, info: BucketInfo) -> Result<()> {
        let _g = self.lock_of(&info.name, "").lock().await;
        self.get_bucket(&info.name).await?;
        self.write_bucket(&info).await
    }

    async fn read_xl(&self, bucket: &str, key: &str) -> Result<(usize, Option<XlMeta>)> {
        let set = self.ec.set_index(bucket, key);
        let drives = self.ec.set_drives(set).to_vec();
        let quorum = self.ec.write_quorum();
        let (b, k) = (bucket.to_string(), key.to_string());
        let m = blocking(move || files::read(&drives, &b, &k, quorum)).await?.map_err(backend)?;
        Ok((set, m))
    }

    async fn write_xl(&self, set: usize, bucket: &str, key: &str, meta: XlMeta) -> Result<()> {
        let drives = self.ec.set_drives(set).to_vec();
        let quorum = self.ec.write_quorum();
        let (b, k) = (bucket.to_string(), key.to_string());
        blocking(move || {
            if meta.versions.is_empty() {
                return files::remove(&drives, &b, &k);
            }
            files::write(&drives, &b, &k, quorum, |pos| {
                let mut m = meta.clone();
                for v in &mut m.versions {
                    if let Some(o) = &mut v.object
                        && o.erasure_algorithm == mapping::ALGO_RS_SIMD
                        && !o.data_dir.is_empty()
                    {
                        o.erasure_index = pos as i64 + 1;
                    }
                }
                m
            })
        })
        .await?
        .map_err(backend)
    }

    fn versions_of(bucket: &str, key: &str, set: usize, m: &XlMeta) -> Vec<ObjectVersion> {
        m.versions
            .iter()
            .map(|v| {
                let mut o = mapping::from_xl(bucket, key, m, v);
                if let metadata::ObjectData::Erasure(l) = &mut o.data {
                    l.set = set as u32;
                }
                o
            })
            .collect()
    }

    /// The current version (`None`) or a given one, as the KV track answers.
    pub async fn get_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectVersion> {
        let (set, m) = self.read_xl(bucket, key).await?;
        let versions = m.map(|m| Self::versions_of(bucket, key, set, &m)).unwrap_or_default();
        let found = match version_id {
            None => versions.into_iter().next(),
            Some(vid) => versions.into_iter().find(|v| v.version_id == vid),
        };
        match (found, version_id) {
            (Some(v), _) => Ok(v),
            (None, vid) => {
                self.get_bucket(bucket).await?;
                Err(match vid {
                    None => MetaError::NoSuchKey { bucket: bucket.into(), key: key.into() },
                    Some(v) => {
                        MetaError::NoSuchVersion { bucket: bucket.into(), key: key.into(), version_id: v.into() }
                    }
                })
            }
        }
    }

    /// Commits `obj` as the newest version (a `null` version replaces the existing one) and
    /// returns the versions it replaced.
    pub async fn put_object(&self, mut obj: ObjectVersion, cond: PutCondition) -> Result<Vec<ObjectVersion>> {
        self.get_bucket(&obj.bucket).await?;
        let _g = self.lock_of(&obj.bucket, &obj.key).lock().await;
        let (set, m) = self.read_xl(&obj.bucket, &obj.key).await?;
        let mut m = m.unwrap_or(XlMeta { major: 1, minor: 3, versions: Vec::new(), inline: Default::default() });
        let current = Self::versions_of(&obj.bucket, &obj.key, set, &m);
        let live = current.first().filter(|c| !c.delete_marker);
        match &cond {
            PutCondition::IfNoneMatchAny if live.is_some() => return Err(MetaError::PreconditionFailed),
            PutCondition::IfMatch(e) if live.is_none_or(|c| &c.etag != e) => return Err(MetaError::PreconditionFailed),
            _ => {}
        }
        if let Some(c) = current.first()
            && obj.mtime_ns <= c.mtime_ns
        {
            obj.mtime_ns = c.mtime_ns + 1;
        }
        let mut replaced = Vec::new();
        if let Some(i) = current.iter().position(|c| c.version_id == obj.version_id) {
            replaced.push(current[i].clone());
            let key = m.versions[i].version_id.clone().unwrap_or_else(|| metadata::NULL_VERSION.into());
            m.versions.remove(i);
            m.inline.remove(&key);
        }
        let (v, inline) = mapping::to_xl(&obj, 0);
        if let Some(b) = inline {
            m.inline.insert(v.version_id.clone().unwrap_or_else(|| metadata::NULL_VERSION.into()), b);
        }
        m.versions.insert(0, v);
        self.write_xl(set, &obj.bucket, &obj.key, m).await?;
        Ok(replaced)
    }

    /// Removes one version; the next newest becomes current. Returns the removed version.
    pub async fn delete_version(&self, bucket: &str, key: &str, version_id: &str) -> Result<Option<ObjectVersion>> {
        self.get_bucket(bucket).await?;
        let _g = self.lock_of(bucket, key).lock().await;
        let (set, m) = self.read_xl(bucket, key).await?;
        let Some(mut m) = m else { return Ok(None) };
        let current = Self::versions_of(bucket, key, set, &m);
        let Some(i) = current.iter().position(|c| c.version_id == version_id) else { return Ok(None) };
        let inline_key = m.versions[i].version_id.clone().unwrap_or_else(|| metadata::NULL_VERSION.into());
        m.versions.remove(i);
        m.inline.remove(&inline_key);
        self.write_xl(set, bucket, key, m).await?;
        Ok(Some(current[i].clone()))
    }
}

impl LegacyStore {
    /// Keys and `/` common prefixes after `after`, merged over all sets; each set is walked on
    /// enough drives that a key written with quorum is on at least one of them.
    async fn walk(&self, bucket: &str, prefix: &str, after: Option<&str>, slash: bool, limit: usize) -> Vec<Entry> {
        let per_set = self.ec.drives().count() / self.ec.set_count().max(1) - self.ec.write_quorum() + 1;
        let roots: Vec<std::path::PathBuf> = (0..self.ec.set_count())
            .flat_map(|i| {
                self.ec
                    .set_drives(i)
                    .iter()
                    .filter(|d| d.is_online())
                    .take(per_set)
                    .map(|d| d.path.join(bucket))
                    .collect::<Vec<_>>()
            })
            .collect();
        let (prefix, after) = (prefix.to_string(), after.map(str::to_string));
        blocking(move || {
            let mut all: Vec<Entry> = Vec::new();
            for r in &roots {
                let w = Walk { prefix: &prefix, after: after.as_deref(), slash_delimiter: slash, limit };
                all.extend(w.run(r));
            }
            all.sort_by(|a, b| a.name().cmp(b.name()));
            all.dedup();
            all.truncate(limit);
            all
        })
        .await
        .unwrap_or_default()
    }

    /// Current versions (not delete markers) and common prefixes, as the KV track lists them.
    pub async fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage<ObjectVersion>> {
        self.list(bucket, &q.prefix, q.delimiter.as_deref(), q.after.clone(), q.max_keys, false).await
    }

    /// Every version and delete marker by key, newest first within a key.
    pub async fn list_versions(&self, bucket: &str, q: &VersionQuery) -> Result<ListPage<ObjectVersion>> {
        let mut page = self.list(bucket, &q.prefix, q.delimiter.as_deref(), None, usize::MAX, true).await?;
        // Resume after (key_marker, version_id_marker), then page.
        if let Some(km) = &q.key_marker {
            let vm = q.version_id_marker.as_deref();
            let pos = page.items.iter().position(|i| match i {
                ListItem::Object(o) => o.key.as_str() > km.as_str(),
                ListItem::CommonPrefix(p) => p.as_str() > km.as_str() && !km.starts_with(p.as_str()),
            });
            let mut start = pos.unwrap_or(page.items.len());
            if let Some(vm) = vm
                && let Some(i) = page
                    .items
                    .iter()
                    .position(|i| matches!(i, ListItem::Object(o) if o.key == *km && o.version_id == vm))
            {
                start = i + 1;
            }
            page.items.drain(..start);
        }
        page.truncated = page.items.len() > q.max_keys;
        page.items.truncate(q.max_keys);
        Ok(page)
    }

    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        mut after: Option<String>,
        max: usize,
        versions: bool,
    ) -> Result<ListPage<ObjectVersion>> {
        self.get_bucket(bucket).await?;
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let slash = delimiter == Some("/");
        let mut page = ListPage { items: Vec::new(), truncated: false };
        let chunk = 256;
        loop {
            let entries = self.walk(bucket, prefix, after.as_deref(), slash, chunk).await;
            let done = entries.len() < chunk;
            for e in entries {
                after = Some(e.name().to_string());
                let item_count = page.items.len();
                match e {
                    Entry::CommonPrefix(p) => {
                        if item_count >= max {
                            page.truncated = true;
                            return Ok(page);
                        }
                        page.items.push(ListItem::CommonPrefix(p));
                    }
                    Entry::Key(k) => {
                        // Other delimiters fold keys into common prefixes here.
                        if let Some(d) = delimiter.filter(|_| !slash)
                            && let Some(i) = k[prefix.len()..].find(d)
                        {
                            let cp = k[..prefix.len() + i + d.len()].to_string();
                            if !matches!(page.items.last(), Some(ListItem::CommonPrefix(last)) if *last == cp) {
                                if item_count >= max {
                                    page.truncated = true;
                                    return Ok(page);
                                }
                                page.items.push(ListItem::CommonPrefix(cp));
                            }
                            continue;
                        }
                        let (set, m) = self.read_xl(bucket, &k).await?;
                        let Some(m) = m else { continue };
                        let all = Self::versions_of(bucket, &k, set, &m);
                        let shown: Vec<ObjectVersion> =
                            if versions { all } else { all.into_iter().take(1).filter(|v| !v.delete_marker).collect() };
                        for v in shown {
                            if page.items.len() >= max {
                                page.truncated = true;
                                return Ok(page);
                            }
                            page.items.push(ListItem::Object(v));
                        }
                    }
                }
            }
            if done {
                return Ok(page);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use metadata::{NULL_VERSION, ObjectData, Versioning};

    use super::*;

    fn obj(vid: &str, etag: &str, mtime: i64) -> ObjectVersion {
        ObjectVersion {
            bucket: "legacy".into(),
            key: "a/b".into(),
            version_id: vid.into(),
            delete_marker: false,
            size: 3,
            etag: etag.into(),
            mtime_ns: mtime,
            content_type: Some("text/plain".into()),
            headers: BTreeMap::new(),
            user_meta: BTreeMap::new(),
            checksums: BTreeMap::new(),
            data: ObjectData::Inline(etag.as_bytes().to_vec()),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn versions_in_xl_meta_on_real_drives() {
        let root = tempfile::tempdir().unwrap();
        let paths: Vec<_> = (0..12).map(|i| root.path().join(format!("d{i}"))).collect();
        let ec = Arc::new(EcStore::open(&paths, 1 << 20).unwrap());
        let s = LegacyStore::new(ec);
        let b = BucketInfo {
            name: "legacy".into(),
            owner: "o".into(),
            created_ns: 1,
            location: None,
            versioning: Versioning::Enabled,
            deleting: false,
        };
        s.create_bucket(b.clone()).await.unwrap();
        assert!(matches!(s.create_bucket(b).await, Err(MetaError::BucketExists(_))));
        assert!(matches!(s.get_object("legacy", "a/b", None).await, Err(MetaError::NoSuchKey { .. })));
        s.put_object(obj(NULL_VERSION, "n1", 10), PutCondition::None).await.unwrap();
        let v1 = "5f1f7a3e-4b7b-4a59-9c55-0c9b6a1d2f10";
        s.put_object(obj(v1, "e1", 20), PutCondition::None).await.unwrap();
        assert_eq!(s.get_object("legacy", "a/b", None).await.unwrap().etag, "e1");
        assert_eq!(
            s.get_object("legacy", "a/b", Some(NULL_VERSION)).await.unwrap().data,
            ObjectData::Inline(b"n1".to_vec())
        );
        // A null write replaces only the null version.
        let replaced = s.put_object(obj(NULL_VERSION, "n2", 30), PutCondition::None).await.unwrap();
        assert_eq!(replaced.iter().map(|r| r.etag.as_str()).collect::<Vec<_>>(), ["n1"]);
        assert!(matches!(
            s.put_object(obj(NULL_VERSION, "x", 40), PutCondition::IfMatch("zz".into())).await,
            Err(MetaError::PreconditionFailed)
        ));
        // The files are MinIO-format xl.meta on every drive.
        for p in &paths {
            let raw = std::fs::read(p.join("legacy/a/b/xl.meta")).unwrap();
            assert_eq!(crate::xlmeta::decode(&raw).unwrap().versions.len(), 2);
        }
        assert_eq!(s.delete_version("legacy", "a/b", NULL_VERSION).await.unwrap().unwrap().etag, "n2");
        assert_eq!(s.get_object("legacy", "a/b", None).await.unwrap().version_id, v1);
        s.delete_version("legacy", "a/b", v1).await.unwrap();
        assert!(!paths[0].join("legacy/a/b/xl.meta").exists());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn listing_matches_key_order_across_two_sets() {
        let root = tempfile::tempdir().unwrap();
        let paths: Vec<_> = (0..24).map(|i| root.path().join(format!("d{i}"))).collect();
        let ec = Arc::new(EcStore::open(&paths, 1 << 20).unwrap());
        let s = LegacyStore::new(ec);
        let b = BucketInfo {
            name: "legacy".into(),
            owner: "o".into(),
            created_ns: 1,
            location: None,
            versioning: Versioning::Unversioned,
            deleting: false,
        };
        s.create_bucket(b).await.unwrap();
        let mut keys: Vec<String> = (0..40).map(|i| format!("k{i:02}")).collect();
        keys.extend(["a-b", "a/x", "a/y/z", "z"].iter().map(|s| s.to_string()));
        for (i, k) in keys.iter().enumerate() {
            let mut o = obj(NULL_VERSION, "e", 100 + i as i64);
            o.key = k.clone();
            s.put_object(o, PutCondition::None).await.unwrap();
        }
        // A deleted key disappears from listings.
        s.delete_version("legacy", "k05", NULL_VERSION).await.unwrap();
        keys.retain(|k| k != "k05");
        keys.sort();
        let mut got = Vec::new();
        let mut q = ListQuery { max_keys: 7, ..Default::default() };
        loop {
            let page = s.list_objects("legacy", &q).await.unwrap();
            got.extend(page.objects().map(|o| o.key.clone()));
            match page.objects().last() {
                Some(o) if page.truncated => q.after = Some(o.key.clone()),
                _ => break,
            }
        }
        assert_eq!(got, keys);
        let q = ListQuery { delimiter: Some("/".into()), max_keys: 100, ..Default::default() };
        let page = s.list_objects("legacy", &q).await.unwrap();
        assert_eq!(page.prefixes().collect::<Vec<_>>(), ["a/"]);
        assert_eq!(page.objects().count(), keys.len() - 2);
        let v = s.list_versions("legacy", &VersionQuery { max_keys: 1000, ..Default::default() }).await.unwrap();
        assert_eq!(v.objects().count(), keys.len());
    }
}
