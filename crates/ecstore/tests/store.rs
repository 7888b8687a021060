//! The erasure store on 12 real drive folders: streaming write, ranged reads, reads with
//! lost and corrupted shards, heal back to bit-exact shards, and the read-quorum error.

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

fn shard_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = (1..=12)
        .filter_map(|i| {
            let d = root.join(format!("d{i}/bkt/dir/obj"));
            let dd = std::fs::read_dir(&d).ok()?.next()?.ok()?.path();
            Some(dd.join("part.1"))
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_read_lose_corrupt_heal() {
    let root = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (1..=12).map(|i| root.path().join(format!("d{i}"))).collect();
    let store = Arc::new(EcStore::open(&paths, 1 << 20).unwrap());
    let body = data((3 << 20) + 12345);
    let mut layout = store.new_layout("bkt", "dir/obj");
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
    let layout = store.new_layout("bkt", "dir/obj");
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
