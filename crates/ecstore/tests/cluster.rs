//! The erasure store with its 12 drives spread over three "nodes" (3 x 4 drive folders, each
//! node an internode server with the shard RPC on 127.0.0.1): node 1 formats and writes,
//! node 2 reads bit-exact through its own view (4 drives here, 8 over the RPC); with node 3
//! gone (4 of 12 shards) reads and writes go on and the write is degraded; once node 3 is
//! back, the drive monitor brings its drives online and heal restores its shards on its
//! folders, bit-exact.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap fails the test

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use internode::{Identity, Peers, Server};
use rustfs_ecstore::disk::{DiskService, RemoteDisk};
use rustfs_ecstore::workers::DriveMonitor;
use rustfs_ecstore::{DriveSpec, EcStore, StoreError, StoreOptions};

const SECRET: &str = "cluster-test-secret";
const DEPLOYMENT: &str = "8d2f6a4e-1c3b-4d5e-9f60-718293a4b5c6";

fn identity(node: u64) -> Identity {
    Identity { cluster_id: "ec-cluster".into(), node_id: node, secret: SECRET.into() }
}

struct Node {
    drives: Vec<PathBuf>,
    addr: String,
    server: Option<Server>,
}

impl Node {
    async fn start(&mut self) {
        let svc = DiskService::new(self.drives.clone());
        self.server = Some(Server::bind(&self.addr, identity(0), svc).await.unwrap());
    }

    fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

/// The 12 drives as node `me` sees them: set order is node 1's four, node 2's, node 3's.
fn view(nodes: &[Node], me: usize, peers: &Arc<Peers>) -> Vec<DriveSpec> {
    let mut specs = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for d in &node.drives {
            specs.push(if n == me {
                DriveSpec::local(d)
            } else {
                let io = RemoteDisk::new(
                    peers.clone(),
                    &format!("node{}", n + 1),
                    &node.addr,
                    &d.display().to_string(),
                    Duration::from_secs(2),
                );
                DriveSpec { io: Arc::new(io), local: None, node: Some(format!("node{}", n + 1)) }
            });
        }
    }
    specs
}

async fn open(nodes: &[Node], me: usize) -> Arc<EcStore> {
    let specs = view(nodes, me, &Peers::new(identity(me as u64 + 1)));
    let s = tokio::task::spawn_blocking(move || {
        EcStore::open_drives(
            specs,
            || DEPLOYMENT.to_string(),
            StoreOptions {
                free_delay: Duration::from_secs(1),
                io_timeout: Duration::from_secs(10),
                ..Default::default()
            },
        )
    })
    .await
    .unwrap()
    .unwrap();
    Arc::new(s)
}

fn body(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i.wrapping_mul(7919) >> 3) as u8 ^ seed).collect()
}

async fn put(s: &EcStore, key: &str, data: &[u8]) -> (metadata::ErasureLayout, bool) {
    let mut layout = s.new_layout("bkt", key, Some("6a1f0c3e-2b4d-4e5f-8a9b-0c1d2e3f4a5b"));
    let chunks: Vec<Result<Bytes, StoreError>> = data.chunks(64 << 10).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let w = s.write_part(&layout, "bkt", key, "part.1", futures::stream::iter(chunks), u64::MAX).await.unwrap();
    layout.parts = vec![rustfs_ecstore::single_part(w.size, "etag")];
    (layout, w.degraded())
}

async fn get(s: &EcStore, key: &str, l: &metadata::ErasureLayout) -> Vec<u8> {
    let n: u64 = l.parts.iter().map(|p| p.size).sum();
    let mut rd = s.read(l, "bkt", key, 0..n).await.unwrap();
    let mut out = Vec::new();
    while let Some(c) = rd.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

/// Waits until exactly `n` drives are online in `s`'s view.
async fn wait_online(s: &EcStore, n: usize, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while s.drive_infos().iter().filter(|d| d.state == rustfs_ecstore::DriveState::Online).count() != n {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn parts_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && e.file_name() != "tmp" {
            out.extend(parts_under(&p));
        } else if e.file_name() == "part.1" {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_write_read_lose_one_and_heal() {
    let root = tempfile::tempdir().unwrap();
    let mut nodes: Vec<Node> = (1..=3)
        .map(|n| Node {
            drives: (1..=4).map(|d| root.path().join(format!("n{n}/d{d}"))).collect(),
            addr: format!(
                "127.0.0.1:{}",
                std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
            ),
            server: None,
        })
        .collect();
    for n in &mut nodes {
        for d in &n.drives {
            std::fs::create_dir_all(d).unwrap();
        }
        n.start().await;
    }
    let one = open(&nodes, 0).await;
    assert_eq!(one.deployment_id(), DEPLOYMENT);
    let two = open(&nodes, 1).await;
    assert_eq!(two.deployment_id(), DEPLOYMENT, "node 2 reads the formats node 1 wrote");
    assert!(one.drive_infos().iter().all(|d| d.state == rustfs_ecstore::DriveState::Online));
    assert!(two.drive_infos().iter().any(|d| d.path.starts_with("node1:")), "remote drives are named by node");

    let a = body((5 << 20) + 777, 1);
    let (la, degraded) = put(&one, "a", &a).await;
    assert!(!degraded);
    assert_eq!(get(&two, "a", &la).await, a, "written through node 1, read bit-exact through node 2");
    for n in &nodes {
        for d in &n.drives {
            assert_eq!(parts_under(d).len(), 1, "a shard on {}", d.display());
        }
    }

    // Node 1's drive monitor watches the drives of the other nodes.
    let runner = metadata::background::Runner::new(Arc::new(|| true));
    runner.spawn(DriveMonitor::new(&one, Duration::from_millis(100)));
    // Node 3 goes away: 4 of 12 shards missing.
    let node3_files: Vec<PathBuf> = nodes[2].drives.iter().flat_map(|d| parts_under(d)).collect();
    let originals: Vec<Vec<u8>> = node3_files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    nodes[2].stop();
    for f in &node3_files {
        std::fs::remove_file(f).unwrap();
    }
    assert_eq!(get(&two, "a", &la).await, a, "readable with a node down");
    wait_online(&one, 8, "node 1's monitor saw node 3's drives go offline").await;
    let b = body(3 << 20, 2);
    let (lb, degraded) = put(&two, "b", &b).await;
    assert!(degraded, "the write missed node 3's drives");
    assert_eq!(get(&one, "b", &lb).await, b);

    // Node 3 is back: heal puts its shards back, bit-exact.
    nodes[2].start().await;
    // Node 1's drive monitor brings node 3's drives back online (after the transport's
    // reconnect backoff).
    wait_online(&one, 12, "node 3's drives came back online").await;
    let healed = one.heal_object("bkt", "a", &la).await.unwrap();
    assert_eq!((healed.shards_healed, healed.shards_failed), (4, 0));
    for (f, o) in node3_files.iter().zip(&originals) {
        assert_eq!(&std::fs::read(f).unwrap(), o, "{} healed bit-exact", f.display());
    }
    let healed = one.heal_object("bkt", "b", &lb).await.unwrap();
    assert_eq!((healed.shards_healed, healed.shards_failed), (4, 0));
    for d in &nodes[2].drives {
        assert_eq!(parts_under(d).len(), 2, "both objects' shards on {}", d.display());
    }
    let monitor = runner.workers().into_iter().find(|w| w.name == "drive-monitor").unwrap();
    assert!(monitor.units > 0 && monitor.errors == 0, "{monitor:?}");
    runner.shutdown(Duration::from_secs(5)).await;
    for n in &mut nodes {
        n.stop();
    }
}
