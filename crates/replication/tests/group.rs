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
    max_log_entries: u64,
}

fn cfg(g: &Group, id: u64) -> ReplicationConfig {
    ReplicationConfig {
        node_id: id,
        nodes: g.nodes.clone(),
        listen: None,
        raft: RaftTuning { election_timeout_ms: 500, heartbeat_interval_ms: 50, max_log_entries: g.max_log_entries },
        read_consistency: ReadConsistency::Linearizable,
        cluster_id: "test".into(),
        secret: "cluster-secret".into(),
        join: false,
        kv: Default::default(),
    }
}

impl Group {
    async fn start(n: u64) -> Group {
        Self::start_with(n, 10_000).await
    }

    async fn start_with(n: u64, max_log_entries: u64) -> Group {
        let nodes = (1..=n).map(|id| NodeAddr { id, address: format!("127.0.0.1:{}", free_port()) }).collect();
        let mut g = Group { dir: tempfile::tempdir().unwrap(), nodes, kvs: Vec::new(), max_log_entries };
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
    // The bucket families, which every node's state machine keeps in memory as well.
    metadata::kv_suite::run_all(g.kv(follower), b"b/follow/").await.unwrap();
    // A write through any node is read back through every node (linearizable reads), also
    // where a node had the key's old value in memory.
    for family in ["x/", "c/"] {
        for round in [b"v".as_slice(), b"w".as_slice()] {
            for id in 1..=3u64 {
                let key = format!("{family}{id}");
                assert_eq!(put(g.kv(id).as_ref(), key.as_bytes(), round).await, WriteOutcome::Applied);
                for other in 1..=3u64 {
                    assert_eq!(g.kv(other).get(key.as_bytes()).await.unwrap(), Some(round.to_vec()));
                }
            }
        }
    }
    let s = g.kv(leader).status();
    assert_eq!(s.members.len(), 3);
    assert!(s.members.iter().all(|m| m.healthy), "{s:?}");
    assert!(g.kv(leader).not_ready().is_none());
    // Metrics per node: each instance reports the real group and its own operations.
    let regs: Vec<prometheus::Registry> = (1..=3u64)
        .map(|id| {
            let r = prometheus::Registry::new();
            metadata::metrics::register(&r, g.kv(id)).unwrap();
            r
        })
        .collect();
    let value = |r: &prometheus::Registry, name: &str| -> f64 {
        let fams = r.gather();
        let f = fams.iter().find(|f| f.name() == name).unwrap_or_else(|| panic!("{name}"));
        let m = &f.get_metric()[0];
        if f.get_field_type() == prometheus::proto::MetricType::HISTOGRAM {
            m.get_histogram().get_sample_count() as f64
        } else {
            m.get_gauge().get_value()
        }
    };
    for r in &regs {
        assert_eq!(value(r, "rustfs_metadata_replication_leader_id"), leader as f64);
        assert_eq!(value(r, "rustfs_metadata_replication_node_count"), 3.0);
        assert!(value(r, "rustfs_metadata_replication_applied_index") > 10.0);
    }
    let writes: Vec<f64> = regs.iter().map(|r| value(r, "rustfs_metadata_replication_write_latency_seconds")).collect();
    // The suite wrote through the leader and one follower; the third node took one write per
    // family and round.
    let third = (1..=3).find(|i| *i != leader && *i != follower).unwrap();
    assert!(writes[(leader - 1) as usize] > 20.0 && writes[(follower - 1) as usize] > 20.0, "{writes:?}");
    assert_eq!(writes[(third - 1) as usize], 4.0, "{writes:?}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_down_past_compaction_catches_up_by_snapshot() {
    let mut g = Group::start_with(3, 16).await;
    let leader = g.leader().await;
    let down = (1..=3).find(|i| *i != leader).unwrap();
    put(g.kv(leader).as_ref(), b"s/early", b"e").await;
    g.kv(down).close().await.unwrap();
    g.kvs[(down - 1) as usize] = None;
    // Far more entries than the log keeps: the leader compacts behind them.
    for i in 0..300u32 {
        let mut b = WriteBatch::new();
        b.put(format!("s/{i:04}").into_bytes(), vec![b'v'; 2000]);
        if i % 3 == 0 {
            b.delete(b"s/early".to_vec());
        }
        assert_eq!(g.kv(leader).write(b).await.unwrap(), WriteOutcome::Applied);
    }
    let (first, _) = g.kv(leader).log_bounds();
    assert!(first > 200, "the leader compacted its log (first index {first})");
    let kv = g.open(down).await;
    g.kvs[(down - 1) as usize] = Some(kv.clone());
    // Its own reads are linearizable: they wait until it caught up (by snapshot).
    let got = kv.scan(b"s/", b"s0", 1000).await.unwrap();
    assert_eq!(got.len(), 300);
    assert!(got.iter().all(|(_, v)| v.len() == 2000));
    assert!(kv.get(b"s/early").await.unwrap().is_none());
    let (kfirst, _) = kv.log_bounds();
    assert!(kfirst > 200, "its log starts after the snapshot point ({kfirst})");
    // And it keeps up with new writes afterwards.
    put(g.kv(leader).as_ref(), b"s/after", b"a").await;
    assert_eq!(kv.get(b"s/after").await.unwrap(), Some(b"a".to_vec()));
    for kv in g.kvs.iter().flatten() {
        kv.close().await.unwrap();
    }
}

async fn wait_for(mut f: impl FnMut() -> bool, what: &str) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn role(kv: &RaftKv, id: u64) -> Option<String> {
    kv.status().members.iter().find(|m| m.id == id).map(|m| m.role.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_three_to_four_to_three_with_a_transfer_under_writes() {
    let mut g = Group::start_with(3, 64).await;
    let leader = g.leader().await;
    for i in 0..100u32 {
        put(g.kv(leader).as_ref(), format!("m/{i:03}").as_bytes(), b"1").await;
    }
    // Node 4 starts empty and waits to be added.
    g.nodes.push(NodeAddr { id: 4, address: format!("127.0.0.1:{}", free_port()) });
    let mut c4 = cfg(&g, 4);
    c4.join = true;
    let base = g.dir.path().join("n4");
    let n4 = RaftKv::start(c4, &base.join("kv"), &base.join("raft")).await.unwrap();
    g.kvs.push(Some(n4.clone()));
    assert!(n4.not_ready().unwrap().contains("add"), "{:?}", n4.not_ready());
    let follower = (1..=3).find(|i| *i != leader).unwrap();
    // Through a follower: the change goes to the leader.
    g.kv(follower).add_member(4, &g.nodes[3].address).await.unwrap();
    let lk = g.kv(leader);
    wait_for(|| role(&lk, 4).as_deref() == Some("follower"), "node 4 promoted").await;
    assert_eq!(n4.scan(b"m/", b"m0", 1000).await.unwrap().len(), 100);
    // Leadership moves to node 4 while writers keep going; no write is lost.
    let writers: Vec<_> = (1..=3u64)
        .map(|id| {
            let kv = g.kv(id);
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..60u32 {
                    let k = format!("w/{id}/{i:03}");
                    let mut b = WriteBatch::new();
                    b.put(k.clone().into_bytes(), b"x".to_vec());
                    if let Ok(WriteOutcome::Applied) = kv.write(b).await {
                        acked.push(k);
                    }
                }
                acked
            })
        })
        .collect();
    g.kv(follower).transfer_leadership(4).await.unwrap();
    wait_for(|| n4.status().leader_id == 4, "node 4 leads").await;
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(acked.len() > 150, "{}", acked.len());
    for k in &acked {
        assert_eq!(n4.get(k.as_bytes()).await.unwrap(), Some(b"x".to_vec()), "{k}");
    }
    // Back to three: remove the old leader.
    n4.remove_member(leader).await.unwrap();
    wait_for(|| n4.status().members.len() == 3, "three members").await;
    let old = g.kv(leader);
    wait_for(|| old.not_ready().is_some_and(|w| w.contains("not a member")), "the removed node knows").await;
    let mut b = WriteBatch::new();
    b.put(b"after-remove".to_vec(), b"1".to_vec());
    assert!(old.write(b).await.is_err(), "a removed node takes no writes");
    put(n4.as_ref(), b"after-remove", b"2").await;
    assert_eq!(g.kv(follower).get(b"after-remove").await.unwrap(), Some(b"2".to_vec()));
    for kv in g.kvs.iter().flatten() {
        kv.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_store_becomes_the_first_member_of_three() {
    let dir = tempfile::tempdir().unwrap();
    // A single node's local store, with data.
    {
        let kv = metadata::LocalKv::open(&dir.path().join("n1/kv")).unwrap();
        for i in 0..50u32 {
            let mut b = WriteBatch::new();
            b.put(format!("old/{i:02}").into_bytes(), b"v".to_vec());
            kv.write(b).await.unwrap();
        }
        kv.close().await.unwrap();
    }
    let nodes: Vec<NodeAddr> =
        (1..=3).map(|id| NodeAddr { id, address: format!("127.0.0.1:{}", free_port()) }).collect();
    let mut g = Group { dir, nodes: nodes.clone(), kvs: Vec::new(), max_log_entries: 10_000 };
    // Started with the full list it refuses (its data would diverge from the others').
    let base = g.dir.path().join("n1");
    let err = RaftKv::start(cfg(&g, 1), &base.join("kv"), &base.join("raft")).await.err().unwrap();
    assert!(err.to_string().contains("add-node"), "{err}");
    // Alone, it becomes a group of one over its data.
    let mut c1 = cfg(&g, 1);
    c1.nodes = vec![nodes[0].clone()];
    let n1 = RaftKv::start(c1, &base.join("kv"), &base.join("raft")).await.unwrap();
    g.kvs.push(Some(n1.clone()));
    wait_for(|| n1.status().leader_id == 1, "node 1 leads").await;
    assert_eq!(n1.scan(b"old/", b"old0", 100).await.unwrap().len(), 50);
    for id in 2..=3u64 {
        let mut c = cfg(&g, id);
        c.join = true;
        let b = g.dir.path().join(format!("n{id}"));
        let kv = RaftKv::start(c, &b.join("kv"), &b.join("raft")).await.unwrap();
        g.kvs.push(Some(kv.clone()));
        n1.add_member(id, &nodes[(id - 1) as usize].address).await.unwrap();
        wait_for(|| role(&n1, id).as_deref() == Some("follower"), "promoted").await;
        assert_eq!(kv.scan(b"old/", b"old0", 100).await.unwrap().len(), 50, "node {id} has the old data");
    }
    // A majority of three now: node 1 may go, the others carry on.
    n1.close().await.unwrap();
    g.kvs[0] = None;
    let l = g.leader().await;
    put(g.kv(l).as_ref(), b"new", b"1").await;
    for kv in g.kvs.iter().flatten() {
        kv.close().await.unwrap();
    }
}

/// Answers every request with its body reversed (another service of the node).
struct Reverse;

#[async_trait::async_trait]
impl internode::Handler for Reverse {
    async fn call(&self, _from: u64, _kind: u16, mut body: Vec<u8>) -> Result<Vec<u8>, String> {
        body.reverse();
        Ok(body)
    }
    async fn message(&self, _from: u64, _kind: u16, _body: Vec<u8>) {}
}

/// The group on the nodes' shared internode ports (one server and router per node, as the
/// server binary runs it), beside another service on the same port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_shares_each_nodes_internode_port() {
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<NodeAddr> =
        (1..=3).map(|id| NodeAddr { id, address: format!("127.0.0.1:{}", free_port()) }).collect();
    let g = Group { dir, nodes: nodes.clone(), kvs: Vec::new(), max_log_entries: 10_000 };
    let mut servers = Vec::new();
    let mut kvs = Vec::new();
    for n in &nodes {
        let router = internode::Router::new();
        router.register(0x0200..=0x02ff, Arc::new(Reverse)).unwrap();
        let me = internode::Identity { cluster_id: "test".into(), node_id: n.id, secret: "cluster-secret".into() };
        servers.push(internode::Server::bind(&n.address, me, router.clone()).await.unwrap());
        let base = g.dir.path().join(format!("n{}", n.id));
        kvs.push(RaftKv::start_on(cfg(&g, n.id), &base.join("kv"), &base.join("raft"), Some(router)).await.unwrap());
    }
    assert_eq!(put(kvs[1].as_ref(), b"shared/k", b"v").await, WriteOutcome::Applied);
    for kv in &kvs {
        assert_eq!(kv.get(b"shared/k").await.unwrap(), Some(b"v".to_vec()));
    }
    let peers = internode::Peers::new(internode::Identity {
        cluster_id: "test".into(),
        node_id: 9,
        secret: "cluster-secret".into(),
    });
    let back = peers.call(&nodes[2].address, 0x0200, b"abc", Duration::from_secs(2)).await.unwrap();
    assert_eq!(back, b"cba", "the other service answers on the same port");
    for kv in &kvs {
        KvLifecycle::close(kv.as_ref()).await.unwrap();
    }
    drop(servers);
}
