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
use metadata::{GroupStatus, Kv, KvLifecycle, MetaError, WriteBatch, WriteOutcome};
use protobuf::Message as _;
use raft::RawNode;
use raft::prelude::{ConfChange, ConfChangeType, ConfState, Message, MessageType, SnapshotMetadata};
use tokio::sync::{mpsc, oneshot};

use crate::config::{ReadConsistency, ReplicationConfig};
use crate::error::{ReplError, Result};
use crate::log_store::LogStore;
use crate::node::{Input, Node, NodeError, Parts, Shared, submit};
use crate::snapshot::{SNAPSHOT_PAGE, Snapshots};
use crate::state::StateMachine;

/// The leader's table of members as last fetched, and when.
type LeaderView = Arc<Mutex<Option<(std::time::Instant, Vec<metadata::Member>)>>>;

/// Internode service kind of a batch of raft messages (one-way).
pub const RAFT_MESSAGES: u16 = 0x0100;
/// Every internode kind of the metadata group (messages, snapshot pages, members).
pub const INTERNODE_KINDS: std::ops::RangeInclusive<u16> = 0x0100..=0x01ff;
/// Internode request: the members as the node asked sees them (JSON), for followers to show
/// the leader's view.
pub const MEMBERS: u16 = 0x0102;
/// Raft messages queued per peer at most (more are dropped; Raft resends).
const PEER_QUEUE: usize = 4096;
const INPUT_QUEUE: usize = 16384;

pub struct RaftKv {
    sm: Arc<StateMachine>,
    log: LogStore,
    tx: SyncSender<Input>,
    shared: Arc<Mutex<Shared>>,
    cfg: ReplicationConfig,
    /// The internode port, when this node's metadata group bound its own (see `start_on`).
    _server: Option<internode::Server>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// How long a write or a read waits for a leader, and for its outcome.
    wait: Duration,
    /// How long an accepted write waits for its outcome.
    commit_wait: Duration,
    metrics: Arc<metadata::metrics::KvMetrics>,
    /// The leader's table of members, as last fetched (followers only).
    leader_view: LeaderView,
    watcher: tokio::task::JoinHandle<()>,
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

/// Takes raft messages from authenticated peers into the loop, and serves snapshot pages.
struct Service {
    tx: SyncSender<Input>,
    snapshots: Arc<Snapshots>,
    shared: Arc<Mutex<Shared>>,
}

#[async_trait]
impl internode::Handler for Service {
    async fn call(&self, _from: u64, kind: u16, body: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
        match kind {
            SNAPSHOT_PAGE => self.snapshots.serve(&body).await,
            MEMBERS => {
                let members = self.shared.lock().unwrap_or_else(|e| e.into_inner()).members.clone();
                serde_json::to_vec(&members).map_err(|e| e.to_string())
            }
            _ => Err(format!("no internode service {kind:#x}")),
        }
    }

