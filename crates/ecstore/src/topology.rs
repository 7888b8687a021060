//! Where a deployment's drives are: the drive arguments an operator gives every node (MinIO's
//! ellipsis form works: `http://node{1...3}:9000/data{1...4}` is 3 nodes x 4 drives; a bare
//! path is a drive of this node), expanded to endpoints and placed into erasure sets of 12 so
//! that each set spreads over the nodes as evenly as it can (3 x 4: every node holds 4 drives
//! of the set, so losing one node loses 4 shards of every set).
//! This module must never depend on the order of a node's answers or on anything but its
//! arguments: every node computes the same sets from the same arguments.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::drives::SET_DRIVES;

/// One drive: on node `node` (`host:port` of its S3 address; `None` for a bare path, a drive
/// of this node in a single-node deployment) at folder `path` there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    pub node: Option<String>,
    pub path: PathBuf,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.node {
            Some(n) => write!(f, "http://{n}{}", self.path.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// The most endpoints one argument list may expand to.
const MAX_ENDPOINTS: usize = 4096;

/// Expands the ellipses of one argument (`{1...4}`, `{01...16}` keeps the width), left to
/// right: `a{1...2}b{1...2}` is `a1b1 a1b2 a2b1 a2b2`.
pub fn expand(arg: &str) -> Result<Vec<String>, String> {
    let Some(open) = arg.find('{') else {
        if arg.contains('}') || arg.contains("...") {
            return Err(format!("{arg:?}: unbalanced ellipsis"));
        }
        return Ok(vec![arg.to_string()]);
    };
    let close = arg[open..].find('}').map(|c| open + c).ok_or_else(|| format!("{arg:?}: '{{' without '}}'"))?;
    let inner = &arg[open + 1..close];
    let (lo, hi) = inner.split_once("...").ok_or_else(|| format!("{arg:?}: {{{inner}}} is not a range a...b"))?;
    let width = if lo.len() > 1 && lo.starts_with('0') { lo.len() } else { 0 };
    let (a, b): (u64, u64) = match (lo.parse(), hi.parse()) {
        (Ok(a), Ok(b)) if a <= b => (a, b),
        _ => return Err(format!("{arg:?}: {{{inner}}} is not an increasing range of numbers")),
    };
    if b - a >= MAX_ENDPOINTS as u64 {
        return Err(format!("{arg:?}: {{{inner}}} is too large a range"));
    }
    let rest = expand(&arg[close + 1..])?;
    let mut out = Vec::new();
    for n in a..=b {
        for r in &rest {
            out.push(format!("{}{n:0width$}{r}", &arg[..open]));
            if out.len() > MAX_ENDPOINTS {
                return Err(format!("{arg:?} expands to more than {MAX_ENDPOINTS} drives"));
            }
        }
    }
    Ok(out)
}

/// Expands the ellipses of one argument in MinIO's endpoint order, the leftmost ellipsis
/// varying fastest: `http://n{1...2}:9000/d{1...2}` is `n1/d1 n2/d1 n1/d2 n2/d2`, so that
/// consecutive drives are on different nodes. MinIO formatted position `i` of its sets with
/// the `i`-th endpoint of this order; an adopted cluster keeps it.
pub fn expand_minio(arg: &str) -> Result<Vec<String>, String> {
    let Some(open) = arg.rfind('{') else {
        return expand(arg);
    };
    let close = arg[open..].find('}').map(|c| open + c).ok_or_else(|| format!("{arg:?}: '{{' without '}}'"))?;
    // The last ellipsis is the outer loop; the rest of the argument varies inside it.
    let last = expand(&arg[open..=close])?;
    let head = expand_minio(&arg[..open])?;
    let tail = &arg[close + 1..];
    if tail.contains('{') || tail.contains('}') {
        return Err(format!("{arg:?}: unbalanced ellipsis"));
    }
    let mut out = Vec::with_capacity(head.len() * last.len());
    for l in &last {
        for h in &head {
            out.push(format!("{h}{l}{tail}"));
            if out.len() > MAX_ENDPOINTS {
                return Err(format!("{arg:?} expands to more than {MAX_ENDPOINTS} drives"));
            }
        }
    }
    Ok(out)
}

/// One expanded argument as an endpoint: `http://host:port/path` or a bare path (a drive of
/// this node; relative to the working folder if it is relative).
fn endpoint(s: &str) -> Result<Endpoint, String> {
    if let Some(rest) = s.strip_prefix("http://") {
        let slash = rest.find('/').ok_or_else(|| format!("{s:?}: no drive path after the node"))?;
        let (node, path) = rest.split_at(slash);
        let (host, port) = node.rsplit_once(':').ok_or_else(|| format!("{s:?}: the node needs a port (host:port)"))?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(format!("{s:?}: {node:?} is not host:port"));
        }
        if path.len() < 2 {
            return Err(format!("{s:?}: no drive path after the node"));
        }
        return Ok(Endpoint { node: Some(node.to_string()), path: PathBuf::from(path) });
    }
    if s.contains("://") {
        return Err(format!("{s:?}: only http:// node addresses are understood"));
    }
    if s.is_empty() {
        return Err("an empty drive path".into());
    }
    Ok(Endpoint { node: None, path: PathBuf::from(s) })
}

/// The drives of a deployment, in set order (`per_set` per set), its pools and its nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Every drive, set by set (the sets of the first pool, then those of the next).
    pub drives: Vec<Endpoint>,
    /// Erasure sets in each pool, in pool order (a pool is a group of nodes added at once).
    pub pools: Vec<usize>,
    /// The nodes, in the order they first appear in the arguments (empty: single node).
    pub nodes: Vec<String>,
    /// Drives per erasure set: 12, or an adopted MinIO deployment's first pool's set size
    /// (0 while it is not known; each pool's comes from MinIO's format).
    pub per_set: usize,
    /// Drives in each pool, in pool order.
    pub pool_drives: Vec<usize>,
    /// Each pool's drive arguments as given (MinIO's command line of the pool: how its
    /// `pool.bin` names it).
    pub pool_args: Vec<String>,
}

