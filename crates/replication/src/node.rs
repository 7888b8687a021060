//! The Raft node: one dedicated thread owns the raft-rs `RawNode` and runs its Ready loop,
//! as the raft-rs examples do: take what arrived (proposals, reads, peer messages) in one
//! batch, tick, then for each `Ready` send what may leave now, install, apply committed
//! entries, persist new entries and hard state (one transaction, one fsync: proposals that
//! arrived together share it), send what had to wait for that fsync, and advance.
//!
//! Proposals carry `(node id, sequence)` as context; the node that proposed answers its
//! caller when it applies the entry, with the batch's outcome. Reads are batched: every
//! read that arrived in one turn shares one ReadIndex round, and is answered once the
//! state machine has applied up to the index it returned.
//!
//! This module must never send a message that depends on unsynced log entries, never
//! apply an entry twice or out of order, and never block on the network.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metadata::{LocalKv, Member, MetaError, WriteBatch, WriteOutcome};
use protobuf::Message as _;
use raft::prelude::{ConfChange, ConfChangeType, ConfChangeV2, Entry, EntryType, Message};
use raft::{RawNode, SnapshotStatus, StateRole};
use tokio::sync::{mpsc, oneshot};

use crate::log_store::LogStore;
use crate::snapshot::{Snapshots, decode_point, fetch};

/// Inputs the loop takes in one turn at most (the rest wait for the next turn).
const TURN: usize = 4096;

/// Why a proposal or a read did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeError {
    /// No leader is known now: try again shortly.
    NoLeader,
    /// The node stopped (shutdown, or a fatal storage error).
    Stopped(String),
    /// The entry was committed but could not be applied here.
    Apply(String),
    /// The group refused the request (e.g. another membership change is in progress).
    Refused(String),
}

/// Starts the sender of raft messages to a member (given its id and address).
pub type SpawnPeer = Arc<dyn Fn(u64, String) -> mpsc::Sender<Message> + Send + Sync>;

pub type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

pub enum Input {
    Propose {
        batch: Vec<u8>,
        reply: Reply<WriteOutcome>,
    },
    Read {
        reply: Reply<()>,
    },
    Raft(Box<Message>),
    Unreachable(u64),
    /// Whether a snapshot message reached node `.0`.
    SnapshotSent(u64, bool),
    /// Proposals (by entry context) forwarded to a leader that were never sent.
    Lost(Vec<Vec<u8>>),
    TransferLeader(u64),
    /// A membership change (the address rides along for a node being added).
    ConfChange {
        cc: ConfChange,
        address: Option<String>,
        reply: Reply<()>,
    },
    /// Compact the log up to the applied index now; answers that index.
    Compact {
        reply: Reply<u64>,
    },
    Stop,
}

/// What the rest of the process sees of the node (updated every turn).
#[derive(Debug, Clone, Default)]
pub struct Shared {
    pub node_id: u64,
    pub leader_id: u64,
    pub term: u64,
    pub role: String,
    pub committed: u64,
    pub applied: u64,
    pub last_index: u64,
    pub first_index: u64,
    pub members: Vec<Member>,
    /// Set when the node stopped for good, with the reason.
    pub stopped: Option<String>,
    /// Whether this node is in the group's configuration (false once removed, or while
    /// a joining node waits for its first snapshot).
    pub member: bool,
    /// Internode addresses of the members this node knows.
    pub addresses: HashMap<u64, String>,
    /// When this node last heard from a leader (or is one).
    pub leader_contact: Option<Instant>,
}

/// What the loop is built from.
pub struct Parts {
    pub raw: RawNode<LogStore>,
    pub log: LogStore,
    pub snapshots: Arc<Snapshots>,
    pub peers: Arc<internode::Peers>,
    pub addresses: HashMap<u64, String>,
    pub rt: tokio::runtime::Handle,
    pub rx: Receiver<Input>,
    pub outbox: HashMap<u64, mpsc::Sender<Message>>,
    pub shared: Arc<Mutex<Shared>>,
    pub tick: Duration,
    pub applied: u64,
    pub max_log_entries: u64,
    pub spawn_peer: SpawnPeer,
}

