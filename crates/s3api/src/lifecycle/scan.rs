//! The lifecycle scanner: a background worker that, every `interval`, walks each bucket
//! with lifecycle rules one page of keys at a time and applies them: a current version past
//! its expiration gets a delete marker (versioned buckets) or is removed (unversioned);
//! a noncurrent version is removed `NoncurrentDays` after it became noncurrent, beyond the
//! newest `NewerNoncurrentVersions`; a delete marker left alone is removed
//! (`ExpiredObjectDeleteMarker`, or any `Expiration` by days, as S3 does); incomplete
//! multipart uploads are aborted. Its pace is bounded (`rate` versions a second), its
//! progress shows in `LifecycleStats` (metrics, admin API, `rustfs-admin lifecycle`).
//!
//! It must never remove a version that object lock holds (retention or legal hold), and never
//! act on a key whose current version changed since it was listed.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use metadata::background::{Worker, WorkerState};
use metadata::data_mgmt::{Lock, expiry_ns, lock_state};
use metadata::{BucketInfo, ObjectVersion, UploadQuery, VersionQuery, Versioning, clock};
use serde::{Deserialize, Serialize};

use crate::S3Api;

/// Keys' versions read per unit of work.
const PAGE: usize = 500;

/// How the scanner runs.
#[derive(Debug, Clone, Copy)]
pub struct ScanConfig {
    /// The length of a lifecycle day (24 hours; shorter only for tests).
    pub day: Duration,
    /// Time between the starts of two scans.
    pub interval: Duration,
    /// Most versions examined a second (0: no bound).
    pub rate: u32,
}

impl ScanConfig {
    pub fn day_ns(&self) -> i64 {
        i64::try_from(self.day.as_nanos()).unwrap_or(i64::MAX).max(1)
    }
}

/// What the scanner did since start, and where the current scan is.
#[derive(Debug, Default)]
pub struct LifecycleStats {
    pub scans: AtomicU64,
    pub versions_scanned: AtomicU64,
    pub current_expired: AtomicU64,
    pub noncurrent_expired: AtomicU64,
    pub delete_markers_removed: AtomicU64,
    pub uploads_aborted: AtomicU64,
    pub locked_skipped: AtomicU64,
    pub errors: AtomicU64,
    progress: Mutex<LifecycleStatus>,
}

/// The admin API's view of the scanner (`GET /admin/v1/lifecycle`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LifecycleStatus {
    pub running: bool,
    /// Buckets with rules in the current (or last) scan, and how many are done.
    pub buckets_total: u64,
    pub buckets_done: u64,
    /// The bucket being scanned.
    pub bucket: Option<String>,
    /// Versions examined in the current (or last) scan.
    pub scan_versions: u64,
    pub scans: u64,
    pub versions_scanned: u64,
    pub current_expired: u64,
    pub noncurrent_expired: u64,
    pub delete_markers_removed: u64,
    pub uploads_aborted: u64,
    pub locked_skipped: u64,
    pub errors: u64,
    /// Start of the last completed scan (ns since the epoch) and its duration.
    pub last_scan_started_ns: Option<i64>,
    pub last_scan_seconds: Option<f64>,
}

impl LifecycleStats {
    pub fn status(&self) -> LifecycleStatus {
        let mut s = self.progress.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        s.scans = l(&self.scans);
        s.versions_scanned = l(&self.versions_scanned);
        s.current_expired = l(&self.current_expired);
        s.noncurrent_expired = l(&self.noncurrent_expired);
        s.delete_markers_removed = l(&self.delete_markers_removed);
        s.uploads_aborted = l(&self.uploads_aborted);
        s.locked_skipped = l(&self.locked_skipped);
        s.errors = l(&self.errors);
        s
    }

