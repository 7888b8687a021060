//! The legacy track's store: bucket records and object versions kept as MinIO-format
//! xl.meta files on the drives. Every change to a key is a read-modify-write of its xl.meta
//! under a per-key lock, committed by a quorum write. (Listing and multipart state on this
//! track are the next step of issue 3.) This module must never acknowledge a change before
//! its quorum write completed.

use std::sync::Arc;

use async_trait::async_trait;
use metadata::{
    BucketInfo, CompleteOutcome, ListItem, ListPage, ListQuery, MetaError, MetadataStore, MultipartUpload,
    ObjectVersion, PutCondition, Result, UploadQuery, UploadedPart, VersionQuery,
};
use tokio::sync::{Mutex, RwLock};

use super::walk::{Entry, WalkQuery};
use super::{files, mapping, minio_inline, pools, records};
use crate::drives::Drive;
use crate::xlmeta::XlMeta;
use crate::{EcStore, StoreError};

const LOCK_STRIPES: usize = 1024;

pub struct LegacyStore {
    pub(super) ec: Arc<EcStore>,
    /// Per-key locks: writes of a key exclusive, reads shared, so a read never sees an
    /// overwrite half-way across the drives.
    locks: Vec<RwLock<()>>,
    /// Per-upload locks (separate stripes: completing an upload also locks its key).
    upload_locks: Vec<Mutex<()>>,
}

