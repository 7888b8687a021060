//! MinIO-format objects on the legacy track's 12 drives: an object laid out as MinIO lays it
//! out (xl.meta with MinIO's algorithm ids and distribution on every drive, `part.1` shard
//! files of GF(2^8) shards framed by HighwayHash-256, written by `ecstore::minio`, whose
//! codec the cicd-corpus test checks against MinIO's own files) is found by the legacy store
//! and read by the store's reader: whole, by range, with 4 drives' shards gone, and never
//! with 5. Heal leaves MinIO's healthy files as they are and rebuilds lost or corrupt ones
//! byte for byte as MinIO wrote them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use md5::{Digest, Md5};
use metadata::{BucketInfo, ObjectData, Versioning};
use rustfs_ecstore::EcStore;
use rustfs_ecstore::legacy::store::LegacyStore;
use rustfs_ecstore::minio::{Codec, write_part};
use rustfs_ecstore::xlmeta::{self, VersionType, XlMeta, XlObject, XlVersion};

const DATA_DIR: &str = "0c5a9b2e-2f39-4d36-9a51-1f0e3c7d8a42";
const KEY: &str = "photos/2026/cat.bin";
/// Shard held by the drive at each set position (a permutation, as MinIO draws one per key).
const DIST: [u8; 12] = [5, 9, 1, 12, 3, 7, 11, 2, 8, 4, 10, 6];

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Writes `body` as MinIO would on the 12 drives: one xl.meta per drive (its `EcIndex` the
/// shard it holds) and the drive's shard file.
fn place_minio_object(drives: &[PathBuf], body: &[u8]) {
    let codec = Codec::new(8, 4).unwrap();
    let mut shards: Vec<Vec<u8>> = vec![Vec::new(); 12];
    write_part(&codec, 1 << 20, body.len() as u64, &mut &body[..], &mut shards).unwrap();
    let mut meta_user = BTreeMap::new();
    meta_user.insert("etag".to_string(), hex(&Md5::digest(body)));
    meta_user.insert("content-type".to_string(), "application/octet-stream".to_string());
    for (pos, drive) in drives.iter().enumerate() {
        let shard = DIST[pos];
        let object = XlObject {
            data_dir: DATA_DIR.into(),
            erasure_algorithm: 1,
            erasure_data: 8,
            erasure_parity: 4,
            erasure_block_size: 1 << 20,
            erasure_index: i64::from(shard),
            erasure_distribution: DIST.to_vec(),
            bitrot_algorithm: 1,
            part_numbers: vec![1],
            part_etags: vec![],
            part_sizes: vec![body.len() as i64],
            part_actual_sizes: vec![body.len() as i64],
            size: body.len() as i64,
            meta_sys: BTreeMap::new(),
            meta_user: meta_user.clone(),
            unreadable: None,
        };
        let v = XlVersion {
            kind: VersionType::Object,
            version_id: None,
            mod_time_ns: 1_760_000_000_000_000_000,
            signature: None,
            flags: 0,
            object: Some(object),
            v1_raw: None,
        };
        let meta = XlMeta { major: 1, minor: 3, versions: vec![v], ..Default::default() };
        let dir = drive.join("bucket").join(KEY);
        std::fs::create_dir_all(dir.join(DATA_DIR)).unwrap();
        std::fs::write(dir.join("xl.meta"), xlmeta::encode(&meta)).unwrap();
        std::fs::write(dir.join(DATA_DIR).join("part.1"), &shards[shard as usize - 1]).unwrap();
    }
}

fn part_file(drive: &Path) -> PathBuf {
    drive.join("bucket").join(KEY).join(DATA_DIR).join("part.1")
}

async fn read(ec: &EcStore, legacy: &LegacyStore, range: std::ops::Range<u64>) -> Result<Vec<u8>, String> {
    let o = legacy.get_object("bucket", KEY, None).await.map_err(|e| e.to_string())?;
    let ObjectData::Erasure(layout) = &o.data else { panic!("an erasure-coded object: {:?}", o.data) };
    let mut r = ec.read(layout, "bucket", KEY, range).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while let Some(chunk) = r.next().await {
        out.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// 12 fresh drive folders, the legacy store on them, and its bucket `bucket`.
async fn legacy_store(versioning: Versioning) -> (tempfile::TempDir, Vec<PathBuf>, Arc<EcStore>, LegacyStore) {
    let root = tempfile::tempdir().unwrap();
    let drives: Vec<PathBuf> = (1..=12).map(|i| root.path().join(format!("drive{i}"))).collect();
    let ec = Arc::new(EcStore::open(&drives, 1 << 20).unwrap());
    let legacy = LegacyStore::new(ec.clone());
    let info = BucketInfo {
        name: "bucket".into(),
        id: metadata::clock::new_bucket_id(),
        owner: "o".into(),
        created_ns: 1,
        location: None,
        versioning,
        deleting: false,
        ..Default::default()
    };
    legacy.create_bucket(info).await.unwrap();
    (root, drives, ec, legacy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_track_serves_minio_format_objects() {
    let (_root, drives, ec, legacy) = legacy_store(Versioning::Unversioned).await;
    let body: Vec<u8> = (0..(3 << 20) + 12_345u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    place_minio_object(&drives, &body);

    let o = legacy.get_object("bucket", KEY, None).await.unwrap();
    assert_eq!((o.size, o.etag.clone()), (body.len() as u64, hex(&Md5::digest(&body))));
    assert_eq!(read(&ec, &legacy, 0..body.len() as u64).await.unwrap(), body);
    let mid = 1_000_000..2_500_000u64;
    assert_eq!(read(&ec, &legacy, mid.clone()).await.unwrap(), &body[mid.start as usize..mid.end as usize]);

    // Heal leaves MinIO's files exactly as they are.
    let before: Vec<Vec<u8>> = drives.iter().map(|d| std::fs::read(part_file(d)).unwrap()).collect();
    let ObjectData::Erasure(layout) = &o.data else { unreachable!() };
    ec.heal_object("bucket", KEY, layout).await.unwrap();
    let after: Vec<Vec<u8>> = drives.iter().map(|d| std::fs::read(part_file(d)).unwrap()).collect();
    assert_eq!(before, after);

    // Four shards lost (two removed, one corrupt in its second block, one cut short): read,
    // and heal rebuilds each as MinIO wrote it (a quick walk finds the missing and short
    // ones, a deep one the bitrot too).
    let lose = |drives: &[PathBuf]| {
        std::fs::remove_file(part_file(&drives[0])).unwrap();
        std::fs::remove_file(part_file(&drives[5])).unwrap();
        let mut f = before[7].clone();
        f[(32 + 131_072) + 500] ^= 0x40;
        std::fs::write(part_file(&drives[7]), f).unwrap();
        std::fs::write(part_file(&drives[10]), &before[10][..100_000]).unwrap();
    };
    lose(&drives);
    assert_eq!(read(&ec, &legacy, 0..body.len() as u64).await.unwrap(), body);
    let quick = ec.heal_object_with("bucket", KEY, layout, false).await.unwrap();
    assert_eq!((quick.shards_healed, quick.shards_failed), (3, 0));
    assert_ne!(std::fs::read(part_file(&drives[7])).unwrap(), before[7]);
    let deep = ec.heal_object("bucket", KEY, layout).await.unwrap();
    assert_eq!((deep.shards_healed, deep.shards_failed), (1, 0));
    let healed: Vec<Vec<u8>> = drives.iter().map(|d| std::fs::read(part_file(d)).unwrap()).collect();
    assert_eq!(healed, before);
    // Those four lost again, and a fifth: an error, never other bytes, and heal writes nothing.
    lose(&drives);
    std::fs::remove_file(part_file(&drives[2])).unwrap();
    assert!(read(&ec, &legacy, 0..body.len() as u64).await.is_err());
    assert!(ec.heal_object("bucket", KEY, layout).await.is_err());
    assert!(!part_file(&drives[0]).exists() && !part_file(&drives[2]).exists());
}

/// A MinIO v1 record in msgpack (`xlMetaV1Object` as msgp writes it), for the drive holding
/// `shard`: 8+4, MinIO's v1 block size (10 MiB), streaming HighwayHash, data in `legacy/`.
fn v1_obj(shard: u8, body: &[u8]) -> Vec<u8> {
    use rmp::encode as mp;
    let s = |o: &mut Vec<u8>, v: &str| mp::write_str(o, v).unwrap();
    let mut o = Vec::new();
    mp::write_map_len(&mut o, 9).unwrap();
    s(&mut o, "Version");
    s(&mut o, "1.0.1");
    s(&mut o, "Format");
    s(&mut o, "xl");
    s(&mut o, "Stat");
    mp::write_map_len(&mut o, 4).unwrap();
    s(&mut o, "Size");
    mp::write_sint(&mut o, body.len() as i64).unwrap();
    s(&mut o, "ModTime");
    mp::write_ext_meta(&mut o, 12, 5).unwrap();
    o.extend_from_slice(&1_577_836_800i64.to_be_bytes());
    o.extend_from_slice(&123_456_789u32.to_be_bytes());
    s(&mut o, "Name");
    s(&mut o, "");
    s(&mut o, "Dir");
    mp::write_bool(&mut o, false).unwrap();
    s(&mut o, "Erasure");
    mp::write_map_len(&mut o, 7).unwrap();
    s(&mut o, "Algorithm");
    s(&mut o, "klauspost/reedsolomon/vandermonde");
    for (k, v) in [("DataBlocks", 8i64), ("ParityBlocks", 4), ("BlockSize", 10 << 20), ("Index", i64::from(shard))] {
        s(&mut o, k);
        mp::write_sint(&mut o, v).unwrap();
    }
    s(&mut o, "Distribution");
    mp::write_array_len(&mut o, 12).unwrap();
    DIST.iter().for_each(|d| mp::write_uint(&mut o, u64::from(*d)).map(|_| ()).unwrap());
    s(&mut o, "Checksums");
    mp::write_array_len(&mut o, 1).unwrap();
    mp::write_map_len(&mut o, 3).unwrap();
    s(&mut o, "PartNumber");
    mp::write_sint(&mut o, 1).unwrap();
    s(&mut o, "Algorithm");
    mp::write_uint(&mut o, 3).unwrap();
    s(&mut o, "Hash");
    mp::write_bin(&mut o, &[]).unwrap();
    s(&mut o, "Minio");
    mp::write_map_len(&mut o, 1).unwrap();
    s(&mut o, "Release");
    s(&mut o, "RELEASE.2019-12-30T05-45-39Z");
    s(&mut o, "Meta");
    mp::write_map_len(&mut o, 2).unwrap();
    s(&mut o, "etag");
    s(&mut o, &hex(&Md5::digest(body)));
    s(&mut o, "content-type");
    s(&mut o, "application/x-old");
    s(&mut o, "Parts");
    mp::write_array_len(&mut o, 1).unwrap();
    mp::write_map_len(&mut o, 4).unwrap();
    s(&mut o, "ETag");
    s(&mut o, "");
    s(&mut o, "Number");
    mp::write_sint(&mut o, 1).unwrap();
    s(&mut o, "Size");
    mp::write_sint(&mut o, body.len() as i64).unwrap();
    s(&mut o, "ActualSize");
    mp::write_sint(&mut o, body.len() as i64).unwrap();
    s(&mut o, "VersionID");
    s(&mut o, "null");
    s(&mut o, "DataDir");
    s(&mut o, "legacy");
    o
}

/// `body` as a MinIO release kept it after converting an `xl.json` object: each drive's
/// xl.meta (the 1.0 layout: "XL2 1   " and a map of versions) holds one legacy version,
/// the shard file is `legacy/part.1`.
fn place_v1_object(drives: &[PathBuf], bucket: &str, key: &str, body: &[u8]) {
    let codec = Codec::new(8, 4).unwrap();
    let mut shards: Vec<Vec<u8>> = vec![Vec::new(); 12];
    write_part(&codec, 10 << 20, body.len() as u64, &mut &body[..], &mut shards).unwrap();
    for (pos, drive) in drives.iter().enumerate() {
        let shard = DIST[pos];
        let mut f = b"XL2 1   ".to_vec();
        rmp::encode::write_map_len(&mut f, 1).unwrap();
        rmp::encode::write_str(&mut f, "Versions").unwrap();
        rmp::encode::write_array_len(&mut f, 1).unwrap();
        rmp::encode::write_map_len(&mut f, 2).unwrap();
        rmp::encode::write_str(&mut f, "Type").unwrap();
        rmp::encode::write_uint(&mut f, 3).unwrap();
        rmp::encode::write_str(&mut f, "V1Obj").unwrap();
        f.extend(v1_obj(shard, body));
        let dir = drive.join(bucket).join(key);
        std::fs::create_dir_all(dir.join("legacy")).unwrap();
        std::fs::write(dir.join("xl.meta"), f).unwrap();
        std::fs::write(dir.join("legacy/part.1"), &shards[shard as usize - 1]).unwrap();
    }
}

/// An object of a MinIO release before 2020, kept as a legacy (v1) version in xl.meta, is
/// served as MinIO wrote it (its 10 MiB blocks, by range, with four shards gone); a new
/// version beside it in a versioned bucket keeps it on every drive with that drive's shard
/// number, and deleting the null version removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minio_v1_versions_in_xl_meta_are_served_and_kept() {
    let (_root, drives, ec, legacy) = legacy_store(Versioning::Enabled).await;
    let body: Vec<u8> = (0..(12 << 20) + 777u32).map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8).collect();
    place_v1_object(&drives, "bucket", KEY, &body);

    let o = legacy.get_object("bucket", KEY, None).await.unwrap();
    assert_eq!((o.size, o.etag.clone(), o.version_id.as_str()), (body.len() as u64, hex(&Md5::digest(&body)), "null"));
    assert_eq!(o.content_type.as_deref(), Some("application/x-old"));
    assert_eq!(o.mtime_ns, 1_577_836_800_123_456_789);
    assert_eq!(read(&ec, &legacy, 0..body.len() as u64).await.unwrap(), body);
    let across = (10 << 20) - 1000..(10 << 20) + 5000u64;
    assert_eq!(read(&ec, &legacy, across.clone()).await.unwrap(), &body[across.start as usize..across.end as usize]);
    let shard = |d: &Path| d.join("bucket").join(KEY).join("legacy/part.1");
    let saved: Vec<Vec<u8>> = drives.iter().map(|d| std::fs::read(shard(d)).unwrap()).collect();
    for d in &drives[..4] {
        std::fs::remove_file(shard(d)).unwrap();
    }
    assert_eq!(read(&ec, &legacy, 0..body.len() as u64).await.unwrap(), body);
    std::fs::remove_file(shard(&drives[4])).unwrap();
    assert!(read(&ec, &legacy, 0..body.len() as u64).await.is_err(), "five shards gone: an error");
    for (d, s) in drives.iter().zip(&saved) {
        std::fs::write(shard(d), s).unwrap();
    }

    // A new version: every drive keeps the v1 record, with its own shard number.
    let mut new = o.clone();
    new.version_id = "1f0b6c1e-3d5a-4f7e-9a2b-5c8d7e6f4a3b".into();
    new.mtime_ns += 1;
    new.size = 2;
    new.etag = "e2".into();
    new.data = ObjectData::Inline(b"hi".to_vec());
    legacy.put_object(new, metadata::PutCondition::None).await.unwrap();
    for (pos, d) in drives.iter().enumerate() {
        let m = xlmeta::decode(&std::fs::read(d.join("bucket").join(KEY).join("xl.meta")).unwrap()).unwrap();
        assert_eq!(m.versions.len(), 2);
        let v1 = m.versions.iter().find(|v| v.kind == VersionType::Legacy).unwrap();
        let obj = v1.object.as_ref().unwrap();
        assert_eq!((obj.erasure_index, obj.data_dir.as_str()), (i64::from(DIST[pos]), "legacy"));
        // Fields the model does not carry are kept as MinIO wrote them.
        let raw = v1.v1_raw.as_ref().unwrap();
        assert!(raw.windows(28).any(|w| w == b"RELEASE.2019-12-30T05-45-39Z"), "MinIO's release kept");
    }
    assert_eq!(legacy.get_object("bucket", KEY, None).await.unwrap().etag, "e2");
    assert_eq!(legacy.get_object("bucket", KEY, Some("null")).await.unwrap().etag, hex(&Md5::digest(&body)));
    assert_eq!(read_version(&ec, &legacy, "null").await, body);

    let gone = legacy.delete_version("bucket", KEY, "null").await.unwrap().unwrap();
    assert_eq!(gone.size, body.len() as u64);
    assert!(legacy.get_object("bucket", KEY, Some("null")).await.is_err());
    assert_eq!(legacy.get_object("bucket", KEY, None).await.unwrap().etag, "e2");
}

async fn read_version(ec: &EcStore, legacy: &LegacyStore, vid: &str) -> Vec<u8> {
    let o = legacy.get_object("bucket", KEY, Some(vid)).await.unwrap();
    let ObjectData::Erasure(layout) = &o.data else { panic!("erasure-coded: {:?}", o.data) };
    let mut r = ec.read(layout, "bucket", KEY, 0..o.size).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = r.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// Freeing a MinIO `xl.json` object removes its part files and `xl.json` in the object's
/// folder, files only: a key written below it since (a folder `part.1`) stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeing_an_xl_json_object_removes_files_only() {
    let root = tempfile::tempdir().unwrap();
    let drives: Vec<PathBuf> = (1..=12).map(|i| root.path().join(format!("drive{i}"))).collect();
    let ec = EcStore::open(&drives, 1 << 20).unwrap();
    for d in &drives {
        let dir = d.join("bucket/k");
        std::fs::create_dir_all(dir.join("part.1")).unwrap();
        std::fs::write(dir.join("part.1/xl.meta"), b"a key below").unwrap();
        std::fs::write(dir.join("part.2"), b"shard").unwrap();
        std::fs::write(dir.join("xl.json"), b"{}").unwrap();
    }
    let part = |n: u32| metadata::PartInfo { number: n, size: 1, etag: String::new(), file: None };
    let layout = metadata::ErasureLayout {
        algorithm: rustfs_ecstore::ALGORITHM_MINIO.into(),
        data: 8,
        parity: 4,
        block_size: 10 << 20,
        set: 0,
        distribution: (0..12).collect(),
        data_dir: String::new(),
        bucket_id: None,
        parts: vec![part(1), part(2)],
    };
    ec.delete_object_data(&layout, "bucket", "k").await;
    for d in &drives {
        let dir = d.join("bucket/k");
        assert!(!dir.join("part.2").exists() && !dir.join("xl.json").exists());
        assert_eq!(std::fs::read(dir.join("part.1/xl.meta")).unwrap(), b"a key below");
    }
}
