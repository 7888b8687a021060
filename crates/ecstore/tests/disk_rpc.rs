//! The shard RPC on real sockets: a drive of a "remote" node (an internode server with the
//! `DiskService` on 127.0.0.1) passes the same `DiskIo` conformance suite as a local folder;
//! the bytes land in that node's folder; a drive it does not serve, a peer with the wrong
//! secret and a node that is down are errors within the call's time bound; a commit on a node
//! that predates the `Commit` operation still lands, through the older sync and rename.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use internode::{Identity, Peers, Server};
use rustfs_ecstore::disk::{DiskIo, DiskService, RemoteDisk, suite};

fn id(node: u64, secret: &str) -> Identity {
    Identity { cluster_id: "disk-test".into(), node_id: node, secret: secret.into() }
}

async fn serve(drive: &Path) -> Server {
    let svc = DiskService::new([drive.to_path_buf()]);
    Server::bind("127.0.0.1:0", id(2, "disk-secret"), svc).await.unwrap()
}

fn remote(peers: &Arc<Peers>, addr: &str, drive: &Path) -> RemoteDisk {
    RemoteDisk::new(peers.clone(), "node2", addr, &drive.display().to_string(), Duration::from_secs(3))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_drive_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path()).await;
    let peers = Peers::new(id(1, "disk-secret"));
    let disk = remote(&peers, &server.local_addr().to_string(), dir.path());
    assert_eq!(disk.location(), format!("node2:{}", dir.path().display()));
    tokio::task::spawn_blocking(move || {
        suite::run_all(&disk).unwrap();
        // The bytes are in the serving node's folder.
        let mut f = disk.create(Path::new("x/tmp/part.1")).unwrap();
        f.write_all(&vec![9u8; 3 << 20]).unwrap();
        f.sync().unwrap();
        disk.rename_durable(Path::new("x/tmp/part.1"), Path::new("x/data/part.1")).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(std::fs::read(dir.path().join("x/data/part.1")).unwrap(), vec![9u8; 3 << 20]);
    assert!(!dir.path().join("escape").exists() && !dir.path().parent().unwrap().join("escape").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_drives_wrong_secrets_and_dead_nodes_fail_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let server = serve(dir.path()).await;
    let addr = server.local_addr().to_string();
    let good = Peers::new(id(1, "disk-secret"));
    let bad = Peers::new(id(1, "not-the-secret"));
    let not_served = remote(&good, &addr, other.path());
    let intruder = remote(&bad, &addr, dir.path());
    // A port nothing listens on.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = remote(&good, &format!("127.0.0.1:{dead_port}"), dir.path());
    tokio::task::spawn_blocking(move || {
        let e = not_served.stat(Path::new("a")).unwrap_err();
        assert!(e.to_string().contains("serves no drive"), "{e}");
        assert!(not_served.write_durable(Path::new("a"), b"x").is_err());
        let e = intruder.write_durable(Path::new("planted"), b"x").unwrap_err();
        assert!(e.to_string().contains("refused") || e.to_string().contains("lost"), "{e}");
        let started = Instant::now();
        assert!(dead.stat(Path::new("a")).is_err());
        assert!(started.elapsed() < Duration::from_secs(10), "a dead node costs at most a timeout");
    })
    .await
    .unwrap();
    assert!(!dir.path().join("planted").exists(), "a peer with the wrong secret wrote nothing");
    assert!(std::fs::read_dir(other.path()).unwrap().next().is_none(), "an unserved folder is untouched");
}

/// A node of before the shard RPC's `Commit`: it answers every request as this build's
/// service does, except that it cannot decode `Commit` (its operations ended before it), and
/// answers that the way such a node does. Counts the commits it refused.
struct NodeBeforeCommit {
    svc: Arc<DiskService>,
    refused: std::sync::atomic::AtomicUsize,
}

/// The request as a node of before `Commit` decodes it: any operation it knew (one here)
/// decodes, `Commit` is an unknown variant.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct OldRequest {
    format: u8,
    drive: String,
    op: OldOp,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
enum OldOp {
    Create { path: String },
}

#[async_trait::async_trait]
impl internode::Handler for NodeBeforeCommit {
    async fn call(&self, from: u64, kind: u16, body: Vec<u8>) -> Result<Vec<u8>, String> {
        use rustfs_ecstore::disk::wire;
        if let Ok(wire::Request { op: wire::Op::Commit { .. }, .. }) = wire::decode::<wire::Request>(&body) {
            self.refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let e = wire::decode::<OldRequest>(&body).err().expect("an old node cannot decode Commit");
            return Ok(wire::encode(&wire::Answer::Err(wire::WireError::from(&e))));
        }
        internode::Handler::call(self.svc.as_ref(), from, kind, body).await
    }

    async fn message(&self, _from: u64, _kind: u16, _body: Vec<u8>) {}
}

/// A commit on a drive of a node that predates `Commit` falls back to a sync and a durable
/// rename: the file lands in place, whole, and the node saw (and refused) the `Commit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_on_a_node_of_before_commit_falls_back_and_lands() {
    let dir = tempfile::tempdir().unwrap();
    let old = Arc::new(NodeBeforeCommit {
        svc: DiskService::new([dir.path().to_path_buf()]),
        refused: std::sync::atomic::AtomicUsize::new(0),
    });
    let server = Server::bind("127.0.0.1:0", id(2, "disk-secret"), old.clone()).await.unwrap();
    let peers = Peers::new(id(1, "disk-secret"));
    let disk = remote(&peers, &server.local_addr().to_string(), dir.path());
    let body: Vec<u8> = (0..(1u32 << 20) + 17).map(|i| (i % 251) as u8).collect();
    let expected = body.clone();
    tokio::task::spawn_blocking(move || {
        let mut f = disk.create(Path::new("b/tmp/part.1")).unwrap();
        f.write_all(&body).unwrap();
        disk.commit(f, Path::new("b/tmp/part.1"), Path::new("b/data/part.1")).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(old.refused.load(std::sync::atomic::Ordering::SeqCst), 1, "the commit was tried first");
    assert_eq!(std::fs::read(dir.path().join("b/data/part.1")).unwrap(), expected);
    assert!(!dir.path().join("b/tmp/part.1").exists(), "the file was moved, not copied");
}