fn backend(e: StoreError) -> MetaError {
    match e {
        StoreError::ReadQuorum(..) | StoreError::WriteQuorum { .. } => MetaError::Unavailable(e.to_string()),
        StoreError::InvalidName(k) => MetaError::InvalidKey(k),
        other => MetaError::Backend(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| MetaError::Backend(e.to_string()))
}

/// A MinIO v1 version read from `xl.json` (see `xlmeta::v1`): served and replaceable, but
/// it has no xl.meta form, so no write keeps it (MinIO converts it when it rewrites the
/// key; this server does not write MinIO's v1 records).
fn is_xl_json_version(v: &crate::xlmeta::XlVersion) -> bool {
    v.kind == crate::xlmeta::VersionType::Legacy && v.v1_raw.is_none()
}

/// Whether a key as read holds a version from MinIO's `xl.json`.
fn has_xl_json(m: Option<&XlMeta>) -> bool {
    m.is_some_and(|m| m.versions.iter().any(is_xl_json_version))
}

fn xl_json_kept(bucket: &str, key: &str) -> MetaError {
    MetaError::Unsupported(format!(
        "{bucket}/{key} is kept by MinIO in xl.json (written by a MinIO release before 2020), which cannot stay \
         as an older version beside a new one; overwrite or delete it with versioning suspended, or let MinIO \
         rewrite it first"
    ))
}

fn bucket_rel(name: &str) -> std::path::PathBuf {
    std::path::Path::new("buckets").join(format!("{name}.json"))
}

impl LegacyStore {
    pub fn new(ec: Arc<EcStore>) -> Self {
        Self {
            ec,
            locks: (0..LOCK_STRIPES).map(|_| RwLock::new(())).collect(),
            upload_locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    fn all_drives(&self) -> Vec<Arc<Drive>> {
        self.ec.drives().cloned().collect()
    }

    fn lock_of(&self, bucket: &str, key: &str) -> &RwLock<()> {
        let h = xxhash_rust::xxh3::xxh3_64(format!("{bucket}/{key}").as_bytes());
        &self.locks[(h % LOCK_STRIPES as u64) as usize]
    }

    fn upload_lock(&self, bucket: &str, upload_id: &str) -> &Mutex<()> {
        let h = xxhash_rust::xxh3::xxh3_64(format!("{bucket}/{upload_id}").as_bytes());
        &self.upload_locks[(h % LOCK_STRIPES as u64) as usize]
    }

    /// Refuses keys the keyed layout cannot hold (MinIO's rules), and keys below an object
    /// (`a/b` when `a` is an object: MinIO's XMinioParentIsObject), so that no two keys ever
    /// share a folder's xl.meta or data dirs.
    async fn check_new_key(&self, bucket: &str, key: &str) -> Result<()> {
        crate::paths::check_legacy_key(key).map_err(backend)?;
        let trimmed = key.strip_suffix('/').unwrap_or(key);
        let mut probes = Vec::new();
        for (i, _) in trimmed.match_indices('/') {
            let parent = &trimmed[..i];
            // The parent may be an object on any pool.
            for set in self.ec.key_sets(bucket, parent) {
                let drives: Vec<Arc<Drive>> =
                    self.ec.set_drives(set).iter().filter(|d| d.is_online()).cloned().collect();
                let rel = crate::paths::object_dir(std::path::Path::new(""), bucket, parent).join(files::XL_META);
                probes.push((parent.to_string(), drives, rel));
            }
        }
        if probes.is_empty() {
            return Ok(());
        }
        // Where MinIO's xl.json can hold objects, a folder with one is an object too.
        let xl_json = self.ec.minio_v1_metadata();
        let hit = blocking(move || {
            probes.into_iter().find_map(|(parent, drives, rel)| {
                let json = rel.with_file_name(crate::xlmeta::v1::XL_JSON);
                let is_file = |d: &Drive, p: &std::path::Path| d.io.stat(p).is_ok_and(|s| !s.is_dir);
                let held = crate::drives::on_each(&drives, |_, d| is_file(d, &rel) || (xl_json && is_file(d, &json)));
                (held.iter().filter(|h| **h).count() * 2 > drives.len()).then_some(parent)
            })
        })
        .await?;
        match hit {
            Some(parent) => Err(MetaError::ParentIsObject(format!("{bucket}/{parent}"))),
            None => Ok(()),
        }
    }

    /// Reads a bucket record: the content a majority of all drives agrees on.
    pub async fn get_bucket(&self, name: &str) -> Result<BucketInfo> {
        let drives = self.all_drives();
        let rel = bucket_rel(name);
        let found = blocking(move || records::read(&drives, &rel)).await??;
        found
            .and_then(|b| serde_json::from_slice::<BucketInfo>(&b).ok())
            .filter(|b| !b.deleting)
            .ok_or_else(|| MetaError::NoSuchBucket(name.to_string()))
    }

    async fn write_bucket(&self, info: &BucketInfo) -> Result<()> {
        let drives = self.all_drives();
        let body = serde_json::to_vec_pretty(info).map_err(|e| MetaError::Backend(e.to_string()))?;
        let rel = bucket_rel(&info.name);
        blocking(move || records::write(&drives, &rel, &body)).await?
    }

    pub async fn create_bucket(&self, info: BucketInfo) -> Result<()> {
        let _g = self.lock_of(&info.name, "").write().await;
        match self.get_bucket(&info.name).await {
            Ok(_) => Err(MetaError::BucketExists(info.name)),
            Err(MetaError::NoSuchBucket(_)) => self.write_bucket(&info).await,
            Err(e) => Err(e),
        }
    }

    pub async fn update_bucket(&self, info: BucketInfo) -> Result<()> {
        let _g = self.lock_of(&info.name, "").write().await;
        self.get_bucket(&info.name).await?;
        self.write_bucket(&info).await
    }

    /// The key's home set and its xl.meta there (see `pools`).
    async fn read_xl(&self, bucket: &str, key: &str) -> Result<(usize, Option<XlMeta>)> {
        pools::locate(&self.ec, bucket, key, self.ec.minio_v1_metadata()).await.map_err(backend)
    }

    /// The set a write of `data` to a key found at `(home, m)` goes to: the home, unless
    /// `data` was written (keyed layout) on another set the key may live on while the key is
    /// on no pool (a new key: its data decides). Data on another set than an existing key's
    /// (two first writes of one key that chose different pools) is refused as a conflict:
    /// the caller retries and finds the key where the other write put it.
    fn target_set(&self, bucket: &str, key: &str, home: usize, exists: bool, data: &[&ObjectVersion]) -> Result<usize> {
        let keyed: Vec<usize> = data
            .iter()
            .filter_map(|o| match &o.data {
                metadata::ObjectData::Erasure(l) if l.bucket_id.is_none() && !l.data_dir.is_empty() => {
                    Some(l.set as usize)
                }
                _ => None,
            })
            .collect();
        let Some(&first) = keyed.first() else { return Ok(home) };
        let target = if exists || first == home { home } else { first };
        if keyed.iter().any(|&s| s != target) || !self.ec.key_sets(bucket, key).contains(&target) {
            tracing::warn!(bucket, key, home, data_set = first, "a key's data is on another pool than its metadata");
            return Err(MetaError::Conflict(1));
        }
        Ok(target)
    }

    /// Writes `meta` as the key's xl.meta on its set (removes it when `meta` has no version).
    /// `replaces_xl_json`: the key was read from MinIO's `xl.json`, which goes too: after the
    /// new xl.meta is written (which shadows it), or before the last xl.meta is removed (so
    /// a crash never brings a deleted object back).
    async fn write_xl(&self, set: usize, bucket: &str, key: &str, meta: XlMeta, replaces_xl_json: bool) -> Result<()> {
        if meta.versions.iter().any(is_xl_json_version) {
            return Err(xl_json_kept(bucket, key));
        }
        let drives = self.ec.set_drives(set).to_vec();
        let quorum = self.ec.write_quorum(set);
        let (b, k) = (bucket.to_string(), key.to_string());
        let xl_json = replaces_xl_json;
        blocking(move || {
            if meta.versions.is_empty() {
                if xl_json {
                    files::remove_xl_json(&drives, &b, &k)?;
                }
                return files::remove(&drives, &b, &k);
            }
            let per_drive =
                minio_inline::PerDrive::new(&meta).map_err(|e| crate::StoreError::Format(format!("{b}/{k}: {e}")))?;
            files::write(&drives, &b, &k, quorum, |pos| {
                let mut m = per_drive.for_drive(&meta, pos);
                for v in &mut m.versions {
                    if let Some(o) = &mut v.object
                        && o.erasure_algorithm == mapping::ALGO_RS_SIMD
                        && !o.data_dir.is_empty()
                    {
                        o.erasure_index = pos as i64 + 1;
                    }
                }
                m
            })?;
            if xl_json {
                files::remove_xl_json(&drives, &b, &k)?;
            }
            Ok(())
        })
        .await?
        .map_err(backend)
    }

    /// Puts `obj` into `m` at index `at`, as this deployment writes it: an inline object of
    /// an adopted MinIO deployment, before its migration completes, in MinIO's form (each
    /// drive's copy then holds its own shard, see `minio_inline`); everything else as
    /// `mapping::to_xl` gives it (erasure layouts carry their own algorithm).
    fn add_version(&self, m: &mut XlMeta, set: usize, obj: &ObjectVersion, at: usize) {
        let key = if obj.is_null_version() { metadata::NULL_VERSION.to_string() } else { obj.version_id.clone() };
        let (v, inline, decoded) = match &obj.data {
            metadata::ObjectData::Inline(_) if self.ec.minio_writes() => {
                let (data, parity) = self.ec.geometry(set);
                let n = self.ec.set_drives(set).len();
                let order = crate::minio::format::hash_order(&format!("{}/{}", obj.bucket, obj.key), n);
                let (v, b) = mapping::to_minio_inline(obj, data, parity, order);
                (v, Some(b), true)
            }
            _ => {
                let (v, b) = mapping::to_xl(obj, 0);
                (v, b, false)
            }
        };
        if let Some(b) = inline {
            m.inline.insert(key.clone(), b);
        }
        if decoded {
            m.decoded_inline.insert(key);
        }
        m.versions.insert(at.min(m.versions.len()), v);
    }

    /// Appends to `m` the version of `old` that `obj` is (same id, same model), as it is on
    /// disk, with its inline bytes. Returns whether there was one.
    fn keep_version(old: &XlMeta, m: &mut XlMeta, bucket: &str, key: &str, set: usize, obj: &ObjectVersion) -> bool {
        let want = (!obj.is_null_version()).then_some(obj.version_id.as_str());
        let Some(v) = old.versions.iter().find(|v| v.version_id.as_deref() == want && v.mod_time_ns == obj.mtime_ns)
        else {
            return false;
        };
        let mut o = mapping::from_xl(bucket, key, old, v);
        if let metadata::ObjectData::Erasure(l) = &mut o.data {
            l.set = set as u32;
        }
        if &o != obj {
            return false;
        }
        let id = v.version_id.clone().unwrap_or_else(|| metadata::NULL_VERSION.to_string());
        if let Some(b) = old.inline.get(&id) {
            m.inline.insert(id.clone(), b.clone());
        }
        if old.decoded_inline.contains(&id) {
            m.decoded_inline.insert(id);
        }
        m.versions.push(v.clone());
        true
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

    /// Rewrites `bucket/key`'s xl.meta (as a quorum reads it) on every drive of its set when
    /// any online copy is missing, stale or corrupt. Returns whether it rewrote.
    pub async fn heal_meta(&self, bucket: &str, key: &str) -> Result<bool> {
        let _g = self.lock_of(bucket, key).write().await;
        let set = match self.ec.key_sets(bucket, key).as_slice() {
            [one] => *one,
            _ => self.read_xl(bucket, key).await?.0,
        };
        let drives = self.ec.set_drives(set).to_vec();
        let quorum = self.ec.write_quorum(set);
        let (b, k) = (bucket.to_string(), key.to_string());
        let rm = drives.clone();
        let xl_json = self.ec.minio_v1_metadata();
        let a = blocking(move || files::read_agreement(&drives, &b, &k, quorum, xl_json)).await?.map_err(backend)?;
        if has_xl_json(a.meta.as_ref()) {
            // MinIO's per-drive xl.json files are MinIO's to heal.
            return Ok(false);
        }
        let Some(m) = a.meta else {
            if a.agreeing == a.online {
                return Ok(false);
            }
            // Leftovers of a write never acknowledged (no version has enough copies).
            let (b, k) = (bucket.to_string(), key.to_string());
            blocking(move || files::remove(&rm, &b, &k)).await?.map_err(backend)?;
            return Ok(true);
        };
        if a.agreeing == a.online {
            return Ok(false);
        }
        self.write_xl(set, bucket, key, m, false).await?;
        Ok(true)
    }

    /// The current version (`None`) or a given one, as the KV track answers.
    pub async fn get_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectVersion> {
        if crate::paths::legacy_key_problem(key).is_some() {
            self.get_bucket(bucket).await?;
            return Err(MetaError::NoSuchKey { bucket: bucket.into(), key: key.into() });
        }
        let (set, m) = {
            let _g = self.lock_of(bucket, key).read().await;
            self.read_xl(bucket, key).await?
        };
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
        self.check_new_key(&obj.bucket, &obj.key).await?;
        let _g = self.lock_of(&obj.bucket, &obj.key).write().await;
        let (home, m) = self.read_xl(&obj.bucket, &obj.key).await?;
        let set = self.target_set(&obj.bucket, &obj.key, home, m.is_some(), &[&obj])?;
        let from_json = has_xl_json(m.as_ref());
        let mut m = m.unwrap_or(XlMeta { major: 1, minor: 3, versions: Vec::new(), ..Default::default() });
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
        self.add_version(&mut m, set, &obj, 0);
        self.write_xl(set, &obj.bucket, &obj.key, m, from_json).await?;
        Ok(replaced)
    }

    /// Removes one version; the next newest becomes current. Returns the removed version.
    pub async fn delete_version(&self, bucket: &str, key: &str, version_id: &str) -> Result<Option<ObjectVersion>> {
        self.get_bucket(bucket).await?;
        let _g = self.lock_of(bucket, key).write().await;
        let (set, m) = self.read_xl(bucket, key).await?;
        let from_json = has_xl_json(m.as_ref());
        let Some(mut m) = m else { return Ok(None) };
        let current = Self::versions_of(bucket, key, set, &m);
        let Some(i) = current.iter().position(|c| c.version_id == version_id) else { return Ok(None) };
        let inline_key = m.versions[i].version_id.clone().unwrap_or_else(|| metadata::NULL_VERSION.into());
        m.versions.remove(i);
        m.inline.remove(&inline_key);
        self.write_xl(set, bucket, key, m, from_json).await?;
        Ok(Some(current[i].clone()))
    }

    /// Changes one version's attributes in place: only its own system metadata changes, so
    /// everything MinIO keeps in the version stays as it is.
    pub async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        change: &metadata::VersionUpdate,
    ) -> Result<ObjectVersion> {
        self.get_bucket(bucket).await?;
        let _g = self.lock_of(bucket, key).write().await;
        let (set, m) = self.read_xl(bucket, key).await?;
        let missing =
            || MetaError::NoSuchVersion { bucket: bucket.into(), key: key.into(), version_id: version_id.into() };
        let mut m = m.ok_or_else(missing)?;
        if has_xl_json(Some(&m)) {
            return Err(xl_json_kept(bucket, key));
        }
        let current = Self::versions_of(bucket, key, set, &m);
        let i = current.iter().position(|c| c.version_id == version_id).ok_or_else(missing)?;
        let Some(o) = m.versions[i].object.as_mut() else {
            return Err(MetaError::Unsupported("a delete marker has no ACL, tags or lock".into()));
        };
        if let Some(acl) = &change.acl {
            match acl {
                Some(a) => o.meta_sys.insert(mapping::ACL.to_string(), a.clone()),
                None => o.meta_sys.remove(mapping::ACL),
            };
        }
        let mut v = current[i].clone();
        change.apply(&mut v);
        mapping::set_data_mgmt(&mut o.meta_user, &v.tags, v.retention.as_ref(), v.legal_hold);
        self.write_xl(set, bucket, key, m, false).await?;
        Ok(v)
    }
}

impl LegacyStore {
    /// Keys and `/` common prefixes after `after`, merged over all sets; each set is walked on
    /// enough drives that a key written with quorum is on at least one of them.
    /// Keys of `bucket` in order, from a write quorum of each set's online drives: a read
    /// keeps a version more than `n - q` drives hold (see `files`), and any such key has an
    /// xl.meta on at least one of `q` drives, so a listing shows every key a GET finds, even
    /// one a delete or a write cut short left on few drives.
    async fn walk(&self, bucket: &str, prefix: &str, after: Option<&str>, slash: bool, limit: usize) -> Vec<Entry> {
        // Every set of every pool (a key is on one pool; the merge drops repeats).
        let drives: Vec<Arc<Drive>> = (0..self.ec.set_count())
            .flat_map(|i| {
                let q = self.ec.write_quorum(i);
                self.ec.set_drives(i).iter().filter(|d| d.is_online()).take(q).cloned().collect::<Vec<_>>()
            })
            .collect();
        let q = WalkQuery {
            prefix: prefix.to_string(),
            after: after.map(str::to_string),
            slash_delimiter: slash,
            limit,
            xl_json: self.ec.minio_v1_metadata(),
        };
        let root = std::path::PathBuf::from(bucket);
        blocking(move || {
            let mut all: Vec<Entry> = Vec::new();
            // Each drive walks where it is (a drive of another node in one call).
            for walked in crate::drives::on_each(&drives, |_, d| d.io.walk(&root, &q)) {
                match walked {
                    Ok(entries) => all.extend(entries),
                    Err(e) => tracing::warn!(error = %e, "a drive's walk failed; listing from the others"),
                }
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
                        // A key without read quorum (e.g. a write cut short by a crash, never
                        // acknowledged) is left out of listings rather than failing them.
                        let read = {
                            let _g = self.lock_of(bucket, &k).read().await;
                            self.read_xl(bucket, &k).await
                        };
                        let (set, m) = match read {
                            Ok(r) => r,
                            Err(MetaError::Unavailable(why)) => {
                                tracing::warn!(bucket, key = %k, %why, "listing skips a key without read quorum");
                                continue;
                            }
                            Err(e) => return Err(e),
                        };
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

fn upload_rel(bucket: &str, upload_id: &str) -> std::path::PathBuf {
    std::path::Path::new("multipart").join(bucket).join(upload_id)
}

fn safe_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl LegacyStore {
    async fn read_json<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        rel: std::path::PathBuf,
    ) -> Result<Option<T>> {
        let drives = self.all_drives();
        let raw = blocking(move || records::read(&drives, &rel)).await??;
        Ok(raw.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    async fn write_json<T: serde::Serialize>(&self, rel: std::path::PathBuf, v: &T) -> Result<()> {
        let drives = self.all_drives();
        let body = serde_json::to_vec(v).map_err(|e| MetaError::Backend(e.to_string()))?;
        blocking(move || records::write(&drives, &rel, &body)).await?
    }

    async fn list_names(&self, rel: std::path::PathBuf) -> Vec<String> {
        let drives = self.all_drives();
        blocking(move || records::list(&drives, &rel)).await.unwrap_or_default()
    }

    async fn parts_of(&self, bucket: &str, upload_id: &str) -> Result<Vec<UploadedPart>> {
        let rel = upload_rel(bucket, upload_id);
        let mut parts = Vec::new();
        for n in self.list_names(rel.clone()).await {
            if n.starts_with("part.")
                && n.ends_with(".json")
                && let Some(p) = self.read_json::<UploadedPart>(rel.join(&n)).await?
            {
                parts.push(p);
            }
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    async fn all_uploads(&self, bucket: &str) -> Result<Vec<MultipartUpload>> {
        let mut out = Vec::new();
        for id in self.list_names(std::path::Path::new("multipart").join(bucket)).await {
            if let Some(u) = self.read_json::<MultipartUpload>(upload_rel(bucket, &id).join("upload.json")).await? {
                out.push(u);
            }
        }
        out.sort_by(|a, b| (&a.key, &a.upload_id).cmp(&(&b.key, &b.upload_id)));
        Ok(out)
    }
}

#[async_trait]
impl MetadataStore for LegacyStore {
    async fn create_bucket(&self, info: BucketInfo) -> Result<()> {
        LegacyStore::create_bucket(self, info).await
    }

    async fn get_bucket(&self, name: &str) -> Result<BucketInfo> {
        LegacyStore::get_bucket(self, name).await
    }

    async fn update_bucket(&self, info: BucketInfo) -> Result<()> {
        LegacyStore::update_bucket(self, info).await
    }

    async fn delete_bucket(&self, name: &str) -> Result<()> {
        let _g = self.lock_of(name, "").write().await;
        let mut b = LegacyStore::get_bucket(self, name).await?;
        // Mark first, so that no write lands while emptiness is checked.
        b.deleting = true;
        self.write_bucket(&b).await?;
        let empty = self.walk(name, "", None, false, 1).await.is_empty() && self.all_uploads(name).await?.is_empty();
        if !empty {
            b.deleting = false;
            self.write_bucket(&b).await?;
            return Err(MetaError::BucketNotEmpty(name.to_string()));
        }
        let drives = self.all_drives();
        let rel = bucket_rel(name);
        blocking(move || records::remove(&drives, &rel)).await?;
        Ok(())
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let mut out = Vec::new();
        for n in self.list_names(std::path::PathBuf::from("buckets")).await {
            if let Some(name) = n.strip_suffix(".json") {
                match LegacyStore::get_bucket(self, name).await {
                    Ok(b) => out.push(b),
                    Err(MetaError::NoSuchBucket(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(out)
    }

    async fn get_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectVersion> {
        LegacyStore::get_object(self, bucket, key, version_id).await
    }

    async fn put_object(&self, obj: ObjectVersion, cond: PutCondition) -> Result<Vec<ObjectVersion>> {
        LegacyStore::put_object(self, obj, cond).await
    }

    async fn delete_version(&self, bucket: &str, key: &str, version_id: &str) -> Result<Option<ObjectVersion>> {
        LegacyStore::delete_version(self, bucket, key, version_id).await
    }

    async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        change: &metadata::VersionUpdate,
    ) -> Result<ObjectVersion> {
        LegacyStore::update_version(self, bucket, key, version_id, change).await
    }

    async fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage<ObjectVersion>> {
        LegacyStore::list_objects(self, bucket, q).await
    }

    async fn list_versions(&self, bucket: &str, q: &VersionQuery) -> Result<ListPage<ObjectVersion>> {
        LegacyStore::list_versions(self, bucket, q).await
    }

    async fn create_upload(&self, upload: MultipartUpload) -> Result<()> {
        LegacyStore::get_bucket(self, &upload.bucket).await?;
        self.check_new_key(&upload.bucket, &upload.key).await?;
        if !safe_id(&upload.upload_id) {
            return Err(MetaError::Backend("invalid upload id".into()));
        }
        self.write_json(upload_rel(&upload.bucket, &upload.upload_id).join("upload.json"), &upload).await
    }

    async fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<MultipartUpload> {
        let missing = || MetaError::NoSuchUpload(upload_id.to_string());
        if !safe_id(upload_id) {
            LegacyStore::get_bucket(self, bucket).await?;
            return Err(missing());
        }
        match self.read_json::<MultipartUpload>(upload_rel(bucket, upload_id).join("upload.json")).await? {
            Some(u) if u.key == key => Ok(u),
            _ => {
                LegacyStore::get_bucket(self, bucket).await?;
                Err(missing())
            }
        }
    }

    async fn put_part(&self, upload: &MultipartUpload, part: UploadedPart) -> Result<Option<UploadedPart>> {
        let _g = self.upload_lock(&upload.bucket, &upload.upload_id).lock().await;
        MetadataStore::get_upload(self, &upload.bucket, &upload.key, &upload.upload_id).await?;
        let rel = upload_rel(&upload.bucket, &upload.upload_id).join(format!("part.{:05}.json", part.number));
        let old = self.read_json::<UploadedPart>(rel.clone()).await?;
        self.write_json(rel, &part).await?;
        Ok(old)
    }

    async fn list_parts(&self, upload_id: &str, after: u32, max: usize) -> Result<Vec<UploadedPart>> {
        // Upload ids are unique across buckets; find the bucket folder holding this one.
        for b in MetadataStore::list_buckets(self).await? {
            let names = self.list_names(upload_rel(&b.name, upload_id)).await;
            if !names.is_empty() {
                let parts = self.parts_of(&b.name, upload_id).await?;
                return Ok(parts.into_iter().filter(|p| p.number > after).take(max).collect());
            }
        }
        Ok(Vec::new())
    }

    async fn list_uploads(&self, bucket: &str, q: &UploadQuery) -> Result<ListPage<MultipartUpload>> {
        LegacyStore::get_bucket(self, bucket).await?;
        let mut page = ListPage { items: Vec::new(), truncated: false };
        let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
        for u in self.all_uploads(bucket).await? {
            if !u.key.starts_with(q.prefix.as_str()) {
                continue;
            }
            let after_marker = match (&q.key_marker, &q.upload_id_marker) {
                (Some(k), Some(id)) if !id.is_empty() => (&u.key, &u.upload_id) > (k, id),
                (Some(k), _) => u.key > *k,
                _ => true,
            };
            if !after_marker {
                continue;
            }
            let item = match delimiter.and_then(|d| u.key[q.prefix.len()..].find(d).map(|i| (d, i))) {
                Some((d, i)) => {
                    let cp = u.key[..q.prefix.len() + i + d.len()].to_string();
                    if matches!(page.items.last(), Some(ListItem::CommonPrefix(l)) if *l == cp) {
                        continue;
                    }
                    ListItem::CommonPrefix(cp)
                }
                None => ListItem::Object(u),
            };
            if page.items.len() >= q.max_uploads {
                page.truncated = true;
                break;
            }
            page.items.push(item);
        }
        Ok(page)
    }

    async fn complete_upload(
        &self,
        upload: &MultipartUpload,
        obj: ObjectVersion,
        used: &[UploadedPart],
        cond: PutCondition,
    ) -> Result<CompleteOutcome> {
        let _g = self.upload_lock(&upload.bucket, &upload.upload_id).lock().await;
        MetadataStore::get_upload(self, &upload.bucket, &upload.key, &upload.upload_id).await?;
        let parts = self.parts_of(&upload.bucket, &upload.upload_id).await?;
        // Parts are recorded under the same lock: the ones used are still current.
        let unused_parts = metadata::check_used_parts(&parts, used)?;
        // The object commit is the point of visibility; the upload records go after it.
        let replaced = LegacyStore::put_object(self, obj, cond).await?;
        let drives = self.all_drives();
        let rel = upload_rel(&upload.bucket, &upload.upload_id);
        blocking(move || records::remove(&drives, &rel)).await?;
        Ok(CompleteOutcome { replaced, unused_parts })
    }

    async fn key_versions(&self, bucket: &str, key: &str) -> Result<Vec<ObjectVersion>> {
        if crate::paths::legacy_key_problem(key).is_some() {
            // A key this track cannot hold (one the KV may have) has no versions here.
            LegacyStore::get_bucket(self, bucket).await?;
            return Ok(Vec::new());
        }
        let (set, m) = {
            let _g = self.lock_of(bucket, key).read().await;
            self.read_xl(bucket, key).await?
        };
        match m {
            Some(m) => Ok(Self::versions_of(bucket, key, set, &m)),
            None => {
                LegacyStore::get_bucket(self, bucket).await?;
                Ok(Vec::new())
            }
        }
    }

    async fn replace_key(&self, bucket: &str, key: &str, versions: Vec<ObjectVersion>) -> Result<()> {
        LegacyStore::get_bucket(self, bucket).await?;
        crate::paths::check_legacy_key(key).map_err(backend)?;
        let _g = self.lock_of(bucket, key).write().await;
        // Versions already here unchanged are kept as they are on disk (MinIO's fields and
        // keys included: a version MinIO encrypted keeps its sealed key, which our model
        // does not carry); only new or changed ones are written from the model.
        let (home, old) = self.read_xl(bucket, key).await?;
        let set = self.target_set(bucket, key, home, old.is_some(), &versions.iter().collect::<Vec<_>>())?;
        let mut m = XlMeta { major: 1, minor: 3, versions: Vec::new(), ..Default::default() };
        for obj in &versions {
            if let Some(old) = &old
                && Self::keep_version(old, &mut m, bucket, key, set, obj)
            {
                continue;
            }
            if let metadata::ObjectData::Erasure(l) = &obj.data
                && let Some(why) = l.algorithm.strip_prefix(crate::ALGORITHM_REFUSED_PREFIX)
            {
                // Its stored form cannot be written from the model: refused, not damaged.
                return Err(backend(crate::StoreError::Unsupported(format!("{bucket}/{key}: {why}"))));
            }
            if let metadata::ObjectData::Erasure(l) = &obj.data
                && l.data_dir.is_empty()
            {
                // A MinIO xl.json object changed elsewhere: it has no xl.meta form.
                return Err(xl_json_kept(bucket, key));
            }
            let at = m.versions.len();
            self.add_version(&mut m, set, obj, at);
        }
        let from_json = has_xl_json(old.as_ref());
        if from_json && old.as_ref().is_some_and(|o| m.versions == o.versions) {
            // Exactly the key MinIO keeps in xl.json: nothing to write.
            return Ok(());
        }
        self.write_xl(set, bucket, key, m, from_json).await
    }

    async fn keys_after(&self, bucket: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        LegacyStore::get_bucket(self, bucket).await?;
        let entries = self.walk(bucket, "", after, false, limit).await;
        Ok(entries
            .into_iter()
            .filter_map(|e| match e {
                Entry::Key(k) => Some(k),
                Entry::CommonPrefix(_) => None,
            })
            .collect())
    }

    fn keyed_data(&self) -> bool {
        true
    }

    async fn recover(&self) -> Result<Vec<String>> {
        let mut repaired = Vec::new();
        for n in self.list_names(std::path::PathBuf::from("buckets")).await {
            let Some(name) = n.strip_suffix(".json") else { continue };
            let Some(mut b) = self.read_json::<BucketInfo>(bucket_rel(name)).await? else { continue };
            if !b.deleting {
                continue;
            }
            let empty =
                self.walk(name, "", None, false, 1).await.is_empty() && self.all_uploads(name).await?.is_empty();
            if empty {
                let drives = self.all_drives();
                let rel = bucket_rel(name);
                blocking(move || records::remove(&drives, &rel)).await?;
            } else {
                b.deleting = false;
                self.write_bucket(&b).await?;
            }
            repaired.push(b.name);
        }
        Ok(repaired)
    }

    async fn abort_upload(&self, upload: &MultipartUpload) -> Result<Vec<UploadedPart>> {
        let _g = self.upload_lock(&upload.bucket, &upload.upload_id).lock().await;
        MetadataStore::get_upload(self, &upload.bucket, &upload.key, &upload.upload_id).await?;
        let parts = self.parts_of(&upload.bucket, &upload.upload_id).await?;
        let drives = self.all_drives();
        let rel = upload_rel(&upload.bucket, &upload.upload_id);
        blocking(move || records::remove(&drives, &rel)).await?;
        Ok(parts)
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
            acl: None,
            retention: None,
            legal_hold: false,
            tags: Default::default(),
            sse: None,
        }
    }

    /// A store over `n` fresh drive folders.
    fn store(n: usize) -> (tempfile::TempDir, Vec<std::path::PathBuf>, LegacyStore) {
        let root = tempfile::tempdir().unwrap();
        let paths: Vec<_> = (0..n).map(|i| root.path().join(format!("d{i}"))).collect();
        let s = LegacyStore::new(Arc::new(EcStore::open(&paths, 1 << 20).unwrap()));
        (root, paths, s)
    }

    fn bucket(name: &str, versioning: Versioning, deleting: bool) -> BucketInfo {
        BucketInfo {
            name: name.into(),
            id: String::new(),
            owner: "o".into(),
            created_ns: 1,
            location: None,
            versioning,
            deleting,
            ..Default::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn versions_in_xl_meta_on_real_drives() {
        let (_root, paths, s) = store(12);
        let b = bucket("legacy", Versioning::Enabled, false);
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
        // Heal rewrites a missing and a corrupt copy, and leaves agreeing copies alone.
        assert!(!s.heal_meta("legacy", "a/b").await.unwrap());
        std::fs::remove_file(paths[1].join("legacy/a/b/xl.meta")).unwrap();
        std::fs::write(paths[2].join("legacy/a/b/xl.meta"), b"XL2 garbage").unwrap();
        assert!(s.heal_meta("legacy", "a/b").await.unwrap());
        for p in &paths[1..3] {
            let raw = std::fs::read(p.join("legacy/a/b/xl.meta")).unwrap();
            assert_eq!(crate::xlmeta::decode(&raw).unwrap().versions.len(), 2);
        }
        assert_eq!(s.delete_version("legacy", "a/b", NULL_VERSION).await.unwrap().unwrap().etag, "n2");
        assert_eq!(s.get_object("legacy", "a/b", None).await.unwrap().version_id, v1);
        s.delete_version("legacy", "a/b", v1).await.unwrap();
        assert!(!paths[0].join("legacy/a/b/xl.meta").exists());
    }

    /// A MinIO v1 ("legacy") version inside an xl.meta that MinIO itself would refuse (no
    /// valid V1Obj; found by fuzzing the codec): reads fail instead of answering no bytes,
    /// and writes refuse to rewrite (and drop) it. Valid ones are served
    /// (`tests/minio_objects.rs`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn legacy_v1_versions_are_refused_not_dropped() {
        let (_root, paths, s) = store(12);
        s.create_bucket(bucket("legacy", Versioning::Enabled, false)).await.unwrap();
        let raw = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-v1-version.xl.meta"),
        )
        .unwrap();
        for p in &paths {
            std::fs::create_dir_all(p.join("legacy/a/b")).unwrap();
            std::fs::write(p.join("legacy/a/b/xl.meta"), &raw).unwrap();
        }
        let r = s.get_object("legacy", "a/b", None).await;
        assert!(matches!(&r, Err(MetaError::Unavailable(m)) if m.contains("a/b")), "{r:?}");
        let r = s.put_object(obj("5f1f7a3e-4b7b-4a59-9c55-0c9b6a1d2f10", "e", 10), PutCondition::None).await;
        assert!(matches!(r, Err(MetaError::Unavailable(_))), "{r:?}");
        assert!(s.heal_meta("legacy", "a/b").await.is_err());
        for p in &paths {
            assert_eq!(std::fs::read(p.join("legacy/a/b/xl.meta")).unwrap(), raw, "left as it was");
        }
    }

    /// A version MinIO encrypted carries its sealed key in xl.meta, which our model does
    /// not: rewriting the key (a migration forward or back) keeps that version as it is on
    /// disk, and a changed one is refused rather than written without its key.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rewriting_a_key_keeps_minio_encrypted_versions_as_they_are() {
        let (_root, paths, s) = store(12);
        s.create_bucket(bucket("legacy", Versioning::Enabled, false)).await.unwrap();
        let old_id = "5f1f7a3e-4b7b-4a59-9c55-0c9b6a1d2f10";
        s.put_object(obj(old_id, "e", 10), PutCondition::None).await.unwrap();
        let sealed = "X-Minio-Internal-Server-Side-Encryption-S3-Sealed-Key";
        for p in &paths {
            let f = p.join("legacy/a/b/xl.meta");
            let mut m = crate::xlmeta::decode(&std::fs::read(&f).unwrap()).unwrap();
            let o = m.versions[0].object.as_mut().unwrap();
            o.meta_sys.insert(sealed.into(), b"c2VhbGVk".to_vec());
            std::fs::write(&f, crate::xlmeta::encode(&m)).unwrap();
        }
        let old = s.key_versions("legacy", "a/b").await.unwrap();
        assert!(
            matches!(&old[0].data, ObjectData::Erasure(l) if l.algorithm.starts_with(crate::ALGORITHM_REFUSED_PREFIX))
        );
        let new = obj("7c9e6679-7425-40de-944b-e07fc1f90ae7", "f", 20);
        s.replace_key("legacy", "a/b", vec![new.clone(), old[0].clone()]).await.unwrap();
        for p in &paths {
            let m = crate::xlmeta::decode(&std::fs::read(p.join("legacy/a/b/xl.meta")).unwrap()).unwrap();
            assert_eq!(m.versions.len(), 2);
            assert_eq!(
                m.versions[1].object.as_ref().unwrap().meta_sys.get(sealed).map(Vec::as_slice),
                Some(&b"c2VhbGVk"[..])
            );
        }
        assert_eq!(s.key_versions("legacy", "a/b").await.unwrap(), vec![new.clone(), old[0].clone()]);
        let before: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p.join("legacy/a/b/xl.meta")).unwrap()).collect();
        let mut changed = old[0].clone();
        changed.mtime_ns += 1;
        let r = s.replace_key("legacy", "a/b", vec![new, changed]).await;
        assert!(matches!(&r, Err(MetaError::Backend(m)) if m.contains("encrypted by MinIO")), "{r:?}");
        for (p, b) in paths.iter().zip(&before) {
            assert_eq!(&std::fs::read(p.join("legacy/a/b/xl.meta")).unwrap(), b, "left as it was");
        }
    }

    /// A delete cut short after removing 7 of 12 xl.meta copies (the first drives first, as
    /// `files::remove` goes) leaves a version reads still keep (5 copies, more than n - q):
    /// listings show it too (they once walked only the first 5 drives and missed it, and a
    /// GC check that counted listed versions disagreed with GC).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_key_on_few_drives_is_listed_when_it_is_read() {
        let (_root, paths, s) = store(12);
        s.create_bucket(bucket("legacy", Versioning::Unversioned, false)).await.unwrap();
        s.put_object(obj(NULL_VERSION, "e", 10), PutCondition::None).await.unwrap();
        for p in &paths[..7] {
            std::fs::remove_dir_all(p.join("legacy/a")).unwrap();
        }
        assert_eq!(s.get_object("legacy", "a/b", None).await.unwrap().etag, "e");
        let q = ListQuery { max_keys: 100, ..Default::default() };
        let listed: Vec<String> =
            s.list_objects("legacy", &q).await.unwrap().objects().map(|o| o.key.clone()).collect();
        assert_eq!(listed, ["a/b"]);
        let vq = VersionQuery { max_keys: 100, ..Default::default() };
        assert_eq!(s.list_versions("legacy", &vq).await.unwrap().objects().count(), 1);
        // One drive fewer: the version falls under the vote's threshold, gone from both.
        std::fs::remove_dir_all(paths[7].join("legacy/a")).unwrap();
        assert!(matches!(s.get_object("legacy", "a/b", None).await, Err(MetaError::NoSuchKey { .. })));
        assert_eq!(s.list_objects("legacy", &q).await.unwrap().objects().count(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn listing_matches_key_order_across_two_sets() {
        let (_root, _paths, s) = store(24);
        s.create_bucket(bucket("legacy", Versioning::Unversioned, false)).await.unwrap();
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn recover_finishes_or_undoes_interrupted_bucket_deletes() {
        let (_root, _paths, s) = store(12);
        for name in ["legacy", "empty-one"] {
            s.create_bucket(bucket(name, Versioning::Unversioned, false)).await.unwrap();
        }
        s.put_object(obj(NULL_VERSION, "e", 10), PutCondition::None).await.unwrap();
        for name in ["legacy", "empty-one"] {
            s.write_bucket(&bucket(name, Versioning::Unversioned, true)).await.unwrap();
        }
        assert!(s.get_bucket("legacy").await.is_err(), "a marked bucket is hidden");
        let mut repaired = MetadataStore::recover(&s).await.unwrap();
        repaired.sort();
        assert_eq!(repaired, ["empty-one", "legacy"]);
        assert!(matches!(s.get_bucket("empty-one").await, Err(MetaError::NoSuchBucket(_))));
        assert_eq!(s.get_object("legacy", "a/b", None).await.unwrap().etag, "e");
    }
}
