//! DualTrack over the real tracks: xl.meta files on 12 drive folders and the KV on a real
//! surrealkv. Phases, shadow writes, the migrator racing writers, rollback, the complete
//! guard, cleanup, repairs and crash recovery of shadow markers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use metadata::background::Runner;
use metadata::dualtrack::migrator::{Migrator, MigratorConfig, Priority};
use metadata::dualtrack::{Class, DualOptions, DualTrack, Level, MigrationState, Phase, Repair};
use metadata::{
    BucketInfo, KvStore, ListQuery, LocalKv, MetaError, MetadataStore, ObjectData, ObjectVersion, PutCondition,
    Versioning,
};
use rustfs_ecstore::EcStore;
use rustfs_ecstore::legacy::store::LegacyStore;

struct Env {
    _root: tempfile::TempDir,
    paths: Vec<std::path::PathBuf>,
    meta: std::path::PathBuf,
}

impl Env {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let paths = (0..12).map(|i| root.path().join(format!("d{i}"))).collect();
        let meta = root.path().join("meta");
        Self { _root: root, paths, meta }
    }

    /// Opens both tracks and a router in `state` (as a server start does).
    async fn open(&self, state: MigrationState, opts: DualOptions) -> (Arc<DualTrack>, Arc<LocalKv>) {
        let ec = Arc::new(EcStore::open(&self.paths, 1 << 20).unwrap());
        let kv = Arc::new(LocalKv::open(&self.meta).unwrap());
        let dt =
            Arc::new(DualTrack::new(Arc::new(LegacyStore::new(ec)), Arc::new(KvStore::new(kv.clone())), state, opts));
        dt.init_state().await.unwrap();
        dt.recover().await.unwrap();
        (dt, kv)
    }
}

fn obj(bucket: &str, key: &str, vid: &str, body: &str, mtime: i64) -> ObjectVersion {
    let mut user_meta = BTreeMap::new();
    user_meta.insert("origin".to_string(), body.to_string());
    ObjectVersion {
        bucket: bucket.into(),
        key: key.into(),
        version_id: vid.into(),
        delete_marker: false,
        size: body.len() as u64,
        etag: format!("{:x}", xxhash_rust::xxh3::xxh3_64(body.as_bytes())),
        mtime_ns: mtime,
        content_type: Some("text/plain".into()),
        headers: BTreeMap::new(),
        user_meta,
        checksums: BTreeMap::new(),
        data: ObjectData::Inline(body.as_bytes().to_vec()),
        acl: None,
        retention: None,
        tags: Default::default(),
        legal_hold: false,
        sse: None,
    }
}

/// A version id in MinIO's form (xl.meta stores version ids as UUIDs).
fn vid(tag: u32, i: u32) -> String {
    format!("{tag:08x}-0000-4000-8000-{i:012x}")
}

fn bucket(name: &str, versioning: Versioning) -> BucketInfo {
    BucketInfo {
        name: name.into(),
        id: metadata::clock::new_bucket_id(),
        owner: "o".into(),
        created_ns: 1,
        location: None,
        versioning,
        deleting: false,
        ..Default::default()
    }
}

/// Starts a router's background workers (shadow copies, state watch) on a runner of its
/// own, kept alive by the caller.
fn workers(dt: &Arc<DualTrack>) -> Arc<Runner> {
    let runner = Runner::new(Arc::new(|| true));
    dt.start_workers(&runner, Duration::from_secs(1));
    runner
}

fn legacy_state() -> MigrationState {
    MigrationState::initial(Phase::Legacy, 0.0, Level::Eventual, 1)
}

async fn all_in_sync(dt: &DualTrack, bucket: &str) -> (u64, u64) {
    let (mut checked, mut bad) = (0, 0);
    let mut after: Option<String> = None;
    loop {
        let (keys, last) = dt.union_keys(bucket, after.as_deref(), 500).await.unwrap();
        for k in &keys {
            checked += 1;
            let (class, _) = dt.check_key(bucket, k, None).await.unwrap();
            if class != Class::InSync {
                eprintln!("{bucket}/{k}: {class:?}");
                bad += 1;
            }
        }
        after = keys.last().cloned().or(after);
        if last {
            return (checked, bad);
        }
    }
}

