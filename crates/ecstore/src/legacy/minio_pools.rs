//! MinIO's record of its pools on an adopted deployment of several pools:
//! `.minio.sys/config/pool.bin` (an object of MinIO's system bucket, one copy per pool),
//! a little-endian u16 format (1) and u16 version (1), then msgp's `poolMeta`:
//! `{v: 1, pls: [{id, cl: the pool's command line, lu: last update, dec: decommission or
//! nil}]}`, the decommission with its `cmp`/`fl`/`cnl` flags (complete, failed, canceled).
//!
//! MinIO stops writing new objects to a pool once a decommission of it has started, even
//! if it was canceled or failed, and refuses to start while a pool it decommissioned
//! completely is still on its command line, or one it knows is missing from it; this
//! server does the same, matching pools by their command line (as MinIO does) and, when
//! no pool's matches (drives moved to other paths), by position. It never resumes a
//! decommission (reads find a key on whichever pool holds its newest copy) and never
//! writes `pool.bin`.

use std::sync::Arc;

use crate::EcStore;
use crate::xlmeta::msgpack::{Reader, Value};

/// MinIO's `pool.bin`, in its system bucket.
pub const POOL_META: &str = "config/pool.bin";

/// A pool as `pool.bin` records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinioPool {
    pub id: i64,
    pub cmdline: String,
    /// A decommission was started (`Some`), with how it stands.
    pub decommission: Option<Decommission>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decommission {
    Running,
    Complete,
    Failed,
    Canceled,
}

/// Parses the bytes of a `pool.bin`.
pub fn parse_pool_meta(b: &[u8]) -> Result<Vec<MinioPool>, String> {
    if b.len() <= 4 {
        return Err("shorter than its header and body".into());
    }
    let (format, version) = (u16::from_le_bytes([b[0], b[1]]), u16::from_le_bytes([b[2], b[3]]));
    if format != 1 || version != 1 {
        return Err(format!("format {format} version {version} (1/1 is understood)"));
    }
    let v = Reader::new(&b[4..], 4).value().map_err(|e| e.to_string())?;
    if v.get("v").and_then(Value::as_int) != Some(1) {
        return Err("poolMeta version is not 1".into());
    }
    let Some(Value::Array(pools)) = v.get("pls") else {
        return Err("no pool list".into());
    };
    let flag = |d: &Value<'_>, k: &str| matches!(d.get(k), Some(Value::Bool(true)));
    pools
        .iter()
        .map(|p| {
            let decommission = match p.get("dec") {
                None | Some(Value::Nil) => None,
                Some(d @ Value::Map(_)) => Some(if flag(d, "cmp") {
                    Decommission::Complete
                } else if flag(d, "cnl") {
                    Decommission::Canceled
                } else if flag(d, "fl") {
                    Decommission::Failed
                } else {
                    Decommission::Running
                }),
                Some(_) => return Err("a pool's decommission is not a map".into()),
            };
            Ok(MinioPool {
                id: p.get("id").and_then(Value::as_int).ok_or("a pool without an id")?,
                cmdline: p.get("cl").and_then(Value::as_str).ok_or("a pool without a command line")?.to_string(),
                decommission,
            })
        })
        .collect()
}

/// The same command line with `http://` and `https://` swapped (MinIO accepts a change of
/// scheme).
fn other_scheme(c: &str) -> String {
    if c.contains("https://") { c.replace("https://", "http://") } else { c.replace("http://", "https://") }
}

/// What `recorded` says of each of the pools given (`args`: their command lines, in order):
/// `None` for an active pool, else why it takes no new objects. An error when a pool MinIO
/// decommissioned completely is given, or a pool MinIO knows (not decommissioned) is not.
pub fn pool_states(recorded: &[MinioPool], args: &[String]) -> Result<Vec<Option<String>>, String> {
    let by_cmdline = |r: &MinioPool| args.iter().position(|a| *a == r.cmdline || *a == other_scheme(&r.cmdline));
    let matched = recorded.iter().any(|r| by_cmdline(r).is_some());
    let mut states = vec![None; args.len()];
    for (i, r) in recorded.iter().enumerate() {
        // Drives moved to other paths: no command line matches, pools go by position.
        let at = if matched { by_cmdline(r) } else { (recorded.len() == args.len()).then_some(i) };
        let done = r.decommission == Some(Decommission::Complete);
        match (at, r.decommission) {
            (None, _) if done => {}
            (None, _) => {
                return Err(format!(
                    "MinIO's pool {} ({}) is not in the drive list: give every pool MinIO was started with",
                    i + 1,
                    r.cmdline
                ));
            }
            (Some(p), Some(Decommission::Complete)) => {
                return Err(format!(
                    "pool {} ({}) was decommissioned by MinIO: remove it from the drive list",
                    p + 1,
                    args[p]
                ));
            }
            (Some(p), Some(d)) => {
                let how = match d {
                    Decommission::Running => {
                        "being decommissioned by MinIO (not resumed here: its objects stay readable where they are)"
                    }
                    Decommission::Failed => "its decommission by MinIO failed",
                    _ => "its decommission by MinIO was canceled",
                };
                states[p] = Some(format!("suspended: {how}; it takes no new objects"));
            }
            (Some(_), None) => {}
        }
    }
    Ok(states)
}

/// Why `pool.bin` could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolMetaError {
    /// It could not be read now (no read quorum while other nodes start): try again.
    Unreadable(String),
    /// It forbids serving the pools given (see [`pool_states`]), or cannot be understood.
    Refused(String),
}

