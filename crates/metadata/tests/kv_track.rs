//! The KV track on a real surrealkv tree in a temp folder: buckets, versions, listing with
//! delimiters and markers, multipart state, and durability across reopen.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

use std::collections::BTreeMap;
use std::sync::Arc;

use rustfs_metadata::*;

fn obj(bucket: &str, key: &str, vid: &str, etag: &str) -> ObjectVersion {
    ObjectVersion {
        bucket: bucket.into(),
        key: key.into(),
        version_id: vid.into(),
        delete_marker: false,
        size: 3,
        etag: etag.into(),
        mtime_ns: clock::now_ns(),
        content_type: None,
        headers: BTreeMap::new(),
        user_meta: BTreeMap::new(),
        checksums: BTreeMap::new(),
        data: ObjectData::Inline(b"abc".to_vec()),
        acl: None,
        retention: None,
        legal_hold: false,
        tags: Default::default(),
        sse: None,
    }
}

fn bucket(name: &str, v: Versioning) -> BucketInfo {
    BucketInfo {
        name: name.into(),
        id: clock::new_bucket_id(),
        owner: "o".into(),
        created_ns: 1,
        location: None,
        versioning: v,
        deleting: false,
        ..Default::default()
    }
}

fn upload(bucket: &str, key: &str, id: &str) -> MultipartUpload {
    MultipartUpload {
        bucket: bucket.into(),
        key: key.into(),
        upload_id: id.into(),
        owner: "o".into(),
        initiated_ns: 1,
        set: 0,
        data_dir: "dd".into(),
        bucket_id: None,
        content_type: None,
        headers: BTreeMap::new(),
        user_meta: BTreeMap::new(),
        checksum_algorithm: None,
        algorithm: None,
        ..Default::default()
    }
}