    fn progress(&self, f: impl FnOnce(&mut LifecycleStatus)) {
        f(&mut self.progress.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Where a scan is.
struct Scan {
    buckets: Vec<String>,
    index: usize,
    /// The last key whose versions were handled.
    after: Option<String>,
    /// Versions handled; the uploads of the bucket are next.
    uploads: bool,
    upload_after: Option<(String, String)>,
    started: tokio::time::Instant,
    started_ns: i64,
    versions: u64,
}

/// The scanner (see the module documentation). Runs on the metadata leader only.
pub struct LifecycleWorker {
    api: S3Api,
    cfg: ScanConfig,
    stats: Arc<LifecycleStats>,
    due: tokio::time::Instant,
    scan: Option<Scan>,
}

impl LifecycleWorker {
    pub fn new(api: S3Api, cfg: ScanConfig, stats: Arc<LifecycleStats>) -> Self {
        // The first scan starts soon after start-up, not a whole interval later.
        let due = tokio::time::Instant::now() + cfg.interval.min(Duration::from_secs(60));
        Self { api, cfg, stats, due, scan: None }
    }

    async fn start_scan(&mut self) -> Result<(), String> {
        let all = self.api.meta.list_buckets().await.map_err(|e| e.to_string())?;
        let buckets: Vec<String> =
            all.into_iter().filter(|b| b.lifecycle.as_ref().is_some_and(|r| !r.is_empty())).map(|b| b.name).collect();
        let n = buckets.len() as u64;
        self.stats.progress(|p| {
            p.running = true;
            p.buckets_total = n;
            p.buckets_done = 0;
            p.scan_versions = 0;
            p.bucket = None;
        });
        self.scan = Some(Scan {
            buckets,
            index: 0,
            after: None,
            uploads: false,
            upload_after: None,
            started: tokio::time::Instant::now(),
            started_ns: clock::now_ns(),
            versions: 0,
        });
        Ok(())
    }

    /// One page of the current bucket; `false` when the scan is over.
    async fn step(&mut self) -> Result<bool, String> {
        let Some(scan) = self.scan.as_mut() else { return Ok(false) };
        let Some(name) = scan.buckets.get(scan.index).cloned() else { return Ok(false) };
        self.stats.progress(|p| p.bucket = Some(name.clone()));
        let bucket = match self.api.meta.get_bucket(&name).await {
            Ok(b) if b.lifecycle.as_ref().is_some_and(|r| !r.is_empty()) => Some(b),
            Ok(_) | Err(metadata::MetaError::NoSuchBucket(_)) => None,
            Err(e) => return Err(e.to_string()),
        };
        let finished = match &bucket {
            None => true,
            Some(b) if !scan.uploads => {
                let (n, next) = self.api.expire_page(b, scan.after.as_deref(), self.cfg.day_ns(), &self.stats).await?;
                scan.versions += n;
                let pace = self.cfg.rate;
                self.stats.progress(|p| p.scan_versions += n);
                if pace > 0 {
                    tokio::time::sleep(Duration::from_secs_f64(n as f64 / f64::from(pace))).await;
                }
                match next {
                    Some(k) => scan.after = Some(k),
                    None => scan.uploads = true,
                }
                false
            }
            Some(b) => {
                let next = self.api.abort_page(b, scan.upload_after.take(), self.cfg.day_ns(), &self.stats).await?;
                let done = next.is_none();
                scan.upload_after = next;
                done
            }
        };
        if finished {
            scan.index += 1;
            scan.after = None;
            scan.uploads = false;
            scan.upload_after = None;
            self.stats.progress(|p| p.buckets_done += 1);
        }
        Ok(scan.index < scan.buckets.len())
    }

    fn finish_scan(&mut self) {
        if let Some(s) = self.scan.take() {
            self.stats.scans.fetch_add(1, Ordering::Relaxed);
            let secs = s.started.elapsed().as_secs_f64();
            self.stats.progress(|p| {
                p.running = false;
                p.bucket = None;
                p.last_scan_started_ns = Some(s.started_ns);
                p.last_scan_seconds = Some(secs);
            });
            tracing::info!(buckets = s.buckets.len(), versions = s.versions, seconds = secs, "lifecycle scan done");
        }
        self.due = tokio::time::Instant::now() + self.cfg.interval;
    }
}

#[async_trait]
impl Worker for LifecycleWorker {
    fn name(&self) -> String {
        "lifecycle".into()
    }

    /// A cluster scans once (on the metadata leader).
    fn leader_only(&self) -> bool {
        true
    }

    async fn work(&mut self) -> Result<WorkerState, String> {
        if self.scan.is_none() {
            if tokio::time::Instant::now() < self.due {
                return Ok(WorkerState::Idle);
            }
            self.start_scan().await?;
        }
        match self.step().await {
            Ok(true) => Ok(WorkerState::Busy),
            Ok(false) => {
                self.finish_scan();
                Ok(WorkerState::Idle)
            }
            Err(e) => {
                // Try the whole scan again at the next interval.
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                self.finish_scan();
                Err(e)
            }
        }
    }

    async fn wait_for_work(&mut self) {
        if self.scan.is_none() {
            tokio::time::sleep_until(self.due).await;
        }
    }
}

/// What to do with one version.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    /// Current version expired: a delete marker (versioned) or removal (unversioned).
    ExpireCurrent,
    /// Remove this version (noncurrent, or a lone delete marker).
    Remove,
}

/// The verdicts for one key's versions (newest first) at `now_ns`.
fn judge(bucket: &BucketInfo, versions: &[ObjectVersion], now_ns: i64, day_ns: i64) -> Vec<Verdict> {
    let rules = bucket.lifecycle.as_deref().unwrap_or_default();
    versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if i == 0 {
                if v.delete_marker {
                    let lone = versions.len() == 1;
                    let removes = rules.iter().any(|r| {
                        r.selects(&v.key, &v.tags, 0) && (r.expired_object_delete_marker || r.expiration_days.is_some())
                    });
                    return if lone && removes { Verdict::Remove } else { Verdict::Keep };
                }
                return match super::expiry_of(bucket, v, day_ns) {
                    Some((at, _)) if at <= now_ns => Verdict::ExpireCurrent,
                    _ => Verdict::Keep,
                };
            }
            let since = versions[i - 1].mtime_ns;
            let newer_noncurrent = (i - 1) as u32;
            let expires = rules.iter().any(|r| {
                r.selects(&v.key, &v.tags, v.size)
                    && r.noncurrent_days.is_some_and(|d| expiry_ns(since, d, day_ns) <= now_ns)
                    && newer_noncurrent >= r.newer_noncurrent_versions.unwrap_or(0)
            });
            if expires { Verdict::Remove } else { Verdict::Keep }
        })
        .collect()
}

