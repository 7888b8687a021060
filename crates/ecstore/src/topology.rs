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

/// One expanded argument as an endpoint: `http://host:port/path` or a bare absolute path.
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
    if !s.starts_with('/') {
        return Err(format!("{s:?}: a drive path must be absolute"));
    }
    Ok(Endpoint { node: None, path: PathBuf::from(s) })
}

/// The drives of a deployment, in set order (12 per set), and its nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Every drive, set by set.
    pub drives: Vec<Endpoint>,
    /// The nodes, in the order they first appear in the arguments (empty: single node).
    pub nodes: Vec<String>,
}

impl Topology {
    /// Expands `args` and places the drives into sets. Refuses duplicates, a mix of bare
    /// paths and node addresses, and a drive count that is not a multiple of 12.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut all = Vec::new();
        for a in args {
            for e in expand(a)? {
                all.push(endpoint(&e)?);
            }
        }
        if all.is_empty() {
            return Err("no drives given".into());
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = all.iter().find(|e| !seen.insert((*e).clone())) {
            return Err(format!("drive {dup} is given twice"));
        }
        let remote = all.iter().filter(|e| e.node.is_some()).count();
        if remote != 0 && remote != all.len() {
            return Err("give every drive as http://host:port/path, or every drive as a bare path".into());
        }
        if !all.len().is_multiple_of(SET_DRIVES) {
            return Err(format!("{} drives given; need a multiple of {SET_DRIVES}", all.len()));
        }
        let mut nodes: Vec<String> = Vec::new();
        let mut by_node: BTreeMap<usize, Vec<Endpoint>> = BTreeMap::new();
        for e in all {
            let idx = match &e.node {
                Some(n) => match nodes.iter().position(|x| x == n) {
                    Some(i) => i,
                    None => {
                        nodes.push(n.clone());
                        nodes.len() - 1
                    }
                },
                None => 0,
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
        Ok(Self { drives, nodes })
    }

    /// How many drives of set `set` node `node` holds.
    pub fn drives_of_node_in_set(&self, set: usize, node: &str) -> usize {
        self.drives.iter().skip(set * SET_DRIVES).take(SET_DRIVES).filter(|e| e.node.as_deref() == Some(node)).count()
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
    fn bare_paths_are_one_node_and_mistakes_are_refused() {
        let t = Topology::parse(&args(&["/data/d{1...12}"])).unwrap();
        assert!(t.nodes.is_empty() && t.drives.iter().all(|e| e.node.is_none()));
        assert_eq!(t.drives[11].path, PathBuf::from("/data/d12"));
        for (bad, why) in [
            (vec!["/d{1...11}"], "multiple of 12"),
            (vec!["/d{1...12}", "/d1"], "twice"),
            (vec!["/d{1...6}", "http://h:1/d{1...6}"], "every drive"),
            (vec!["relative{1...12}"], "absolute"),
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
