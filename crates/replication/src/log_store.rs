//! The Raft log and hard state on a surrealkv tree of their own (raft-rs `Storage`).
//!
//! Format (version 1, `LOG_FORMAT_V1` under `v`): `e` + index (u64 big endian) -> a raft
//! `Entry` (protobuf); `h` -> `HardState`; `c` -> `ConfState`; `s` -> the `SnapshotMetadata`
//! of the point the log starts after (compaction or an installed snapshot); `a` + node id
//! -> that member's internode address. Everything one
//! `Ready` brings is written in one transaction and made durable with one fsync (the group
//! commit of the log) before the messages that depend on it leave the node.
//!
//! This module must never report an entry durable before its fsync, nor keep entries
//! below the compaction point.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, RwLock};

use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, StorageError};
use surrealkv::{Durability, LSMIterator, Mode, Tree, TreeBuilder};

use crate::error::{ReplError, Result};

pub const LOG_FORMAT_V1: u8 = 1;
const VERSION_KEY: &[u8] = b"v";
const HARD_STATE: &[u8] = b"h";
const CONF_STATE: &[u8] = b"c";
const SNAP_META: &[u8] = b"s";
/// `a` + node id (u64 big endian) -> the node's internode address (UTF-8).
const ADDRESS: &[u8] = b"a";

fn address_key(id: u64) -> Vec<u8> {
    [ADDRESS, &id.to_be_bytes()].concat()
}

fn entry_key(i: u64) -> Vec<u8> {
    let mut k = b"e".to_vec();
    k.extend_from_slice(&i.to_be_bytes());
    k
}

fn err(e: impl std::fmt::Display) -> ReplError {
    ReplError::Storage(e.to_string())
}

#[derive(Default)]
struct Inner {
    hs: HardState,
    cs: ConfState,
    snap: SnapshotMetadata,
    /// Terms of the entries in the log, from `snap.index + 1`.
    terms: VecDeque<u64>,
}

impl Inner {
    fn first(&self) -> u64 {
        self.snap.index + 1
    }
    fn last(&self) -> u64 {
        self.snap.index + self.terms.len() as u64
    }
}

/// The log of one node; cheap to clone (one shared state).
#[derive(Clone)]
pub struct LogStore {
    tree: Arc<Tree>,
    inner: Arc<RwLock<Inner>>,
    rt: tokio::runtime::Handle,
    /// Where snapshots come from (set once the state machine is open).
    snapshots: Arc<std::sync::OnceLock<Arc<crate::snapshot::Snapshots>>>,
}

