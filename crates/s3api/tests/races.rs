//! Regression tests for ways to lose or corrupt acknowledged objects, each driving the real
//! S3Api over real drive folders and a real surrealkv, with the race window held open on
//! purpose by a pass-through `Gate` around the metadata store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use metadata::MetadataStore;
use s3s::S3;
use s3s::dto::*;
use support::{Hold, data, env, req};

const MIB: usize = 1 << 20;

/// A part uploaded again while CompleteMultipartUpload runs: the completion must commit
/// the layout its own transaction checked, never one naming a part file that was replaced
/// (and deleted) meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_racing_a_part_reupload_commits_current_parts() {
    let e = env(Duration::from_millis(50)).await;
    e.create_bucket("mp").await;
    let id = e.create_upload("mp", "obj").await;
    let first = data(5 * MIB, 1);
    let second = data(5 * MIB, 2);
    let tail = data(1000, 3);
    e.upload_part("mp", "obj", &id, 1, &first).await;
    e.upload_part("mp", "obj", &id, 2, &tail).await;
    // The completion has read the part list and built its layout; hold its commit.
    e.gate.hold(Hold::CompleteUpload);
    let complete = {
        let api = Arc::new(e);
        let a = api.clone();
        let id2 = id.clone();
        let t = tokio::spawn(async move { a.complete("mp", "obj", &id2, &[1, 2]).await });
        api.gate.arrived.notified().await;
        // Part 1 is uploaded again: its old file is deleted once the new record is in.
        api.upload_part("mp", "obj", &id, 1, &second).await;
        api.gate.release();
        t.await.unwrap().expect("completion succeeds with the current parts");
        api
    };
    let got = complete.get("mp", "obj").await.expect("the completed object reads");
    let mut want = second.clone();
    want.extend_from_slice(&tail);
    assert!(got == want, "the object is the parts as they were when it was committed");
}

/// A GET that started before an overwrite keeps reading the bytes it started with: the
/// replaced version's data is freed only after the reader is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_does_not_break_a_reader_mid_body() {
    let e = env(Duration::from_millis(50)).await;
    e.create_bucket("ow").await;
    // Two parts: a reader opens each part's shard files when it gets there.
    let id = e.create_upload("ow", "k").await;
    let (p1, p2) = (data(12 * MIB, 4), data(3 * MIB, 14));
    e.upload_part("ow", "k", &id, 1, &p1).await;
    e.upload_part("ow", "k", &id, 2, &p2).await;
    e.complete("ow", "k", &id, &[1, 2]).await.unwrap();
    let old = [p1, p2].concat();
    let mut body = e.get_stream("ow", "k").await.unwrap();
    let mut got = body.next().await.unwrap().unwrap().to_vec();
    e.put("ow", "k", &data(3 * MIB, 5)).await.unwrap();
    // Well past the free delay.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Some(c) = body.next().await {
        got.extend_from_slice(&c.expect("the old version's data is still there"));
    }
    assert!(got == old);
    drop(body);
    assert_eq!(e.get("ow", "k").await.unwrap(), data(3 * MIB, 5));
}

/// Garbage collection reads uploads, then versions: a CompleteMultipartUpload landing
/// between the two scans (held open here) moves the data dir's reference from the upload to
/// the version, and the data dir must survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_racing_complete_keeps_the_data() {
    let e = Arc::new(env(Duration::from_millis(50)).await);
    e.create_bucket("gc").await;
    let id = e.create_upload("gc", "big").await;
    let part = data(2 * MIB, 6);
    e.upload_part("gc", "big", &id, 1, &part).await;
    e.gate.hold(Hold::SecondScan);
    let stores: Vec<Arc<dyn MetadataStore>> = vec![e.gate.clone()];
    let gc = {
        let e = e.clone();
        tokio::spawn(async move { e.ec.collect_garbage(&stores, Duration::ZERO).await })
    };
    e.gate.arrived.notified().await;
    // Between the scans: the upload becomes an object.
    e.complete("gc", "big", &id, &[1]).await.unwrap();
    e.gate.release();
    let report = gc.await.unwrap().unwrap();
    assert_eq!((report.data_dirs_seen, report.data_dirs_removed), (1, 0), "{report:?}");
    assert!(e.get("gc", "big").await.unwrap() == part);
    // Once no metadata references it (removed behind the server's back here, so nothing is
    // freed), garbage collection does remove the data dir.
    e.store.delete_version("gc", "big", metadata::NULL_VERSION).await.unwrap();
    let stores: Vec<Arc<dyn MetadataStore>> = vec![e.store.clone()];
    let report = e.ec.collect_garbage(&stores, Duration::ZERO).await.unwrap();
    assert_eq!((report.data_dirs_seen, report.data_dirs_removed), (1, 1), "{report:?}");
}

/// When the metadata WAL cannot be synced, the PUT that was applied but not made durable
/// gets an error, yet its shards stay (it may be visible), and the store takes no more
/// writes until restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_kv_sync_frees_nothing_and_turns_read_only() {
    let e = env(Duration::from_millis(50)).await;
    e.create_bucket("sync").await;
    e.put("sync", "k", &data(MIB, 7)).await.unwrap();
    e.kv.inject_sync_failure();
    let r = e.put("sync", "k", &data(2 * MIB, 8)).await;
    let err = r.expect_err("an applied write whose sync failed is not acknowledged");
    assert_eq!(err.code(), &s3s::S3ErrorCode::ServiceUnavailable);
    // Whatever the reader sees now reads whole: the new version's data was not deleted.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = e.get("sync", "k").await.expect("the visible version reads");
    assert!(got == data(2 * MIB, 8) || got == data(MIB, 7));
    assert!(e.kv.read_only_reason().is_some());
    let again = e.put("sync", "other", b"x").await.expect_err("read-only");
    assert_eq!(again.code(), &s3s::S3ErrorCode::ServiceUnavailable);
}

/// S3 limits: user metadata over 2 KB; DeleteBucket with uploads in progress succeeds and
/// aborts them (their data goes too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_limit_and_delete_bucket_with_uploads() {
    let e = env(Duration::from_millis(50)).await;
    e.create_bucket("lim").await;
    let mut meta = std::collections::HashMap::new();
    meta.insert("a".to_string(), "x".repeat(2047));
    let input = PutObjectInput::builder()
        .bucket("lim".into())
        .key("k".into())
        .metadata(Some(meta.clone()))
        .body(Some(support::blob(b"v")))
        .build()
        .unwrap();
    e.api.put_object(req(input)).await.expect("2 KB is allowed");
    meta.insert("b".to_string(), "y".into());
    let input = PutObjectInput::builder()
        .bucket("lim".into())
        .key("k2".into())
        .metadata(Some(meta))
        .body(Some(support::blob(b"v")))
        .build()
        .unwrap();
    let err = e.api.put_object(req(input)).await.expect_err("over 2 KB");
    assert_eq!(err.code(), &s3s::S3ErrorCode::MetadataTooLarge);

    e.create_bucket("del").await;
    let id = e.create_upload("del", "u").await;
    e.upload_part("del", "u", &id, 1, &data(MIB, 9)).await;
    let input = DeleteBucketInput::builder().bucket("del".into()).build().unwrap();
    e.api.delete_bucket(req(input)).await.expect("uploads in progress do not block DeleteBucket");
    assert!(matches!(e.store.get_bucket("del").await, Err(metadata::MetaError::NoSuchBucket(_))));
    let left: Vec<_> = walk(e.dir.path()).into_iter().filter(|p| p.contains("part.")).collect();
    assert!(left.is_empty(), "the aborted upload's data is gone: {left:?}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}