impl S3Api {
    /// Applies `bucket`'s rules to the versions of one page of keys after `after`. Returns
    /// the versions examined and the last key handled (`None`: the bucket is done).
    async fn expire_page(
        &self,
        bucket: &BucketInfo,
        after: Option<&str>,
        day_ns: i64,
        stats: &LifecycleStats,
    ) -> Result<(u64, Option<String>), String> {
        let q = VersionQuery {
            prefix: String::new(),
            delimiter: None,
            key_marker: after.map(str::to_string),
            version_id_marker: None,
            max_keys: PAGE,
        };
        let page = self.meta.list_versions(&bucket.name, &q).await.map_err(|e| e.to_string())?;
        let mut groups: Vec<Vec<ObjectVersion>> = Vec::new();
        for v in page.objects() {
            match groups.last_mut() {
                Some(g) if g[0].key == v.key => g.push(v.clone()),
                _ => groups.push(vec![v.clone()]),
            }
        }
        // A page may end inside a key: that key is handled whole on the next page (or,
        // when it alone fills the page, read whole now).
        if page.truncated && groups.len() > 1 {
            groups.pop();
        } else if page.truncated
            && let Some(g) = groups.last_mut()
        {
            *g = self.meta.key_versions(&bucket.name, &g[0].key).await.map_err(|e| e.to_string())?;
        }
        let now = clock::now_ns();
        let mut n = 0u64;
        let mut last = None;
        for g in groups {
            n += g.len() as u64;
            stats.versions_scanned.fetch_add(g.len() as u64, Ordering::Relaxed);
            for (v, verdict) in g.iter().zip(judge(bucket, &g, now, day_ns)) {
                let r = match verdict {
                    Verdict::Keep => Ok(()),
                    Verdict::ExpireCurrent => self.expire_current(bucket, v, stats).await,
                    Verdict::Remove => self.expire_version(bucket, v, stats).await,
                };
                if let Err(e) = r {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(bucket = %bucket.name, key = %v.key, error = %e, "lifecycle action failed");
                }
            }
            last = g.first().map(|v| v.key.clone());
        }
        Ok((n, if page.truncated { last.or_else(|| after.map(str::to_string)) } else { None }))
    }