    async fn message(&self, from: u64, kind: u16, body: Vec<u8>) {
        if kind != RAFT_MESSAGES {
            return;
        }
        for m in decode_messages(&body) {
            // A forwarded leadership transfer names its transferee as sender (raft-rs).
            if m.from != from && m.get_msg_type() != MessageType::MsgTransferLeader {
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
        let snapshot = batch.iter().any(|m| m.get_msg_type() == MessageType::MsgSnapshot);
        let sent = peers.send(&addr, RAFT_MESSAGES, &encode_messages(&batch)).await;
        if let Err(e) = &sent {
            tracing::debug!(peer = id, error = %e, "raft messages not sent");
            let _ = tx.try_send(Input::Unreachable(id));
            // Proposals forwarded to that node never left this one: their callers may retry.
            let lost: Vec<Vec<u8>> = batch
                .iter()
                .filter(|m| m.get_msg_type() == MessageType::MsgPropose)
                .flat_map(|m| m.get_entries().iter().map(|e| e.context.to_vec()))
                .collect();
            if !lost.is_empty() {
                let _ = tx.try_send(Input::Lost(lost));
            }
        }
        if snapshot {
            let _ = tx.try_send(Input::SnapshotSent(id, sent.is_ok()));
        }
        batch.clear();
    }
}

/// On a follower: fetches the leader's table of members every second (only the leader
/// knows how far each member is).
async fn watch_leader(shared: Arc<Mutex<Shared>>, peers: Arc<internode::Peers>, view: LeaderView) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (me, leader, addr) = {
            let s = shared.lock().unwrap_or_else(|e| e.into_inner());
            (s.node_id, s.leader_id, s.addresses.get(&s.leader_id).cloned())
        };
        let Some(addr) = addr.filter(|_| leader != 0 && leader != me) else { continue };
        if let Ok(raw) = peers.call(&addr, MEMBERS, &[], Duration::from_secs(2)).await
            && let Ok(members) = serde_json::from_slice::<Vec<metadata::Member>>(&raw)
        {
            *view.lock().unwrap_or_else(|e| e.into_inner()) = Some((std::time::Instant::now(), members));
        }
    }
}

impl RaftKv {
    /// Opens the node's state machine (`kv_dir`) and log (`log_dir`), joins or starts the
    /// group, and starts the Ready loop and an internode port of its own. Must be called
    /// inside a multi-threaded tokio runtime.
    pub async fn start(cfg: ReplicationConfig, kv_dir: &Path, log_dir: &Path) -> Result<Arc<Self>> {
        Self::start_on(cfg, kv_dir, log_dir, None).await
    }