async fn run_migrator(dt: &Arc<DualTrack>) -> metadata::dualtrack::migrator::Checkpoint {
    let runner = Runner::new(Arc::new(|| true));
    let m = Arc::new(Migrator::new(dt.clone(), &runner));
    m.start(MigratorConfig { concurrency: 8, objects_per_day: 0, priority: Priority::Size }).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    while m.is_running() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let st = m.status().await;
    assert!(st.last_error.is_none(), "{:?}", st.last_error);
    let cp = st.checkpoint.unwrap();
    let job = runner.workers().into_iter().find(|w| w.name == "migrator-pass").expect("the pass ran on the runner");
    assert!(job.leader_only && job.errors == 0, "{job:?}");
    assert!(job.units >= cp.scanned.div_ceil(256), "a unit per batch: {job:?} for {} keys", cp.scanned);
    runner.shutdown(Duration::from_secs(5)).await;
    cp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phases_migrator_rollback_complete_and_cleanup() {
    let env = Env::new();
    let (dt, _kv) = env.open(legacy_state(), DualOptions::default()).await;
    let _runner = workers(&dt);
    dt.create_bucket(bucket("bkt", Versioning::Enabled)).await.unwrap();
    for i in 0..200u32 {
        let key = format!("dir{}/k{i:03}", i % 7);
        dt.put_object(obj("bkt", &key, &vid(1, i), "one", 10), PutCondition::None).await.unwrap();
        if i % 3 == 0 {
            dt.put_object(obj("bkt", &key, &vid(2, i), "two", 20), PutCondition::None).await.unwrap();
        }
    }
    // Legacy: nothing in the KV.
    assert!(dt.kv_store().key_versions("bkt", "dir0/k000").await.is_err());

    // Canary 25%: canaried writes reach the KV (the queue drains in the background).
    let st = dt.set_phase(Phase::Canary, Some(0.25), None).await.unwrap();
    let canaried: Vec<String> =
        (0..200).map(|i| format!("dir{}/k{i:03}", i % 7)).filter(|k| st.canaried("bkt", k)).collect();
    assert!(!canaried.is_empty());
    for (i, k) in canaried.iter().enumerate() {
        dt.put_object(obj("bkt", k, &vid(3, i as u32), "three", 30), PutCondition::None).await.unwrap();
    }
    dt.drain().await.unwrap();
    for (i, k) in canaried.iter().enumerate() {
        let kv = dt.kv_store().get_object("bkt", k, None).await.unwrap();
        assert_eq!(kv.version_id, vid(3, i as u32));
        // Eventual reads answer from the KV.
        assert_eq!(dt.get_object("bkt", k, None).await.unwrap(), kv);
    }

    // fullout, then the migrator while writers race it.
    dt.set_phase(Phase::Fullout, None, None).await.unwrap();
    let writer = {
        let dt = dt.clone();
        tokio::spawn(async move {
            for r in 0..3i64 {
                for i in (0..200u32).step_by(5) {
                    let key = format!("dir{}/k{i:03}", i % 7);
                    dt.put_object(obj("bkt", &key, &vid(10 + r as u32, i), "racer", 100 + r), PutCondition::None)
                        .await
                        .unwrap();
                }
            }
        })
    };
    let cp = run_migrator(&dt).await;
    writer.await.unwrap();
    assert!(cp.done && cp.scanned >= 200, "{cp:?}");
    assert!(dt.state().migrator_done);
    dt.drain().await.unwrap();
    assert_eq!(all_in_sync(&dt, "bkt").await, (200, 0));
    // The racing writes won: the newest version is theirs on both tracks.
    let last = dt.kv_store().get_object("bkt", "dir0/k000", None).await.unwrap();
    assert_eq!(last.version_id, vid(12, 0));
    assert_eq!(dt.legacy().get_object("bkt", "dir0/k000", None).await.unwrap(), last);

    // kv_primary: writes land in the KV and in xl.meta (shadow); rollback loses nothing.
    assert!(dt.set_phase(Phase::Complete, None, None).await.is_err());
    dt.set_phase(Phase::KvPrimary, None, None).await.unwrap();
    dt.put_object(obj("bkt", "new/in-kv-primary", &vid(5, 1), "primary", 500), PutCondition::None).await.unwrap();
    dt.delete_version("bkt", "dir1/k001", &vid(1, 1)).await.unwrap();
    dt.set_phase(Phase::Fullout, None, None).await.unwrap();
    let back = dt.legacy().get_object("bkt", "new/in-kv-primary", None).await.unwrap();
    assert_eq!(back.version_id, vid(5, 1));
    assert!(matches!(dt.get_object("bkt", "dir1/k001", None).await, Err(MetaError::NoSuchKey { .. })));
    assert_eq!(all_in_sync(&dt, "bkt").await.1, 0);

    // Listings from the KV in fullout once the migrator is done (201 keys).
    let page = dt.list_objects("bkt", &ListQuery { max_keys: 1000, ..Default::default() }).await.unwrap();
    assert_eq!(page.objects().count(), 200);

    // Complete needs a clean validation.
    dt.set_phase(Phase::KvPrimary, None, None).await.unwrap();
    assert!(matches!(
        dt.set_phase(Phase::Complete, None, None).await,
        Err(metadata::dualtrack::PhaseError::Transition(metadata::dualtrack::TransitionError::NotReady(_)))
    ));
    dt.update_state(|s| s.last_validation_clean = Some(true)).await.unwrap();
    dt.set_phase(Phase::Complete, None, None).await.unwrap();
    assert!(dt.set_phase(Phase::KvPrimary, None, None).await.is_err(), "complete is final");

    // Cleanup removes xl.meta of keys the KV holds; reads keep working from the KV.
    let mut removed = 0;
    let (keys, _) = dt.union_keys("bkt", None, 1000).await.unwrap();
    for k in &keys {
        if dt.cleanup_key("bkt", k).await.unwrap() {
            removed += 1;
        }
    }
    assert_eq!(removed, 200);
    assert!(dt.legacy().key_versions("bkt", "dir0/k000").await.unwrap().is_empty());
    assert_eq!(dt.get_object("bkt", "dir0/k000", None).await.unwrap().version_id, vid(12, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_markers_survive_a_crash_and_lowering_the_ratio_stops_kv_reads() {
    let env = Env::new();
    let fullout = MigrationState::initial(Phase::Fullout, 1.0, Level::Eventual, 1);
    {
        // No workers: queued shadow copies are still pending when this "process" dies.
        let (dt, _kv) = env.open(fullout.clone(), DualOptions::default()).await;
        dt.create_bucket(bucket("b", Versioning::Unversioned)).await.unwrap();
        for i in 0..20 {
            dt.put_object(obj("b", &format!("k{i}"), "null", &format!("body{i}"), 1), PutCondition::None)
                .await
                .unwrap();
        }
        assert_eq!(dt.shadow.depth(), 20);
        assert!(dt.kv_store().get_object("b", "k3", None).await.is_err(), "the KV lags");
        // Pending keys read from xl.meta, never from the lagging KV.
        assert_eq!(dt.get_object("b", "k3", None).await.unwrap().size, 5);
        // The process ends without draining (its KV closed so that the next can open it).
        _kv.close().await.unwrap();
    }
    let (dt, _kv) = env.open(fullout, DualOptions::default()).await;
    assert_eq!(dt.shadow.depth(), 20, "markers reloaded");
    dt.drain().await.unwrap();
    assert_eq!(all_in_sync(&dt, "b").await, (20, 0));

    // Lowering the ratio marks the KV stale: reads go to xl.meta until a migrator pass.
    dt.set_phase(Phase::Canary, Some(0.5), None).await.unwrap();
    let st = dt.set_phase(Phase::Canary, Some(0.1), None).await.unwrap();
    assert!(st.kv_stale);
    let out_of_scope: Vec<String> = (0..20).map(|i| format!("k{i}")).filter(|k| !st.canaried("b", k)).collect();
    let k = &out_of_scope[0];
    dt.put_object(obj("b", k, "null", "changed-while-out", 2), PutCondition::None).await.unwrap();
    let cp = run_migrator(&dt).await;
    assert!(cp.purged > 0, "{cp:?}");
    assert!(!dt.state().kv_stale);
    assert!(dt.kv_store().key_versions("b", k).await.unwrap().is_empty(), "out-of-scope keys left the KV");
    dt.set_phase(Phase::Canary, Some(1.0), None).await.unwrap();
    // Back in scope, the key is read right (from xl.meta, the KV lacks it).
    assert_eq!(dt.get_object("b", k, None).await.unwrap().size, "changed-while-out".len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validator_repairs_with_all_four_strategies() {
    let env = Env::new();
    let (dt, _kv) =
        env.open(MigrationState::initial(Phase::Fullout, 1.0, Level::Strong, 1), DualOptions::default()).await;
    dt.create_bucket(bucket("r", Versioning::Enabled)).await.unwrap();
    for k in ["a", "b", "c", "d"] {
        dt.put_object(obj("r", k, &vid(1, 0), "base", 1), PutCondition::None).await.unwrap();
    }
    // Strong writes leave both tracks equal.
    assert_eq!(all_in_sync(&dt, "r").await, (4, 0));
    // Make each key diverge behind the router's back.
    let extra = obj("r", "x", &vid(2, 0), "only-in-kv", 2);
    for k in ["a", "b", "c", "d"] {
        let mut e = extra.clone();
        e.key = k.into();
        dt.kv_store().put_object(e, PutCondition::None).await.unwrap();
    }
    for (k, strategy, kv_len, fs_len) in [
        ("a", Repair::UseKv, 2, 2),
        ("b", Repair::UseFs, 1, 1),
        ("c", Repair::SyncToKv, 2, 1),
        ("d", Repair::SyncToFs, 2, 2),
    ] {
        let (class, repaired) = dt.check_key("r", k, Some(strategy)).await.unwrap();
        assert!(matches!(class, Class::Diverged(_)) && repaired, "{k}: {class:?}");
        assert_eq!(dt.kv_store().key_versions("r", k).await.unwrap().len(), kv_len, "{k} kv");
        assert_eq!(dt.legacy().key_versions("r", k).await.unwrap().len(), fs_len, "{k} fs");
    }
    // KV-only and xl.meta-only keys are classified as such.
    dt.kv_store().put_object(obj("r", "kvonly", &vid(1, 0), "k", 1), PutCondition::None).await.unwrap();
    dt.legacy().put_object(obj("r", "fsonly", &vid(1, 0), "f", 1), PutCondition::None).await.unwrap();
    assert_eq!(dt.check_key("r", "kvonly", None).await.unwrap().0, Class::KvOnly);
    assert_eq!(dt.check_key("r", "fsonly", None).await.unwrap().0, Class::FsOnly);
    assert_eq!(dt.check_key("r", "nowhere", None).await.unwrap().0, Class::Missing);
}

/// rebuild-kv adds what xl.meta has but never deletes a KV version xl.meta lacks, and is
/// refused once the KV is primary (xl.meta may be stale or cleaned up by then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_kv_never_deletes_kv_versions_and_is_refused_once_kv_is_primary() {
    let env = Env::new();
    let fullout = MigrationState::initial(Phase::Fullout, 1.0, Level::Strong, 1);
    let (dt, _kv) = env.open(fullout, DualOptions::default()).await;
    dt.create_bucket(bucket("rb", Versioning::Enabled)).await.unwrap();
    dt.put_object(obj("rb", "k", &vid(1, 1), "both", 10), PutCondition::None).await.unwrap();
    // A version only the KV has (xl.meta lacks it).
    dt.kv_store()
        .replace_key("rb", "k", {
            let mut v = dt.kv_store().key_versions("rb", "k").await.unwrap();
            v.insert(0, obj("rb", "k", &vid(1, 2), "kv only", 20));
            v
        })
        .await
        .unwrap();
    // A key only xl.meta has.
    dt.legacy().replace_key("rb", "fs", vec![obj("rb", "fs", &vid(1, 3), "fs only", 30)]).await.unwrap();
    dt.rebuild_key("rb", "k").await.unwrap();
    dt.rebuild_key("rb", "fs").await.unwrap();
    let k: Vec<String> =
        dt.kv_store().key_versions("rb", "k").await.unwrap().into_iter().map(|v| v.version_id).collect();
    assert_eq!(k, [vid(1, 2), vid(1, 1)], "the KV-only version is kept");
    assert_eq!(dt.kv_store().key_versions("rb", "fs").await.unwrap().len(), 1);
    run_migrator(&dt).await;
    dt.set_phase(Phase::KvPrimary, None, None).await.unwrap();
    let r = dt.rebuild_key("rb", "k").await;
    assert!(matches!(&r, Err(MetaError::Backend(m)) if m.contains("refused in phase kv_primary")), "{r:?}");
}

/// Polls `f` for up to 5 s.
async fn eventually(mut f: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..250 {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// The `strong` level writes both tracks before acknowledging and compares them on reads
/// (a difference is counted and repaired); `lazy` writes xl.meta only and copies a key a
/// read finds behind; in `kv_primary` a KV miss is answered from xl.meta only with
/// `fallback_to_fs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strong_lazy_and_fallback_to_fs() {
    use std::sync::atomic::Ordering::Relaxed;
    let env = Env::new();
    let strong = MigrationState::initial(Phase::Fullout, 1.0, Level::Strong, 1);
    let (dt, kv) = env.open(strong, DualOptions::default()).await;
    let _runner = workers(&dt);
    dt.create_bucket(bucket("lv", Versioning::Unversioned)).await.unwrap();
    dt.put_object(obj("lv", "s", "null", "strong", 10), PutCondition::None).await.unwrap();
    // Acknowledged: both tracks hold it, nothing is queued.
    assert_eq!(dt.kv_store().key_versions("lv", "s").await.unwrap()[0].etag, obj("lv", "s", "null", "strong", 0).etag);
    assert_eq!(dt.shadow.depth(), 0);
    // A KV that disagrees: the strong read answers from xl.meta, counts it, and repairs.
    dt.kv_store().replace_key("lv", "s", vec![obj("lv", "s", "null", "tampered", 11)]).await.unwrap();
    let before = dt.counters.consistency_errors.load(Relaxed);
    assert_eq!(dt.get_object("lv", "s", None).await.unwrap().user_meta["origin"], "strong");
    assert_eq!(dt.counters.consistency_errors.load(Relaxed), before + 1);
    let repaired =
        eventually(async || dt.kv_store().key_versions("lv", "s").await.unwrap()[0].user_meta["origin"] == "strong")
            .await;
    assert!(repaired, "the strong read queued a copy that repaired the KV");

    // Lazy: xl.meta only; a read that finds the KV behind queues a copy.
    dt.set_phase(Phase::Fullout, None, Some(Level::Lazy)).await.unwrap();
    dt.put_object(obj("lv", "l", "null", "lazy", 20), PutCondition::None).await.unwrap();
    assert!(dt.kv_store().key_versions("lv", "l").await.unwrap().is_empty(), "lazy writes xl.meta only");
    assert_eq!(dt.get_object("lv", "l", None).await.unwrap().user_meta["origin"], "lazy");
    assert_eq!(dt.counters.lazy_copies.load(Relaxed), 1);
    assert!(eventually(async || !dt.kv_store().key_versions("lv", "l").await.unwrap().is_empty()).await);

    // kv_primary: a key the KV lacks but xl.meta holds.
    dt.set_phase(Phase::Fullout, None, Some(Level::Eventual)).await.unwrap();
    run_migrator(&dt).await;
    dt.set_phase(Phase::KvPrimary, None, None).await.unwrap();
    dt.kv_store().replace_key("lv", "s", Vec::new()).await.unwrap();
    let fallbacks = dt.counters.fallbacks.load(Relaxed);
    assert_eq!(dt.get_object("lv", "s", None).await.unwrap().user_meta["origin"], "strong");
    assert_eq!(dt.counters.fallbacks.load(Relaxed), fallbacks + 1);
    drop(kv);
    // Without fallback_to_fs the same miss is a miss.
    let env = Env::new();
    let fullout = MigrationState::initial(Phase::Fullout, 1.0, Level::Strong, 1);
    let (dt, _kv) = env.open(fullout, DualOptions { fallback_to_fs: false, ..DualOptions::default() }).await;
    dt.create_bucket(bucket("lv", Versioning::Unversioned)).await.unwrap();
    dt.put_object(obj("lv", "s", "null", "strong", 10), PutCondition::None).await.unwrap();
    run_migrator(&dt).await;
    dt.set_phase(Phase::KvPrimary, None, None).await.unwrap();
    dt.kv_store().replace_key("lv", "s", Vec::new()).await.unwrap();
    assert!(matches!(dt.get_object("lv", "s", None).await, Err(MetaError::NoSuchKey { .. })), "no fallback");
}

/// A key the KV can hold but xl.meta cannot (`a//b`, `x/xl.meta`): the validator classes
/// it as KV-only and a repair towards xl.meta fails on that key with a clear error instead
/// of writing a folder another key owns; the migrator's pass finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_xl_meta_cannot_hold_are_reported_not_written() {
    let env = Env::new();
    let fullout = MigrationState::initial(Phase::Fullout, 1.0, Level::Strong, 1);
    let (dt, _kv) = env.open(fullout, DualOptions::default()).await;
    dt.create_bucket(bucket("odd", Versioning::Unversioned)).await.unwrap();
    dt.put_object(obj("odd", "x", "null", "plain", 10), PutCondition::None).await.unwrap();
    for k in ["a//b", "x/xl.meta"] {
        dt.kv_store().replace_key("odd", k, vec![obj("odd", k, "null", "kv only", 20)]).await.unwrap();
        assert_eq!(dt.check_key("odd", k, None).await.unwrap().0, Class::KvOnly, "{k}");
        let r = dt.check_key("odd", k, Some(Repair::SyncToFs)).await;
        assert!(matches!(r, Err(MetaError::InvalidKey(_))), "{k}: {r:?}");
        assert!(dt.legacy().key_versions("odd", k).await.unwrap().is_empty());
    }
    // The folder of `x` keeps only its own xl.meta.
    assert_eq!(dt.legacy().key_versions("odd", "x").await.unwrap().len(), 1);
    let cp = run_migrator(&dt).await;
    assert!(cp.done && cp.errors == 0, "{cp:?}");
}

/// Two routers over one KV (two nodes sharing the replicated metadata): a phase change made
/// through one reaches the other through its state watch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phase_change_reaches_every_router_sharing_the_kv() {
    let env = Env::new();
    let (a, kv) = env.open(legacy_state(), DualOptions::default()).await;
    let b = Arc::new(DualTrack::new(
        a.legacy().clone(),
        Arc::new(KvStore::new(kv.clone())),
        legacy_state(),
        DualOptions::default(),
    ));
    b.init_state().await.unwrap();
    assert!(!b.refresh_state().await.unwrap(), "nothing changed yet");
    a.set_phase(Phase::Canary, Some(0.5), None).await.unwrap();
    assert!(b.refresh_state().await.unwrap());
    assert_eq!((b.state().phase, b.state().ratio), (Phase::Canary, 0.5));
    let runner = Runner::new(Arc::new(|| true));
    b.start_workers(&runner, Duration::from_millis(20));
    a.set_phase(Phase::Fullout, None, Some(Level::Strong)).await.unwrap();
    assert!(eventually(async || b.state().phase == Phase::Fullout && b.state().level == Level::Strong).await);
}
