//! Wiring of a cluster node's data plane: the one internode port (Raft and the shard RPC
//! behind one `Router`), the shard RPC serving this node's drives, and the drive list as
//! this node sees it (its own folders, the other nodes' drives over the shard RPC).
//! This module must never serve a drive before its leftovers of interrupted writes are
//! cleared, nor serve a path that is not one of this node's configured drives.

use std::sync::Arc;

use ecstore::DriveSpec;
use ecstore::disk::{DiskService, RemoteDisk};
use ecstore::topology::Endpoint;

use crate::config::Config;

/// A cluster node's internode port and its connections to the other nodes.
pub struct Internode {
    pub router: Arc<internode::Router>,
    /// Connections for the shard RPC (Raft keeps its own, so bulk shard traffic never
    /// delays heartbeats).
    pub peers: Arc<internode::Peers>,
    server: internode::Server,
}

impl Internode {
    /// Clears this node's drives' tmp folders, binds the internode port and serves the
    /// shard RPC on it. `None` on a single node.
    pub async fn start(cfg: &Config) -> Result<Option<Self>, String> {
        let (Some(c), Some(r)) = (&cfg.cluster, &cfg.replication) else {
            return Ok(None);
        };
        let mine = cfg.topology.drives_of(Some(&c.me));
        let cleared = {
            let m = mine.clone();
            tokio::task::spawn_blocking(move || ecstore::clear_local_tmp(&m)).await.map_err(|e| e.to_string())?
        };
        if cleared > 0 {
            tracing::info!(entries = cleared, "removed leftovers of interrupted writes");
        }
        let me = internode::Identity { cluster_id: r.cluster_id.clone(), node_id: c.my_id(), secret: r.secret.clone() };
        let router = internode::Router::new();
        router.register(ecstore::disk::wire::INTERNODE_KINDS, DiskService::new(mine))?;
        let listen = r.listen.clone().unwrap_or_else(|| c.internode_addr(&c.me));
        let server = internode::Server::bind(&listen, me.clone(), router.clone())
            .await
            .map_err(|e| format!("cannot listen on the internode port {listen}: {e}"))?;
        tracing::info!(node = %c.me, listen = %listen, "internode port serving this node's drives");
        // Connections leave from the address this node listens on.
        // (Listening on every interface, as in a Kubernetes pod: the kernel chooses.)
        let source = Some(server.local_addr().ip()).filter(|ip| !ip.is_unspecified());
        Ok(Some(Self { router, peers: internode::Peers::with_source(me, source), server }))
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.server.local_addr()
    }
}

/// The deployment's drives in set order as this node reaches them.
pub fn drive_specs(cfg: &Config, net: Option<&Internode>) -> Vec<DriveSpec> {
    let spec = |e: &Endpoint| -> DriveSpec {
        match (&cfg.cluster, &e.node, net) {
            (Some(c), Some(node), Some(n)) if *node != c.me => {
                let io = RemoteDisk::new(
                    n.peers.clone(),
                    node,
                    &c.internode_addr(node),
                    &e.path.display().to_string(),
                    cfg.limits.drive_timeout,
                );
                DriveSpec { io: Arc::new(io), local: None, node: Some(node.clone()) }
            }
            _ => DriveSpec { node: e.node.clone(), ..DriveSpec::local(&e.path) },
        }
    };
    cfg.topology.drives.iter().map(spec).collect()
}
