//! Load benchmark of the metadata `Kv`: write ops/s and p50/p99 at concurrency 1, 16 and 64
//! for one local node (`LocalKv`) and a 3-node Raft group on 127.0.0.1 (`RaftKv`), then
//! reads (linearizable and eventual) across the 3 nodes. Each write is one batch with a
//! condition and a ~300-byte value, like an object version commit.
//!
//! `cargo run --release -p rustfs-replication --example kv_load [seconds per point]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use metadata::{Kv, KvLifecycle, LocalKv, WriteBatch};
use rustfs_replication::{NodeAddr, RaftKv, RaftTuning, ReadConsistency, ReplicationConfig};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Point {
    ops: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn run(kvs: &[Arc<dyn Kv>], conc: usize, secs: f64, write: bool) -> Point {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..conc)
        .map(|t| {
            let kv = kvs[t % kvs.len()].clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let key = format!("bench/{t}/{}", i % 1000).into_bytes();
                    let started = Instant::now();
                    if write {
                        let mut b = WriteBatch::new();
                        b.require(format!("bench/x/{t}/{i}").into_bytes(), None).put(key, vec![7u8; 300]);
                        kv.write(b).await.unwrap();
                    } else {
                        kv.get(&key).await.unwrap();
                    }
                    lat.push(started.elapsed().as_secs_f64() * 1000.0);
                    i += 1;
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pick = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Point { ops: all.len() as f64 / secs, p50_ms: pick(0.5), p99_ms: pick(0.99) }
}

async fn group(dir: &std::path::Path, consistency: ReadConsistency) -> Vec<Arc<RaftKv>> {
    let nodes: Vec<NodeAddr> =
        (1..=3).map(|id| NodeAddr { id, address: format!("127.0.0.1:{}", free_port()) }).collect();
    let mut out = Vec::new();
    for id in 1..=3u64 {
        let cfg = ReplicationConfig {
            node_id: id,
            nodes: nodes.clone(),
            listen: None,
            raft: RaftTuning { election_timeout_ms: 1000, heartbeat_interval_ms: 100, max_log_entries: 10_000 },
            read_consistency: consistency,
            cluster_id: "bench".into(),
            secret: "bench-secret".into(),
            join: false,
            kv: Default::default(),
        };
        let b = dir.join(format!("n{id}"));
        out.push(RaftKv::start(cfg, &b.join("kv"), &b.join("raft")).await.unwrap());
    }
    while !out.iter().any(|k| k.status().leader_id != 0 && k.not_ready().is_none()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    out
}

fn show(what: &str, p: &Point) {
    println!("{what:<44} {:>9.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms", p.ops, p.p50_ms, p.p99_ms);
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let dir = tempfile::tempdir().unwrap();
    let local: Arc<LocalKv> = Arc::new(LocalKv::open(&dir.path().join("local")).unwrap());
    let one: Vec<Arc<dyn Kv>> = vec![local.clone()];
    let mut single = Vec::new();
    for c in [1, 16, 64] {
        let p = run(&one, c, secs, true).await;
        show(&format!("write, 1 node (LocalKv), c={c}"), &p);
        single.push(p.ops);
    }
    let g = group(&dir.path().join("lin"), ReadConsistency::Linearizable).await;
    let leader: Vec<Arc<dyn Kv>> =
        g.iter().filter(|k| k.status().leader_id == k.status().node_id).map(|k| k.clone() as Arc<dyn Kv>).collect();
    let all: Vec<Arc<dyn Kv>> = g.iter().map(|k| k.clone() as Arc<dyn Kv>).collect();
    for (i, c) in [1, 16, 64].into_iter().enumerate() {
        let p = run(&leader, c, secs, true).await;
        show(&format!("write, 3 nodes via leader, c={c}"), &p);
        println!("{:<44} ratio 3-node/1-node write throughput: {:.2}", "", p.ops / single[i]);
    }
    show("write, 3 nodes via all nodes, c=64", &run(&all, 64, secs, true).await);
    show("read linearizable, 3 nodes, c=64", &run(&all, 64, secs, false).await);
    for k in &g {
        k.close().await.unwrap();
    }
    let g = group(&dir.path().join("ev"), ReadConsistency::Eventual).await;
    let all: Vec<Arc<dyn Kv>> = g.iter().map(|k| k.clone() as Arc<dyn Kv>).collect();
    run(&all, 16, 1.0, true).await;
    show("read eventual, 3 nodes, c=64", &run(&all, 64, secs, false).await);
    for k in &g {
        k.close().await.unwrap();
    }
    local.close().await.unwrap();
}
