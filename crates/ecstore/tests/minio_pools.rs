//! An adopted MinIO deployment of two pools of different set sizes (pool 1: one set of 4
//! drives, 2+2; pool 2: one set of 6, 4+2: MinIO keeps the first pool's parity for every
//! pool) on real drive folders, through the legacy store: new keys spread over both pools
//! by MinIO's hash of each pool, each key found again on whichever pool holds it (the newest
//! copy when a key is on both), data written where the key's metadata is (a write whose
//! data went to the other pool is refused as a conflict, nothing changed), listings merged
//! without repeats, and a suspended pool (MinIO's decommission) taking no new keys.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use metadata::{BucketInfo, ListQuery, MetaError, MetadataStore, ObjectData, ObjectVersion, PutCondition, Versioning};
use rustfs_ecstore::legacy::store::LegacyStore;
use rustfs_ecstore::legacy::{files, pools};
use rustfs_ecstore::minio::MinioFormat;
use rustfs_ecstore::{EcStore, StoreOptions};

const ID: &str = "5e7c3b2a-1f4d-4c8e-9a6b-2d3e4f5a6b7c";

/// Two pools' drive folders with MinIO's format.json on each, and the formats.
fn deployment(root: &std::path::Path) -> (Vec<PathBuf>, Vec<MinioFormat>) {
    let mut drives = Vec::new();
    let mut formats = Vec::new();
    for (pool, n) in [(1, 4), (2, 6)] {
        let uuids: Vec<String> = (0..n).map(|i| format!("00000000-0000-4000-800{pool}-{i:012}")).collect();
        for (i, u) in uuids.iter().enumerate() {
            let d = root.join(format!("p{pool}d{i}"));
            std::fs::create_dir_all(d.join(".minio.sys")).unwrap();
            let f = serde_json::json!({"version": "1", "format": "xl", "id": ID,
                "xl": {"version": "3", "this": u, "sets": [uuids.clone()], "distributionAlgo": "SIPMOD+PARITY"}});
            std::fs::write(d.join(".minio.sys/format.json"), f.to_string()).unwrap();
            drives.push(d);
        }
        formats.push(MinioFormat::parse(format!(r#"{{"version":"1","format":"xl","id":"{ID}","xl":{{"version":"3","this":"{}","sets":[{:?}],"distributionAlgo":"SIPMOD+PARITY"}}}}"#, uuids[0], uuids).as_bytes()).unwrap());
    }
    (drives, formats)
}

fn open(drives: &[PathBuf], formats: &[MinioFormat]) -> Arc<EcStore> {
    let specs = drives.iter().map(|p| rustfs_ecstore::DriveSpec::local(p)).collect();
    let opts = StoreOptions { minio: formats.to_vec(), ..Default::default() };
    Arc::new(EcStore::open_drives(specs, || unreachable!("MinIO's id"), opts).unwrap())
}

fn inline(key: &str, body: &str, mtime: i64) -> ObjectVersion {
    ObjectVersion {
        bucket: "bkt".into(),
        key: key.into(),
        version_id: metadata::NULL_VERSION.into(),
        delete_marker: false,
        size: body.len() as u64,
        etag: md5_hex(body.as_bytes()),
        mtime_ns: mtime,
        content_type: None,
        headers: BTreeMap::new(),
        user_meta: BTreeMap::new(),
        checksums: BTreeMap::new(),
        data: ObjectData::Inline(body.as_bytes().to_vec()),
        acl: None,
        tags: Default::default(),
        legal_hold: false,
        retention: None,
        sse: None,
    }
}

fn md5_hex(b: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// The pools whose set (the one the key hashes to) holds the key's xl.meta on any drive.
fn pools_holding(ec: &EcStore, drives: &[PathBuf], key: &str) -> Vec<usize> {
    ec.key_sets("bkt", key)
        .into_iter()
        .enumerate()
        .filter(|(_, set)| {
            ec.set_drives(*set).iter().any(|d| {
                let i = drives.iter().position(|p| *p == d.path).unwrap();
                drives[i].join("bkt").join(key).join("xl.meta").exists()
            })
        })
        .map(|(p, _)| p)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_live_on_one_pool_and_are_found_there() {
    let root = tempfile::tempdir().unwrap();
    let (drives, formats) = deployment(root.path());
    let ec = open(&drives, &formats);
    assert_eq!(ec.pool_sets(), [1, 1]);
    assert_eq!((ec.geometry(0), ec.geometry(1)), ((2, 2), (4, 2)));
    assert_eq!((ec.write_quorum(0), ec.write_quorum(1)), (3, 4));
    let s = LegacyStore::new(ec.clone());
    let b = BucketInfo {
        name: "bkt".into(),
        id: String::new(),
        owner: "o".into(),
        created_ns: 1,
        location: None,
        versioning: Versioning::Unversioned,
        deleting: false,
        ..Default::default()
    };
    s.create_bucket(b).await.unwrap();

    // New keys spread over both pools, each on exactly one, found again there.
    let keys: Vec<String> = (0..40).map(|i| format!("dir/k{i:02}")).collect();
    for (i, k) in keys.iter().enumerate() {
        s.put_object(inline(k, &format!("body {i}"), 100 + i as i64), PutCondition::None).await.unwrap();
    }
    let mut per_pool = [0, 0];
    for k in &keys {
        let held = pools_holding(&ec, &drives, k);
        assert_eq!(held.len(), 1, "{k} on {held:?}");
        per_pool[held[0]] += 1;
    }
    assert!(per_pool[0] > 0 && per_pool[1] > 0, "both pools take new keys: {per_pool:?}");
    for (i, k) in keys.iter().enumerate() {
        let o = MetadataStore::get_object(&s, "bkt", k, None).await.unwrap();
        assert_eq!(o.data, ObjectData::Inline(format!("body {i}").into_bytes()));
    }
    let q = ListQuery { prefix: "dir/".into(), max_keys: 1000, ..Default::default() };
    let listed: Vec<String> = s.list_objects("bkt", &q).await.unwrap().objects().map(|o| o.key.clone()).collect();
    assert_eq!(listed, keys);

    // Erasure-coded data goes where the key is: an overwrite stays on the key's pool.
    let k = keys.iter().find(|k| pools_holding(&ec, &drives, k) == [1]).unwrap().clone();
    let set = pools::keyed_set(&ec, "bkt", &k).await.unwrap();
    assert_eq!(set, ec.key_sets("bkt", &k)[1]);
    let body = Bytes::from(vec![7u8; 300_000]);
    let mut layout = ec.layout_on(set, "bkt", &k, None, true);
    let stream = futures::stream::iter([Ok::<_, rustfs_ecstore::StoreError>(body.clone())]);
    let w = ec.write_part(&layout, "bkt", &k, "part.1", stream, u64::MAX).await.unwrap();
    layout.parts = vec![rustfs_ecstore::single_part(w.size, &md5_hex(&body))];
    let mut o = inline(&k, "", 1_000);
    o.size = body.len() as u64;
    o.data = ObjectData::Erasure(layout.clone());
    let replaced = s.put_object(o, PutCondition::None).await.unwrap();
    assert_eq!(replaced.len(), 1);
    assert_eq!(pools_holding(&ec, &drives, &k), [1]);
    let got = MetadataStore::get_object(&s, "bkt", &k, None).await.unwrap();
    let ObjectData::Erasure(l) = got.data else { panic!("erasure-coded") };
    assert_eq!((l.set as usize, l.data, l.parity), (set, 4, 2));
    let mut r = ec.read(&l, "bkt", &k, 0..body.len() as u64).await.unwrap();
    let mut read = Vec::new();
    while let Some(c) = r.next().await {
        read.extend_from_slice(&c.unwrap());
    }
    assert_eq!(read, body);

    // Data written on the other pool's set for a key that exists: refused, nothing changed.
    let other = ec.key_sets("bkt", &k)[0];
    let mut wrong = inline(&k, "", 2_000);
    wrong.data = ObjectData::Erasure(ec.layout_on(other, "bkt", &k, None, true));
    assert!(matches!(s.put_object(wrong, PutCondition::None).await, Err(MetaError::Conflict(_))));
    assert_eq!(MetadataStore::get_object(&s, "bkt", &k, None).await.unwrap().etag, got.etag);

    // A key on both pools (a copy cut short): the newest copy is the key's, everywhere.
    let dup = keys.iter().find(|k| pools_holding(&ec, &drives, k) == [0]).unwrap().clone();
    let sets = ec.key_sets("bkt", &dup);
    let (from, to) = (ec.set_drives(sets[0]).to_vec(), ec.set_drives(sets[1]).to_vec());
    let mut m = files::read(&from, "bkt", &dup, 3, false).unwrap().unwrap();
    m.versions[0].mod_time_ns += 1_000_000;
    let newer = metadata::ObjectData::Inline(b"newer copy".to_vec());
    let mut fresh = XlFromModel::version(&dup, &newer, m.versions[0].mod_time_ns);
    fresh.versions[0].mod_time_ns = m.versions[0].mod_time_ns;
    files::write(&to, "bkt", &dup, 4, |_| fresh.clone()).unwrap();
    assert_eq!(pools_holding(&ec, &drives, &dup), [0, 1]);
    assert_eq!(MetadataStore::get_object(&s, "bkt", &dup, None).await.unwrap().data, newer);
    let listed: Vec<String> = s.list_objects("bkt", &q).await.unwrap().objects().map(|o| o.key.clone()).collect();
    assert_eq!(listed, keys, "a key on two pools is listed once");
    assert_eq!(pools::keyed_set(&ec, "bkt", &dup).await.unwrap(), sets[1]);

    // Garbage collection keeps the data of a key's older copy on the other pool (its
    // xl.meta there references it) and frees data no copy references.
    let old_key = keys.iter().find(|k| pools_holding(&ec, &drives, k) == [1]).unwrap().clone();
    let old_sets = ec.key_sets("bkt", &old_key);
    let mut kept = ec.layout_on(old_sets[0], "bkt", &old_key, None, true);
    let w = ec
        .write_part(&kept, "bkt", &old_key, "part.1", futures::stream::iter([Ok(body.clone())]), u64::MAX)
        .await
        .unwrap();
    kept.parts = vec![rustfs_ecstore::single_part(w.size, &md5_hex(&body))];
    let mut older = inline(&old_key, "", 1);
    older.size = body.len() as u64;
    older.data = ObjectData::Erasure(kept.clone());
    let (v, _) = rustfs_ecstore::legacy::mapping::to_xl(&older, 0);
    let m = rustfs_ecstore::xlmeta::XlMeta { major: 1, minor: 3, versions: vec![v], ..Default::default() };
    let pool0 = ec.set_drives(old_sets[0]).to_vec();
    files::write(&pool0, "bkt", &old_key, 3, |_| m.clone()).unwrap();
    let orphan = ec.layout_on(old_sets[0], "bkt", &old_key, None, true);
    ec.write_part(&orphan, "bkt", &old_key, "part.1", futures::stream::iter([Ok(body.clone())]), u64::MAX)
        .await
        .unwrap();
    let stores: Vec<Arc<dyn MetadataStore>> = vec![Arc::new(LegacyStore::new(ec.clone()))];
    let report = ec.collect_garbage(&stores, std::time::Duration::ZERO).await.unwrap();
    assert_eq!(report.data_dirs_removed, 1, "{report:?}");
    let dir_of = |l: &metadata::ErasureLayout| {
        ec.set_drives(l.set as usize)[0].path.join("bkt").join(&old_key).join(&l.data_dir)
    };
    assert!(dir_of(&kept).exists(), "the older copy's data stays");
    assert!(!dir_of(&orphan).exists(), "unreferenced data is freed");

    // A suspended pool (MinIO decommissions it) takes no new keys; its keys stay readable.
    ec.set_pool_suspended(0, true);
    for i in 0..20 {
        let k = format!("new/k{i:02}");
        s.put_object(inline(&k, "n", 5_000 + i), PutCondition::None).await.unwrap();
        assert_eq!(pools_holding(&ec, &drives, &k), [1], "{k}");
    }
    let on_pool_1 = keys.iter().find(|k| **k != dup && pools_holding(&ec, &drives, k) == [0]).unwrap();
    assert!(MetadataStore::get_object(&s, "bkt", on_pool_1, None).await.is_ok());
    // ... and an existing key there is still written there.
    s.put_object(inline(on_pool_1, "again", 9_000), PutCondition::None).await.unwrap();
    assert_eq!(pools_holding(&ec, &drives, on_pool_1), [0]);
}

/// An xl.meta of one inline version, as this server writes it from the model.
struct XlFromModel;

impl XlFromModel {
    fn version(key: &str, data: &ObjectData, mtime: i64) -> rustfs_ecstore::xlmeta::XlMeta {
        let mut o = inline(key, "", mtime);
        o.data = data.clone();
        if let ObjectData::Inline(b) = data {
            o.size = b.len() as u64;
        }
        let (v, inline) = rustfs_ecstore::legacy::mapping::to_xl(&o, 0);
        let mut m = rustfs_ecstore::xlmeta::XlMeta { major: 1, minor: 3, versions: vec![v], ..Default::default() };
        if let Some(b) = inline {
            m.inline.insert(metadata::NULL_VERSION.into(), b);
        }
        m
    }
}
