//! KV track on a real surrealkv tree: durable puts (64 concurrent writers sharing group
//! commits), point gets of inline objects, and listing 10,000 keys in pages of 1000.
//! Run: `cargo bench -p rustfs-metadata`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

use std::collections::BTreeMap;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rustfs_metadata::*;

fn obj(key: String) -> ObjectVersion {
    ObjectVersion {
        bucket: "bench".into(),
        key,
        version_id: NULL_VERSION.into(),
        delete_marker: false,
        size: 4096,
        etag: "0123456789abcdef0123456789abcdef".into(),
        mtime_ns: clock::now_ns(),
        content_type: Some("application/octet-stream".into()),
        headers: BTreeMap::new(),
        user_meta: BTreeMap::new(),
        checksums: BTreeMap::new(),
        data: ObjectData::Inline(vec![7u8; 4096]),
        acl: None,
        tags: Default::default(),
        retention: None,
        legal_hold: false,
        sse: None,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(async {
        let kv = Arc::new(LocalKv::open(dir.path()).unwrap());
        let s = Arc::new(KvStore::new(kv));
        s.create_bucket(BucketInfo {
            name: "bench".into(),
            id: rustfs_metadata::clock::new_bucket_id(),
            owner: "o".into(),
            created_ns: 1,
            location: None,
            versioning: Versioning::Unversioned,
            deleting: false,
            ..Default::default()
        })
        .await
        .unwrap();
        for i in 0..10_000 {
            s.put_object(obj(format!("k/{i:06}")), PutCondition::None).await.unwrap();
        }
        s
    });
    let mut g = c.benchmark_group("kv");
    g.throughput(Throughput::Elements(64));
    let n = std::sync::atomic::AtomicU64::new(0);
    g.bench_function("put_durable_64_concurrent", |b| {
        b.to_async(&rt).iter(|| async {
            let base = n.fetch_add(64, std::sync::atomic::Ordering::Relaxed);
            let tasks: Vec<_> = (0..64)
                .map(|i| {
                    let s = store.clone();
                    tokio::spawn(async move {
                        s.put_object(obj(format!("p/{}", base + i)), PutCondition::None).await.unwrap()
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("get_inline_4KiB", |b| {
        b.to_async(&rt).iter(|| async { store.get_object("bench", "k/005000", None).await.unwrap() })
    });
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("list_10000_keys", |b| {
        b.to_async(&rt).iter(|| async {
            let mut q = ListQuery { prefix: "k/".into(), max_keys: 1000, ..Default::default() };
            let mut total = 0;
            loop {
                let page = store.list_objects("bench", &q).await.unwrap();
                total += page.items.len();
                match page.objects().last() {
                    Some(o) if page.truncated => q.after = Some(o.key.clone()),
                    _ => break,
                }
            }
            assert_eq!(total, 10_000);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
