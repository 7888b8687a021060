//! The Rust aws-sdk-s3 against the real `rustfs` binary (release build, started on a free
//! 127.0.0.1 port with temporary drives): PutObject with the SDK's default aws-chunked
//! upload and trailing CRC32 checksum, GET/HEAD/ranges, multipart, listing with the
//! paginator, versioning, DeleteObjects, copy and presigned GET.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, VersioningConfiguration,
};
use rustfs_e2e_sdk::{binary, free_port};
use sha2::{Digest, Sha256};

const ACCESS: &str = "sdk-root";
const SECRET: &str = "sdk-root-secret";

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(binary())
        .args(["server", "--address", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir.path().join("data"))
        .env("RUSTFS_ACCESS_KEY", ACCESS)
        .env("RUSTFS_SECRET_KEY", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, port, _dir: dir }
}

fn client(port: u16) -> Client {
    rustfs_e2e_sdk::client(port, ACCESS, SECRET, true)
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::fill(&mut v[..]);
    v
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

async fn get_all(c: &Client, bucket: &str, key: &str) -> Vec<u8> {
    c.get_object().bucket(bucket).key(key).send().await.unwrap().body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_objects_multipart_listing_versioning() {
    let srv = start();
    let c = client(srv.port);
    c.create_bucket().bucket("sdk-bucket").send().await.unwrap();

    // Default SDK uploads: aws-chunked body with a trailing CRC32 checksum.
    for size in [0usize, 17, 200 * 1024, 3 * 1024 * 1024 + 5] {
        let data = random(size);
        let key = format!("obj-{size}");
        let put =
            c.put_object().bucket("sdk-bucket").key(&key).body(ByteStream::from(data.clone())).send().await.unwrap();
        assert!(put.e_tag().is_some());
        assert_eq!(sha(&get_all(&c, "sdk-bucket", &key).await), sha(&data), "size {size}");
        let head = c.head_object().bucket("sdk-bucket").key(&key).send().await.unwrap();
        assert_eq!(head.content_length(), Some(size as i64));
    }
    let r = c.get_object().bucket("sdk-bucket").key("obj-200").send().await;
    assert!(r.is_err(), "missing key is an error");

    // A range.
    let data = random(2 * 1024 * 1024);
    c.put_object().bucket("sdk-bucket").key("ranged").body(ByteStream::from(data.clone())).send().await.unwrap();
    let part = c.get_object().bucket("sdk-bucket").key("ranged").range("bytes=1048570-1048590").send().await.unwrap();
    assert_eq!(part.content_range(), Some("bytes 1048570-1048590/2097152"));
    assert_eq!(part.body.collect().await.unwrap().into_bytes().as_ref(), &data[1048570..=1048590]);

    // Multipart.
    let up = c.create_multipart_upload().bucket("sdk-bucket").key("mp").send().await.unwrap();
    let id = up.upload_id().unwrap().to_string();
    let parts = [random(5 * 1024 * 1024), random(1234)];
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let r = c
            .upload_part()
            .bucket("sdk-bucket")
            .key("mp")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        done.push(CompletedPart::builder().part_number(n).e_tag(r.e_tag().unwrap()).build());
    }
    let fin = c
        .complete_multipart_upload()
        .bucket("sdk-bucket")
        .key("mp")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    assert!(fin.e_tag().unwrap().ends_with("-2\""));
    assert_eq!(sha(&get_all(&c, "sdk-bucket", "mp").await), sha(&parts.concat()));

    // Listing with the paginator, one key per page.
    let mut keys = Vec::new();
    let mut pages = c.list_objects_v2().bucket("sdk-bucket").max_keys(1).into_paginator().send();
    while let Some(page) = pages.next().await {
        keys.extend(page.unwrap().contents().iter().filter_map(|o| o.key().map(str::to_string)));
    }
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(keys.len(), 6);

    // Copy and presigned GET.
    c.copy_object().bucket("sdk-bucket").key("copy").copy_source("sdk-bucket/ranged").send().await.unwrap();
    assert_eq!(sha(&get_all(&c, "sdk-bucket", "copy").await), sha(&data));
    let presigned = c
        .get_object()
        .bucket("sdk-bucket")
        .key("obj-17")
        .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let url = presigned.uri().to_string();
    let got = tokio::task::spawn_blocking(move || {
        let out = Command::new("curl").args(["-sf", &url]).output().unwrap();
        assert!(out.status.success());
        out.stdout
    })
    .await
    .unwrap();
    assert_eq!(got.len(), 17);

    // Versioning and DeleteObjects.
    c.put_bucket_versioning()
        .bucket("sdk-bucket")
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
        .send()
        .await
        .unwrap();
    let v1 = c.put_object().bucket("sdk-bucket").key("v").body(ByteStream::from_static(b"1")).send().await.unwrap();
    let v2 = c.put_object().bucket("sdk-bucket").key("v").body(ByteStream::from_static(b"2")).send().await.unwrap();
    assert_ne!(v1.version_id(), v2.version_id());
    let old = c.get_object().bucket("sdk-bucket").key("v").version_id(v1.version_id().unwrap()).send().await.unwrap();
    assert_eq!(old.body.collect().await.unwrap().into_bytes().as_ref(), b"1");
    let del = Delete::builder()
        .set_objects(Some(keys.iter().map(|k| ObjectIdentifier::builder().key(k).build().unwrap()).collect()))
        .quiet(true)
        .build()
        .unwrap();
    let r = c.delete_objects().bucket("sdk-bucket").delete(del).send().await.unwrap();
    assert!(r.errors().is_empty());
    let left = c.list_objects_v2().bucket("sdk-bucket").send().await.unwrap();
    let left: Vec<_> = left.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(left, ["copy", "v"]);
}