    /// Like `start`; with `router`, the group's internode services (kinds
    /// `INTERNODE_KINDS`) are registered on the node's shared internode port instead.
    pub async fn start_on(
        cfg: ReplicationConfig,
        kv_dir: &Path,
        log_dir: &Path,
        router: Option<Arc<internode::Router>>,
    ) -> Result<Arc<Self>> {
        cfg.validate()?;
        let rt = tokio::runtime::Handle::current();
        let sm = Arc::new(StateMachine::open(kv_dir, cfg.kv)?);
        let log = {
            let (p, h) = (log_dir.to_path_buf(), rt.clone());
            tokio::task::spawn_blocking(move || LogStore::open(&p, h))
                .await
                .map_err(|e| ReplError::Storage(e.to_string()))??
        };
        let kv = sm.current();
        if !log.initialized() && !cfg.join {
            // A new group starts after a point every member shares (index 1), so a node that
            // joins later always starts from a snapshot. A single node's existing store may
            // become the first member of a group of one; any other start is over empty stores.
            let voters: Vec<u64> = cfg.nodes.iter().map(|n| n.id).collect();
            if (kv.holds_data().await? || kv.applied_index().await? > 0) && voters != [cfg.node_id] {
                let _ = kv.close().await;
                return Err(ReplError::Config(
                    "this node's metadata store already holds data: start it alone (its own id as the only node), then add nodes with rustfs-admin metadata add-node".into(),
                ));
            }
            let cs = ConfState::from((voters, vec![]));
            let mut meta = SnapshotMetadata { index: 1, term: 1, ..Default::default() };
            meta.set_conf_state(cs.clone());
            kv.adopt(1, &meta.write_to_bytes().map_err(|e| ReplError::Storage(e.to_string()))?).await?;
            let l = log.clone();
            tokio::task::spawn_blocking(move || l.initialize(cs, 1, 1))
                .await
                .map_err(|e| ReplError::Storage(e.to_string()))??;
        }
        // A snapshot installed just before a crash: the log follows the state machine.
        if let Some(point) = kv.snapshot_point().await? {
            let meta = SnapshotMetadata::parse_from_bytes(&point).map_err(|e| ReplError::Storage(e.to_string()))?;
            if meta.index > log.last_index() {
                let l = log.clone();
                tokio::task::spawn_blocking(move || l.apply_snapshot(&meta))
                    .await
                    .map_err(|e| ReplError::Storage(e.to_string()))??;
            }
        }
        let applied = kv.applied_index().await?;
        if applied > log.last_index() {
            return Err(ReplError::Storage(format!(
                "the state machine applied entry {applied} but the log ends at {}",
                log.last_index()
            )));
        }
        if applied > log.hard_state().commit {
            let l = log.clone();
            tokio::task::spawn_blocking(move || l.raise_commit(applied))
                .await
                .map_err(|e| ReplError::Storage(e.to_string()))??;
        }
        let snapshots = Snapshots::new(cfg.node_id, sm.clone(), applied);
        log.set_snapshots(snapshots.clone());
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
            // Bounds what one turn applies in one transaction.
            max_committed_size_per_ready: 16 << 20,
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
        let cs = log.conf_state();
        let member = cs.voters.contains(&cfg.node_id) || cs.learners.contains(&cfg.node_id);
        let shared = Arc::new(Mutex::new(Shared { node_id: cfg.node_id, member, applied, ..Default::default() }));
        let service = Arc::new(Service { tx: tx.clone(), snapshots: snapshots.clone(), shared: shared.clone() });
        let server = match router {
            Some(r) => {
                r.register(INTERNODE_KINDS, service).map_err(ReplError::Config)?;
                None
            }
            None => {
                let r = internode::Router::new();
                r.register(INTERNODE_KINDS, service).map_err(ReplError::Config)?;
                let s = internode::Server::bind(&listen, me.clone(), r)
                    .await
                    .map_err(|e| ReplError::Config(format!("internode port {listen}: {e}")))?;
                Some(s)
            }
        };
        // Connections leave from this node's own internode address.
        let source = listen.parse::<std::net::SocketAddr>().ok().map(|a| a.ip());
        let peers = internode::Peers::with_source(me, source);
        // Every address known: the configured nodes and those membership changes brought.
        let addresses: HashMap<u64, String> = {
            let (l, nodes) = (log.clone(), cfg.nodes.clone());
            tokio::task::spawn_blocking(move || -> Result<Vec<(u64, String)>> {
                for n in &nodes {
                    l.set_address(n.id, Some(&n.address))?;
                }
                l.addresses()
            })
            .await
            .map_err(|e| ReplError::Storage(e.to_string()))??
            .into_iter()
            .collect()
        };
        let spawn_peer: crate::node::SpawnPeer = {
            let (peers, tx, rt) = (peers.clone(), tx.clone(), rt.clone());
            Arc::new(move |id: u64, addr: String| {
                let (q, r) = mpsc::channel(PEER_QUEUE);
                rt.spawn(peer_sender(id, addr, peers.clone(), r, tx.clone()));
                q
            })
        };
        let mut outbox = HashMap::new();
        for (id, a) in addresses.iter().filter(|(id, _)| **id != cfg.node_id) {
            outbox.insert(*id, spawn_peer(*id, a.clone()));
        }
        let tick = Duration::from_millis(cfg.raft.heartbeat_interval_ms);
        let node = Node::new(Parts {
            raw,
            log: log.clone(),
            snapshots,
            peers: peers.clone(),
            addresses,
            rt,
            rx,
            outbox,
            shared: shared.clone(),
            tick,
            applied,
            max_log_entries: cfg.raft.max_log_entries,
            spawn_peer,
        });
        let thread = std::thread::Builder::new()
            .name(format!("raft-{}", cfg.node_id))
            .spawn(move || node.run())
            .map_err(|e| ReplError::Raft(e.to_string()))?;
        let wait = Duration::from_millis((cfg.raft.election_timeout_ms * 5).max(5000));
        let commit_wait = Duration::from_millis((cfg.raft.election_timeout_ms * 2).max(2000));
        tracing::info!(node = cfg.node_id, listen = %listen, members = cfg.nodes.len(), applied, "metadata replication started");
        let leader_view: LeaderView = Arc::default();
        let watcher = tokio::spawn(watch_leader(shared.clone(), peers.clone(), leader_view.clone()));
        Ok(Arc::new(Self {
            sm,
            log,
            tx,
            shared,
            cfg,
            _server: server,
            thread: Mutex::new(Some(thread)),
            wait,
            commit_wait,
            metrics: metadata::metrics::KvMetrics::new(),
            leader_view,
            watcher,
        }))
    }