impl LogStore {
    /// Opens (or creates) the log at `path`. `rt` runs surrealkv's commits for callers on
    /// plain threads.
    pub fn open(path: &Path, rt: tokio::runtime::Handle) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(err)?;
        // surrealkv starts background tasks on the runtime it is built in.
        let _in_rt = rt.enter();
        let tree = Arc::new(TreeBuilder::new().with_path(path.to_path_buf()).build().map_err(err)?);
        let mut inner = Inner::default();
        {
            let tx = tree.begin_with_mode(Mode::ReadOnly).map_err(err)?;
            match tx.get(VERSION_KEY).map_err(err)? {
                None => {}
                Some(v) if v.as_slice() == [LOG_FORMAT_V1] => {}
                Some(v) => return Err(ReplError::Storage(format!("raft log format {v:?} unknown to this version"))),
            }
            if let Some(b) = tx.get(HARD_STATE).map_err(err)? {
                inner.hs = HardState::parse_from_bytes(&b).map_err(err)?;
            }
            if let Some(b) = tx.get(CONF_STATE).map_err(err)? {
                inner.cs = ConfState::parse_from_bytes(&b).map_err(err)?;
            }
            if let Some(b) = tx.get(SNAP_META).map_err(err)? {
                inner.snap = SnapshotMetadata::parse_from_bytes(&b).map_err(err)?;
            }
            let mut it = tx.range(entry_key(inner.first()).as_slice(), b"f".as_slice()).map_err(err)?;
            let mut valid = it.seek_first().map_err(err)?;
            let mut expect = inner.first();
            while valid {
                let e = Entry::parse_from_bytes(&it.value().map_err(err)?).map_err(err)?;
                if e.index != expect {
                    return Err(ReplError::Storage(format!(
                        "raft log has a gap: entry {} where {expect} was due",
                        e.index
                    )));
                }
                inner.terms.push_back(e.term);
                expect += 1;
                valid = it.next().map_err(err)?;
            }
        }
        Ok(Self { tree, inner: Arc::new(RwLock::new(inner)), rt, snapshots: Arc::default() })
    }

    pub fn set_snapshots(&self, s: Arc<crate::snapshot::Snapshots>) {
        let _ = self.snapshots.set(s);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the log was ever given a configuration.
    pub fn initialized(&self) -> bool {
        let i = self.read();
        i.cs != ConfState::default() || i.snap.index > 0
    }

    pub fn hard_state(&self) -> HardState {
        self.read().hs.clone()
    }

    pub fn conf_state(&self) -> ConfState {
        self.read().cs.clone()
    }

    pub fn snapshot_metadata(&self) -> SnapshotMetadata {
        self.read().snap.clone()
    }

    pub fn first_index(&self) -> u64 {
        self.read().first()
    }

    pub fn last_index(&self) -> u64 {
        self.read().last()
    }

    fn commit(&self, tx: surrealkv::Transaction) -> Result<()> {
        self.commit_with(tx, true)
    }

    /// Commits `tx`; with `sync`, durably (one fsync of the log's WAL).
    fn commit_with(&self, mut tx: surrealkv::Transaction, sync: bool) -> Result<()> {
        self.rt.block_on(tx.commit()).map_err(err)?;
        if sync { self.tree.flush_wal(true).map_err(err) } else { Ok(()) }
    }

    fn begin(&self) -> Result<surrealkv::Transaction> {
        let mut tx = self.tree.begin_with_mode(Mode::ReadWrite).map_err(err)?;
        tx.set_durability(Durability::Eventual);
        tx.set(VERSION_KEY, [LOG_FORMAT_V1].as_slice()).map_err(err)?;
        Ok(tx)
    }

    /// Gives a fresh log its first configuration, starting after `index` (0 for a new
    /// group; above 0 when the node's state machine already holds that much).
    pub fn initialize(&self, cs: ConfState, index: u64, term: u64) -> Result<()> {
        let mut meta = SnapshotMetadata { index, term, ..Default::default() };
        meta.set_conf_state(cs.clone());
        let hs = HardState { term, commit: index, ..Default::default() };
        let mut tx = self.begin()?;
        tx.set(CONF_STATE, cs.write_to_bytes().map_err(err)?.as_slice()).map_err(err)?;
        tx.set(SNAP_META, meta.write_to_bytes().map_err(err)?.as_slice()).map_err(err)?;
        tx.set(HARD_STATE, hs.write_to_bytes().map_err(err)?.as_slice()).map_err(err)?;
        self.commit(tx)?;
        let mut i = self.write();
        i.cs = cs;
        i.snap = meta;
        i.hs = hs;
        i.terms.clear();
        Ok(())
    }

    /// Appends `entries` (replacing any conflicting tail) and sets the hard state in one
    /// transaction, durably (one fsync) when there are entries or the term or vote changed.
    /// A commit index alone is written without a sync: after a crash it is learnt again
    /// (and never below what the state machine applied, see `raise_commit`).
    pub fn persist(&self, entries: &[Entry], hs: Option<&HardState>) -> Result<()> {
        if entries.is_empty() && hs.is_none() {
            return Ok(());
        }
        let sync = !entries.is_empty()
            || hs.is_some_and(|h| {
                let cur = self.read();
                h.term != cur.hs.term || h.vote != cur.hs.vote
            });
        let mut tx = self.begin()?;
        let (first, last) = {
            let i = self.read();
            (i.first(), i.last())
        };
        if let Some(e0) = entries.first() {
            if e0.index < first || e0.index > last + 1 {
                return Err(ReplError::Storage(format!(
                    "append at {} outside the log [{first}, {}]",
                    e0.index,
                    last + 1
                )));
            }
            for i in e0.index..=last {
                tx.delete(entry_key(i).as_slice()).map_err(err)?;
            }
            for e in entries {
                tx.set(entry_key(e.index).as_slice(), e.write_to_bytes().map_err(err)?.as_slice()).map_err(err)?;
            }
        }
        if let Some(hs) = hs {
            tx.set(HARD_STATE, hs.write_to_bytes().map_err(err)?.as_slice()).map_err(err)?;
        }
        self.commit_with(tx, sync)?;
        let mut i = self.write();
        if let Some(e0) = entries.first() {
            let keep = (e0.index - i.first()) as usize;
            i.terms.truncate(keep);
            i.terms.extend(entries.iter().map(|e| e.term));
        }
        if let Some(hs) = hs {
            i.hs = hs.clone();
        }
        Ok(())
    }

    /// Records a new commit index (from a `LightReady`).
    pub fn set_commit(&self, commit: u64) -> Result<()> {
        let mut hs = self.hard_state();
        if hs.commit >= commit {
            return Ok(());
        }
        hs.commit = commit;
        self.persist(&[], Some(&hs))
    }

    /// After a restart: the commit index is at least what the state machine applied (a
    /// commit index is written without a sync, an applied entry was committed).
    pub fn raise_commit(&self, applied: u64) -> Result<()> {
        let target = applied.min(self.last_index());
        self.set_commit(target)
    }

    /// Records (or with `None` forgets) a member's internode address.
    pub fn set_address(&self, id: u64, address: Option<&str>) -> Result<()> {
        let mut tx = self.begin()?;
        match address {
            Some(a) => tx.set(address_key(id).as_slice(), a.as_bytes()).map_err(err)?,
            None => tx.delete(address_key(id).as_slice()).map_err(err)?,
        }
        self.commit(tx)
    }

    /// Every member address recorded.
    pub fn addresses(&self) -> Result<Vec<(u64, String)>> {
        let tx = self.tree.begin_with_mode(Mode::ReadOnly).map_err(err)?;
        let mut it = tx.range(ADDRESS, b"b".as_slice()).map_err(err)?;
        let mut out = Vec::new();
        let mut valid = it.seek_first().map_err(err)?;
        while valid {
            let k = it.key().user_key().to_vec();
            if let Ok(id) = <[u8; 8]>::try_from(&k[1..]) {
                out.push((u64::from_be_bytes(id), String::from_utf8_lossy(&it.value().map_err(err)?).into_owned()));
            }
            valid = it.next().map_err(err)?;
        }
        Ok(out)
    }

    /// Records the configuration an applied conf change produced.
    pub fn set_conf_state(&self, cs: ConfState) -> Result<()> {
        let mut tx = self.begin()?;
        tx.set(CONF_STATE, cs.write_to_bytes().map_err(err)?.as_slice()).map_err(err)?;
        self.commit(tx)?;
        self.write().cs = cs;
        Ok(())
    }

    /// Drops the entries up to `index` (applied, and durable in the state machine).
    pub fn compact(&self, index: u64) -> Result<()> {
        let (first, last) = (self.first_index(), self.last_index());
        if index < first {
            return Ok(());
        }
        let index = index.min(last);
        let term = raft::Storage::term(self, index).map_err(err)?;
        let mut meta = SnapshotMetadata { index, term, ..Default::default() };
        meta.set_conf_state(self.conf_state());
        let mut tx = self.begin()?;
        tx.delete_range(entry_key(first).as_slice(), entry_key(index + 1).as_slice()).map_err(err)?;
        tx.set(SNAP_META, meta.write_to_bytes().map_err(err)?.as_slice()).map_err(err)?;
        self.commit(tx)?;
        let mut i = self.write();
        let drop = ((index + 1 - i.first()) as usize).min(i.terms.len());
        i.terms.drain(..drop);
        i.snap = meta;
        Ok(())
    }

    /// Replaces the log with the point a snapshot brought: no entries, its configuration,
    /// its index as commit.
    pub fn apply_snapshot(&self, meta: &SnapshotMetadata) -> Result<()> {
        let (first, last) = (self.first_index(), self.last_index());
        let mut hs = self.hard_state();
        hs.term = hs.term.max(meta.term);
        hs.commit = meta.index;
        let mut tx = self.begin()?;
        if last >= first {
            tx.delete_range(entry_key(first).as_slice(), entry_key(last + 1).as_slice()).map_err(err)?;
        }
        tx.set(SNAP_META, meta.write_to_bytes().map_err(err)?.as_slice()).map_err(err)?;
        tx.set(CONF_STATE, meta.get_conf_state().write_to_bytes().map_err(err)?.as_slice()).map_err(err)?;
        tx.set(HARD_STATE, hs.write_to_bytes().map_err(err)?.as_slice()).map_err(err)?;
        self.commit(tx)?;
        let mut i = self.write();
        i.terms.clear();
        i.snap = meta.clone();
        i.cs = meta.get_conf_state().clone();
        i.hs = hs;
        Ok(())
    }

    /// Flushes and closes the tree.
    pub fn close(&self) {
        let _ = self.tree.flush_wal(true);
        let _ = self.rt.block_on(self.tree.close());
    }
}

