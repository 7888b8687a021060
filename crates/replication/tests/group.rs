#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Three `RaftKv` nodes in one process over real internode TCP connections on 127.0.0.1:
//! the `Kv` conformance suite through the leader and through a follower, writes visible on
//! every node, a stopped leader replaced and restarted without losing a write.

use std::sync::Arc;
use std::time::Duration;

use metadata::{Kv, KvLifecycle, WriteBatch, WriteOutcome};
use rustfs_replication::{NodeAddr, RaftKv, RaftTuning, ReadConsistency, ReplicationConfig};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Group {
    dir: tempfile::TempDir,
    nodes: Vec<NodeAddr>,
    kvs: Vec<Option<Arc<RaftKv>>>,
}

fn cfg(g: &Group, id: u64) -> ReplicationConfig {
    ReplicationConfig {
        node_id: id,
        nodes: g.nodes.clone(),
        listen: None,
        raft: RaftTuning { election_timeout_ms: 500, heartbeat_interval_ms: 50, max_log_entries: 10_000 },
        read_consistency: ReadConsistency::Linearizable,
        cluster_id: "test".into(),
        secret: "cluster-secret".into(),
    }
}

impl Group {
    async fn start(n: u64) -> Group {
        let nodes = (1..=n).map(|id| NodeAddr { id, address: format!("127.0.0.1:{}", free_port()) }).collect();
        let mut g = Group { dir: tempfile::tempdir().unwrap(), nodes, kvs: Vec::new() };
        for id in 1..=n {
            let kv = g.open(id).await;
            g.kvs.push(Some(kv));
        }
        g
    }

    async fn open(&self, id: u64) -> Arc<RaftKv> {
        let base = self.dir.path().join(format!("n{id}"));
        RaftKv::start(cfg(self, id), &base.join("kv"), &base.join("raft")).await.unwrap()
    }

    fn kv(&self, id: u64) -> Arc<RaftKv> {
        self.kvs[(id - 1) as usize].clone().unwrap()
    }

    async fn leader(&self) -> u64 {
        for _ in 0..200 {
            for kv in self.kvs.iter().flatten() {
                let s = kv.status();
                if s.leader_id != 0 && s.leader_id == s.node_id {
                    return s.node_id;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no leader elected");
    }
}

async fn put(kv: &dyn Kv, k: &[u8], v: &[u8]) -> WriteOutcome {
    let mut b = WriteBatch::new();
    b.put(k.to_vec(), v.to_vec());
    kv.write(b).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_pass_the_kv_suite_and_agree() {
    let g = Group::start(3).await;
    let leader = g.leader().await;
    let follower = (1..=3).find(|i| *i != leader).unwrap();
    metadata::kv_suite::run_all(g.kv(leader), b"t/lead/").await.unwrap();
    metadata::kv_suite::run_all(g.kv(follower), b"t/follow/").await.unwrap();
    // A write through any node is read back through every node (linearizable reads).
    for id in 1..=3u64 {
        assert_eq!(put(g.kv(id).as_ref(), format!("x/{id}").as_bytes(), b"v").await, WriteOutcome::Applied);
        for other in 1..=3u64 {
            assert_eq!(g.kv(other).get(format!("x/{id}").as_bytes()).await.unwrap(), Some(b"v".to_vec()));
        }
    }
    let s = g.kv(leader).status();
    assert_eq!(s.members.len(), 3);
    assert!(s.members.iter().all(|m| m.healthy), "{s:?}");
    assert!(g.kv(leader).not_ready().is_none());
    for kv in g.kvs.iter().flatten() {
        kv.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leader_is_replaced_and_catches_up() {
    let mut g = Group::start(3).await;
    let old = g.leader().await;
    for i in 0..20u32 {
        put(g.kv(old).as_ref(), format!("k/{i:03}").as_bytes(), b"1").await;
    }
    g.kv(old).close().await.unwrap();
    g.kvs[(old - 1) as usize] = None;
    let new = g.leader().await;
    assert_ne!(new, old);
    for i in 20..40u32 {
        assert_eq!(put(g.kv(new).as_ref(), format!("k/{i:03}").as_bytes(), b"2").await, WriteOutcome::Applied);
    }
    let kv = g.open(old).await;
    g.kvs[(old - 1) as usize] = Some(kv.clone());
    // The restarted node serves every write, the ones it missed included.
    let all = kv.scan(b"k/", b"k0", 100).await.unwrap();
    assert_eq!(all.len(), 40);
    for kv in g.kvs.iter().flatten() {
        kv.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_majority_writes_fail_and_nothing_commits() {
    let mut g = Group::start(3).await;
    let leader = g.leader().await;
    put(g.kv(leader).as_ref(), b"before", b"1").await;
    let others: Vec<u64> = (1..=3).filter(|i| *i != leader).collect();
    for id in &others {
        g.kv(*id).close().await.unwrap();
        g.kvs[(*id - 1) as usize] = None;
    }
    let committed = g.kv(leader).status().committed_index;
    let mut b = WriteBatch::new();
    b.put(b"maybe".to_vec(), b"1".to_vec());
    let r = g.kv(leader).write(b).await;
    // Its outcome is unknown (it may commit once a majority is back), never "applied".
    assert!(matches!(r, Err(metadata::MetaError::CommitUnknown(_))), "{r:?}");
    assert_eq!(g.kv(leader).status().committed_index, committed, "nothing commits alone");
    // The node alone knows it cannot serve: not ready.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(g.kv(leader).not_ready().is_some());
    for id in &others {
        let kv = g.open(*id).await;
        g.kvs[(*id - 1) as usize] = Some(kv);
    }
    let l = g.leader().await;
    assert_eq!(g.kv(l).get(b"before").await.unwrap(), Some(b"1".to_vec()));
    for kv in g.kvs.iter().flatten() {
        kv.close().await.unwrap();
    }
}