async fn store(dir: &std::path::Path) -> (Arc<LocalKv>, KvStore) {
    let kv = Arc::new(LocalKv::open(dir).unwrap());
    let s = KvStore::new(kv.clone());
    // As at start: the store takes this build's format, and writes its layout.
    s.recover().await.unwrap();
    assert_eq!(s.format(), schema::STORE_FORMAT);
    (kv, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unversioned_put_replaces_and_reports_old() {
    let dir = tempfile::tempdir().unwrap();
    let (_kv, s) = store(dir.path()).await;
    s.create_bucket(bucket("b", Versioning::Unversioned)).await.unwrap();
    assert!(matches!(s.create_bucket(bucket("b", Versioning::Unversioned)).await, Err(MetaError::BucketExists(_))));
    assert!(s.put_object(obj("b", "k", NULL_VERSION, "e1"), PutCondition::None).await.unwrap().is_empty());
    let replaced = s.put_object(obj("b", "k", NULL_VERSION, "e2"), PutCondition::None).await.unwrap();
    assert_eq!(replaced.len(), 1);
    assert_eq!(replaced[0].etag, "e1");
    assert_eq!(s.get_object("b", "k", None).await.unwrap().etag, "e2");
    assert!(matches!(
        s.put_object(obj("b", "k", NULL_VERSION, "e3"), PutCondition::IfNoneMatchAny).await,
        Err(MetaError::PreconditionFailed)
    ));
    assert!(matches!(
        s.put_object(obj("b", "k", NULL_VERSION, "e3"), PutCondition::IfMatch("zz".into())).await,
        Err(MetaError::PreconditionFailed)
    ));
    s.put_object(obj("b", "k", NULL_VERSION, "e3"), PutCondition::IfMatch("e2".into())).await.unwrap();
    assert!(matches!(s.delete_bucket("b").await, Err(MetaError::BucketNotEmpty(_))));
    assert_eq!(s.delete_version("b", "k", NULL_VERSION).await.unwrap().unwrap().etag, "e3");
    assert!(matches!(s.get_object("b", "k", None).await, Err(MetaError::NoSuchKey { .. })));
    s.delete_bucket("b").await.unwrap();
    assert!(matches!(s.get_bucket("b").await, Err(MetaError::NoSuchBucket(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_delete_markers() {
    let dir = tempfile::tempdir().unwrap();
    let (_kv, s) = store(dir.path()).await;
    s.create_bucket(bucket("v", Versioning::Enabled)).await.unwrap();
    s.put_object(obj("v", "k", NULL_VERSION, "n"), PutCondition::None).await.unwrap();
    s.put_object(obj("v", "k", "v1", "a"), PutCondition::None).await.unwrap();
    s.put_object(obj("v", "k", "v2", "b"), PutCondition::None).await.unwrap();
    let mut marker = obj("v", "k", "dm", "");
    marker.delete_marker = true;
    s.put_object(marker, PutCondition::None).await.unwrap();
    assert!(s.get_object("v", "k", None).await.unwrap().delete_marker);
    assert_eq!(s.get_object("v", "k", Some("v1")).await.unwrap().etag, "a");
    assert!(matches!(s.get_object("v", "k", Some("nope")).await, Err(MetaError::NoSuchVersion { .. })));
    let page = s.list_objects("v", &ListQuery { max_keys: 100, ..Default::default() }).await.unwrap();
    assert_eq!(page.objects().count(), 0, "a delete marker hides the key");
    let versions = s.list_versions("v", &VersionQuery { max_keys: 100, ..Default::default() }).await.unwrap();
    let ids: Vec<_> = versions.objects().map(|o| o.version_id.as_str()).collect();
    assert_eq!(ids, ["dm", "v2", "v1", NULL_VERSION]);
    // Paging through versions with markers.
    let p1 = s.list_versions("v", &VersionQuery { max_keys: 2, ..Default::default() }).await.unwrap();
    assert!(p1.truncated);
    let p2 = s
        .list_versions(
            "v",
            &VersionQuery {
                max_keys: 2,
                key_marker: Some("k".into()),
                version_id_marker: Some("v2".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ids: Vec<_> = p2.objects().map(|o| o.version_id.as_str()).collect();
    assert_eq!(ids, ["v1", NULL_VERSION]);
    // Removing the marker makes v2 current again.
    s.delete_version("v", "k", "dm").await.unwrap();
    assert_eq!(s.get_object("v", "k", None).await.unwrap().version_id, "v2");
    // A suspended-bucket write replaces the null version only.
    let replaced = s.put_object(obj("v", "k", NULL_VERSION, "n2"), PutCondition::None).await.unwrap();
    assert_eq!(replaced.len(), 1);
    assert_eq!(replaced[0].etag, "n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_with_prefix_delimiter_and_markers() {
    let dir = tempfile::tempdir().unwrap();
    let (_kv, s) = store(dir.path()).await;
    s.create_bucket(bucket("l", Versioning::Unversioned)).await.unwrap();
    for k in ["a", "b/1", "b/2", "b/3", "c", "d/x/1", "d/y", "e"] {
        s.put_object(obj("l", k, NULL_VERSION, k), PutCondition::None).await.unwrap();
    }
    let q = |prefix: &str, delim: Option<&str>, after: Option<&str>, max| ListQuery {
        prefix: prefix.into(),
        delimiter: delim.map(Into::into),
        after: after.map(Into::into),
        max_keys: max,
    };
    let show = |p: &ListPage<ObjectVersion>| {
        p.items
            .iter()
            .map(|i| match i {
                ListItem::Object(o) => o.key.clone(),
                ListItem::CommonPrefix(c) => format!("[{c}]"),
            })
            .collect::<Vec<_>>()
    };
    let p = s.list_objects("l", &q("", Some("/"), None, 100)).await.unwrap();
    assert_eq!(show(&p), ["a", "[b/]", "c", "[d/]", "e"]);
    assert!(!p.truncated);
    let p = s.list_objects("l", &q("", Some("/"), None, 2)).await.unwrap();
    assert_eq!(show(&p), ["a", "[b/]"]);
    assert!(p.truncated);
    let p = s.list_objects("l", &q("", Some("/"), Some("b/"), 2)).await.unwrap();
    assert_eq!(show(&p), ["c", "[d/]"]);
    let p = s.list_objects("l", &q("d/", Some("/"), None, 10)).await.unwrap();
    assert_eq!(show(&p), ["[d/x/]", "d/y"]);
    let p = s.list_objects("l", &q("b/", None, Some("b/1"), 10)).await.unwrap();
    assert_eq!(show(&p), ["b/2", "b/3"]);
    let p = s.list_objects("l", &q("", None, None, 3)).await.unwrap();
    assert_eq!(show(&p), ["a", "b/1", "b/2"]);
    assert!(p.truncated);
    let p = s.list_objects("l", &q("zz", None, None, 3)).await.unwrap();
    assert!(p.items.is_empty() && !p.truncated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_state_and_durability_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (kv, s) = store(dir.path()).await;
        s.create_bucket(bucket("m", Versioning::Unversioned)).await.unwrap();
        let up = upload("m", "big", &clock::new_upload_id());
        s.create_upload(up.clone()).await.unwrap();
        for n in [1u32, 2, 3] {
            let part = UploadedPart {
                number: n,
                size: 5,
                etag: format!("e{n}"),
                mtime_ns: 1,
                file: format!("f{n}"),
                checksums: BTreeMap::new(),
            };
            assert!(s.put_part(&up, part).await.unwrap().is_none());
        }
        let again = UploadedPart {
            number: 2,
            size: 6,
            etag: "e2b".into(),
            mtime_ns: 2,
            file: "f2b".into(),
            checksums: BTreeMap::new(),
        };
        assert_eq!(s.put_part(&up, again).await.unwrap().unwrap().file, "f2");
        let parts = s.list_parts(&up.upload_id, 1, 10).await.unwrap();
        assert_eq!(parts.iter().map(|p| p.number).collect::<Vec<_>>(), [2, 3]);
        let uploads = s.list_uploads("m", &UploadQuery { max_uploads: 10, ..Default::default() }).await.unwrap();
        assert_eq!(uploads.objects().count(), 1);
        // A completion built from a part record that was replaced meanwhile commits nothing.
        let current = s.list_parts(&up.upload_id, 0, 10).await.unwrap();
        let mut stale = current[..2].to_vec();
        stale[1].file = "f2".into();
        stale[1].etag = "e2".into();
        stale[1].size = 5;
        let r = s.complete_upload(&up, obj("m", "big", NULL_VERSION, "x-2"), &stale, PutCondition::None).await;
        assert!(matches!(r, Err(MetaError::PartReplaced(2))), "{r:?}");
        assert!(s.get_upload("m", "big", &up.upload_id).await.is_ok());
        assert!(matches!(s.get_object("m", "big", None).await, Err(MetaError::NoSuchKey { .. })));
        let out = s
            .complete_upload(&up, obj("m", "big", NULL_VERSION, "x-2"), &current[..2], PutCondition::None)
            .await
            .unwrap();
        assert_eq!(out.unused_parts.iter().map(|p| p.number).collect::<Vec<_>>(), [3]);
        assert!(matches!(s.get_upload("m", "big", &up.upload_id).await, Err(MetaError::NoSuchUpload(_))));
        kv.close().await.unwrap();
    }
    let (_kv, s) = store(dir.path()).await;
    assert_eq!(s.get_object("m", "big", None).await.unwrap().etag, "x-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_carry_no_inline_bytes_but_reads_do() {
    let dir = tempfile::tempdir().unwrap();
    let (_kv, s) = store(dir.path()).await;
    s.create_bucket(bucket("i", Versioning::Enabled)).await.unwrap();
    let mut a = obj("i", "k", "v1", "e1");
    a.data = ObjectData::Inline(vec![1; 1000]);
    s.put_object(a, PutCondition::None).await.unwrap();
    let mut b = obj("i", "k", "v2", "e2");
    b.data = ObjectData::Inline(vec![2; 2000]);
    s.put_object(b, PutCondition::None).await.unwrap();
    let page = s.list_objects("i", &ListQuery { max_keys: 10, ..Default::default() }).await.unwrap();
    let listed: Vec<_> = page.objects().collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].data, ObjectData::None);
    assert_eq!(s.get_object("i", "k", None).await.unwrap().data, ObjectData::Inline(vec![2; 2000]));
    assert_eq!(s.get_object("i", "k", Some("v2")).await.unwrap().data, ObjectData::Inline(vec![2; 2000]));
    // Deleting the current version promotes v1 with its bytes.
    s.delete_version("i", "k", "v2").await.unwrap();
    assert_eq!(s.get_object("i", "k", None).await.unwrap().data, ObjectData::Inline(vec![1; 1000]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_finishes_or_undoes_interrupted_bucket_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let (kv, s) = store(dir.path()).await;
    for name in ["empty-one", "full-one"] {
        s.create_bucket(bucket(name, Versioning::Unversioned)).await.unwrap();
    }
    s.put_object(obj("full-one", "k", NULL_VERSION, "e"), PutCondition::None).await.unwrap();
    // Simulate a crash right after a delete marked both buckets.
    for name in ["empty-one", "full-one"] {
        let mut b = bucket(name, Versioning::Unversioned);
        b.deleting = true;
        let mut batch = WriteBatch::new();
        batch.put(schema::bucket_key(name), schema::encode(&b));
        kv.write(batch).await.unwrap();
    }
    assert!(s.get_bucket("full-one").await.is_err(), "a marked bucket is hidden");
    let mut repaired = s.recover().await.unwrap();
    repaired.sort();
    assert_eq!(repaired, ["empty-one", "full-one"]);
    assert!(matches!(s.get_bucket("empty-one").await, Err(MetaError::NoSuchBucket(_))));
    assert_eq!(s.get_object("full-one", "k", None).await.unwrap().etag, "e");
    assert!(s.recover().await.unwrap().is_empty());
}

/// The `Kv` conformance suite on the real surrealkv, and its durability across a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_kv_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Arc::new(LocalKv::open(dir.path()).unwrap());
    kv_suite::run_all(kv.clone(), b"suite/").await.unwrap();
    // Under the bucket families, which `LocalKv` also keeps in memory.
    kv_suite::run_all(kv.clone(), b"b/suite/").await.unwrap();
    let status = kv.status();
    assert_eq!((status.leader_id, status.members.len()), (1, 1), "a single node is a group of one");
    assert!(kv.not_ready().is_none());
    KvLifecycle::close(kv.as_ref()).await.unwrap();
    drop(kv);
    let kv = LocalKv::open(dir.path()).unwrap();
    assert_eq!(kv.get(b"suite/point/a").await.unwrap(), Some(b"2".to_vec()), "durable across a reopen");
}

/// A `Kv` whose planning reads come from a lagging copy (as a follower's local state machine
/// lags its group): writes and fresh reads go to `fresh`; `planning_*` read `stale`, a
/// second real store that saw only the writes replayed into it.
struct LaggingCopy {
    fresh: Arc<LocalKv>,
    stale: Arc<LocalKv>,
}

#[async_trait::async_trait]
impl Kv for LaggingCopy {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.fresh.get(key).await
    }
    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.fresh.scan(start, end, limit).await
    }
    async fn write(&self, batch: WriteBatch) -> Result<WriteOutcome> {
        self.fresh.write(batch).await
    }
    fn planning_reads_may_be_stale(&self) -> bool {
        true
    }
    async fn planning_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.stale.get(key).await
    }
    async fn planning_scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.stale.scan(start, end, limit).await
    }
}

/// Writes planned from stale reads give the answers fresh reads give: the batch conditions
/// refuse a stale plan, and an error answered from stale reads is confirmed on fresh ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_planned_on_a_lagging_copy_answer_as_fresh_ones() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = Arc::new(LocalKv::open(&dir.path().join("fresh")).unwrap());
    let stale = Arc::new(LocalKv::open(&dir.path().join("stale")).unwrap());
    let lagging = KvStore::new(Arc::new(LaggingCopy { fresh: fresh.clone(), stale: stale.clone() }));
    let direct = KvStore::new(fresh.clone());
    // The copy has not seen the bucket: a put still finds it.
    direct.create_bucket(bucket("b", Versioning::Unversioned)).await.unwrap();
    assert!(lagging.put_object(obj("b", "k", NULL_VERSION, "e1"), PutCondition::None).await.unwrap().is_empty());
    // The copy catches up to here, then lags again.
    let snapshot = fresh.scan(b"", &[0xff; 8], 10_000).await.unwrap();
    let mut replay = WriteBatch::new();
    for (k, v) in snapshot {
        replay.put(k, v);
    }
    stale.write(replay).await.unwrap();
    direct.put_object(obj("b", "k", NULL_VERSION, "e2"), PutCondition::None).await.unwrap();
    // The copy still shows e1: each answer must be the one e2 calls for.
    assert!(matches!(
        lagging.put_object(obj("b", "k", NULL_VERSION, "x"), PutCondition::IfMatch("e1".into())).await,
        Err(MetaError::PreconditionFailed)
    ));
    let replaced =
        lagging.put_object(obj("b", "k", NULL_VERSION, "e3"), PutCondition::IfMatch("e2".into())).await.unwrap();
    assert_eq!(
        replaced.iter().map(|v| v.etag.as_str()).collect::<Vec<_>>(),
        ["e2"],
        "the replaced version is the real one"
    );
    assert!(matches!(
        lagging.put_object(obj("b", "new", NULL_VERSION, "n"), PutCondition::IfNoneMatchAny).await,
        Ok(ref r) if r.is_empty()
    ));
    assert_eq!(direct.get_object("b", "k", None).await.unwrap().etag, "e3");
    // A bucket the copy still shows is gone: the put must say so.
    direct.delete_version("b", "k", NULL_VERSION).await.unwrap();
    direct.delete_version("b", "new", NULL_VERSION).await.unwrap();
    direct.delete_bucket("b").await.unwrap();
    assert!(matches!(
        lagging.put_object(obj("b", "k", NULL_VERSION, "e4"), PutCondition::None).await,
        Err(MetaError::NoSuchBucket(_))
    ));
    // Parts: an upload the copy has not seen takes parts; one it still shows is refused once gone.
    direct.create_bucket(bucket("m", Versioning::Unversioned)).await.unwrap();
    let upload = upload("m", "big", "u1");
    direct.create_upload(upload.clone()).await.unwrap();
    let part = UploadedPart {
        number: 1,
        size: 5,
        etag: "p1".into(),
        mtime_ns: 1,
        file: "f1".into(),
        checksums: BTreeMap::new(),
    };
    assert!(lagging.put_part(&upload, part.clone()).await.unwrap().is_none());
    let again = lagging.put_part(&upload, UploadedPart { etag: "p1b".into(), ..part.clone() }).await.unwrap();
    assert_eq!(again.map(|p| p.etag), Some("p1".to_string()), "the replaced part is the real one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_settings_live_beside_the_bucket_record() {
    let dir = tempfile::tempdir().unwrap();
    let (kv, s) = store(dir.path()).await;
    s.create_bucket(bucket("pol", Versioning::Unversioned)).await.unwrap();
    let record = || async { kv.get(&schema::bucket_key("pol")).await.unwrap().unwrap() };
    let before = record().await;
    let mut b = s.get_bucket("pol").await.unwrap();
    let policy: std::sync::Arc<str> = format!("{{\"Statement\":[{}]}}", "\"x\",".repeat(2000)).into();
    b.policy = Some(policy.clone());
    b.acl = Some(vec![7; 100]);
    s.update_bucket(b).await.unwrap();
    // The record every object write requires is untouched by a policy or an ACL.
    assert_eq!(record().await, before);
    let got = s.get_bucket("pol").await.unwrap();
    assert_eq!((got.policy.as_deref(), got.acl.as_deref()), (Some(&*policy), Some(&[7u8; 100][..])));
    let listed = s.list_buckets().await.unwrap();
    assert_eq!(listed.iter().find(|b| b.name == "pol").unwrap().policy.as_deref(), Some(&*policy));
    // A versioning change rewrites the record and keeps the settings.
    let mut b = s.get_bucket("pol").await.unwrap();
    b.versioning = Versioning::Enabled;
    s.update_bucket(b).await.unwrap();
    assert_ne!(record().await, before);
    let got = s.get_bucket("pol").await.unwrap();
    assert_eq!(got.versioning, Versioning::Enabled);
    assert_eq!(got.policy.as_deref(), Some(&*policy));
    // Removing them removes the settings record; a deleted bucket takes its settings along.
    let mut b = got;
    b.policy = None;
    s.update_bucket(b).await.unwrap();
    assert_eq!(s.get_bucket("pol").await.unwrap().policy, None);
    assert!(kv.get(&schema::bucket_settings_key("pol")).await.unwrap().is_some(), "the ACL is still set");
    s.delete_bucket("pol").await.unwrap();
    assert!(kv.get(&schema::bucket_settings_key("pol")).await.unwrap().is_none());
    s.create_bucket(bucket("pol", Versioning::Unversioned)).await.unwrap();
    let again = s.get_bucket("pol").await.unwrap();
    assert_eq!((again.policy, again.acl), (None, None), "a new bucket of the same name starts bare");
}

/// A write of a bucket record whose caller gives up mid-commit (a dropped request) still
/// leaves the in-memory copy agreeing with the tree: a point read (which the copy answers)
/// and a scan (which reads the tree) return the same value once the writes are done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_bucket_write_leaves_no_stale_copy() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Arc::new(LocalKv::open(dir.path()).unwrap());
    let key = b"b/cancelled".to_vec();
    for i in 0..300u32 {
        let mut b = WriteBatch::new();
        b.put(key.clone(), i.to_be_bytes().to_vec());
        let w = kv.write(b);
        let _ = tokio::time::timeout(std::time::Duration::from_micros(u64::from(i % 7) * 20), w).await;
        // Read at once: were the guard gone before the write is visible, this would cache
        // the old value for good.
        let _ = kv.get(&key).await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let scanned = kv.scan(b"b/", b"b0", 10).await.unwrap();
    assert_eq!(scanned.len(), 1);
    assert_eq!(kv.get(&key).await.unwrap(), Some(scanned[0].1.clone()), "the copy agrees with the tree");
    KvLifecycle::close(kv.as_ref()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_records_its_format_and_refuses_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Arc::new(LocalKv::open(dir.path()).unwrap());
    let s = KvStore::new(kv.clone());
    let record = schema::system_key(schema::FORMAT_RECORD);
    // A store made before the record existed holds data and no record: it is format 1.
    s.create_bucket(bucket("b", Versioning::Unversioned)).await.unwrap();
    s.put_object(obj("b", "k", NULL_VERSION, "e1"), PutCondition::None).await.unwrap();
    assert_eq!(kv.get(&record).await.unwrap(), None);
    s.recover().await.unwrap();
    let written = kv.get(&record).await.unwrap().expect("recover writes the record");
    assert_eq!(schema::decode::<u8>(&record, &written).unwrap(), schema::STORE_FORMAT);
    // Checked again at every start, unchanged.
    s.recover().await.unwrap();
    assert_eq!(kv.get(&record).await.unwrap(), Some(written));
    // A newer build's store is refused, and nothing in it is touched.
    let mut newer = WriteBatch::new();
    let bumped = schema::encode(&(schema::STORE_FORMAT + 1));
    newer.put(record.clone(), bumped.clone());
    kv.write(newer).await.unwrap();
    assert!(matches!(s.recover().await, Err(MetaError::NewerStore { found, .. }) if found == schema::STORE_FORMAT + 1));
    assert_eq!(kv.get(&record).await.unwrap(), Some(bumped));
    assert_eq!(s.get_object("b", "k", None).await.unwrap().etag, "e1");
}

/// The format byte of a version's stored value.
async fn value_format(kv: &LocalKv, s: &KvStore, b: &str, k: &str, vid: &str) -> u8 {
    version_record(kv, s, b, k, vid).await.expect("a v/ record")
}

/// The format byte of a version's `v/` record, `None` when it has none.
async fn version_record(kv: &LocalKv, s: &KvStore, b: &str, k: &str, vid: &str) -> Option<u8> {
    let v = s.key_versions(b, k).await.unwrap().into_iter().find(|v| v.version_id == vid).unwrap();
    kv.get(&schema::version_key(b, k, v.mtime_ns, vid)).await.unwrap().map(|raw| raw[0])
}

fn sized(b: &str, vid: &str, fill: u8, len: usize) -> ObjectVersion {
    let mut o = obj(b, "k", vid, vid);
    o.data = ObjectData::Inline(vec![fill; len]);
    o.size = len as u64;
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_1_store_is_raised_to_2_and_its_keys_take_the_whole_current_layout_as_written() {
    // Format 2 as the builds that wrote it did (this one raises to 3: see the next test).
    let dir = tempfile::tempdir().unwrap();
    let kv = Arc::new(LocalKv::open(dir.path()).unwrap());
    let bytes = |v: ObjectVersion| match v.data {
        ObjectData::Inline(b) => b,
        d => panic!("no inline bytes: {d:?}"),
    };
    // Written as a format-1 store: a replicated group's store keeps the format it has, and
    // a new one starts at 1.
    let old = KvStore::replicated(kv.clone());
    old.recover().await.unwrap();
    assert_eq!(old.format(), 1);
    old.create_bucket(bucket("u", Versioning::Enabled)).await.unwrap();
    old.put_object(sized("u", "v1", 1, 1000), PutCondition::None).await.unwrap();
    old.put_object(sized("u", "v2", 2, 1024), PutCondition::None).await.unwrap();
    assert_eq!(value_format(&kv, &old, "u", "k", "v2").await, schema::FORMAT_V1, "format 1 keeps bytes in v/");

    let s = KvStore::raised_to(kv.clone(), 2);
    s.recover().await.unwrap();
    assert_eq!(s.format(), 2);
    let record = schema::system_key(schema::FORMAT_RECORD);
    assert_eq!(schema::decode::<u8>(&record, &kv.get(&record).await.unwrap().unwrap()).unwrap(), 2);
    // What format 1 wrote reads the same.
    assert_eq!(bytes(s.get_object("u", "k", None).await.unwrap()), vec![2; 1024]);
    assert_eq!(bytes(s.get_object("u", "k", Some("v1")).await.unwrap()), vec![1; 1000]);

    // A new current version: stored whole under d/, its own value has no bytes.
    let whole = |b: &str| schema::whole_key(b, "k");
    assert_eq!(kv.get(&whole("u")).await.unwrap(), None, "format 1 has no d/");
    s.put_object(sized("u", "v3", 3, 1024), PutCondition::None).await.unwrap();
    assert_eq!(value_format(&kv, &s, "u", "k", "v3").await, schema::FORMAT_V2_BYTES_IN_WHOLE);
    let stored: ObjectVersion = schema::decode(&whole("u"), &kv.get(&whole("u")).await.unwrap().unwrap()).unwrap();
    assert_eq!((stored.version_id.as_str(), bytes(stored.clone())), ("v3", vec![3; 1024]));
    assert_eq!(bytes(s.get_object("u", "k", None).await.unwrap()), vec![3; 1024]);
    assert_eq!(bytes(s.get_object("u", "k", Some("v3")).await.unwrap()), vec![3; 1024]);
    // A format-1 reader of that value: an error, never the version without its bytes.
    let v3 = s.get_object("u", "k", None).await.unwrap();
    let v3_key = schema::version_key("u", "k", v3.mtime_ns, "v3");
    let raw = kv.get(&v3_key).await.unwrap().unwrap();
    assert!(matches!(schema::decode::<ObjectVersion>(&v3_key, &raw), Err(MetaError::UnsupportedFormat(2))));

    // Its successor puts v3's bytes back into v3's own value.
    s.put_object(sized("u", "v4", 4, 10), PutCondition::None).await.unwrap();
    assert_eq!(value_format(&kv, &s, "u", "k", "v3").await, schema::FORMAT_V1);
    assert_eq!(value_format(&kv, &s, "u", "k", "v4").await, schema::FORMAT_V2_BYTES_IN_WHOLE);
    assert_eq!(bytes(s.get_object("u", "k", Some("v3")).await.unwrap()), vec![3; 1024]);
    let all: Vec<_> = s.key_versions("u", "k").await.unwrap().into_iter().map(bytes).collect();
    assert_eq!(all, [vec![4; 10], vec![3; 1024], vec![2; 1024], vec![1; 1000]]);

    // Longer than WHOLE_BYTES_MAX: the bytes stay in v/ only, and d/ goes.
    let big = schema::WHOLE_BYTES_MAX + 1;
    s.put_object(sized("u", "v5", 5, big), PutCondition::None).await.unwrap();
    assert_eq!(kv.get(&whole("u")).await.unwrap(), None);
    assert_eq!(value_format(&kv, &s, "u", "k", "v5").await, schema::FORMAT_V1);
    assert_eq!(value_format(&kv, &s, "u", "k", "v4").await, schema::FORMAT_V1);
    assert_eq!(bytes(s.get_object("u", "k", None).await.unwrap()), vec![5; big]);

    // Deleting the current version makes v4 current, in the layout.
    assert_eq!(bytes(s.delete_version("u", "k", "v5").await.unwrap().unwrap()), vec![5; big]);
    assert_eq!(value_format(&kv, &s, "u", "k", "v4").await, schema::FORMAT_V2_BYTES_IN_WHOLE);
    assert_eq!(bytes(s.get_object("u", "k", None).await.unwrap()), vec![4; 10]);

    // Changing the current version's tags keeps its bytes, and so does a non-current one's.
    let tags = VersionUpdate { legal_hold: Some(true), ..Default::default() };
    let v4 = s.update_version("u", "k", "v4", &tags).await.unwrap();
    assert_eq!(bytes(v4), vec![4; 10]);
    let cur = s.get_object("u", "k", None).await.unwrap();
    assert!(cur.legal_hold);
    assert_eq!(bytes(cur), vec![4; 10]);
    assert_eq!(value_format(&kv, &s, "u", "k", "v4").await, schema::FORMAT_V2_BYTES_IN_WHOLE);
    assert_eq!(bytes(s.update_version("u", "k", "v3", &tags).await.unwrap()), vec![3; 1024]);
    assert!(s.get_object("u", "k", Some("v3")).await.unwrap().legal_hold);

    // Removing the current version gives it back with its bytes; v3 becomes current.
    assert_eq!(bytes(s.delete_version("u", "k", "v4").await.unwrap().unwrap()), vec![4; 10]);
    assert_eq!(value_format(&kv, &s, "u", "k", "v3").await, schema::FORMAT_V2_BYTES_IN_WHOLE);
    assert_eq!(bytes(s.get_object("u", "k", None).await.unwrap()), vec![3; 1024]);

    // A delete marker ends the whole record; removing it brings v3 back whole.
    let mut marker = obj("u", "k", "dm", "");
    marker.data = ObjectData::None;
    marker.delete_marker = true;
    s.put_object(marker, PutCondition::None).await.unwrap();
    assert_eq!(kv.get(&whole("u")).await.unwrap(), None);
    assert_eq!(value_format(&kv, &s, "u", "k", "v3").await, schema::FORMAT_V1);
    assert!(s.get_object("u", "k", None).await.unwrap().delete_marker);
    s.delete_version("u", "k", "dm").await.unwrap();
    assert_eq!(value_format(&kv, &s, "u", "k", "v3").await, schema::FORMAT_V2_BYTES_IN_WHOLE);
    assert_eq!(bytes(s.get_object("u", "k", None).await.unwrap()), vec![3; 1024]);

    // Listings show no bytes, wherever they are kept.
    let page = s.list_objects("u", &ListQuery { max_keys: 10, ..Default::default() }).await.unwrap();
    assert!(page.objects().all(|o| o.data == ObjectData::None));
    let page = s.list_versions("u", &VersionQuery { max_keys: 10, ..Default::default() }).await.unwrap();
    assert_eq!(page.objects().count(), 3);
    assert!(page.objects().all(|o| o.data == ObjectData::None));

    // A key rewritten whole (a DualTrack sync) takes the layout, and reads back the same.
    let versions = s.key_versions("u", "k").await.unwrap();
    s.replace_key("u", "k", versions.clone()).await.unwrap();
    assert_eq!(s.key_versions("u", "k").await.unwrap(), versions);
    assert_eq!(value_format(&kv, &s, "u", "k", "v3").await, schema::FORMAT_V2_BYTES_IN_WHOLE);

    // An unversioned overwrite reports the version it replaced with its bytes.
    s.create_bucket(bucket("n", Versioning::Unversioned)).await.unwrap();
    let mut first = sized("n", NULL_VERSION, 7, 7);
    first.key = "k".into();
    s.put_object(first, PutCondition::None).await.unwrap();
    assert_eq!(value_format(&kv, &s, "n", "k", NULL_VERSION).await, schema::FORMAT_V2_BYTES_IN_WHOLE);
    let replaced = s.put_object(sized("n", NULL_VERSION, 8, 8), PutCondition::None).await.unwrap();
    assert_eq!(replaced.len(), 1);
    assert_eq!(bytes(replaced[0].clone()), vec![7; 7]);
    assert_eq!(bytes(s.get_object("n", "k", None).await.unwrap()), vec![8; 8]);
    assert_eq!(s.key_versions("n", "k").await.unwrap().len(), 1);
    // Removing the last version removes the key's every record.
    s.delete_version("n", "k", NULL_VERSION).await.unwrap();
    assert_eq!(kv.get(&whole("n")).await.unwrap(), None);
    assert!(matches!(s.get_object("n", "k", None).await, Err(MetaError::NoSuchKey { .. })));
    s.delete_bucket("n").await.unwrap();
    // Emptied by a rewrite, the same.
    s.replace_key("u", "k", Vec::new()).await.unwrap();
    assert_eq!(kv.get(&whole("u")).await.unwrap(), None);
    assert!(kv.scan(b"d/", b"d0", 10).await.unwrap().is_empty());

    // The raised store stays at 2 for every later start, shared or not.
    old.recover().await.unwrap();
    assert_eq!(old.format(), 2);
    KvLifecycle::close(kv.as_ref()).await.unwrap();
}

fn inline_bytes(v: ObjectVersion) -> Vec<u8> {
    match v.data {
        ObjectData::Inline(b) => b,
        d => panic!("no inline bytes: {d:?}"),
    }
}

/// Every `v/` record of a bucket.
async fn version_records(kv: &LocalKv, b: &str) -> usize {
    let base = schema::version_base(b);
    kv.scan(&base, &schema::prefix_end(&base).unwrap(), 10_000).await.unwrap().len()
}

fn version_ids(p: &ListPage<ObjectVersion>) -> Vec<String> {
    p.objects().map(|o| format!("{}@{}", o.key, o.version_id)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_2_store_is_raised_to_3_and_a_current_version_stored_whole_loses_its_version_record() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Arc::new(LocalKv::open(dir.path()).unwrap());
    // What a format-2 build left: current versions stored whole, with v/ values without bytes.
    let old = KvStore::raised_to(kv.clone(), 2);
    old.recover().await.unwrap();
    assert_eq!(old.format(), 2);
    old.create_bucket(bucket("u", Versioning::Enabled)).await.unwrap();
    old.put_object(sized("u", "v1", 1, 100), PutCondition::None).await.unwrap();
    old.put_object(sized("u", "v2", 2, 200), PutCondition::None).await.unwrap();
    old.create_bucket(bucket("n", Versioning::Unversioned)).await.unwrap();
    for i in 0..5u8 {
        let mut o = sized("n", NULL_VERSION, i, 10);
        o.key = format!("k{i}");
        old.put_object(o, PutCondition::None).await.unwrap();
    }
    assert_eq!(value_format(&kv, &old, "u", "k", "v2").await, schema::FORMAT_V2_BYTES_IN_WHOLE);
    assert_eq!(version_records(&kv, "n").await, 5);
    let listed_before =
        version_ids(&old.list_versions("u", &VersionQuery { max_keys: 10, ..Default::default() }).await.unwrap());

    let s = KvStore::new(kv.clone());
    s.recover().await.unwrap();
    assert_eq!(s.format(), 3);
    let record = schema::system_key(schema::FORMAT_RECORD);
    assert_eq!(schema::decode::<u8>(&record, &kv.get(&record).await.unwrap().unwrap()).unwrap(), 3);
    // Format 2's keys read the same: every version once, with its bytes.
    let listed =
        version_ids(&s.list_versions("u", &VersionQuery { max_keys: 10, ..Default::default() }).await.unwrap());
    assert_eq!(listed, listed_before);
    assert_eq!(listed, ["k@v2", "k@v1"]);
    let all: Vec<_> = s.key_versions("u", "k").await.unwrap().into_iter().map(inline_bytes).collect();
    assert_eq!(all, [vec![2; 200], vec![1; 100]]);
    assert_eq!(inline_bytes(s.get_object("u", "k", Some("v2")).await.unwrap()), vec![2; 200]);
    let page = s.list_versions("n", &VersionQuery { max_keys: 3, ..Default::default() }).await.unwrap();
    assert_eq!(version_ids(&page), ["k0@null", "k1@null", "k2@null"]);

    // Retagging the current version keeps its v/ value without bytes, retagged too.
    let hold = VersionUpdate { legal_hold: Some(true), ..Default::default() };
    assert_eq!(inline_bytes(s.update_version("u", "k", "v2", &hold).await.unwrap()), vec![2; 200]);
    assert_eq!(version_record(&kv, &s, "u", "k", "v2").await, Some(schema::FORMAT_V2_BYTES_IN_WHOLE));
    assert!(s.get_object("u", "k", None).await.unwrap().legal_hold);
    let listed = s.list_versions("u", &VersionQuery { max_keys: 10, ..Default::default() }).await.unwrap();
    assert!(listed.objects().next().unwrap().legal_hold);
    // A new current version has none either; its predecessor gets its full value back.
    s.put_object(sized("u", "v3", 3, 300), PutCondition::None).await.unwrap();
    assert_eq!(version_record(&kv, &s, "u", "k", "v3").await, None);
    assert_eq!(value_format(&kv, &s, "u", "k", "v2").await, schema::FORMAT_V1);
    assert_eq!(inline_bytes(s.get_object("u", "k", Some("v2")).await.unwrap()), vec![2; 200]);
    assert_eq!(version_records(&kv, "u").await, 2, "v2 and v1");
    let listed =
        version_ids(&s.list_versions("u", &VersionQuery { max_keys: 10, ..Default::default() }).await.unwrap());
    assert_eq!(listed, ["k@v3", "k@v2", "k@v1"]);
    // Removing it makes v2 current and whole again: its v/ value loses its bytes.
    assert_eq!(inline_bytes(s.delete_version("u", "k", "v3").await.unwrap().unwrap()), vec![3; 300]);
    assert_eq!(version_record(&kv, &s, "u", "k", "v2").await, Some(schema::FORMAT_V2_BYTES_IN_WHOLE));
    assert_eq!(inline_bytes(s.get_object("u", "k", None).await.unwrap()), vec![2; 200]);
    assert_eq!(version_records(&kv, "u").await, 2, "v2 without bytes, and v1");
    // A delete marker: v2 goes back to v/ whole, and loses its bytes there again after.
    let mut marker = obj("u", "k", "dm", "");
    marker.data = ObjectData::None;
    marker.delete_marker = true;
    s.put_object(marker, PutCondition::None).await.unwrap();
    assert_eq!(value_format(&kv, &s, "u", "k", "v2").await, schema::FORMAT_V1);
    s.delete_version("u", "k", "dm").await.unwrap();
    assert_eq!(version_record(&kv, &s, "u", "k", "v2").await, Some(schema::FORMAT_V2_BYTES_IN_WHOLE));
    assert_eq!(inline_bytes(s.get_object("u", "k", None).await.unwrap()), vec![2; 200]);
    // A key rewritten whole (a DualTrack sync) reads back the same; rewritten without its
    // current version's v/ record, it has none.
    let versions = s.key_versions("u", "k").await.unwrap();
    s.replace_key("u", "k", versions.clone()).await.unwrap();
    assert_eq!(s.key_versions("u", "k").await.unwrap(), versions);
    s.replace_key("u", "k", Vec::new()).await.unwrap();
    assert!(s.key_versions("u", "k").await.unwrap().is_empty());
    assert_eq!(version_records(&kv, "u").await, 0);
    s.replace_key("u", "k", versions.clone()).await.unwrap();
    assert_eq!(s.key_versions("u", "k").await.unwrap(), versions);
    assert_eq!(version_record(&kv, &s, "u", "k", "v2").await, None);
    let listed =
        version_ids(&s.list_versions("u", &VersionQuery { max_keys: 10, ..Default::default() }).await.unwrap());
    assert_eq!(listed, ["k@v2", "k@v1"]);

    // The unversioned bucket: an overwrite reports the version it replaced, with its bytes,
    // and leaves the key no v/ record.
    let mut o = sized("n", NULL_VERSION, 9, 9);
    o.key = "k0".into();
    let replaced = s.put_object(o, PutCondition::None).await.unwrap();
    assert_eq!(replaced.into_iter().map(inline_bytes).collect::<Vec<_>>(), [vec![0; 10]]);
    assert_eq!(version_record(&kv, &s, "n", "k0", NULL_VERSION).await, None);
    assert_eq!(version_records(&kv, "n").await, 4);
    // Written in format 3 alone, a bucket of small objects has no v/ record at all, and it is
    // not empty: neither a delete nor a start that finds its delete interrupted removes it.
    s.create_bucket(bucket("f", Versioning::Unversioned)).await.unwrap();
    let mut o = sized("f", NULL_VERSION, 5, 5);
    o.key = "only".into();
    s.put_object(o.clone(), PutCondition::None).await.unwrap();
    let replaced = s.put_object(o, PutCondition::None).await.unwrap();
    assert_eq!(replaced.into_iter().map(inline_bytes).collect::<Vec<_>>(), [vec![5; 5]]);
    assert_eq!(version_records(&kv, "f").await, 0);
    assert!(matches!(s.delete_bucket("f").await, Err(MetaError::BucketNotEmpty(_))));
    let mut marked = s.get_bucket("f").await.unwrap();
    marked.deleting = true;
    let mut batch = WriteBatch::new();
    batch.put(schema::bucket_key("f"), schema::encode(&marked));
    kv.write(batch).await.unwrap();
    assert_eq!(s.recover().await.unwrap(), ["f"]);
    assert_eq!(inline_bytes(s.get_object("f", "only", None).await.unwrap()), vec![5; 5]);
    assert_eq!(s.delete_version("f", "only", NULL_VERSION).await.unwrap().map(inline_bytes), Some(vec![5; 5]));
    assert!(kv.scan(b"d/f/", b"d/f0", 10).await.unwrap().is_empty());
    s.delete_bucket("f").await.unwrap();
    KvLifecycle::close(kv.as_ref()).await.unwrap();
}

/// Pages through a bucket's versions `max` at a time, as a client does with the markers.
async fn all_versions(s: &KvStore, b: &str, prefix: &str, delimiter: Option<&str>, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let (mut key_marker, mut version_id_marker) = (None, None);
    loop {
        let q = VersionQuery {
            prefix: prefix.into(),
            delimiter: delimiter.map(Into::into),
            key_marker: key_marker.clone(),
            version_id_marker: version_id_marker.clone(),
            max_keys: max,
        };
        let page = s.list_versions(b, &q).await.unwrap();
        assert!(page.items.len() <= max);
        for item in &page.items {
            match item {
                ListItem::Object(o) => {
                    assert_eq!(o.data, ObjectData::None, "a listing shows no bytes");
                    out.push(format!("{}@{}", o.key, o.version_id));
                    key_marker = Some(o.key.clone());
                    version_id_marker = Some(o.version_id.clone());
                }
                ListItem::CommonPrefix(c) => {
                    out.push(format!("[{c}]"));
                    key_marker = Some(c.clone());
                    version_id_marker = None;
                }
            }
        }
        if !page.truncated {
            return out;
        }
    }
}

/// A bucket's version listing in format 3 merges the current versions stored whole (no `v/`
/// record) into the `v/` scan: every version once, in order, on every page size, with and
/// without a prefix and delimiter, across the scan chunks of both families.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_listings_merge_whole_current_versions_at_every_page_size() {
    let dir = tempfile::tempdir().unwrap();
    let (kv, s) = store(dir.path()).await;
    s.create_bucket(bucket("m", Versioning::Enabled)).await.unwrap();
    let mut expected: Vec<(String, Vec<String>)> = Vec::new();
    for i in 0..400u32 {
        // Keys in and out of folders, one with a NUL, sizes on both sides of whole.
        let key = match i % 7 {
            0 => format!("d{}/x{i:04}", i % 3),
            1 => format!("d{}/y/{i:04}", i % 3),
            2 => format!("k{i:04}\0z"),
            _ => format!("k{i:04}"),
        };
        let mut vids = Vec::new();
        for n in 0..(1 + i % 3) {
            let vid = format!("v{i:04}-{n}");
            let mut o = sized("m", &vid, n as u8, if (i + n) % 11 == 0 { schema::WHOLE_BYTES_MAX + 1 } else { 20 });
            o.key = key.clone();
            if i % 13 == 0 && n == 1 {
                o.data = ObjectData::None;
                o.delete_marker = true;
            }
            s.put_object(o, PutCondition::None).await.unwrap();
            vids.insert(0, vid);
        }
        expected.push((key, vids));
    }
    expected.sort();
    let flat = |prefix: &str| -> Vec<String> {
        expected
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .flat_map(|(k, vids)| vids.iter().map(move |v| format!("{k}@{v}")))
            .collect()
    };
    for max in [1, 3, 16, 17, 255, 1000] {
        assert_eq!(all_versions(&s, "m", "", None, max).await, flat(""), "max {max}");
        assert_eq!(all_versions(&s, "m", "d1/", None, max).await, flat("d1/"), "max {max}");
    }
    let mut folders: Vec<String> = vec!["[d0/]".into(), "[d1/]".into(), "[d2/]".into()];
    folders.extend(flat("k"));
    for max in [1, 2, 5, 1000] {
        assert_eq!(all_versions(&s, "m", "", Some("/"), max).await, folders, "max {max}");
    }
    let inner: Vec<String> = flat("d2/x").into_iter().chain(["[d2/y/]".to_string()]).collect();
    assert_eq!(all_versions(&s, "m", "d2/", Some("/"), 4).await, inner);
    // Every version reads back with its own bytes, from wherever it is kept.
    for (key, vids) in &expected {
        let got: Vec<String> = s.key_versions("m", key).await.unwrap().into_iter().map(|v| v.version_id).collect();
        assert_eq!(&got, vids, "{key}");
    }

    // An unversioned bucket of small objects, a few large: `l/` is dense and `v/` sparse, so
    // the `l/` scan is the one that bounds a chunk.
    s.create_bucket(bucket("s", Versioning::Unversioned)).await.unwrap();
    let mut keys = Vec::new();
    for i in 0..300u32 {
        let mut o = sized("s", NULL_VERSION, 1, if i % 50 == 7 { schema::WHOLE_BYTES_MAX + 1 } else { 10 });
        o.key = format!("o{i:04}");
        s.put_object(o, PutCondition::None).await.unwrap();
        keys.push(format!("o{i:04}@null"));
    }
    assert_eq!(version_records(&kv, "s").await, 6);
    for max in [1, 7, 16, 100, 1000] {
        assert_eq!(all_versions(&s, "s", "", None, max).await, keys, "max {max}");
    }
}

/// Writers that put, delete and retag versions of one key race readers of it: every read
/// returns a version with its own bytes (each version's bytes are derived from its id), never
/// another's and never none, wherever the layout keeps them at that moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_never_make_a_read_return_other_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (kv, s) = store(dir.path()).await;
    let s = Arc::new(s);
    s.create_bucket(bucket("r", Versioning::Enabled)).await.unwrap();
    let bytes_of = |vid: &str| vid.as_bytes().repeat(40);
    let check = move |v: &ObjectVersion| {
        if v.delete_marker {
            return;
        }
        assert_eq!(v.data, ObjectData::Inline(bytes_of(&v.version_id)), "version {}", v.version_id);
    };
    let mut tasks = Vec::new();
    for w in 0..2u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..150u32 {
                let vid = format!("w{w}-{i:04}");
                let mut o = obj("r", "k", &vid, &vid);
                o.data = ObjectData::Inline(vid.as_bytes().repeat(40));
                s.put_object(o, PutCondition::None).await.unwrap();
                let current = || async {
                    match s.get_object("r", "k", None).await {
                        Ok(v) => Some(v),
                        Err(MetaError::NoSuchKey { .. }) => None, // every version removed
                        Err(e) => panic!("{e}"),
                    }
                };
                if i % 3 == 0
                    && let Some(cur) = current().await
                {
                    // Remove the current version (often this writer's own), making an older one current.
                    s.delete_version("r", "k", &cur.version_id).await.unwrap();
                }
                if i % 5 == 0
                    && let Some(cur) = current().await
                {
                    let change = VersionUpdate { legal_hold: Some(i % 2 == 0), ..Default::default() };
                    match s.update_version("r", "k", &cur.version_id, &change).await {
                        Ok(v) => assert_eq!(v.data, ObjectData::Inline(cur.version_id.as_bytes().repeat(40))),
                        Err(MetaError::NoSuchVersion { .. }) => {} // deleted by the other writer meanwhile
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }));
    }
    for _ in 0..2 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..300 {
                match s.get_object("r", "k", None).await {
                    Ok(v) => {
                        check(&v);
                        match s.get_object("r", "k", Some(&v.version_id)).await {
                            Ok(again) => {
                                assert_eq!(again.version_id, v.version_id);
                                check(&again);
                            }
                            Err(MetaError::NoSuchVersion { .. }) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                    Err(MetaError::NoSuchKey { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
                let versions = s.key_versions("r", "k").await.unwrap();
                versions.iter().for_each(check);
                // Each version once, newest first, wherever it is kept at that moment.
                let once = |ids: &[(i64, String)]| {
                    let unique: std::collections::HashSet<_> = ids.iter().map(|i| &i.1).collect();
                    unique.len() == ids.len() && ids.windows(2).all(|w| w[0].0 >= w[1].0)
                };
                let ids: Vec<_> = versions.iter().map(|v| (v.mtime_ns, v.version_id.clone())).collect();
                assert!(once(&ids), "{ids:?}");
                let q = VersionQuery { max_keys: 1000, ..Default::default() };
                let page = s.list_versions("r", &q).await.unwrap();
                let listed: Vec<_> = page.objects().map(|v| (v.mtime_ns, v.version_id.clone())).collect();
                assert!(once(&listed), "{listed:?}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = s.key_versions("r", "k").await.unwrap();
    assert!(!all.is_empty());
    all.iter().for_each(check);
    KvLifecycle::close(kv.as_ref()).await.unwrap();
}

/// `replace_key` (how the migrator and adoption rewrite a key) racing readers of a key with
/// more versions than one scan reads at once: each enumeration returns one of the two sets
/// whole, never a mix of both, and every version with its own bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_key_is_enumerated_before_or_after_the_rewrite_never_across_it() {
    let dir = tempfile::tempdir().unwrap();
    let (kv, s) = store(dir.path()).await;
    let s = Arc::new(s);
    s.create_bucket(bucket("r", Versioning::Enabled)).await.unwrap();
    // Two sets of 300 versions at the same times, newest first: their `v/` keys interleave.
    let set = |tag: &str| -> Vec<ObjectVersion> {
        (0..300i64)
            .map(|i| {
                let vid = format!("{tag}-{i:04}");
                let mut o = obj("r", "k", &vid, &vid);
                o.mtime_ns = 1_000_000 - i;
                // The current version too large to be stored whole: only `l/` says which
                // set an enumeration read.
                o.data = ObjectData::Inline(vid.as_bytes().repeat(if i == 0 { 700 } else { 1 }));
                o
            })
            .collect()
    };
    let ids = |vs: &[ObjectVersion]| vs.iter().map(|v| v.version_id.clone()).collect::<Vec<_>>();
    let (a, b) = (set("a"), set("b"));
    let (ida, idb) = (ids(&a), ids(&b));
    s.replace_key("r", "k", a.clone()).await.unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (s, stop) = (s.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let next = if i % 2 == 0 { b.clone() } else { a.clone() };
                s.replace_key("r", "k", next).await.unwrap();
                i += 1;
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        })
    };
    let (mut saw_a, mut saw_b) = (0, 0);
    for _ in 0..60 {
        let got = s.key_versions("r", "k").await.unwrap();
        for v in &got {
            let n = if v.version_id.ends_with("-0000") { 700 } else { 1 };
            assert_eq!(v.data, ObjectData::Inline(v.version_id.as_bytes().repeat(n)));
        }
        let got = ids(&got);
        assert!(got == ida || got == idb, "a mix of both sets: {got:?}");
        if got == ida { saw_a += 1 } else { saw_b += 1 }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    // The reads ran while the key changed.
    assert!(saw_a > 0 && saw_b > 0, "{saw_a} {saw_b}");
    KvLifecycle::close(kv.as_ref()).await.unwrap();
}

/// A replicated store keeps format 1 until an operator raises it, which is refused while a
/// member has not said recently that its build reads the new format; after the raise, a
/// member that has not read the record again still writes format 1, and every member reads
/// what the others wrote in either layout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_store_is_raised_only_once_every_member_said_its_build_reads_the_format() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let kv = Arc::new(LocalKv::open(dir.path()).unwrap());
    // Two members of one group, over the one (replicated) KV.
    let (n1, n2) = (KvStore::replicated(kv.clone()), KvStore::replicated(kv.clone()));
    n1.recover().await.unwrap();
    n2.recover().await.unwrap();
    assert_eq!((n1.format(), n2.format()), (1, 1));
    let members = [1, 2];
    let day = Duration::from_secs(86_400);
    let refused = |r: Result<u8>, why: &str| match r {
        Err(MetaError::FormatRaiseRefused(m)) => assert!(m.contains(why), "{m}"),
        other => panic!("{other:?}"),
    };
    let to = schema::STORE_FORMAT;
    refused(n1.raise_format(to + 1, &members, day).await, "up to");
    refused(n1.raise_format(to, &members, day).await, "node 1 never said");
    n1.announce_format(1).await.unwrap();
    refused(n1.raise_format(to, &members, day).await, "node 2 never said");
    // A member whose build reads less, or that said so too long ago.
    let say = |supported: u8, at_ms: u64| {
        let mut b = WriteBatch::new();
        b.put(schema::member_format_key(2), schema::encode(&kv_store::MemberFormat { supported, writes: 1, at_ms }));
        b
    };
    kv.write(say(to - 1, clock::now_ns() as u64 / 1_000_000)).await.unwrap();
    refused(n1.raise_format(to, &members, day).await, "node 2 runs a build that reads store formats up to");
    kv.write(say(to, 1)).await.unwrap();
    refused(n1.raise_format(to, &members, day).await, "node 2 last said");
    n1.create_bucket(bucket("b", Versioning::Enabled)).await.unwrap();
    n2.put_object(obj("b", "old", "v1", "e1"), PutCondition::None).await.unwrap();
    let status = n1.format_status(&members).await.unwrap();
    assert_eq!((status.format, status.writes), (1, 1));
    assert_eq!(status.members[1].said.as_ref().unwrap().at_ms, 1);

    n2.announce_format(2).await.unwrap();
    assert_eq!(n1.raise_format(to, &members, day).await.unwrap(), to);
    assert_eq!((n1.format(), n2.format()), (to, 1), "n2 has not read the record again");
    // A raise to the format the store has is a no-op.
    assert_eq!(n1.raise_format(to, &members, day).await.unwrap(), to);
    // Each writes in its layout; each reads the other's.
    n1.put_object(obj("b", "new", "v2", "e2"), PutCondition::None).await.unwrap();
    n2.put_object(obj("b", "new", "v3", "e3"), PutCondition::None).await.unwrap();
    n1.put_object(obj("b", "old", "v4", "e4"), PutCondition::None).await.unwrap();
    assert!(kv.get(&schema::whole_key("b", "old")).await.unwrap().is_some(), "n1 writes format {to}");
    assert!(kv.get(&schema::whole_key("b", "new")).await.unwrap().is_none(), "n2 writes format 1");
    for n in [&n1, &n2] {
        for (k, want) in [("old", vec!["v4", "v1"]), ("new", vec!["v3", "v2"])] {
            let vs = n.key_versions("b", k).await.unwrap();
            assert_eq!(vs.iter().map(|v| v.version_id.as_str()).collect::<Vec<_>>(), want);
            assert!(vs.iter().all(|v| v.data == ObjectData::Inline(b"abc".to_vec())));
            assert_eq!(n.get_object("b", k, None).await.unwrap().version_id, want[0]);
            assert_eq!(n.get_object("b", k, Some(want[1])).await.unwrap().data, ObjectData::Inline(b"abc".to_vec()));
        }
        let q = VersionQuery { max_keys: 1000, ..Default::default() };
        assert_eq!(n.list_versions("b", &q).await.unwrap().objects().count(), 4);
    }
    // The next announce makes n2 write the raised format; a new member takes it at start.
    n2.announce_format(2).await.unwrap();
    assert_eq!(n2.format(), to);
    let n3 = KvStore::replicated(kv.clone());
    n3.recover().await.unwrap();
    assert_eq!(n3.format(), to);
    let status = n2.format_status(&members).await.unwrap();
    assert_eq!((status.format, status.writes, status.supported), (to, to, to));
    assert!(status.members.iter().all(|m| m.said.as_ref().is_some_and(|s| s.supported == to)));
    // A member removed from the group: its record goes.
    n1.forget_member_format(2).await.unwrap();
    assert!(kv.get(&schema::member_format_key(2)).await.unwrap().is_none());
    assert!(n1.format_status(&members).await.unwrap().members[1].said.is_none());
    KvLifecycle::close(kv.as_ref()).await.unwrap();
}
