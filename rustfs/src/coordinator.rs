//! Wiring of a cluster's DualTrack coordination (see `metadata::dualtrack::forward`): the
//! coordinator is the metadata group's leader. Every node runs `Role`, which opens this
//! node's DualTrack gate when it leads and closes it when it does not; before opening, the
//! new coordinator asks every other node to close its gate (`RELEASE`: the answer comes once
//! that node's operations in progress are done), and waits for a node that does not answer
//! long enough for its operations to have failed or finished (a node the leader cannot reach
//! is cut off from a majority of the drives, so its xl.meta writes cannot reach quorum).
//! Calls go to the coordinator over the internode port (`CALL`).
//!
//! This module must never open the gate while it cannot tell that every other gate is closed
//! or its node cut off for longer than the handover wait.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use metadata::KvLifecycle;
use metadata::background::{Worker, WorkerState};
use metadata::dualtrack::DualTrack;
use metadata::dualtrack::forward::{self, LinkError};

use crate::cluster_config::Cluster;

/// Internode kinds of the coordination.
pub const INTERNODE_KINDS: std::ops::RangeInclusive<u16> = 0x0300..=0x03ff;
/// A forwarded `MetadataStore` call.
const CALL: u16 = 0x0300;
/// "Close your gate": answered once the node's operations in progress are done.
const RELEASE: u16 = 0x0301;
/// How long a forwarded call may take (a listing of the legacy track reads many xl.meta).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a node waits for the coordinator before answering 503.
pub const FORWARD_WAIT: Duration = Duration::from_secs(15);

/// How a node reaches the coordinator: the metadata leader, over the internode port.
pub struct Link {
    peers: Arc<internode::Peers>,
    life: Arc<dyn KvLifecycle>,
    cluster: Cluster,
}

impl Link {
    pub fn new(peers: Arc<internode::Peers>, life: Arc<dyn KvLifecycle>, cluster: Cluster) -> Self {
        Self { peers, life, cluster }
    }

    fn addr(&self, node: u64) -> Option<String> {
        let name = self.cluster.nodes.get((node as usize).checked_sub(1)?)?;
        Some(self.cluster.internode_addr(name))
    }

    /// The S3 address of the coordinator (`host:port`), when another node is it.
    pub fn coordinator_s3(&self) -> Option<String> {
        use forward::Link as _;
        match self.coordinator()? {
            (_, true) => None,
            (n, false) => self.cluster.nodes.get((n as usize).checked_sub(1)?).cloned(),
        }
    }
}

#[async_trait]
impl forward::Link for Link {
    fn coordinator(&self) -> Option<(u64, bool)> {
        let st = self.life.status();
        (st.leader_id != 0).then_some((st.leader_id, st.leader_id == st.node_id))
    }

    async fn call(&self, node: u64, body: Vec<u8>) -> Result<Vec<u8>, LinkError> {
        let addr =
            self.addr(node).ok_or_else(|| LinkError::NotSent(format!("node {node} is not in the drive list")))?;
        self.peers.call(&addr, CALL, &body, CALL_TIMEOUT).await.map_err(|e| match e {
            internode::NetError::Unreachable(..)
            | internode::NetError::NotRunning(_)
            | internode::NetError::Refused(..)
            | internode::NetError::TooLarge(_) => LinkError::NotSent(e.to_string()),
            // The remote side failed before handing the call on (no such service yet).
            internode::NetError::Remote(_) => LinkError::NotSent(e.to_string()),
            internode::NetError::Timeout(_) | internode::NetError::Disconnected(_) => LinkError::Lost(e.to_string()),
        })
    }
}

/// The coordinator side of the internode kinds: forwarded calls and release requests.
pub struct Service {
    router: Arc<DualTrack>,
}

impl Service {
    pub fn new(router: Arc<DualTrack>) -> Arc<Self> {
        Arc::new(Self { router })
    }
}

