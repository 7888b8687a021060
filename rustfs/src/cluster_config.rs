//! The cluster data plane's settings: which of the nodes named in the drive arguments
//! (`http://node{1...3}:9000/data{1...4}`) this one is, and where every node's internode
//! port is (`host:internode_port`, the same port on every node). The metadata group is
//! derived from the same list: node `i` (in order of first appearance) has id `i + 1`.
//! This module must never guess this node's identity when two nodes could be it.

use clap::Args;
use ecstore::topology::Topology;
use replication::NodeAddr;

/// The internode port when none is given (the seed's Raft port).
pub const DEFAULT_INTERNODE_PORT: u16 = 7000;

#[derive(Debug, Clone, Args, Default)]
pub struct ClusterArgs {
    /// This node's `host:port` as the drive arguments name it (default: the one whose
    /// address is `--address`, or whose host is this machine with `--address`'s port).
    #[arg(long, env = "RUSTFS_NODE")]
    pub node: Option<String>,
    /// The internode port (Raft, the shard RPC), the same on every node.
    #[arg(long, env = "RUSTFS_INTERNODE_PORT")]
    pub internode_port: Option<u16>,
}

/// A node's place in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// This node (`host:port` of its S3 address, as the drive arguments name it).
    pub me: String,
    /// Every node, in the order of the drive arguments.
    pub nodes: Vec<String>,
    pub internode_port: u16,
}

impl Cluster {
    /// The internode address of node `node` (its host, the internode port).
    pub fn internode_addr(&self, node: &str) -> String {
        let host = node.rsplit_once(':').map_or(node, |(h, _)| h);
        format!("{host}:{}", self.internode_port)
    }

    /// The metadata group's id of node `node`.
    pub fn node_id(&self, node: &str) -> Option<u64> {
        self.nodes.iter().position(|n| n == node).map(|i| i as u64 + 1)
    }

    pub fn my_id(&self) -> u64 {
        self.node_id(&self.me).unwrap_or(0)
    }

    /// The metadata group's members: every node.
    pub fn peers(&self) -> Vec<NodeAddr> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| NodeAddr { id: i as u64 + 1, address: self.internode_addr(n) })
            .collect()
    }
}

/// Whether `host` names this machine: its host name, or an address that resolves to one
/// of this machine's interfaces (it can be bound).
pub fn is_local_host(host: &str) -> bool {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = name.trim();
    if !name.is_empty() && (host == name || host.strip_prefix(name).is_some_and(|r| r.starts_with('.'))) {
        return true;
    }
    let Ok(addrs) = std::net::ToSocketAddrs::to_socket_addrs(&(host, 0)) else {
        return false;
    };
    addrs.into_iter().any(|a| !a.ip().is_unspecified() && std::net::UdpSocket::bind((a.ip(), 0)).is_ok())
}

/// The cluster this node belongs to, or `None` when its drives are its own (bare paths).
pub fn resolve(
    topology: &Topology,
    args: ClusterArgs,
    file_node: Option<String>,
    file_port: Option<u16>,
    address: &std::net::SocketAddr,
) -> Result<Option<Cluster>, String> {
    if !topology.is_cluster() {
        if args.node.is_some() || file_node.is_some() {
            return Err("--node names this node among the drive nodes: give the drives as http://host:port/path".into());
        }
        return Ok(None);
    }
    let explicit = args.node.or(file_node);
    let me = topology.find_me(explicit.as_deref(), &address.to_string(), is_local_host)?;
    let internode_port = args.internode_port.or(file_port).unwrap_or(DEFAULT_INTERNODE_PORT);
    if internode_port == 0 {
        return Err("the internode port must be above 0".into());
    }
    if topology.nodes.iter().any(|n| n.rsplit_once(':').is_some_and(|(_, p)| p.parse() == Ok(internode_port))) {
        return Err(format!("the internode port {internode_port} is a node's S3 port: give another --internode-port"));
    }
    Ok(Some(Cluster { me, nodes: topology.nodes.clone(), internode_port }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo(a: &str) -> Topology {
        Topology::parse(&[a.to_string()]).unwrap()
    }

    #[test]
    fn nodes_get_ids_and_internode_addresses_in_argument_order() {
        let t = topo("http://127.0.0.{1...3}:9000/d{1...4}");
        let addr: std::net::SocketAddr = "127.0.0.2:9000".parse().unwrap();
        let c = resolve(&t, ClusterArgs::default(), None, Some(7100), &addr).unwrap().unwrap();
        assert_eq!(c.me, "127.0.0.2:9000");
        assert_eq!(c.my_id(), 2);
        assert_eq!(c.internode_addr("127.0.0.3:9000"), "127.0.0.3:7100");
        let p = c.peers();
        assert_eq!((p[0].id, p[0].address.as_str()), (1, "127.0.0.1:7100"));
        let same = ClusterArgs { internode_port: Some(9000), ..Default::default() };
        assert!(resolve(&t, same, None, None, &addr).unwrap_err().contains("S3 port"));
        let local = topo("/d{1...12}");
        assert!(resolve(&local, ClusterArgs::default(), None, None, &addr).unwrap().is_none());
        let named = ClusterArgs { node: Some("x:1".into()), ..Default::default() };
        assert!(resolve(&local, named, None, None, &addr).is_err());
    }

    #[test]
    fn loopback_is_this_machine_and_a_foreign_address_is_not() {
        assert!(is_local_host("127.0.0.1"));
        assert!(is_local_host("localhost"));
        assert!(!is_local_host("192.0.2.7"), "TEST-NET-1 is no interface here");
    }
}