/// Expands one pool's arguments and places its drives into sets striped over its nodes.
fn parse_pool(args: &[&str]) -> Result<Vec<Endpoint>, String> {
    let all = endpoints(args, expand)?;
    check_pool(&all, SET_DRIVES)?;
    Ok(stripe(all))
}

fn endpoints(args: &[&str], expand: fn(&str) -> Result<Vec<String>, String>) -> Result<Vec<Endpoint>, String> {
    let mut all = Vec::new();
    for a in args {
        for e in expand(a)? {
            all.push(endpoint(&e)?);
        }
    }
    Ok(all)
}

fn check_pool(all: &[Endpoint], per_set: usize) -> Result<(), String> {
    if all.is_empty() {
        return Err("no drives given".into());
    }
    if !all.len().is_multiple_of(per_set) {
        return Err(format!("{} drives given in a pool; need a multiple of {per_set}", all.len()));
    }
    Ok(())
}

/// Orders a pool's drives so that consecutive ones are on different nodes.
fn stripe(all: Vec<Endpoint>) -> Vec<Endpoint> {
    let mut nodes: Vec<Option<String>> = Vec::new();
    let mut by_node: BTreeMap<usize, Vec<Endpoint>> = BTreeMap::new();
    for e in all {
        let idx = match nodes.iter().position(|x| *x == e.node) {
            Some(i) => i,
            None => {
                nodes.push(e.node.clone());
                nodes.len() - 1
            }
        };
        by_node.entry(idx).or_default().push(e);
    }
    // Stripe: the first drive of every node, then the second of every node, ... so that
    // 12 consecutive drives (a set) spread over the nodes as evenly as they can.
    let mut queues: Vec<std::collections::VecDeque<Endpoint>> = by_node.into_values().map(Into::into).collect();
    let mut drives = Vec::new();
    while queues.iter().any(|q| !q.is_empty()) {
        for q in &mut queues {
            if let Some(e) = q.pop_front() {
                drives.push(e);
            }
        }
    }
    drives
}