#[async_trait]
impl internode::Handler for Service {
    async fn call(&self, from: u64, kind: u16, body: Vec<u8>) -> Result<Vec<u8>, String> {
        match kind {
            // Refused with NotCoordinator by the gate unless this node coordinates.
            CALL => Ok(forward::serve(self.router.as_ref(), &body).await),
            RELEASE => {
                if self.router.gate().is_open() {
                    tracing::info!(node = from, "another node takes over the DualTrack coordination; closing the gate");
                }
                self.router.step_down().await;
                Ok(Vec::new())
            }
            _ => Err(format!("unknown coordination request {kind:#x}")),
        }
    }

    async fn message(&self, _from: u64, _kind: u16, _body: Vec<u8>) {}
}

/// Opens this node's gate while it leads the metadata group (see the module documentation).
pub struct Role {
    router: Weak<DualTrack>,
    life: Arc<dyn KvLifecycle>,
    peers: Arc<internode::Peers>,
    cluster: Cluster,
    /// How long a node that does not answer a release is waited for.
    handover: Duration,
}

impl Role {
    pub fn new(
        router: &Arc<DualTrack>,
        life: Arc<dyn KvLifecycle>,
        peers: Arc<internode::Peers>,
        cluster: Cluster,
        handover: Duration,
    ) -> Self {
        Self { router: Arc::downgrade(router), life, peers, cluster, handover }
    }

    fn leads(&self) -> bool {
        let st = self.life.status();
        st.leader_id != 0 && st.leader_id == st.node_id
    }

    /// Asks every other node to close its gate; true once each answered, or stayed silent
    /// for the whole handover wait; false if this node stopped leading meanwhile.
    async fn release_others(&self) -> bool {
        let me = self.cluster.my_id();
        let mut waiting: Vec<(u64, String)> = self
            .cluster
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (i as u64 + 1, self.cluster.internode_addr(n)))
            .filter(|(id, _)| *id != me)
            .collect();
        let deadline = tokio::time::Instant::now() + self.handover;
        while !waiting.is_empty() {
            if !self.leads() {
                return false;
            }
            let asks = waiting.iter().map(|(_, a)| self.peers.call(a, RELEASE, &[], Duration::from_secs(2)));
            let answers = futures::future::join_all(asks).await;
            // A node without the coordination service yet (starting) coordinates nothing, nor
            // does one whose process is not running.
            let mut left = Vec::new();
            for ((id, a), r) in waiting.into_iter().zip(answers) {
                match r {
                    Ok(_) | Err(internode::NetError::Remote(_) | internode::NetError::NotRunning(_)) => {}
                    Err(e) => left.push((id, a, e)),
                }
            }
            if left.is_empty() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                for (id, _, e) in &left {
                    tracing::warn!(node = id, error = %e, "no answer to the release: taking over after the handover wait");
                }
                return true;
            }
            waiting = left.into_iter().map(|(id, a, _)| (id, a)).collect();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        true
    }
}

#[async_trait]
impl Worker for Role {
    fn name(&self) -> String {
        "dualtrack-coordinator".into()
    }

    async fn work(&mut self) -> Result<WorkerState, String> {
        let Some(router) = self.router.upgrade() else { return Ok(WorkerState::Done) };
        let open = router.gate().is_open();
        match (self.leads(), open) {
            (true, false) => {
                if !self.release_others().await || !self.leads() {
                    return Ok(WorkerState::Idle);
                }
                match router.take_over().await {
                    Ok(_) if !self.leads() => router.step_down().await,
                    Ok(repaired) => {
                        tracing::info!(repaired = ?repaired, "this node coordinates the DualTrack migration");
                    }
                    Err(e) => {
                        router.step_down().await;
                        return Err(format!("cannot take over the DualTrack coordination: {e}"));
                    }
                }
            }
            (false, true) => {
                router.step_down().await;
                tracing::info!("this node no longer leads: DualTrack coordination closed here");
            }
            _ => {}
        }
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
