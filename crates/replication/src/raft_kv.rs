//! `RaftKv`: the `Kv` contract over a Raft group. Writes are proposed on this node (raft-rs
//! forwards a follower's proposal to the leader) and answered with their outcome once this
//! node applies them; reads are linearizable (a batched ReadIndex round, then the local
//! state machine) or eventual (the local state machine), as configured. While no leader is
//! known, writes and linearizable reads wait up to a bound, then fail `Unavailable`.
//!
//! This module must never acknowledge a write before it is committed and applied here.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use metadata::state_machine::touches_replication_state;
use metadata::{GroupStatus, Kv, KvLifecycle, LocalKv, MetaError, WriteBatch, WriteOutcome};
use protobuf::Message as _;
use raft::RawNode;
use raft::prelude::{ConfState, Message};
use tokio::sync::{mpsc, oneshot};

use crate::config::{ReadConsistency, ReplicationConfig};
use crate::error::{ReplError, Result};
use crate::log_store::LogStore;
use crate::node::{Input, Node, NodeError, Shared, submit};

/// Internode service kind of a batch of raft messages (one-way).
pub const RAFT_MESSAGES: u16 = 0x0100;
/// Raft messages queued per peer at most (more are dropped; Raft resends).
const PEER_QUEUE: usize = 4096;
const INPUT_QUEUE: usize = 16384;

pub struct RaftKv {
    sm: Arc<LocalKv>,
    log: LogStore,
    tx: SyncSender<Input>,
    shared: Arc<Mutex<Shared>>,
    cfg: ReplicationConfig,
    _server: internode::Server,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// How long a write or a read waits for a leader, and for its outcome.
    wait: Duration,
}

fn encode_messages(msgs: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        let b = m.write_to_bytes().unwrap_or_default();
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(&b);
    }
    out
}

fn decode_messages(mut raw: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    while raw.len() >= 4 {
        let n = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
        let Some(b) = raw.get(4..4 + n) else { break };
        match Message::parse_from_bytes(b) {
            Ok(m) => out.push(m),
            Err(e) => {
                tracing::warn!(error = %e, "undecodable raft message dropped");
                break;
            }
        }
        raw = &raw[4 + n..];
    }
    out
}

/// Takes raft messages from authenticated peers into the loop.
struct Service {
    tx: SyncSender<Input>,
}

#[async_trait]
impl internode::Handler for Service {
    async fn call(&self, _from: u64, kind: u16, _body: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
        Err(format!("no internode service {kind:#x}"))
    }

    async fn message(&self, from: u64, kind: u16, body: Vec<u8>) {
        if kind != RAFT_MESSAGES {
            return;
        }
        for m in decode_messages(&body) {
            if m.from != from {
                tracing::warn!(peer = from, claimed = m.from, "raft message claiming another sender dropped");
                continue;
            }
            // A full queue drops the message, as a lossy network would.
            let _ = self.tx.try_send(Input::Raft(Box::new(m)));
        }
    }
}

/// Sends the raft messages queued for one peer, in batches.
async fn peer_sender(
    id: u64,
    addr: String,
    peers: Arc<internode::Peers>,
    mut rx: mpsc::Receiver<Message>,
    tx: SyncSender<Input>,
) {
    let mut batch = Vec::new();
    while let Some(m) = rx.recv().await {
        batch.push(m);
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        if let Err(e) = peers.send(&addr, RAFT_MESSAGES, &encode_messages(&batch)).await {
            tracing::debug!(peer = id, error = %e, "raft messages not sent");
            let _ = tx.try_send(Input::Unreachable(id));
        }
        batch.clear();
    }
}