    fn shared(&self) -> Shared {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn config(&self) -> &ReplicationConfig {
        &self.cfg
    }

    /// Sends `make(reply)` to the loop and waits for its answer, retrying while no leader is
    /// known, until `self.wait` has passed.
    /// A write accepted by the group whose outcome does not come within `commit_wait`
    /// (its leader died with it, say) answers `unknown`; a read (`retry` set) is asked again
    /// until the overall bound.
    async fn ask<T>(
        &self,
        make: impl Fn(crate::node::Reply<T>) -> Input,
        unknown: impl Fn() -> MetaError,
        retry: bool,
    ) -> metadata::Result<T> {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            let (reply, rx) = oneshot::channel();
            if !submit(&self.tx, make(reply)).await {
                return Err(ReplError::Stopped.into());
            }
            let attempt = (tokio::time::Instant::now() + self.commit_wait).min(deadline);
            match tokio::time::timeout_at(attempt, rx).await {
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
                Ok(Ok(Err(NodeError::Refused(why)))) => return Err(MetaError::Backend(why)),
                Ok(Err(_)) => return Err(ReplError::Stopped.into()),
                Err(_) if retry && tokio::time::Instant::now() < deadline => {}
                Err(_) => return Err(unknown()),
            }
        }
    }

    /// Waits until this node's state machine holds every write committed before now.
    async fn read_barrier(&self) -> metadata::Result<()> {
        if self.cfg.read_consistency == ReadConsistency::Eventual {
            return Ok(());
        }
        self.ask(
            |reply| Input::Read { reply },
            || MetaError::NoLeader("no leader confirmed the read in time".into()),
            true,
        )
        .await
    }
}

#[async_trait]
impl Kv for RaftKv {
    async fn get(&self, key: &[u8]) -> metadata::Result<Option<Vec<u8>>> {
        let started = std::time::Instant::now();
        self.read_barrier().await?;
        let r = self.sm.current().get(key).await;
        self.metrics.read(started);
        r
    }

    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> metadata::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let started = std::time::Instant::now();
        self.read_barrier().await?;
        let r = self.sm.current().scan(start, end, limit).await;
        self.metrics.read(started);
        r
    }

    fn planning_reads_may_be_stale(&self) -> bool {
        self.cfg.read_consistency == ReadConsistency::Linearizable
    }

    /// The local state machine without a read barrier: applied entries only, so never
    /// ahead of the group's commit, possibly behind it.
    async fn planning_get(&self, key: &[u8]) -> metadata::Result<Option<Vec<u8>>> {
        let started = std::time::Instant::now();
        let r = self.sm.current().get(key).await;
        self.metrics.read(started);
        r
    }

    async fn planning_scan(&self, start: &[u8], end: &[u8], limit: usize) -> metadata::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let started = std::time::Instant::now();
        let r = self.sm.current().scan(start, end, limit).await;
        self.metrics.read(started);
        r
    }

    async fn write(&self, batch: WriteBatch) -> metadata::Result<WriteOutcome> {
        let st = self.shared();
        if !st.member && st.applied > 0 && st.stopped.is_none() {
            return Err(MetaError::Unavailable(format!("node {} is not a member of the metadata group", st.node_id)));
        }
        if touches_replication_state(&batch) {
            return Err(MetaError::Backend("a write may not touch the replication state (r/ keys)".into()));
        }
        let started = std::time::Instant::now();
        let raw = batch.encode();
        let span = tracing::info_span!("propose", bytes = raw.len());
        let r = tracing::Instrument::instrument(
            self.ask(
                |reply| Input::Propose { batch: raw.clone(), reply },
                || MetaError::CommitUnknown("the metadata group did not commit the write in time".into()),
                false,
            ),
            span,
        )
        .await;
        if r.is_ok() {
            self.metrics.committed(started);
        }
        r
    }
}

