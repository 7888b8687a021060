//! End-to-end tests of the real `rustfs` binary with the Rust aws-sdk-s3 (see `tests/`), and
//! what they share: where the binary is, free ports, an SDK client for a local server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a failed unwrap fails the test

use std::net::TcpListener;
use std::path::PathBuf;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};

/// The `rustfs` binary under test: `RUSTFS_BIN`, else the workspace's release build.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("RUSTFS_BIN") {
        return p.into();
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/rustfs");
    assert!(p.exists(), "{} is missing: run `cargo build --release --bins` first (scripts/test.sh does)", p.display());
    p
}

/// A port on 127.0.0.1 nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An SDK client of the server on 127.0.0.1:`port`, path-style; `retries: false` turns the
/// SDK's own retries off (a history checker must see every attempt).
pub fn client(port: u16, access: &str, secret: &str, retries: bool) -> Client {
    let mut conf = aws_sdk_s3::Config::builder()
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access, secret, None, None, "e2e"))
        .force_path_style(true)
        .behavior_version_latest();
    if !retries {
        conf = conf.retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled());
    }
    Client::from_conf(conf.build())
}
