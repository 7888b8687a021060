//! Load benchmark of the erasure store's data path: PUT and GET MiB/s of 1 MiB and 64 MiB
//! objects on 12 local drive folders vs 12 drives spread over 3 in-process nodes (4 here, 8
//! through the shard RPC over the internode transport on 127.0.0.1), and the heal rate of a
//! node's shards. Everything shares this machine's cores and disk.
//!
//! `cargo run --release -p rustfs-ecstore --example cluster_io [seconds per point]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use internode::{Identity, Server};
use rustfs_ecstore::disk::{DiskService, RemoteDisk};
use rustfs_ecstore::{DriveSpec, EcStore, StoreError, StoreOptions};

const BUCKET_ID: &str = "6a1f0c3e-2b4d-4e5f-8a9b-0c1d2e3f4a5b";

fn id(node: u64) -> Identity {
    Identity { cluster_id: "bench".into(), node_id: node, secret: "bench-secret".into() }
}

async fn open(specs: Vec<DriveSpec>) -> Arc<EcStore> {
    Arc::new(
        tokio::task::spawn_blocking(move || {
            EcStore::open_drives(
                specs,
                uuid_like,
                StoreOptions { free_delay: Duration::from_secs(1), ..Default::default() },
            )
        })
        .await
        .unwrap()
        .unwrap(),
    )
}

fn uuid_like() -> String {
    "0b9f1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d".into()
}

async fn put(s: &EcStore, key: &str, body: &Bytes) -> metadata::ErasureLayout {
    let mut layout = s.new_layout("bkt", key, Some(BUCKET_ID));
    let chunks: Vec<Result<Bytes, StoreError>> =
        (0..body.len()).step_by(256 << 10).map(|o| Ok(body.slice(o..(o + (256 << 10)).min(body.len())))).collect();
    let w = s.write_part(&layout, "bkt", key, "part.1", futures::stream::iter(chunks), u64::MAX).await.unwrap();
    layout.parts = vec![rustfs_ecstore::single_part(w.size, "etag")];
    layout
}

async fn get(s: &EcStore, key: &str, l: &metadata::ErasureLayout) -> usize {
    let n: u64 = l.parts.iter().map(|p| p.size).sum();
    let mut rd = s.read(l, "bkt", key, 0..n).await.unwrap();
    let mut got = 0;
    while let Some(c) = rd.next().await {
        got += c.unwrap().len();
    }
    got
}

/// MiB/s of PUTs then GETs of `size`-byte objects by `conc` clients for `secs` each.
async fn point(s: &Arc<EcStore>, size: usize, conc: usize, secs: f64) -> (f64, f64) {
    let body = Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..conc)
        .map(|t| {
            let (s, body) = (s.clone(), body.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                let mut i = 0;
                while Instant::now() < deadline || done.is_empty() {
                    let key = format!("o/{size}/{t}/{i}");
                    done.push((key.clone(), put(&s, &key, &body).await));
                    i += 1;
                }
                done
            })
        })
        .collect();
    let mut objs = Vec::new();
    for t in tasks {
        objs.extend(t.await.unwrap());
    }
    let put_mib = (objs.len() * size) as f64 / (1 << 20) as f64 / started.elapsed().as_secs_f64();
    let objs = Arc::new(objs);
    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..conc)
        .map(|t| {
            let (s, objs) = (s.clone(), objs.clone());
            tokio::spawn(async move {
                let mut bytes = 0usize;
                let mut i = t;
                while Instant::now() < deadline || bytes == 0 {
                    let (k, l) = &objs[i % objs.len()];
                    bytes += get(&s, k, l).await;
                    i += conc;
                }
                bytes
            })
        })
        .collect();
    let mut bytes = 0;
    for t in tasks {
        bytes += t.await.unwrap();
    }
    let get_mib = bytes as f64 / (1 << 20) as f64 / started.elapsed().as_secs_f64();
    (put_mib, get_mib)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let root = tempfile::tempdir().unwrap();

    let local: Vec<PathBuf> = (1..=12).map(|d| root.path().join(format!("local/d{d}"))).collect();
    let single = open(local.iter().map(|p| DriveSpec::local(p)).collect()).await;

    let mut servers = Vec::new();
    let mut nodes = Vec::new();
    for n in 1..=3u64 {
        let drives: Vec<PathBuf> = (1..=4).map(|d| root.path().join(format!("n{n}/d{d}"))).collect();
        for d in &drives {
            std::fs::create_dir_all(d).unwrap();
        }
        let server = Server::bind("127.0.0.1:0", id(n), DiskService::new(drives.clone())).await.unwrap();
        nodes.push((server.local_addr().to_string(), drives));
        servers.push(server);
    }
    let peers = internode::Peers::new(id(1));
    let mut specs = Vec::new();
    for (n, (addr, drives)) in nodes.iter().enumerate() {
        for d in drives {
            specs.push(if n == 0 {
                DriveSpec::local(d)
            } else {
                let io = RemoteDisk::new(
                    peers.clone(),
                    &format!("node{}", n + 1),
                    addr,
                    &d.display().to_string(),
                    Duration::from_secs(30),
                );
                DriveSpec { io: Arc::new(io), local: None, node: Some(format!("node{}", n + 1)) }
            });
        }
    }
    let cluster = open(specs).await;

    println!("{:<34} {:>10} {:>10}", "", "PUT MiB/s", "GET MiB/s");
    for (size, conc) in [(1usize << 20, 8usize), (64 << 20, 2)] {
        let (lp, lg) = point(&single, size, conc, secs).await;
        let (cp, cg) = point(&cluster, size, conc, secs).await;
        let label = if size == 1 << 20 { "1 MiB" } else { "64 MiB" };
        println!("{:<34} {lp:>10.0} {lg:>10.0}", format!("{label} c={conc}, 12 local drives"));
        println!("{:<34} {cp:>10.0} {cg:>10.0}", format!("{label} c={conc}, 3 nodes x 4 drives"));
        println!("{:<34} {:>10.2} {:>10.2}", "  ratio cluster / local", cp / lp, cg / lg);
    }

    // Heal rate: node 3's shards of 64 objects of 4 MiB are lost and healed back.
    let body = Bytes::from(vec![7u8; 4 << 20]);
    let mut objs = Vec::new();
    for i in 0..64 {
        let k = format!("heal/{i}");
        objs.push((k.clone(), put(&cluster, &k, &body).await));
    }
    for d in &nodes[2].1 {
        let data = d.join(".rustfs.sys/data");
        std::fs::remove_dir_all(&data).unwrap();
    }
    let started = Instant::now();
    let mut bytes = 0u64;
    for (k, l) in &objs {
        let o = cluster.heal_object("bkt", k, l).await.unwrap();
        assert_eq!(o.shards_healed, 4);
        bytes += o.bytes_healed;
    }
    let t = started.elapsed().as_secs_f64();
    println!(
        "heal of a node's shards (64 x 4 MiB objects): {:.0} objects/s, {:.0} MiB/s of shards written ({:.0} MiB/s of objects)",
        objs.len() as f64 / t,
        bytes as f64 / (1 << 20) as f64 / t,
        (objs.len() * body.len()) as f64 / (1 << 20) as f64 / t
    );
    drop(servers);
}