impl RaftKv {
    /// Opens the node's state machine (`kv_dir`) and log (`log_dir`), joins or starts the
    /// group, and starts the Ready loop and the internode port. Must be called inside a
    /// multi-threaded tokio runtime.
    pub async fn start(cfg: ReplicationConfig, kv_dir: &Path, log_dir: &Path) -> Result<Arc<Self>> {
        cfg.validate()?;
        let rt = tokio::runtime::Handle::current();
        let sm = Arc::new(LocalKv::open(kv_dir)?);
        let log = {
            let (p, h) = (log_dir.to_path_buf(), rt.clone());
            tokio::task::spawn_blocking(move || LogStore::open(&p, h))
                .await
                .map_err(|e| ReplError::Storage(e.to_string()))??
        };
        let applied = sm.applied_index().await?;
        if !log.initialized() {
            let voters: Vec<u64> = cfg.nodes.iter().map(|n| n.id).collect();
            if sm.holds_data().await? || applied > 0 {
                return Err(ReplError::Config(
                    "this node's metadata store already holds data: a group cannot start over it (move a single node to a group with add-node)".into(),
                ));
            }
            let l = log.clone();
            tokio::task::spawn_blocking(move || l.initialize(ConfState::from((voters, vec![])), 0, 0))
                .await
                .map_err(|e| ReplError::Storage(e.to_string()))??;
        }
        let hs = log.hard_state();
        if applied > hs.commit.max(log.snapshot_metadata().index) {
            return Err(ReplError::Storage(format!(
                "the state machine applied entry {applied} but the log only committed {}",
                hs.commit
            )));
        }
        let ticks = cfg.election_ticks();
        let rcfg = raft::Config {
            id: cfg.node_id,
            election_tick: ticks,
            heartbeat_tick: 1,
            applied,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            check_quorum: true,
            pre_vote: true,
            max_uncommitted_size: 256 << 20,
            ..Default::default()
        };
        rcfg.validate().map_err(|e| ReplError::Config(e.to_string()))?;
        let raw = RawNode::new(&rcfg, log.clone(), &crate::logger::logger(cfg.node_id))
            .map_err(|e| ReplError::Raft(e.to_string()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(INPUT_QUEUE);
        let me = internode::Identity {
            cluster_id: cfg.cluster_id.clone(),
            node_id: cfg.node_id,
            secret: cfg.secret.clone(),
        };
        let listen = cfg
            .listen
            .clone()
            .or_else(|| cfg.address_of(cfg.node_id).map(str::to_string))
            .ok_or_else(|| ReplError::Config("no internode address for this node".into()))?;
        let server = internode::Server::bind(&listen, me.clone(), Arc::new(Service { tx: tx.clone() }))
            .await
            .map_err(|e| ReplError::Config(format!("internode port {listen}: {e}")))?;
        let peers = internode::Peers::new(me);
        let mut outbox = HashMap::new();
        for n in cfg.nodes.iter().filter(|n| n.id != cfg.node_id) {
            let (q, r) = mpsc::channel(PEER_QUEUE);
            outbox.insert(n.id, q);
            tokio::spawn(peer_sender(n.id, n.address.clone(), peers.clone(), r, tx.clone()));
        }
        let shared = Arc::new(Mutex::new(Shared { node_id: cfg.node_id, ..Default::default() }));
        let tick = Duration::from_millis(cfg.raft.heartbeat_interval_ms);
        let node = Node::new(raw, log.clone(), sm.clone(), rt, rx, outbox, shared.clone(), tick, applied);
        let thread = std::thread::Builder::new()
            .name(format!("raft-{}", cfg.node_id))
            .spawn(move || node.run())
            .map_err(|e| ReplError::Raft(e.to_string()))?;
        let wait = Duration::from_millis((cfg.raft.election_timeout_ms * 5).max(5000));
        tracing::info!(node = cfg.node_id, listen = %listen, members = cfg.nodes.len(), applied, "metadata replication started");
        Ok(Arc::new(Self { sm, log, tx, shared, cfg, _server: server, thread: Mutex::new(Some(thread)), wait }))
    }

    fn shared(&self) -> Shared {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn config(&self) -> &ReplicationConfig {
        &self.cfg
    }

    /// Asks the leader to hand leadership to node `to`.
    pub async fn transfer_leadership(&self, to: u64) -> Result<()> {
        if submit(&self.tx, Input::TransferLeader(to)).await { Ok(()) } else { Err(ReplError::Stopped) }
    }

    /// Sends `make(reply)` to the loop and waits for its answer, retrying while no leader is
    /// known, until `self.wait` has passed.
    async fn ask<T>(
        &self,
        make: impl Fn(crate::node::Reply<T>) -> Input,
        unknown: impl Fn() -> MetaError,
    ) -> metadata::Result<T> {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            let (reply, rx) = oneshot::channel();
            if !submit(&self.tx, make(reply)).await {
                return Err(ReplError::Stopped.into());
            }
            match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(Ok(v))) => return Ok(v),
                Ok(Ok(Err(NodeError::NoLeader))) => {
                    if tokio::time::Instant::now() + Duration::from_millis(50) >= deadline {
                        return Err(ReplError::NoLeader.into());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(Ok(Err(NodeError::Stopped(why)))) => {
                    return Err(MetaError::Unavailable(format!("metadata replication stopped: {why}")));
                }
                Ok(Ok(Err(NodeError::Apply(why)))) => return Err(MetaError::Kv(why)),
                Ok(Err(_)) => return Err(ReplError::Stopped.into()),
                Err(_) => return Err(unknown()),
            }
        }
    }

    /// Waits until this node's state machine holds every write committed before now.
    async fn read_barrier(&self) -> metadata::Result<()> {
        if self.cfg.read_consistency == ReadConsistency::Eventual {
            return Ok(());
        }
        self.ask(|reply| Input::Read { reply }, || MetaError::NoLeader("no leader confirmed the read in time".into()))
            .await
    }
}

#[async_trait]
impl Kv for RaftKv {
    async fn get(&self, key: &[u8]) -> metadata::Result<Option<Vec<u8>>> {
        self.read_barrier().await?;
        self.sm.get(key).await
    }

    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> metadata::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.read_barrier().await?;
        self.sm.scan(start, end, limit).await
    }

    async fn write(&self, batch: WriteBatch) -> metadata::Result<WriteOutcome> {
        if touches_replication_state(&batch) {
            return Err(MetaError::Backend("a write may not touch the replication state (r/ keys)".into()));
        }
        let raw = batch.encode();
        self.ask(
            |reply| Input::Propose { batch: raw.clone(), reply },
            || MetaError::CommitUnknown("the metadata group did not commit the write in time".into()),
        )
        .await
    }
}

#[async_trait]
impl KvLifecycle for RaftKv {
    fn not_ready(&self) -> Option<String> {
        let s = self.shared();
        if let Some(why) = s.stopped {
            return Some(format!("metadata replication stopped: {why}"));
        }
        if s.leader_id == 0 {
            return Some(format!(
                "no metadata leader elected yet (node {}, term {}, {} members configured)",
                s.node_id,
                s.term,
                s.members.len().max(self.cfg.nodes.len())
            ));
        }
        if s.leader_contact.is_none_or(|t| t.elapsed() > Duration::from_millis(self.cfg.raft.election_timeout_ms * 2)) {
            return Some(format!("no contact with the metadata leader (node {})", s.leader_id));
        }
        None
    }

    fn status(&self) -> GroupStatus {
        let s = self.shared();
        GroupStatus {
            node_id: s.node_id,
            leader_id: s.leader_id,
            term: s.term,
            committed_index: s.committed,
            applied_index: s.applied,
            members: s.members,
        }
    }

    async fn close(&self) -> metadata::Result<()> {
        let _ = submit(&self.tx, Input::Stop).await;
        let t = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = t {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        self.sm.flush()?;
        let log = self.log.clone();
        let _ = tokio::task::spawn_blocking(move || log.close()).await;
        self.sm.close().await
    }
}

impl RaftKv {
    /// The first and last index of the log kept on this node.
    pub fn log_bounds(&self) -> (u64, u64) {
        (self.log.first_index(), self.log.last_index())
    }
}