#[async_trait]
impl KvLifecycle for RaftKv {
    fn not_ready(&self) -> Option<String> {
        let s = self.shared();
        if let Some(why) = s.stopped {
            return Some(format!("metadata replication stopped: {why}"));
        }
        if !s.member && s.applied > 0 {
            return Some(format!(
                "node {} is not a member of the metadata group (removed, or not added yet)",
                s.node_id
            ));
        }
        if !s.member {
            return Some(format!(
                "node {} waits to be added to the metadata group (rustfs-admin metadata add-node)",
                s.node_id
            ));
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
        let mut s = self.shared();
        if s.leader_id != s.node_id
            && let Some((at, members)) = self.leader_view.lock().unwrap_or_else(|e| e.into_inner()).clone()
            && at.elapsed() < Duration::from_secs(3)
        {
            s.members = members;
        }
        GroupStatus {
            node_id: s.node_id,
            leader_id: s.leader_id,
            term: s.term,
            committed_index: s.committed,
            applied_index: s.applied,
            members: s.members,
        }
    }

    fn metrics(&self) -> Arc<metadata::metrics::KvMetrics> {
        self.metrics.clone()
    }

    async fn add_member(&self, id: u64, address: &str) -> metadata::Result<()> {
        if self.shared().members.iter().any(|m| m.id == id) {
            return Err(MetaError::Backend(format!("node {id} is already a member")));
        }
        let address = address.to_string();
        self.ask(
            |reply| {
                let mut cc = ConfChange::default();
                cc.set_change_type(ConfChangeType::AddLearnerNode);
                cc.node_id = id;
                Input::ConfChange { cc, address: Some(address.clone()), reply }
            },
            || MetaError::CommitUnknown(format!("adding node {id} was not confirmed in time")),
            false,
        )
        .await
    }

    async fn remove_member(&self, id: u64) -> metadata::Result<()> {
        if !self.shared().members.iter().any(|m| m.id == id) {
            return Err(MetaError::Backend(format!("node {id} is not a member")));
        }
        self.ask(
            |reply| {
                let mut cc = ConfChange::default();
                cc.set_change_type(ConfChangeType::RemoveNode);
                cc.node_id = id;
                Input::ConfChange { cc, address: None, reply }
            },
            || MetaError::CommitUnknown(format!("removing node {id} was not confirmed in time")),
            false,
        )
        .await
    }

    async fn transfer_leadership(&self, to: u64) -> metadata::Result<()> {
        if !self.shared().members.iter().any(|m| m.id == to && m.role != "learner") {
            return Err(MetaError::Backend(format!("node {to} is not a voting member")));
        }
        let deadline = tokio::time::Instant::now() + self.wait;
        while tokio::time::Instant::now() < deadline {
            let st = self.shared();
            if st.leader_id == to {
                return Ok(());
            }
            if !submit(&self.tx, Input::TransferLeader(to)).await {
                return Err(ReplError::Stopped.into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(MetaError::NoLeader(format!("leadership did not move to node {to} in time")))
    }

    async fn snapshot_now(&self) -> metadata::Result<u64> {
        self.ask(
            |reply| Input::Compact { reply },
            || MetaError::Unavailable("the snapshot did not finish in time".into()),
            false,
        )
        .await
    }

    async fn close(&self) -> metadata::Result<()> {
        self.watcher.abort();
        let _ = submit(&self.tx, Input::Stop).await;
        let t = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = t {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        let kv = self.sm.current();
        kv.flush()?;
        let log = self.log.clone();
        let _ = tokio::task::spawn_blocking(move || log.close()).await;
        kv.close().await
    }
}

impl RaftKv {
    /// The first and last index of the log kept on this node.
    pub fn log_bounds(&self) -> (u64, u64) {
        (self.log.first_index(), self.log.last_index())
    }
}