    /// Expires a current version, if it still is the current one.
    async fn expire_current(
        &self,
        bucket: &BucketInfo,
        v: &ObjectVersion,
        stats: &LifecycleStats,
    ) -> Result<(), String> {
        let cur = match self.meta.get_object(&bucket.name, &v.key, None).await {
            Ok(c) => c,
            Err(metadata::MetaError::NoSuchKey { .. }) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        if cur.version_id != v.version_id || cur.mtime_ns != v.mtime_ns {
            return Ok(());
        }
        if bucket.versioning == Versioning::Unversioned {
            if lock_state(cur.retention.as_ref(), cur.legal_hold, clock::now_ns()) != Lock::Free {
                stats.locked_skipped.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            self.remove_version(&bucket.name, &v.key, &v.version_id).await.map_err(|e| e.to_string())?;
        } else {
            let cond = metadata::PutCondition::IfMatch(cur.etag.clone());
            self.add_delete_marker(bucket, &v.key, cond).await.map_err(|e| e.to_string())?;
        }
        stats.current_expired.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Removes a noncurrent version or a lone delete marker, unless object lock holds it.
    async fn expire_version(
        &self,
        bucket: &BucketInfo,
        v: &ObjectVersion,
        stats: &LifecycleStats,
    ) -> Result<(), String> {
        if lock_state(v.retention.as_ref(), v.legal_hold, clock::now_ns()) != Lock::Free {
            stats.locked_skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        if v.delete_marker {
            // Only while it is still the key's only version.
            let all = self.meta.key_versions(&bucket.name, &v.key).await.map_err(|e| e.to_string())?;
            if all.len() != 1 || all[0].version_id != v.version_id {
                return Ok(());
            }
        }
        self.remove_version(&bucket.name, &v.key, &v.version_id).await.map_err(|e| e.to_string())?;
        if v.delete_marker {
            stats.delete_markers_removed.fetch_add(1, Ordering::Relaxed);
        } else {
            stats.noncurrent_expired.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Aborts the incomplete uploads of one page past their rule's days. Returns where the
    /// next page starts (`None`: the bucket's uploads are done).
    async fn abort_page(
        &self,
        bucket: &BucketInfo,
        after: Option<(String, String)>,
        day_ns: i64,
        stats: &LifecycleStats,
    ) -> Result<Option<(String, String)>, String> {
        let rules = bucket.lifecycle.as_deref().unwrap_or_default();
        if !rules.iter().any(|r| r.enabled && r.abort_incomplete_days.is_some()) {
            return Ok(None);
        }
        let (key_marker, upload_id_marker) = after.unzip();
        let q = UploadQuery { prefix: String::new(), delimiter: None, key_marker, upload_id_marker, max_uploads: PAGE };
        let page = self.meta.list_uploads(&bucket.name, &q).await.map_err(|e| e.to_string())?;
        let now = clock::now_ns();
        let mut last = None;
        for up in page.objects() {
            let due = rules.iter().any(|r| {
                r.enabled
                    && up.key.starts_with(&r.prefix)
                    && r.abort_incomplete_days.is_some_and(|d| expiry_ns(up.initiated_ns, d, day_ns) <= now)
            });
            if due {
                match self.abort_upload(up).await {
                    Ok(()) => {
                        stats.uploads_aborted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(bucket = %bucket.name, key = %up.key, error = %e, "lifecycle abort failed");
                    }
                }
            }
            last = Some((up.key.clone(), up.upload_id.clone()));
        }
        Ok(if page.truncated { last } else { None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metadata::LifecycleRule;

    const DAY: i64 = 1_000_000_000;

    fn v(key: &str, mtime: i64, marker: bool) -> ObjectVersion {
        ObjectVersion {
            bucket: "b".into(),
            key: key.into(),
            version_id: format!("v{mtime}"),
            delete_marker: marker,
            size: 10,
            etag: String::new(),
            mtime_ns: mtime,
            content_type: None,
            headers: Default::default(),
            user_meta: Default::default(),
            checksums: Default::default(),
            data: metadata::ObjectData::None,
            acl: None,
            tags: Default::default(),
            retention: None,
            legal_hold: false,
            sse: None,
        }
    }

    fn bucket(rule: LifecycleRule) -> BucketInfo {
        BucketInfo { lifecycle: Some(vec![LifecycleRule { enabled: true, ..rule }]), ..Default::default() }
    }

    #[test]
    fn current_versions_expire_after_their_days() {
        let b = bucket(LifecycleRule { expiration_days: Some(2), ..Default::default() });
        let g = vec![v("k", 0, false)];
        assert_eq!(judge(&b, &g, 2 * DAY - 1, DAY), vec![Verdict::Keep]);
        assert_eq!(judge(&b, &g, 2 * DAY, DAY), vec![Verdict::ExpireCurrent]);
    }

    #[test]
    fn noncurrent_versions_count_from_their_successor_and_keep_the_newest() {
        let b = bucket(LifecycleRule {
            noncurrent_days: Some(1),
            newer_noncurrent_versions: Some(1),
            ..Default::default()
        });
        // Newest first: current at 30, noncurrent since 30 (mtime 20) and since 20 (mtime 10).
        let g = vec![v("k", 30 * DAY, false), v("k", 20 * DAY, false), v("k", 10 * DAY, false)];
        assert_eq!(judge(&b, &g, 40 * DAY, DAY), vec![Verdict::Keep, Verdict::Keep, Verdict::Remove]);
        let b = bucket(LifecycleRule { noncurrent_days: Some(5), ..Default::default() });
        assert_eq!(judge(&b, &g, 26 * DAY, DAY), vec![Verdict::Keep, Verdict::Keep, Verdict::Remove]);
        assert_eq!(judge(&b, &g, 35 * DAY, DAY), vec![Verdict::Keep, Verdict::Remove, Verdict::Remove]);
    }

    #[test]
    fn only_a_lone_delete_marker_is_removed() {
        let b = bucket(LifecycleRule { expired_object_delete_marker: true, ..Default::default() });
        assert_eq!(judge(&b, &[v("k", 0, true)], DAY, DAY), vec![Verdict::Remove]);
        assert_eq!(judge(&b, &[v("k", 5, true), v("k", 0, false)], DAY, DAY), vec![Verdict::Keep, Verdict::Keep]);
        let none = bucket(LifecycleRule { noncurrent_days: Some(1), ..Default::default() });
        assert_eq!(judge(&none, &[v("k", 0, true)], DAY, DAY), vec![Verdict::Keep]);
    }
}
