//! Snapshots, streamed out of band: the Raft `Snapshot` message names only a point (the
//! leader's node id and the applied index); the receiving node pulls the state as of that
//! point from the leader page by page over the internode port (bounded memory on both
//! sides, whatever the size of the KV) into a fresh store, then swaps it in (see `state`).
//! The leader serves from a view pinned when Raft asked for the snapshot (a surrealkv
//! read-only transaction: compaction keeps what it sees).
//!
//! This module must never serve pages from a view other than the one the point names.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metadata::LocalKv;
use metadata::state_machine::SnapshotView;

use crate::state::StateMachine;

/// Internode request: one page of a pinned snapshot.
pub const SNAPSHOT_PAGE: u16 = 0x0101;
/// Bytes of keys and values per page, about.
pub const PAGE_BYTES: usize = 4 << 20;
/// A pin is reused for new requests while younger than this.
const REUSE: Duration = Duration::from_secs(30);
/// A pin nobody read from for this long is dropped.
const IDLE: Duration = Duration::from_secs(300);

struct Pin {
    view: Arc<SnapshotView>,
    created: Instant,
    used: Instant,
}

pub struct Snapshots {
    pub node_id: u64,
    pub sm: Arc<StateMachine>,
    applied: AtomicU64,
    pins: Mutex<HashMap<u64, Pin>>,
}

/// The data of a Raft snapshot message: the serving node, the index, and the members'
/// internode addresses (JSON), so a node that joins learns every member.
pub fn encode_point(node: u64, index: u64, addresses: &[(u64, String)]) -> Vec<u8> {
    let mut out = [node.to_be_bytes(), index.to_be_bytes()].concat();
    out.extend_from_slice(&serde_json::to_vec(addresses).unwrap_or_default());
    out
}

/// A decoded snapshot point.
pub struct Point {
    pub node: u64,
    pub index: u64,
    pub addresses: Vec<(u64, String)>,
}

pub fn decode_point(b: &[u8]) -> Option<Point> {
    let n: [u8; 8] = b.get(..8)?.try_into().ok()?;
    let i: [u8; 8] = b.get(8..16)?.try_into().ok()?;
    let addresses = serde_json::from_slice(&b[16..]).unwrap_or_default();
    Some(Point { node: u64::from_be_bytes(n), index: u64::from_be_bytes(i), addresses })
}

impl Snapshots {
    pub fn new(node_id: u64, sm: Arc<StateMachine>, applied: u64) -> Arc<Self> {
        Arc::new(Self { node_id, sm, applied: AtomicU64::new(applied), pins: Mutex::new(HashMap::new()) })
    }

    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Called by the Raft loop after it applied up to `i` (the state a new pin captures).
    pub fn set_applied(&self, i: u64) {
        self.applied.store(i, Ordering::Release);
    }

    /// On the Raft loop's thread (nothing applies meanwhile): the index of a view at least
    /// at `min`, pinned now unless a young one exists.
    pub fn pin(&self, min: u64) -> Option<u64> {
        let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        pins.retain(|_, p| now - p.used < IDLE);
        if let Some((i, _)) =
            pins.iter().filter(|(i, p)| **i >= min && now - p.created < REUSE).max_by_key(|(i, _)| **i)
        {
            return Some(*i);
        }
        let index = self.applied();
        match self.sm.current().view() {
            Ok(v) => {
                pins.insert(index, Pin { view: Arc::new(v), created: now, used: now });
                tracing::info!(index, "snapshot pinned for a node that needs it");
                Some(index)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot pin a snapshot");
                None
            }
        }
    }

    /// Serves one page: request = index (8) | after length (4) | after; answer = done (1) |
    /// pairs of (key length (4) | key | value length (4) | value).
    pub async fn serve(&self, req: &[u8]) -> Result<Vec<u8>, String> {
        let index = req.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes).ok_or("bad request")?;
        let n = req.get(8..12).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes).ok_or("bad request")? as usize;
        let after = if n == 0 { None } else { Some(req.get(12..12 + n).ok_or("bad request")?.to_vec()) };
        let view = {
            let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
            let p = pins.get_mut(&index).ok_or_else(|| format!("snapshot {index} is no longer pinned here"))?;
            p.used = Instant::now();
            p.view.clone()
        };
        let (pairs, done) = tokio::task::spawn_blocking(move || view.page(after.as_deref(), PAGE_BYTES))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let mut out = vec![u8::from(done)];
        for (k, v) in pairs {
            out.extend_from_slice(&(k.len() as u32).to_be_bytes());
            out.extend_from_slice(&k);
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(&v);
        }
        Ok(out)
    }
}

fn parse_page(b: &[u8]) -> Option<(metadata::state_machine::Pairs, bool)> {
    let done = *b.first()? == 1;
    let mut pairs = Vec::new();
    let mut rest = &b[1..];
    while !rest.is_empty() {
        let kl = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let k = rest.get(4..4 + kl)?.to_vec();
        rest = &rest[4 + kl..];
        let vl = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let v = rest.get(4..4 + vl)?.to_vec();
        rest = &rest[4 + vl..];
        pairs.push((k, v));
    }
    Some((pairs, done))
}

/// Pulls snapshot `index` from the node at `addr` into `into`; returns the pairs copied.
pub async fn fetch(peers: &internode::Peers, addr: &str, index: u64, into: &LocalKv) -> Result<u64, String> {
    let mut after: Option<Vec<u8>> = None;
    let mut copied = 0u64;
    loop {
        let mut req = index.to_be_bytes().to_vec();
        let a = after.as_deref().unwrap_or(&[]);
        req.extend_from_slice(&(a.len() as u32).to_be_bytes());
        req.extend_from_slice(a);
        let raw = peers.call(addr, SNAPSHOT_PAGE, &req, Duration::from_secs(60)).await.map_err(|e| e.to_string())?;
        let (pairs, done) = parse_page(&raw).ok_or("malformed snapshot page")?;
        into.load_pairs(&pairs).await.map_err(|e| e.to_string())?;
        copied += pairs.len() as u64;
        after = pairs.last().map(|p| p.0.clone());
        if done || after.is_none() {
            return Ok(copied);
        }
    }
}
