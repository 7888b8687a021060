//! The store's format record through the real binary: a data folder written by a newer build
//! (its `s/schema` above what this build reads) makes the server refuse to start and say why,
//! and the same folder back at this build's format starts and serves what it held.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use metadata::{Kv, LocalKv, WriteBatch, schema};
use rustfs_e2e_sdk::{binary, free_port};

const ACCESS: &str = "format-root";
const SECRET: &str = "format-root-secret";

/// Starts the server; `stderr` piped only for a start expected to exit (a running server's
/// log would fill a pipe nobody reads).
fn spawn(data: &Path, port: u16, stderr: Stdio) -> Child {
    Command::new(binary())
        .args(["server", "--address", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .env("RUSTFS_ACCESS_KEY", ACCESS)
        .env("RUSTFS_SECRET_KEY", SECRET)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

fn wait_listening(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Sets the format record of the stopped server's KV; returns the one it held.
async fn set_format(data: &Path, version: u8) -> u8 {
    let kv = LocalKv::open(&data.join("meta")).unwrap();
    let record = schema::system_key(schema::FORMAT_RECORD);
    let stored = kv.get(&record).await.unwrap().expect("a started server recorded its format");
    let held = schema::decode::<u8>(&record, &stored).unwrap();
    let mut b = WriteBatch::new();
    b.put(record, schema::encode(&version));
    kv.write(b).await.unwrap();
    kv.close().await.unwrap();
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_folder_of_a_newer_format_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let mut server = spawn(&data, port, Stdio::null());
    wait_listening(&mut server, port);
    let c = rustfs_e2e_sdk::client(port, ACCESS, SECRET, true);
    c.create_bucket().bucket("kept").send().await.unwrap();
    c.put_object().bucket("kept").key("k").body(ByteStream::from_static(b"held")).send().await.unwrap();
    stop(server);

    assert_eq!(set_format(&data, schema::STORE_FORMAT + 1).await, schema::STORE_FORMAT);
    let refused = spawn(&data, port, Stdio::piped());
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = tokio::task::spawn_blocking(move || refused.wait_with_output().unwrap());
    let out = tokio::time::timeout_at(deadline.into(), out).await.expect("the server did not exit").unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("format {}, newer than this build reads", schema::STORE_FORMAT + 1)),
        "stderr: {stderr}"
    );

    assert_eq!(set_format(&data, schema::STORE_FORMAT).await, schema::STORE_FORMAT + 1, "the refused start kept it");
    let mut server = spawn(&data, port, Stdio::null());
    wait_listening(&mut server, port);
    let got = c.get_object().bucket("kept").key("k").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"held");
    stop(server);
}
