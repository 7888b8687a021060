//! The `metadata:` section of the configuration (the seed's metadata-replication.yaml, as
//! written) with its flags and environment variables: a local KV (the default) or a Raft
//! group. The cluster secret comes only from `RUSTFS_CLUSTER_SECRET` (or the file), never
//! from a flag (it would show in `ps`), and is never printed.

use clap::Args;
use replication::{NodeAddr, RaftTuning, ReadConsistency, ReplicationConfig};
use serde::Deserialize;

#[derive(Debug, Clone, Args, Default)]
pub struct ReplicationArgs {
    /// Metadata KV: `local` (one node, the default) or `replicated` (a Raft group).
    #[arg(long, env = "RUSTFS_METADATA_ENGINE_TYPE")]
    pub metadata_engine_type: Option<String>,
    /// This node's id in the metadata group.
    #[arg(long, env = "RUSTFS_NODE_ID")]
    pub node_id: Option<u64>,
    /// The group's nodes and their internode addresses: `1=10.0.0.1:7000,2=10.0.0.2:7000,...`.
    #[arg(long, env = "RUSTFS_PEERS")]
    pub peers: Option<String>,
    /// Where this node's internode port listens (default: its own address in the peers).
    #[arg(long, env = "RUSTFS_INTERNODE_LISTEN")]
    pub internode_listen: Option<String>,
    /// Cluster id every node must share (default `rustfs`).
    #[arg(long, env = "RUSTFS_CLUSTER_ID")]
    pub cluster_id: Option<String>,
    /// `linearizable` (default) or `eventual`.
    #[arg(long, env = "RUSTFS_READ_CONSISTENCY")]
    pub read_consistency: Option<String>,
    #[arg(long, env = "RUSTFS_RAFT_ELECTION_TIMEOUT_MS")]
    pub raft_election_timeout_ms: Option<u64>,
    #[arg(long, env = "RUSTFS_RAFT_HEARTBEAT_INTERVAL_MS")]
    pub raft_heartbeat_interval_ms: Option<u64>,
    #[arg(long, env = "RUSTFS_RAFT_MAX_LOG_ENTRIES")]
    pub raft_max_log_entries: Option<u64>,
    /// Join an existing group (after `rustfs-admin metadata add-node`) instead of starting one.
    #[arg(long, env = "RUSTFS_JOIN")]
    pub join: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MetadataFile {
    pub engine_type: Option<String>,
    #[serde(default)]
    pub replication: ReplicationFile,
}

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReplicationFile {
    #[serde(default)]
    pub nodes: Vec<NodeAddr>,
    pub node_id: Option<u64>,
    pub listen: Option<String>,
    pub cluster_id: Option<String>,
    pub cluster_secret: Option<String>,
    #[serde(default)]
    pub raft: RaftFile,
    pub read_consistency: Option<ReadConsistency>,
    #[serde(default)]
    pub join: bool,
}

impl std::fmt::Debug for ReplicationFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationFile")
            .field("nodes", &self.nodes)
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RaftFile {
    pub election_timeout_ms: Option<u64>,
    pub heartbeat_interval_ms: Option<u64>,
    pub max_log_entries: Option<u64>,
}

/// `1=host:port,2=host:port` into node addresses.
pub fn parse_peers(s: &str) -> Result<Vec<NodeAddr>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (id, addr) = p.trim().split_once('=').ok_or_else(|| format!("peer {p:?}: expected ID=HOST:PORT"))?;
            let id = id.trim().parse::<u64>().map_err(|_| format!("peer {p:?}: the id must be a number"))?;
            Ok(NodeAddr { id, address: addr.trim().to_string() })
        })
        .collect()
}

