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
        };
        let v = XlVersion {
            kind: VersionType::Object,
            version_id: None,
            mod_time_ns: 1_760_000_000_000_000_000,
            signature: None,
            flags: 0,
            object: Some(object),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_track_serves_minio_format_objects() {
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
        versioning: Versioning::Unversioned,
        deleting: false,
    };
    legacy.create_bucket(info).await.unwrap();
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
