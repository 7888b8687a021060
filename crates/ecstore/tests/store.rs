//! The erasure store on 12 real drive folders, in both layouts (keyed and by bucket id):
//! streaming write, ranged reads, reads with lost and corrupted shards, heal back to
//! bit-exact shards, the read-quorum error, and frees that wait for readers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use rustfs_ecstore::{EcStore, StoreError};

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i.wrapping_mul(7919) >> 3) as u8).collect()
}

async fn read_all(s: &EcStore, l: &metadata::ErasureLayout, r: std::ops::Range<u64>) -> Result<Vec<u8>, StoreError> {
    let mut rd = s.read(l, "bkt", "dir/obj", r).await?;
    let mut out = Vec::new();
    while let Some(c) = rd.next().await {
        out.extend_from_slice(&c?);
    }
    Ok(out)
}

const BUCKET_ID: &str = "6a1f0c3e-2b4d-4e5f-8a9b-0c1d2e3f4a5b";

/// Every `part.1` under a folder, outside the tmp folder.
fn find_parts(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() && e.file_name() != "tmp" {
            find_parts(&p, out);
        } else if e.file_name() == "part.1" {
            out.push(p);
        }
    }
}

fn shard_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for i in 1..=12 {
        find_parts(&root.join(format!("d{i}")), &mut v);
    }
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_read_lose_corrupt_heal_keyed_layout() {
    write_read_lose_corrupt_heal(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_read_lose_corrupt_heal_kv_layout() {
    write_read_lose_corrupt_heal(Some(BUCKET_ID)).await;
}

async fn write_read_lose_corrupt_heal(bucket_id: Option<&str>) {
    let root = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (1..=12).map(|i| root.path().join(format!("d{i}"))).collect();
    let store = Arc::new(EcStore::open(&paths, 1 << 20).unwrap());
    let body = data((3 << 20) + 12345);
    let mut layout = store.new_layout("bkt", "dir/obj", bucket_id);
    let chunks: Vec<Result<Bytes, StoreError>> = body.chunks(100_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let w =
        store.write_part(&layout, "bkt", "dir/obj", "part.1", futures::stream::iter(chunks), u64::MAX).await.unwrap();
    assert_eq!(w.size, body.len() as u64);
    assert!(!w.degraded());
    layout.parts = vec![rustfs_ecstore::single_part(w.size, "etag")];
    let n = body.len() as u64;
    assert_eq!(read_all(&store, &layout, 0..n).await.unwrap(), body);
    for r in [0..1, 5..(1 << 20) + 5, (2 << 20) - 1..(2 << 20) + 1, n - 10..n, 7..7] {
        assert_eq!(read_all(&store, &layout, r.clone()).await.unwrap(), &body[r.start as usize..r.end as usize]);
    }
    assert!(matches!(store.read(&layout, "bkt", "dir/obj", 0..n + 1).await, Err(StoreError::InvalidRange)));

    let files = shard_files(root.path());
    assert_eq!(files.len(), 12);
    let in_kv_layout = files.iter().all(|f| f.to_string_lossy().contains(".rustfs.sys/data/"));
    assert_eq!(in_kv_layout, bucket_id.is_some(), "{files:?}");
    let originals: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    // Lose two shards and corrupt two others: still bit-exact.
    std::fs::remove_file(&files[0]).unwrap();
    std::fs::remove_file(&files[5]).unwrap();
    for f in [&files[2], &files[9]] {
        let mut b = std::fs::read(f).unwrap();
        b[100] ^= 1;
        std::fs::write(f, b).unwrap();
    }
    assert_eq!(read_all(&store, &layout, 0..n).await.unwrap(), body);
    let out = store.heal_object("bkt", "dir/obj", &layout).await.unwrap();
    assert_eq!(out.shards_healed, 4);
    for (f, o) in files.iter().zip(&originals) {
        assert_eq!(&std::fs::read(f).unwrap(), o, "{} healed bit-exact", f.display());
    }
    // Five shards gone: a clean error, never other bytes.
    for f in &files[..5] {
        std::fs::remove_file(f).unwrap();
    }
    assert!(matches!(read_all(&store, &layout, 0..n).await, Err(StoreError::ReadQuorum(..))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_body_leaves_nothing_and_bad_layout_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (1..=12).map(|i| root.path().join(format!("d{i}"))).collect();
    let store = EcStore::open(&paths, 1 << 20).unwrap();
    let layout = store.new_layout("bkt", "dir/obj", None);
    let chunks: Vec<Result<Bytes, StoreError>> =
        vec![Ok(Bytes::from(vec![1u8; 3 << 20])), Err(StoreError::Body("client went away".into()))];
    assert!(
        store.write_part(&layout, "bkt", "dir/obj", "part.1", futures::stream::iter(chunks), u64::MAX).await.is_err()
    );
    assert!(shard_files(root.path()).is_empty());
    let mut bad = layout.clone();
    bad.distribution[0] = 40;
    bad.parts = vec![rustfs_ecstore::single_part(10, "e")];
    assert!(matches!(store.read(&bad, "bkt", "dir/obj", 0..10).await, Err(StoreError::Format(_))));
    let too_big: Vec<Result<Bytes, StoreError>> = vec![Ok(Bytes::from(vec![0u8; 100]))];
    let r = store.write_part(&layout, "bkt", "dir/obj", "part.1", futures::stream::iter(too_big), 99).await;
    assert!(matches!(r, Err(StoreError::TooLarge(99))));
}

/// A reader that started before its version was replaced keeps reading the bytes it
/// started with: the free waits for it, then removes the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frees_wait_for_readers() {
    let root = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (1..=12).map(|i| root.path().join(format!("d{i}"))).collect();
    let delay = std::time::Duration::from_millis(100);
    let store = Arc::new(EcStore::open_with(&paths, 1 << 20, delay, std::time::Duration::from_secs(5)).unwrap());
    let runner = metadata::background::Runner::new(Arc::new(|| true));
    store.start_workers(&runner);
    let body = data(6 << 20);
    let mut layout = store.new_layout("bkt", "dir/obj", Some(BUCKET_ID));
    let chunks: Vec<Result<Bytes, StoreError>> = body.chunks(1 << 20).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let w =
        store.write_part(&layout, "bkt", "dir/obj", "part.1", futures::stream::iter(chunks), u64::MAX).await.unwrap();
    layout.parts = vec![rustfs_ecstore::single_part(w.size, "etag")];
    let mut rd = store.read(&layout, "bkt", "dir/obj", 0..body.len() as u64).await.unwrap();
    let mut got = rd.next().await.unwrap().unwrap().to_vec();
    // The version is replaced: its data is freed "later".
    store.free_later("bkt", "dir/obj", layout.clone());
    tokio::time::sleep(delay * 5).await;
    assert_eq!(shard_files(root.path()).len(), 12, "a reader holds the data dir");
    while let Some(c) = rd.next().await {
        got.extend_from_slice(&c.unwrap());
    }
    assert!(got == body, "the reader saw the bytes it started with");
    drop(rd);
    // The files go first, then the worker counts the free: wait for both.
    let freed = || store.free_stats().0.freed.load(std::sync::atomic::Ordering::Relaxed);
    for _ in 0..100 {
        if shard_files(root.path()).is_empty() && freed() == 1 {
            break;
        }
        tokio::time::sleep(delay).await;
    }
    assert!(shard_files(root.path()).is_empty(), "freed once the reader went");
    assert_eq!(freed(), 1);
}

/// Shard files swapped between two drives, or copied in from another object at the same
/// index, are caught by their frames and rebuilt from the others, never decoded into wrong
/// bytes. (Shards with v1 frames, bound to nothing, decode such a mix-up into other bytes:
/// that is why frames are bound now.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misplaced_shards_are_detected_not_decoded() {
    let root = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (1..=12).map(|i| root.path().join(format!("d{i}"))).collect();
    let store = Arc::new(EcStore::open(&paths, 1 << 20).unwrap());
    let write = |algorithm: &'static str, key: &'static str, seed: u8| {
        let store = store.clone();
        async move {
            let body: Vec<u8> = data(2 << 20).iter().map(|b| b ^ seed).collect();
            let mut layout = store.new_layout("bkt", key, Some(BUCKET_ID));
            layout.algorithm = algorithm.to_string();
            let chunks: Vec<Result<Bytes, StoreError>> = vec![Ok(Bytes::from(body.clone()))];
            let w =
                store.write_part(&layout, "bkt", key, "part.1", futures::stream::iter(chunks), u64::MAX).await.unwrap();
            layout.parts = vec![rustfs_ecstore::single_part(w.size, "etag")];
            (layout, body)
        }
    };
    let shard_path = |layout: &metadata::ErasureLayout, i: usize| {
        let drive = &paths[layout.distribution[i] as usize];
        rustfs_ecstore::paths::shard_dir(drive, "bkt", "k", layout).unwrap().join("part.1")
    };
    let read = |layout: metadata::ErasureLayout| {
        let store = store.clone();
        async move {
            let mut rd = store.read(&layout, "bkt", "k", 0..(2 << 20)).await.unwrap();
            let mut out = Vec::new();
            while let Some(c) = rd.next().await {
                out.extend_from_slice(&c.unwrap());
            }
            out
        }
    };
    for (algorithm, detected) in [(rustfs_ecstore::ALGORITHM, true), (rustfs_ecstore::ALGORITHM_V1, false)] {
        let (layout, body) = write(algorithm, "k", 1).await;
        let (other, _) = write(algorithm, "other", 2).await;
        // Swap the files of data shards 0 and 1 (a mixed-up disk)...
        let (a, b) = (shard_path(&layout, 0), shard_path(&layout, 1));
        let (fa, fb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        std::fs::write(&a, &fb).unwrap();
        std::fs::write(&b, &fa).unwrap();
        // ...and put another object's shard 2 in place of this one's (a bad heal).
        std::fs::copy(shard_path(&other, 2), shard_path(&layout, 2)).unwrap();
        let got = read(layout.clone()).await;
        assert_eq!(got == body, detected, "{algorithm}");
        if detected {
            let out = store.heal_object("bkt", "k", &layout).await.unwrap();
            assert_eq!(out.shards_healed, 3, "the three misplaced shards are rewritten");
            assert!(read(layout).await == body);
        }
    }
}

/// Two pools of one set each: new objects of the KV layout go to both (by free space and
/// hash), keys of the keyed layout stay on the first pool's sets, so adding a pool never
/// moves where an xl.meta key is found.
#[test]
fn a_second_pool_takes_new_kv_objects_and_keyed_keys_stay_put() {
    let root = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (0..24).map(|i| root.path().join(format!("d{i}"))).collect();
    let specs = paths.iter().map(|p| rustfs_ecstore::DriveSpec::local(p)).collect();
    let opts = rustfs_ecstore::StoreOptions { pools: vec![1, 1], ..Default::default() };
    let store = EcStore::open_drives(specs, || uuid::Uuid::new_v4().to_string(), opts).unwrap();
    assert_eq!((store.pool_count(), store.set_count()), (2, 2));
    let mut per_set = [0usize; 2];
    for i in 0..400 {
        let key = format!("k/{i}");
        per_set[store.new_layout("bkt", &key, Some(BUCKET_ID)).set as usize] += 1;
        assert_eq!(store.new_layout("bkt", &key, None).set, 0, "keyed layout on the first pool");
        assert_eq!(store.set_index("bkt", &key), 0);
    }
    assert!(per_set[0] > 100 && per_set[1] > 100, "both pools take new objects: {per_set:?}");
    drop(store);
    let bad = EcStore::open_drives(
        paths.iter().map(|p| rustfs_ecstore::DriveSpec::local(p)).collect(),
        || "x".into(),
        rustfs_ecstore::StoreOptions { pools: vec![1, 2], ..Default::default() },
    );
    assert!(bad.is_err_and(|e| e.to_string().contains("pools")), "pools must add up to the sets");
}