/// The group this node belongs to, or `None` for a local KV. `derived` is the node's id and
/// the group of a cluster whose drives name its nodes (see `cluster_config`): the metadata
/// is then replicated over those nodes, and peers or ids given besides are refused.
pub fn resolve(
    args: ReplicationArgs,
    file: MetadataFile,
    var: &dyn Fn(&str) -> Option<String>,
    derived: Option<(u64, Vec<NodeAddr>)>,
    kv: metadata::KvOptions,
) -> Result<Option<ReplicationConfig>, String> {
    let f = file.replication;
    if derived.is_some()
        && (args.peers.is_some() || !f.nodes.is_empty() || args.node_id.is_some() || f.node_id.is_some())
    {
        return Err("with drives on nodes (http://host:port/path) the metadata group is those nodes: drop --peers and --node-id".into());
    }
    let (derived_id, peers) = match (derived, &args.peers) {
        (Some((id, peers)), _) => (Some(id), peers),
        (None, Some(p)) => (None, parse_peers(p)?),
        (None, None) => (None, f.nodes),
    };
    let kind = args
        .metadata_engine_type
        .or(file.engine_type)
        .unwrap_or_else(|| if peers.is_empty() { "local".into() } else { "replicated".into() });
    match kind.as_str() {
        "local" if derived_id.is_some() => {
            return Err("a cluster's metadata is replicated: drop metadata engine_type local".into());
        }
        "local" => return Ok(None),
        "replicated" => {}
        other => return Err(format!("unknown metadata engine_type {other:?}: use local or replicated")),
    }
    let node_id = derived_id
        .or(args.node_id)
        .or(f.node_id)
        .ok_or("replicated metadata needs a node id (--node-id, RUSTFS_NODE_ID)")?;
    if peers.is_empty() {
        return Err(
            "replicated metadata needs the group's nodes (--peers, RUSTFS_PEERS, metadata.replication.nodes)".into()
        );
    }
    let secret = var("RUSTFS_CLUSTER_SECRET")
        .filter(|s| !s.is_empty())
        .or(f.cluster_secret)
        .ok_or("replicated metadata needs a cluster secret: set RUSTFS_CLUSTER_SECRET (the same on every node)")?;
    let read_consistency = match args.read_consistency.as_deref() {
        Some("linearizable") => ReadConsistency::Linearizable,
        Some("eventual") => ReadConsistency::Eventual,
        Some(o) => return Err(format!("unknown read consistency {o:?}: use linearizable or eventual")),
        None => f.read_consistency.unwrap_or_default(),
    };
    let d = RaftTuning::default();
    let cfg = ReplicationConfig {
        node_id,
        nodes: peers,
        listen: args.internode_listen.or(f.listen),
        raft: RaftTuning {
            election_timeout_ms: args
                .raft_election_timeout_ms
                .or(f.raft.election_timeout_ms)
                .unwrap_or(d.election_timeout_ms),
            heartbeat_interval_ms: args
                .raft_heartbeat_interval_ms
                .or(f.raft.heartbeat_interval_ms)
                .unwrap_or(d.heartbeat_interval_ms),
            max_log_entries: args.raft_max_log_entries.or(f.raft.max_log_entries).unwrap_or(d.max_log_entries),
        },
        read_consistency,
        cluster_id: args.cluster_id.or(f.cluster_id).unwrap_or_else(|| "rustfs".into()),
        secret,
        join: args.join || f.join,
        kv,
    };
    cfg.validate().map_err(|e| e.to_string())?;
    Ok(Some(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
metadata:
  engine_type: replicated  # "local" for single-node

  replication:
    # Cluster nodes
    nodes:
      - id: 1
        address: "192.168.1.101:7000"
      - id: 2
        address: "192.168.1.102:7000"
      - id: 3
        address: "192.168.1.103:7000"

    # Current node
    node_id: 1

    # Raft settings
    raft:
      election_timeout_ms: 1000
      heartbeat_interval_ms: 100
      max_log_entries: 10000

    # Consistency
    read_consistency: linearizable
"#;

    #[derive(Deserialize)]
    struct Doc {
        metadata: MetadataFile,
    }

    #[test]
    fn the_seed_file_loads_as_written() {
        let doc: Doc = serde_yaml::from_str(SEED).unwrap();
        let secret = |k: &str| (k == "RUSTFS_CLUSTER_SECRET").then(|| "a-cluster-secret".to_string());
        let c = resolve(ReplicationArgs::default(), doc.metadata.clone(), &secret, None, Default::default())
            .unwrap()
            .unwrap();
        assert_eq!(c.node_id, 1);
        assert_eq!(c.nodes.len(), 3);
        assert_eq!(c.nodes[2].address, "192.168.1.103:7000");
        assert_eq!(c.raft.max_log_entries, 10000);
        assert_eq!(c.read_consistency, ReadConsistency::Linearizable);
        assert!(!format!("{c:?}").contains("a-cluster-secret"), "the secret never shows");
        // Without a secret, a replicated node refuses to start.
        let none = |_: &str| None;
        assert!(
            resolve(ReplicationArgs::default(), doc.metadata.clone(), &none, None, Default::default())
                .unwrap_err()
                .contains("RUSTFS_CLUSTER_SECRET")
        );
        // Flags win over the file.
        let args = ReplicationArgs {
            node_id: Some(2),
            peers: Some("1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003".into()),
            read_consistency: Some("eventual".into()),
            ..Default::default()
        };
        let c = resolve(args, doc.metadata, &secret, None, Default::default()).unwrap().unwrap();
        assert_eq!((c.node_id, c.nodes[1].address.as_str()), (2, "127.0.0.1:7002"));
        assert_eq!(c.read_consistency, ReadConsistency::Eventual);
        assert!(
            resolve(ReplicationArgs::default(), MetadataFile::default(), &none, None, Default::default())
                .unwrap()
                .is_none(),
            "local by default"
        );
        assert!(parse_peers("1=a:1,x=b:2").is_err());
    }
}