/// Reads MinIO's `pool.bin` on `ec` and marks the pools it suspends; returns each pool's
/// state as reported (`active`, or why not). No `pool.bin` (MinIO wrote none): all active.
pub async fn apply_pool_meta(ec: &Arc<EcStore>, args: &[String]) -> Result<Vec<String>, PoolMetaError> {
    let raw = super::minio_buckets::read_minio_sys_object(ec, POOL_META)
        .await
        .map_err(|e| PoolMetaError::Unreadable(format!("{POOL_META}: {e}")))?;
    let states = match raw {
        Some(b) => {
            let recorded =
                parse_pool_meta(&b).map_err(|e| PoolMetaError::Refused(format!("MinIO's {POOL_META}: {e}")))?;
            pool_states(&recorded, args).map_err(PoolMetaError::Refused)?
        }
        None => vec![None; args.len()],
    };
    Ok(states
        .into_iter()
        .enumerate()
        .map(|(p, s)| {
            ec.set_pool_suspended(p, s.is_some());
            s.unwrap_or_else(|| "active".into())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decommission's flags: complete, failed, canceled.
    type Flags = (bool, bool, bool);

    /// A `pool.bin` as MinIO's msgp writes it: pools as (id, command line, decommission
    /// flags or none).
    fn pool_bin(pools: &[(i64, &str, Option<Flags>)]) -> Vec<u8> {
        use rmp::encode::*;
        let mut out = vec![1, 0, 1, 0];
        write_map_len(&mut out, 2).unwrap();
        write_str(&mut out, "v").unwrap();
        write_sint(&mut out, 1).unwrap();
        write_str(&mut out, "pls").unwrap();
        write_array_len(&mut out, pools.len() as u32).unwrap();
        for (id, cl, dec) in pools {
            write_map_len(&mut out, 4).unwrap();
            write_str(&mut out, "id").unwrap();
            write_sint(&mut out, *id).unwrap();
            write_str(&mut out, "cl").unwrap();
            write_str(&mut out, cl).unwrap();
            write_str(&mut out, "lu").unwrap();
            out.extend_from_slice(&[0xc7, 12, 5]);
            out.extend_from_slice(&1_700_000_000i64.to_be_bytes());
            out.extend_from_slice(&0u32.to_be_bytes());
            write_str(&mut out, "dec").unwrap();
            match dec {
                None => write_nil(&mut out).unwrap(),
                Some((cmp, fl, cnl)) => {
                    write_map_len(&mut out, 4).unwrap();
                    write_str(&mut out, "st").unwrap();
                    out.extend_from_slice(&[0xc7, 12, 5]);
                    out.extend_from_slice(&[0; 12]);
                    for (k, v) in [("cmp", cmp), ("fl", fl), ("cnl", cnl)] {
                        write_str(&mut out, k).unwrap();
                        write_bool(&mut out, *v).unwrap();
                    }
                }
            }
        }
        out
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pools_are_matched_by_command_line_and_decommissions_suspend_them() {
        let p1 = "http://n{1...2}:9000/d{1...4}";
        let p2 = "http://n{3...4}:9000/d{1...4}";
        let p3 = "http://n{5...6}:9000/d{1...4}";
        let b = pool_bin(&[(0, p1, Some((false, false, false))), (1, p2, None), (2, p3, Some((false, false, true)))]);
        let recorded = parse_pool_meta(&b).unwrap();
        assert_eq!(recorded[0].decommission, Some(Decommission::Running));
        assert_eq!(recorded[2].decommission, Some(Decommission::Canceled));
        let s = pool_states(&recorded, &args(&[p1, p2, p3])).unwrap();
        assert!(s[0].as_deref().unwrap().contains("being decommissioned"));
        assert_eq!(s[1], None);
        assert!(s[2].as_deref().unwrap().contains("canceled"));
        // https given for http: the same pool.
        let s = pool_states(&recorded, &args(&[&p1.replace("http", "https"), p2, p3])).unwrap();
        assert!(s[0].is_some());
        assert!(pool_states(&recorded, &args(&[p1, p3])).unwrap_err().contains("not in the drive list"));
        // A pool decommissioned completely: gone from the list is fine, still there is not.
        let b = pool_bin(&[(0, p1, Some((true, false, false))), (1, p2, None)]);
        let recorded = parse_pool_meta(&b).unwrap();
        assert_eq!(pool_states(&recorded, &args(&[p2])).unwrap(), vec![None]);
        assert!(pool_states(&recorded, &args(&[p1, p2])).unwrap_err().contains("remove it"));
        // Drives at other paths: by position.
        let b = pool_bin(&[(0, "/old{1...4}", None), (1, "/old{5...8}", Some((false, true, false)))]);
        let s = pool_states(&parse_pool_meta(&b).unwrap(), &args(&["/mnt/a{1...4}", "/mnt/b{1...4}"])).unwrap();
        assert!(s[0].is_none() && s[1].as_deref().unwrap().contains("failed"));
        for bad in [&[1u8, 0, 1, 0][..], &[2, 0, 1, 0, 0x80], &[1, 0, 1, 0, 0xc1], &[1, 0, 1, 0, 0x81, 0xa1, b'v', 2]] {
            assert!(parse_pool_meta(bad).is_err(), "{bad:?}");
        }
    }
}