pub struct Node {
    raw: RawNode<LogStore>,
    log: LogStore,
    snapshots: Arc<Snapshots>,
    peers: Arc<internode::Peers>,
    addresses: HashMap<u64, String>,
    rt: tokio::runtime::Handle,
    rx: Receiver<Input>,
    outbox: HashMap<u64, mpsc::Sender<Message>>,
    shared: Arc<Mutex<Shared>>,
    tick: Duration,
    applied: u64,
    max_log_entries: u64,
    spawn_peer: SpawnPeer,
    pending: HashMap<u64, Reply<WriteOutcome>>,
    pending_conf: HashMap<u64, Reply<()>>,
    last_promotion: Option<Instant>,
    next_proposal: u64,
    new_reads: Vec<Reply<()>>,
    reads: HashMap<u64, Vec<Reply<()>>>,
    applied_waits: Vec<(u64, Vec<Reply<()>>)>,
    next_read: u64,
    caught_up_at: HashMap<u64, Instant>,
    /// When a message from each peer last arrived.
    contact: HashMap<u64, Instant>,
    leader_contact: Option<Instant>,
}

/// Sends `input` to the loop from async code, waiting (without a thread) while its
/// bounded queue is full; `false` once the loop is gone.
pub async fn submit(tx: &SyncSender<Input>, mut input: Input) -> bool {
    loop {
        match tx.try_send(input) {
            Ok(()) => return true,
            Err(std::sync::mpsc::TrySendError::Full(i)) => {
                input = i;
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return false,
        }
    }
}

fn ctx(a: u64, b: u64) -> Vec<u8> {
    let mut v = a.to_be_bytes().to_vec();
    v.extend_from_slice(&b.to_be_bytes());
    v
}

fn parse_ctx(c: &[u8]) -> Option<(u64, u64)> {
    let a: [u8; 8] = c.get(..8)?.try_into().ok()?;
    let b: [u8; 8] = c.get(8..16)?.try_into().ok()?;
    Some((u64::from_be_bytes(a), u64::from_be_bytes(b)))
}

impl Node {
    pub fn new(p: Parts) -> Self {
        Self {
            raw: p.raw,
            log: p.log,
            snapshots: p.snapshots,
            peers: p.peers,
            addresses: p.addresses,
            rt: p.rt,
            rx: p.rx,
            outbox: p.outbox,
            shared: p.shared,
            tick: p.tick,
            applied: p.applied,
            max_log_entries: p.max_log_entries,
            spawn_peer: p.spawn_peer,
            pending: HashMap::new(),
            pending_conf: HashMap::new(),
            last_promotion: None,
            next_proposal: 1,
            new_reads: Vec::new(),
            reads: HashMap::new(),
            applied_waits: Vec::new(),
            next_read: 1,
            caught_up_at: HashMap::new(),
            contact: HashMap::new(),
            leader_contact: None,
        }
    }

    fn sm(&self) -> Arc<LocalKv> {
        self.snapshots.sm.current()
    }

    fn id(&self) -> u64 {
        self.raw.raft.id
    }

    /// Runs the loop until `Stop` or a fatal error; then answers every waiter.
    pub fn run(mut self) {
        let mut next_tick = Instant::now() + self.tick;
        let why = loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(Input::Stop) => break "stopped".to_string(),
                Ok(i) => {
                    self.take(i);
                    let mut stop = false;
                    for _ in 0..TURN {
                        match self.rx.try_recv() {
                            Ok(Input::Stop) => {
                                stop = true;
                                break;
                            }
                            Ok(i) => self.take(i),
                            Err(_) => break,
                        }
                    }
                    if stop {
                        break "stopped".to_string();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break "stopped".to_string(),
            }
            let now = Instant::now();
            if now >= next_tick {
                self.raw.tick();
                next_tick = if now > next_tick + self.tick { now + self.tick } else { next_tick + self.tick };
            }
            self.issue_reads();
            self.promote_learners();
            if let Err(e) = self.on_ready() {
                tracing::error!(error = %e, "metadata replication stopped: storage failed");
                break e;
            }
            self.publish();
        };
        let err = NodeError::Stopped(why.clone());
        for (_, r) in self.pending.drain() {
            let _ = r.send(Err(err.clone()));
        }
        for (_, r) in self.pending_conf.drain() {
            let _ = r.send(Err(err.clone()));
        }
        for r in self.new_reads.drain(..).chain(self.reads.drain().flat_map(|(_, v)| v)) {
            let _ = r.send(Err(err.clone()));
        }
        for r in self.applied_waits.drain(..).flat_map(|(_, v)| v) {
            let _ = r.send(Err(err.clone()));
        }
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        s.stopped = Some(why);
        s.leader_id = 0;
    }

    fn take(&mut self, i: Input) {
        match i {
            Input::Propose { batch, reply } => {
                let seq = self.next_proposal;
                self.next_proposal += 1;
                match self.raw.propose(ctx(self.id(), seq), batch) {
                    Ok(()) => {
                        self.pending.insert(seq, reply);
                    }
                    Err(raft::Error::ProposalDropped) => {
                        let _ = reply.send(Err(NodeError::NoLeader));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NodeError::Stopped(e.to_string())));
                    }
                }
            }
            Input::Read { reply } => self.new_reads.push(reply),
            Input::Raft(m) => {
                let now = Instant::now();
                self.contact.insert(m.from, now);
                if m.from == self.raw.raft.leader_id {
                    self.leader_contact = Some(now);
                }
                if let Err(e) = self.raw.step(*m) {
                    tracing::debug!(error = %e, "raft message not taken");
                }
            }
            Input::Unreachable(id) => self.raw.report_unreachable(id),
            Input::Lost(contexts) => {
                for c in contexts {
                    if let Some((node, seq)) = parse_ctx(&c)
                        && node == self.id()
                        && let Some(r) = self.pending.remove(&seq)
                    {
                        let _ = r.send(Err(NodeError::NoLeader));
                    }
                }
            }
            Input::SnapshotSent(id, ok) => {
                let st = if ok { SnapshotStatus::Finish } else { SnapshotStatus::Failure };
                self.raw.report_snapshot(id, st);
            }
            Input::TransferLeader(to) => self.raw.transfer_leader(to),
            Input::ConfChange { cc, address, reply } => {
                if self.raw.raft.state == StateRole::Leader && self.raw.raft.has_pending_conf() {
                    let _ = reply.send(Err(NodeError::Refused("another membership change is in progress".into())));
                    return;
                }
                let seq = self.next_proposal;
                self.next_proposal += 1;
                let mut c = ctx(self.id(), seq);
                c.extend_from_slice(address.unwrap_or_default().as_bytes());
                match self.raw.propose_conf_change(c, cc) {
                    Ok(()) => {
                        self.pending_conf.insert(seq, reply);
                    }
                    Err(raft::Error::ProposalDropped) => {
                        let _ = reply.send(Err(NodeError::NoLeader));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NodeError::Refused(e.to_string())));
                    }
                }
            }
            Input::Compact { reply } => {
                let to = self.applied;
                let res = self
                    .sm()
                    .flush()
                    .map_err(|e| e.to_string())
                    .and_then(|()| self.log.compact(to).map_err(|e| e.to_string()));
                let _ = reply.send(res.map(|()| to).map_err(NodeError::Refused));
            }
            Input::Stop => {}
        }
    }

    /// One ReadIndex round for every read that arrived this turn.
    fn issue_reads(&mut self) {
        self.reads.retain(|_, ws| {
            ws.retain(|w| !w.is_closed());
            !ws.is_empty()
        });
        self.pending.retain(|_, r| !r.is_closed());
        if self.new_reads.is_empty() {
            return;
        }
        if self.raw.raft.leader_id == 0 {
            for r in self.new_reads.drain(..) {
                let _ = r.send(Err(NodeError::NoLeader));
            }
            return;
        }
        let c = self.next_read;
        self.next_read += 1;
        self.raw.read_index(ctx(self.id(), c));
        self.reads.insert(c, std::mem::take(&mut self.new_reads));
    }

    fn send(&self, msgs: Vec<Message>) {
        for m in msgs {
            match self.outbox.get(&m.to) {
                // A full queue drops the message: Raft resends what matters.
                Some(q) => {
                    let _ = q.try_send(m);
                }
                None => tracing::debug!(to = m.to, "raft message for a node without an address"),
            }
        }
    }

    fn on_ready(&mut self) -> Result<(), String> {
        if !self.raw.has_ready() {
            return Ok(());
        }
        let mut ready = self.raw.ready();
        self.send(ready.take_messages());
        if !ready.snapshot().is_empty() {
            let snap = ready.snapshot().clone();
            self.install(&snap)?;
        }
        for rs in ready.take_read_states() {
            if let Some((_, c)) = parse_ctx(&rs.request_ctx)
                && let Some(ws) = self.reads.remove(&c)
            {
                self.applied_waits.push((rs.index, ws));
            }
        }
        self.apply(ready.take_committed_entries())?;
        self.log.persist(ready.entries(), ready.hs()).map_err(|e| e.to_string())?;
        self.send(ready.take_persisted_messages());
        let mut light = self.raw.advance(ready);
        if let Some(c) = light.commit_index() {
            self.log.set_commit(c).map_err(|e| e.to_string())?;
        }
        self.send(light.take_messages());
        self.apply(light.take_committed_entries())?;
        self.raw.advance_apply();
        Ok(())
    }

    fn apply_batch(&self, index: u64, batch: Option<&WriteBatch>) -> Result<WriteOutcome, MetaError> {
        self.rt.block_on(self.sm().apply_entry(index, batch))
    }

    /// Installs the snapshot a `Ready` brought: pulls it from the node that named it into a
    /// fresh store, swaps that in, then moves the log to its point. Retries the pull (the
    /// loop waits; it has nothing to apply meanwhile) for up to ten minutes.
    fn install(&mut self, snap: &raft::prelude::Snapshot) -> Result<(), String> {
        let meta = snap.get_metadata().clone();
        let crate::snapshot::Point { node: from, index, addresses } =
            decode_point(&snap.data).ok_or("a snapshot message without its point")?;
        for (id, a) in addresses {
            self.log.set_address(id, Some(&a)).map_err(|e| e.to_string())?;
            self.learn_address(id, a);
        }
        if index != meta.index {
            return Err(format!("snapshot point {index} does not match its metadata ({})", meta.index));
        }
        let addr = self.addresses.get(&from).cloned().ok_or_else(|| format!("no address for node {from}"))?;
        let point = meta.write_to_bytes().map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let res: Result<u64, String> = self.rt.block_on(async {
                let (dir, kv) = self.snapshots.sm.begin_install().map_err(|e| e.to_string())?;
                let n = fetch(&self.peers, &addr, index, &kv).await?;
                kv.finish_install(index, &point).await.map_err(|e| e.to_string())?;
                kv.close().await.map_err(|e| e.to_string())?;
                drop(kv);
                self.snapshots.sm.complete_install(&dir).await.map_err(|e| e.to_string())?;
                Ok(n)
            });
            match res {
                Ok(n) => {
                    tracing::info!(index, from, keys = n, secs = started.elapsed().as_secs_f64(), "snapshot installed");
                    break;
                }
                Err(e) if started.elapsed() < Duration::from_secs(600) => {
                    attempt += 1;
                    tracing::warn!(index, from, attempt, error = %e, "snapshot pull failed; retrying");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(format!("snapshot {index} from node {from}: {e}")),
            }
        }
        self.log.apply_snapshot(&meta).map_err(|e| e.to_string())?;
        self.applied = index;
        self.snapshots.set_applied(index);
        Ok(())
    }

    fn apply_run(&mut self, run: Vec<Entry>) -> Result<(), String> {
        let Some(last) = run.last().map(|e| e.index) else { return Ok(()) };
        let decoded: Vec<Option<Result<WriteBatch, MetaError>>> =
            run.iter().map(|e| (!e.data.is_empty()).then(|| WriteBatch::decode(&e.data))).collect();
        let refs: Vec<(u64, Option<&WriteBatch>)> = run
            .iter()
            .zip(&decoded)
            .map(|(e, d)| {
                if let Some(Err(err)) = d {
                    tracing::error!(index = e.index, error = %err, "a committed entry does not decode: skipped");
                }
                (e.index, d.as_ref().and_then(|r| r.as_ref().ok()))
            })
            .collect();
        let outcomes = self
            .rt
            .block_on(self.sm().apply_entries(&refs))
            .map_err(|err| format!("applying entries {}..={last}: {err}", run[0].index))?;
        self.applied = last;
        for ((e, d), outcome) in run.iter().zip(&decoded).zip(outcomes) {
            let outcome = match d {
                Some(Err(_)) => Err(NodeError::Apply("the entry does not decode".into())),
                _ => Ok(outcome),
            };
            if let Some((node, seq)) = parse_ctx(&e.context)
                && node == self.id()
                && let Some(r) = self.pending.remove(&seq)
            {
                let _ = r.send(outcome);
            }
        }
        Ok(())
    }

    fn apply_conf(&mut self, e: Entry) -> Result<(), String> {
        if e.get_entry_type() == EntryType::EntryConfChange {
            let cc = ConfChange::parse_from_bytes(&e.data).map_err(|x| x.to_string())?;
            match self.raw.apply_conf_change(&cc) {
                Ok(cs) => self.log.set_conf_state(cs).map_err(|x| x.to_string())?,
                Err(err) => tracing::warn!(index = e.index, error = %err, "membership change refused"),
            }
            self.note_member(&cc, e.context.get(16..).unwrap_or_default())?;
            if let Some((node, seq)) = parse_ctx(&e.context)
                && node == self.id()
                && let Some(r) = self.pending_conf.remove(&seq)
            {
                let _ = r.send(Ok(()));
            }
        } else {
            let cc = ConfChangeV2::parse_from_bytes(&e.data).map_err(|x| x.to_string())?;
            match self.raw.apply_conf_change(&cc) {
                Ok(cs) => self.log.set_conf_state(cs).map_err(|x| x.to_string())?,
                Err(err) => tracing::warn!(index = e.index, error = %err, "membership change refused"),
            }
        }
        self.apply_batch(e.index, None).map_err(|err| format!("applying entry {}: {err}", e.index))?;
        self.applied = e.index;
        Ok(())
    }

    /// Drops log entries well behind the applied index once the log holds more than
    /// `max_log_entries` (after syncing the state machine, which then holds them).
    fn maybe_compact(&mut self) -> Result<(), String> {
        let first = self.log.first_index();
        if self.applied < first + self.max_log_entries {
            return Ok(());
        }
        let to = self.applied - self.max_log_entries / 2;
        self.sm().flush().map_err(|e| e.to_string())?;
        self.log.compact(to).map_err(|e| e.to_string())?;
        tracing::debug!(to, "raft log compacted");
        Ok(())
    }

    fn apply(&mut self, entries: Vec<Entry>) -> Result<(), String> {
        let _span = match (entries.first(), entries.last()) {
            (Some(f), Some(l)) => Some(tracing::info_span!("apply", first = f.index, last = l.index).entered()),
            _ => None,
        };
        // Consecutive normal entries are applied in one transaction; a membership change
        // is applied alone, in its place.
        let mut run: Vec<Entry> = Vec::new();
        for e in entries {
            if e.index <= self.applied {
                continue;
            }
            if e.get_entry_type() == EntryType::EntryNormal {
                run.push(e);
                continue;
            }
            self.apply_run(std::mem::take(&mut run))?;
            self.apply_conf(e)?;
        }
        self.apply_run(run)?;
        let applied = self.applied;
        self.snapshots.set_applied(applied);
        self.maybe_compact()?;
        let mut i = 0;
        while i < self.applied_waits.len() {
            if self.applied_waits[i].0 <= applied {
                for r in self.applied_waits.swap_remove(i).1 {
                    let _ = r.send(Ok(()));
                }
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// Keeps the address book and the message senders in step with an applied change.
    fn note_member(&mut self, cc: &ConfChange, address: &[u8]) -> Result<(), String> {
        let id = cc.node_id;
        if id == self.id() {
            return Ok(());
        }
        match cc.get_change_type() {
            ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                let address = String::from_utf8_lossy(address).into_owned();
                if !address.is_empty() {
                    self.log.set_address(id, Some(&address)).map_err(|e| e.to_string())?;
                    self.learn_address(id, address);
                }
                tracing::info!(node = id, change = ?cc.get_change_type(), "metadata group membership changed");
            }
            ConfChangeType::RemoveNode => {
                self.log.set_address(id, None).map_err(|e| e.to_string())?;
                self.addresses.remove(&id);
                self.outbox.remove(&id);
                tracing::info!(node = id, "node removed from the metadata group");
            }
        }
        Ok(())
    }

    fn learn_address(&mut self, id: u64, address: String) {
        if id == self.id() {
            return;
        }
        if self.addresses.get(&id) != Some(&address) || !self.outbox.contains_key(&id) {
            let q = (self.spawn_peer)(id, address.clone());
            self.outbox.insert(id, q);
            self.addresses.insert(id, address);
        }
    }

    /// On the leader: a learner that caught up becomes a voter (one change at a time, at
    /// most one attempt per second).
    fn promote_learners(&mut self) {
        let raft = &self.raw.raft;
        if raft.state != StateRole::Leader || raft.has_pending_conf() {
            return;
        }
        if self.last_promotion.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        let committed = raft.raft_log.committed;
        let ready = raft
            .prs()
            .conf()
            .learners()
            .iter()
            .copied()
            .find(|id| raft.prs().get(*id).is_some_and(|p| p.matched >= committed));
        if let Some(id) = ready {
            let mut cc = ConfChange::default();
            cc.set_change_type(ConfChangeType::AddNode);
            cc.node_id = id;
            self.last_promotion = Some(Instant::now());
            match self.raw.propose_conf_change(ctx(self.id(), 0), cc) {
                Ok(()) => tracing::info!(node = id, "learner caught up: promoting it to voter"),
                Err(e) => tracing::warn!(node = id, error = %e, "cannot promote the learner"),
            }
        }
    }

    fn publish(&mut self) {
        let raft = &self.raw.raft;
        let now = Instant::now();
        let leader = raft.leader_id;
        let role = match raft.state {
            StateRole::Leader => "leader",
            StateRole::Follower => "follower",
            StateRole::Candidate | StateRole::PreCandidate => "candidate",
        };
        if raft.state == StateRole::Leader {
            self.leader_contact = Some(now);
        }
        let last = raft.raft_log.last_index();
        let conf = raft.prs().conf();
        let learners: Vec<u64> = conf.learners().iter().copied().collect();
        let mut ids: Vec<u64> = conf.voters().ids().iter().chain(learners.iter().copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut members = Vec::with_capacity(ids.len());
        for id in ids {
            let learner = learners.contains(&id);
            let (matched, active) = if id == self.id() {
                (last, true)
            } else if raft.state == StateRole::Leader {
                raft.prs().get(id).map_or((0, false), |p| (p.matched, p.recent_active))
            } else {
                (0, id == leader && self.leader_contact.is_some_and(|t| now - t < self.tick * 20))
            };
            if matched >= last || (raft.state != StateRole::Leader && id == leader) {
                self.caught_up_at.insert(id, now);
            }
            // A member never seen caught up lags since this node first saw it.
            let since = *self.caught_up_at.entry(id).or_insert(now);
            let lag_ms = (now - since).as_millis() as u64;
            let role = if id == leader {
                "leader"
            } else if learner {
                "learner"
            } else if id == self.id() {
                role
            } else {
                "follower"
            };
            let lag_entries = if raft.state == StateRole::Leader {
                last.saturating_sub(matched)
            } else if id == self.id() {
                raft.raft_log.committed.saturating_sub(self.applied)
            } else {
                0
            };
            let last_contact_ms =
                if id == self.id() { Some(0) } else { self.contact.get(&id).map(|t| (now - *t).as_millis() as u64) };
            members.push(Member {
                id,
                role: role.into(),
                match_index: matched,
                healthy: active,
                lag_ms,
                lag_entries,
                last_contact_ms,
            });
        }
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        s.node_id = self.id();
        s.leader_id = leader;
        s.term = raft.term;
        s.role = role.into();
        s.committed = raft.raft_log.committed;
        s.applied = self.applied;
        s.last_index = last;
        s.first_index = self.log.first_index();
        s.members = members;
        s.leader_contact = self.leader_contact;
        s.member = conf.voters().ids().iter().any(|i| i == self.id()) || learners.contains(&self.id());
        if s.addresses.len() != self.addresses.len() {
            s.addresses = self.addresses.clone();
        }
    }
}