impl Topology {
    /// Groups drive arguments into pools as MinIO does: arguments that all use ellipses are
    /// one pool each (`http://n{1...3}:9000/d{1...4} http://n{4...6}:9000/d{1...4}` is two
    /// pools); plain arguments together are one pool; a mix is refused.
    pub fn group_args(args: &[String]) -> Result<Vec<Vec<String>>, String> {
        let with = args.iter().filter(|a| a.contains('{')).count();
        if with == 0 {
            Ok(vec![args.to_vec()])
        } else if with == args.len() {
            Ok(args.iter().map(|a| vec![a.clone()]).collect())
        } else {
            Err("give every pool of drives with ellipses ({1...n}), or list every drive of one pool".into())
        }
    }

    /// Expands `args` and places the drives into sets, each argument with ellipses a pool
    /// (see [`Topology::group_args`]). Refuses duplicates, a mix of bare paths and node
    /// addresses, a mix of ellipsis and plain arguments, and a pool whose drive count is not
    /// a multiple of 12.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        Self::parse_pools(&Self::group_args(args)?)
    }

    /// Like [`Topology::parse`], with the pools given apart (the YAML file's `pools:`): each
    /// a list of drive arguments, with or without ellipses.
    pub fn parse_pools(pools: &[Vec<String>]) -> Result<Self, String> {
        let mut drives = Vec::new();
        let mut sets = Vec::new();
        let mut counts = Vec::new();
        for p in pools {
            let d = parse_pool(&p.iter().map(String::as_str).collect::<Vec<_>>())?;
            sets.push(d.len() / SET_DRIVES);
            counts.push(d.len());
            drives.extend(d);
        }
        Self::assemble(drives, sets, SET_DRIVES, counts, pools)
    }

    /// The drive list of an adopted MinIO cluster, pool by pool (`pools`: each pool's
    /// arguments, see [`Topology::group_args`]; `per_set`: each pool's set size where this
    /// node knows MinIO's format of it, `None` where it will read it from another node), in
    /// MinIO's endpoint order: arguments with ellipses expanded as MinIO does
    /// ([`expand_minio`]), a plain list as given.
    pub fn minio(pools: &[Vec<String>], per_set: &[Option<usize>]) -> Result<Self, String> {
        let mut drives = Vec::new();
        let (mut sets, mut counts) = (Vec::new(), Vec::new());
        for (i, args) in pools.iter().enumerate() {
            let all = endpoints(&args.iter().map(String::as_str).collect::<Vec<_>>(), expand_minio)?;
            let n = per_set.get(i).copied().flatten();
            check_pool(&all, n.unwrap_or(1)).map_err(|e| format!("pool {}: {e}", i + 1))?;
            sets.push(n.map_or(0, |n| all.len() / n));
            counts.push(all.len());
            drives.extend(all);
        }
        Self::assemble(drives, sets, per_set.first().copied().flatten().unwrap_or(0), counts, pools)
    }

    fn assemble(
        drives: Vec<Endpoint>,
        sets: Vec<usize>,
        per_set: usize,
        pool_drives: Vec<usize>,
        args: &[Vec<String>],
    ) -> Result<Self, String> {
        if sets.is_empty() {
            return Err("no drives given".into());
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = drives.iter().find(|e| !seen.insert((*e).clone())) {
            return Err(format!("drive {dup} is given twice"));
        }
        let remote = drives.iter().filter(|e| e.node.is_some()).count();
        if remote != 0 && remote != drives.len() {
            return Err("give every drive as http://host:port/path, or every drive as a bare path".into());
        }
        let mut nodes: Vec<String> = Vec::new();
        for n in drives.iter().filter_map(|e| e.node.as_ref()) {
            if !nodes.contains(n) {
                nodes.push(n.clone());
            }
        }
        let pool_args = args.iter().map(|a| a.join(" ")).collect();
        Ok(Self { drives, pools: sets, nodes, per_set, pool_drives, pool_args })
    }

    /// An adopted MinIO deployment's drives (bare paths of this node, already in MinIO's set
    /// order, pool by pool): `pools` gives each pool's drive count and set count, `args` its
    /// drive arguments.
    pub fn adopted(drives: &[PathBuf], pools: &[(usize, usize)], args: &[Vec<String>]) -> Self {
        let drives: Vec<Endpoint> = drives.iter().map(|p| Endpoint { node: None, path: p.clone() }).collect();
        let per_set = pools.first().map_or(0, |(d, s)| d / (*s).max(1));
        Self {
            drives,
            pools: pools.iter().map(|(_, s)| *s).collect(),
            nodes: Vec::new(),
            per_set,
            pool_drives: pools.iter().map(|(d, _)| *d).collect(),
            pool_args: args.iter().map(|a| a.join(" ")).collect(),
        }
    }

    /// The drive positions of each pool, in pool order.
    pub fn pool_ranges(&self) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut at = 0;
        for &n in &self.pool_drives {
            out.push(at..at + n);
            at += n;
        }
        out
    }

    /// A single node's drives (bare paths, one pool).
    pub fn local(paths: &[PathBuf]) -> Result<Self, String> {
        Self::parse(&paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>())
    }

    /// The deployment id a new cluster formats its drives with: derived from the cluster id
    /// and the first pool's drives, so that nodes starting in any order agree on it without
    /// asking each other.
    pub fn deployment_id(&self, cluster_id: &str) -> String {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(cluster_id.as_bytes());
        for e in self.drives.iter().take(self.pools.first().copied().unwrap_or(0) * self.per_set) {
            h.update(b"\n");
            h.update(e.to_string().as_bytes());
        }
        uuid::Builder::from_custom_bytes(h.digest128().to_be_bytes()).into_uuid().to_string()
    }

    /// Whether the drives are spread over nodes (a cluster).
    pub fn is_cluster(&self) -> bool {
        !self.nodes.is_empty()
    }

    /// How many drives of set `set` node `node` holds.
    pub fn drives_of_node_in_set(&self, set: usize, node: &str) -> usize {
        self.drives
            .iter()
            .skip(set * self.per_set)
            .take(self.per_set)
            .filter(|e| e.node.as_deref() == Some(node))
            .count()
    }

    /// The paths of the drives node `node` holds (`None`: a single node's drives).
    pub fn drives_of(&self, node: Option<&str>) -> Vec<PathBuf> {
        self.drives.iter().filter(|e| e.node.as_deref() == node).map(|e| e.path.clone()).collect()
    }

    /// Which node this is: `explicit` if given (it must be one of the nodes), else the node
    /// whose `host:port` is `address`, else the one whose port is `address`'s and whose host
    /// `is_local` says is this machine.
    pub fn find_me(
        &self,
        explicit: Option<&str>,
        address: &str,
        is_local: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        if let Some(e) = explicit {
            return self.nodes.iter().find(|n| *n == e).cloned().ok_or_else(|| {
                format!("this node is given as {e:?}, which is none of the drive nodes {:?}", self.nodes)
            });
        }
        if let Some(n) = self.nodes.iter().find(|n| *n == address) {
            return Ok(n.clone());
        }
        let port = address.rsplit_once(':').map(|(_, p)| p).unwrap_or_default();
        let mine: Vec<&String> =
            self.nodes.iter().filter(|n| n.rsplit_once(':').is_some_and(|(h, p)| p == port && is_local(h))).collect();
        match mine.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(format!(
                "none of the drive nodes {:?} is this machine listening on {address}: give this node's name with --node (RUSTFS_NODE)",
                self.nodes
            )),
            many => Err(format!("several drive nodes {many:?} are this machine: give this node's name with --node")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ellipses_expand_left_to_right_and_keep_widths() {
        assert_eq!(expand("/d{1...3}").unwrap(), ["/d1", "/d2", "/d3"]);
        assert_eq!(expand("/d{08...10}").unwrap(), ["/d08", "/d09", "/d10"]);
        assert_eq!(expand("h{1...2}/x{1...2}").unwrap(), ["h1/x1", "h1/x2", "h2/x1", "h2/x2"]);
        assert_eq!(expand("/plain").unwrap(), ["/plain"]);
        for bad in ["/d{1...}", "/d{3...1}", "/d{a...b}", "/d{1..3}", "/d{1...3", "/d}", "/d{1...99999}"] {
            assert!(expand(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn three_nodes_of_four_drives_put_four_of_every_set_on_each_node() {
        let t = Topology::parse(&args(&["http://127.0.0.{1...3}:9000/data{1...4}"])).unwrap();
        assert_eq!(t.nodes, ["127.0.0.1:9000", "127.0.0.2:9000", "127.0.0.3:9000"]);
        assert_eq!(t.drives.len(), 12);
        for n in &t.nodes {
            assert_eq!(t.drives_of_node_in_set(0, n), 4);
        }
        assert_eq!(t.drives[0].to_string(), "http://127.0.0.1:9000/data1");
        assert_eq!(t.drives[1].to_string(), "http://127.0.0.2:9000/data1");
        let id = t.deployment_id("c1");
        assert_eq!(id, t.deployment_id("c1"), "every node derives the same id");
        assert_ne!(id, t.deployment_id("c2"));
        assert!(uuid::Uuid::parse_str(&id).is_ok());
    }

    #[test]
    fn sets_spread_evenly_for_the_usual_shapes() {
        for (nodes, per) in [(3usize, 4usize), (4, 3), (4, 6), (6, 2), (6, 4), (12, 1), (2, 6), (12, 2)] {
            let a = format!("http://n{{1...{nodes}}}:9000/d{{1...{per}}}");
            let t = Topology::parse(std::slice::from_ref(&a)).unwrap();
            let sets = nodes * per / SET_DRIVES;
            for s in 0..sets {
                for n in &t.nodes {
                    let got = t.drives_of_node_in_set(s, n);
                    assert!(
                        got == SET_DRIVES / nodes || (nodes > SET_DRIVES && got <= 1),
                        "{a} set {s} node {n}: {got}"
                    );
                }
            }
        }
    }

    #[test]
    fn each_ellipsis_argument_is_a_pool_and_nodes_keep_their_order() {
        let t = Topology::parse(&args(&["http://n{1...3}:9000/d{1...4}", "http://n{4...6}:9000/d{1...8}"])).unwrap();
        assert_eq!(t.pools, [1, 2]);
        assert_eq!(t.drives.len(), 36);
        assert_eq!(t.nodes, ["n1:9000", "n2:9000", "n3:9000", "n4:9000", "n5:9000", "n6:9000"]);
        for n in &t.nodes[..3] {
            assert_eq!(t.drives_of_node_in_set(0, n), 4);
        }
        for s in 1..3 {
            for n in &t.nodes[3..] {
                assert_eq!(t.drives_of_node_in_set(s, n), 4, "pool 2 set {s} spreads over its own nodes");
            }
        }
        let apart = Topology::parse_pools(&[
            (1..=12).map(|i| format!("http://h{}:1/n{}/d{i}", i % 3, i % 3)).collect(),
            vec!["http://h{3...5}:1/d{1...4}".to_string()],
        ])
        .unwrap();
        assert_eq!((apart.pools.as_slice(), apart.nodes.len()), ([1, 1].as_slice(), 6));
        assert!(Topology::parse_pools(&[]).is_err());
        let plain = Topology::parse(&args(&[
            "/a1", "/a2", "/a3", "/a4", "/a5", "/a6", "/a7", "/a8", "/a9", "/a10", "/a11", "/a12",
        ]));
        assert_eq!(plain.unwrap().pools, [1]);
        assert!(Topology::parse(&args(&["/d{1...12}", "/d{12...23}"])).unwrap_err().contains("twice"));
    }

    #[test]
    fn minio_order_varies_the_leftmost_ellipsis_fastest() {
        assert_eq!(
            expand_minio("http://n{1...2}:9000/d{1...2}").unwrap(),
            ["http://n1:9000/d1", "http://n2:9000/d1", "http://n1:9000/d2", "http://n2:9000/d2"]
        );
        assert_eq!(expand_minio("/mnt/disk{1...3}").unwrap(), ["/mnt/disk1", "/mnt/disk2", "/mnt/disk3"]);
        assert_eq!(expand_minio("a{1...2}b{1...2}c{1...2}").unwrap()[..3], ["a1b1c1", "a2b1c1", "a1b2c1"]);
        assert_eq!(expand_minio("/plain").unwrap(), ["/plain"]);
        for bad in ["/d{1...}", "/d{3...1}", "/d{1...3", "/d}{1...2}", "/d{1...2}}"] {
            assert!(expand_minio(bad).is_err(), "{bad}");
        }
        // 4 nodes x 4 drives as MinIO lays them out: one set of 16, nodes interleaved.
        let t = Topology::minio(&[args(&["http://127.0.0.{1...4}:9000/data{1...4}"])], &[Some(16)]).unwrap();
        assert_eq!((t.pools.as_slice(), t.per_set, t.nodes.len()), ([1].as_slice(), 16, 4));
        assert_eq!(t.drives[1].to_string(), "http://127.0.0.2:9000/data1");
        assert_eq!(t.drives_of_node_in_set(0, "127.0.0.3:9000"), 4);
        // A plain list keeps its order (MinIO does not reorder it); sets of 8.
        let plain: Vec<String> = (1..=16).map(|i| format!("http://h{}:1/d{i}", (i - 1) / 4)).collect();
        let t = Topology::minio(std::slice::from_ref(&plain), &[Some(8)]).unwrap();
        assert_eq!(t.drives.iter().map(ToString::to_string).collect::<Vec<_>>(), plain);
        assert_eq!(t.pools, [2]);
        assert_eq!(t.pool_args, [plain.join(" ")]);
        assert!(Topology::minio(&[plain[..15].to_vec()], &[Some(8)]).unwrap_err().contains("multiple of 8"));
        // Two pools, the second's set size not known on this node yet.
        let two = args(&["http://a{1...2}:1/d{1...4}", "http://b{1...2}:1/d{1...4}"]);
        let t = Topology::minio(&Topology::group_args(&two).unwrap(), &[Some(8), None]).unwrap();
        assert_eq!(
            (t.pools.as_slice(), t.pool_drives.as_slice(), t.nodes.len()),
            ([1, 0].as_slice(), [8, 8].as_slice(), 4)
        );
        assert_eq!(t.pool_ranges(), [0..8, 8..16]);
        assert_eq!(t.drives[9].to_string(), "http://b2:1/d1");
        assert_eq!(t.pool_args, two);
    }

    #[test]
    fn this_node_is_found_by_address_name_or_local_host() {
        let t = Topology::parse(&args(&["http://127.0.0.{1...3}:9000/d{1...4}"])).unwrap();
        let never = |_: &str| false;
        assert_eq!(t.find_me(None, "127.0.0.2:9000", never).unwrap(), "127.0.0.2:9000");
        assert_eq!(t.find_me(Some("127.0.0.3:9000"), "0.0.0.0:9000", never).unwrap(), "127.0.0.3:9000");
        assert!(t.find_me(Some("127.0.0.4:9000"), "0.0.0.0:9000", never).is_err());
        let only_two = |h: &str| h == "127.0.0.2";
        assert_eq!(t.find_me(None, "0.0.0.0:9000", only_two).unwrap(), "127.0.0.2:9000");
        assert!(t.find_me(None, "0.0.0.0:9001", only_two).unwrap_err().contains("--node"));
        assert!(t.find_me(None, "0.0.0.0:9000", |_| true).unwrap_err().contains("several"));
    }

    #[test]
    fn bare_paths_are_one_node_and_mistakes_are_refused() {
        let t = Topology::parse(&args(&["/data/d{1...12}"])).unwrap();
        assert!(t.nodes.is_empty() && t.drives.iter().all(|e| e.node.is_none()));
        assert_eq!(t.drives[11].path, PathBuf::from("/data/d12"));
        for (bad, why) in [
            (vec!["/d{1...11}"], "multiple of 12"),
            (vec!["/d{1...12}", "/d{1...12}"], "twice"),
            (vec!["/d{1...12}", "http://h:1/d{1...12}"], "every drive"),
            (vec!["/d{1...12}", "/e1"], "ellipses"),
            (vec!["https://h:1/d{1...12}"], "http://"),
            (vec!["http://h/d{1...12}"], "port"),
            (vec!["http://h:1{1...12}"], "drive path"),
            (vec![], "no drives"),
        ] {
            let e = Topology::parse(&args(&bad)).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }
}