impl raft::Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let i = self.read();
        Ok(RaftState::new(i.hs.clone(), i.cs.clone()))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let max = max_size.into().unwrap_or(u64::MAX);
        {
            let i = self.read();
            if low < i.first() {
                return Err(raft::Error::Store(StorageError::Compacted));
            }
            if high > i.last() + 1 {
                return Err(raft::Error::Store(StorageError::Unavailable));
            }
        }
        let io = |e: surrealkv::Error| raft::Error::Store(StorageError::Other(Box::new(e)));
        let tx = self.tree.begin_with_mode(Mode::ReadOnly).map_err(io)?;
        let mut it = tx.range(entry_key(low).as_slice(), entry_key(high).as_slice()).map_err(io)?;
        let mut out = Vec::new();
        let mut size = 0u64;
        let mut valid = it.seek_first().map_err(io)?;
        while valid {
            let raw = it.value().map_err(io)?;
            size += raw.len() as u64;
            if !out.is_empty() && size > max {
                break;
            }
            out.push(Entry::parse_from_bytes(&raw).map_err(raft::Error::CodecError)?);
            valid = it.next().map_err(io)?;
        }
        if out.first().map(|e| e.index) != Some(low) && low < high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        let i = self.read();
        if idx == i.snap.index {
            return Ok(i.snap.term);
        }
        if idx < i.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if idx > i.last() {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(i.terms[(idx - i.first()) as usize])
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.read().first())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.read().last())
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        // The snapshot names a point (this node, an applied index); the state is streamed
        // out of band from a view pinned now (see `snapshot`).
        let unavailable = || raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable);
        let src = self.snapshots.get().ok_or_else(unavailable)?;
        if src.applied() < request_index {
            return Err(unavailable());
        }
        let index = src.pin(request_index).ok_or_else(unavailable)?;
        let term = self.term(index)?;
        let mut meta = SnapshotMetadata { index, term, ..Default::default() };
        meta.set_conf_state(self.read().cs.clone());
        let mut s = Snapshot::default();
        s.set_metadata(meta);
        let addresses = self.addresses().map_err(|e| raft::Error::Store(StorageError::Other(Box::new(e))))?;
        s.data = crate::snapshot::encode_point(src.node_id, index, &addresses).into();
        tracing::info!(to, index, term, "sending a snapshot point");
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use raft::Storage;

    fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
        Entry { index, term, data: data.to_vec().into(), ..Default::default() }
    }

    #[test]
    fn persists_truncates_compacts_and_reopens() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let s = LogStore::open(dir.path(), rt.handle().clone()).unwrap();
        assert!(!s.initialized());
        s.initialize(ConfState::from((vec![1, 2, 3], vec![])), 0, 0).unwrap();
        let ents: Vec<Entry> = (1..=5).map(|i| entry(i, 1, &[i as u8])).collect();
        let hs = HardState { term: 1, vote: 2, ..Default::default() };
        s.persist(&ents, Some(&hs)).unwrap();
        assert_eq!((s.first_index(), s.last_index()), (1, 5));
        // A new leader's entries replace a conflicting tail.
        s.persist(&[entry(4, 2, b"x"), entry(5, 2, b"y"), entry(6, 2, b"z")], None).unwrap();
        assert_eq!(s.term(3).unwrap(), 1);
        assert_eq!(s.term(6).unwrap(), 2);
        let got = s.entries(3, 7, None, GetEntriesContext::empty(false)).unwrap();
        assert_eq!(
            got.iter().map(|e| e.data.to_vec()).collect::<Vec<_>>(),
            [vec![3], b"x".to_vec(), b"y".to_vec(), b"z".to_vec()]
        );
        // Size limit: at least one entry.
        assert_eq!(s.entries(1, 7, 0, GetEntriesContext::empty(false)).unwrap().len(), 1);
        s.set_commit(4).unwrap();
        s.compact(3).unwrap();
        assert_eq!(s.first_index(), 4);
        assert_eq!(s.term(3).unwrap(), 1);
        assert!(matches!(
            s.entries(2, 5, None, GetEntriesContext::empty(false)),
            Err(raft::Error::Store(StorageError::Compacted))
        ));
        s.close();
        drop(s);
        let s = LogStore::open(dir.path(), rt.handle().clone()).unwrap();
        assert!(s.initialized());
        assert_eq!((s.first_index(), s.last_index()), (4, 6));
        assert_eq!(s.hard_state().commit, 4);
        assert_eq!(s.hard_state().vote, 2);
        assert_eq!(s.conf_state().voters, vec![1, 2, 3]);
        assert_eq!(s.entries(4, 7, None, GetEntriesContext::empty(false)).unwrap().len(), 3);
        // A snapshot replaces the whole log.
        let mut meta = SnapshotMetadata { index: 10, term: 3, ..Default::default() };
        meta.set_conf_state(ConfState::from((vec![1, 2, 3, 4], vec![])));
        s.apply_snapshot(&meta).unwrap();
        assert_eq!((s.first_index(), s.last_index()), (11, 10));
        assert_eq!(s.term(10).unwrap(), 3);
        assert_eq!(s.initial_state().unwrap().conf_state.voters, vec![1, 2, 3, 4]);
    }
}
