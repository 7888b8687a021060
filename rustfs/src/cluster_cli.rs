//! `rustfs-admin metadata status|lag|format|raise-format` and the membership changes: the
//! metadata group as the node asked sees it, as a table or JSON (`metadata::GroupStatus`,
//! `metadata::kv_store::FormatStatus`, the structs the server sends). This module only
//! prints what the admin API returns.

use std::io::Write;

use metadata::GroupStatus;

use crate::admin::PREFIX;
use crate::admin_client::AdminClient;

fn out(s: &str) {
    let _ = std::io::stdout().write_all(s.as_bytes());
}

async fn fetch(c: &AdminClient) -> Result<GroupStatus, String> {
    let v = c.json("GET", &format!("{PREFIX}metadata/status")).await?;
    serde_json::from_value(v).map_err(|e| format!("unexpected metadata status: {e}"))
}

fn ms(v: Option<u64>) -> String {
    match v {
        Some(ms) => format!("{ms} ms"),
        None => "-".into(),
    }
}

pub async fn status(c: &AdminClient, json: bool) -> Result<(), String> {
    let s = fetch(c).await?;
    if json {
        out(&format!("{}\n", serde_json::to_string(&s).unwrap_or_default()));
        return Ok(());
    }
    let leader = if s.leader_id == 0 { "none".to_string() } else { s.leader_id.to_string() };
    out(&format!(
        "node {}  leader {leader}  term {}  committed {}  applied {}\n",
        s.node_id, s.term, s.committed_index, s.applied_index
    ));
    out(&format!(
        "{:<6} {:<10} {:>12} {:>10} {:>10} {:>8} {:>14}\n",
        "id", "role", "match", "lag", "lag time", "healthy", "last contact"
    ));
    for m in &s.members {
        let lag_time = if m.lag_ms == u64::MAX { "-".to_string() } else { format!("{} ms", m.lag_ms) };
        out(&format!(
            "{:<6} {:<10} {:>12} {:>10} {:>10} {:>8} {:>14}\n",
            m.id,
            m.role,
            m.match_index,
            m.lag_entries,
            lag_time,
            if m.healthy { "yes" } else { "no" },
            ms(m.last_contact_ms)
        ));
    }
    Ok(())
}

pub async fn lag(c: &AdminClient, json: bool) -> Result<(), String> {
    let s = fetch(c).await?;
    if json {
        let lags: Vec<serde_json::Value> = s
            .members
            .iter()
            .map(|m| serde_json::json!({"id": m.id, "lag_entries": m.lag_entries, "lag_ms": m.lag_ms}))
            .collect();
        out(&format!("{}\n", serde_json::Value::Array(lags)));
        return Ok(());
    }
    for m in &s.members {
        let t = if m.lag_ms == u64::MAX { "unknown".to_string() } else { format!("{} ms", m.lag_ms) };
        out(&format!("node {}: {} entries behind, {t}\n", m.id, m.lag_entries));
    }
    Ok(())
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// add-node, remove-node, transfer-leadership, snapshot create. add-node then waits (with a
/// progress line) until the new node is a voter.
pub async fn change(c: &AdminClient, cmd: crate::migration_cli::MetadataCmd, json: bool) -> Result<(), String> {
    use crate::migration_cli::{MetadataCmd, SnapshotCmd};
    let (path, wait_for) = match cmd {
        MetadataCmd::AddNode { id, address } => {
            (format!("metadata/add-node?id={id}&address={}", enc(&address)), Some(id))
        }
        MetadataCmd::RemoveNode { id } => (format!("metadata/remove-node?id={id}"), None),
        MetadataCmd::TransferLeadership { to } => (format!("metadata/transfer-leadership?to={to}"), None),
        MetadataCmd::Snapshot { cmd: SnapshotCmd::Create } => ("metadata/snapshot".to_string(), None),
        _ => return Err("unsupported metadata command".into()),
    };
    let v = c.json("POST", &format!("{PREFIX}{path}")).await?;
    let r: crate::cluster_admin::ChangeResult =
        serde_json::from_value(v).map_err(|e| format!("unexpected answer: {e}"))?;
    if !json {
        out(&format!("{}\n", r.done));
    }
    if let Some(id) = wait_for {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        loop {
            let s = fetch(c).await?;
            let m = s.members.iter().find(|m| m.id == id);
            if m.is_some_and(|m| m.role != "learner") {
                if !json {
                    out(&format!("node {id} is a voter\n"));
                }
                break;
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("node {id} did not catch up in 10 minutes (is it started with --join?)"));
            }
            if !json {
                let lag = m.map_or("?".to_string(), |m| m.lag_entries.to_string());
                let _ =
                    std::io::stderr().write_all(format!("\rnode {id} catching up: {lag} entries behind   ").as_bytes());
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
    if json {
        let s = fetch(c).await?;
        out(&format!("{}\n", serde_json::json!({"done": r.done, "index": r.index, "status": s})));
    }
    Ok(())
}

fn print_format(s: &metadata::kv_store::FormatStatus) {
    out(&format!("store format {}  this node writes {}  its build reads up to {}\n", s.format, s.writes, s.supported));
    out(&format!("{:<6} {:>14} {:>8} {:>12}\n", "id", "build reads", "writes", "said"));
    for m in &s.members {
        let (reads, writes) = match &m.said {
            Some(f) => (format!("up to {}", f.supported), f.writes.to_string()),
            None => ("never said".to_string(), "-".to_string()),
        };
        let age = m.age_ms.map_or("-".to_string(), |a| format!("{:.1} s ago", a as f64 / 1000.0));
        out(&format!("{:<6} {:>14} {:>8} {:>12}\n", m.id, reads, writes, age));
    }
}

pub async fn format(c: &AdminClient, json: bool) -> Result<(), String> {
    let v = c.json("GET", &format!("{PREFIX}metadata/format")).await?;
    if json {
        out(&format!("{v}\n"));
        return Ok(());
    }
    let s: metadata::kv_store::FormatStatus =
        serde_json::from_value(v).map_err(|e| format!("unexpected answer: {e}"))?;
    print_format(&s);
    Ok(())
}

pub async fn raise_format(c: &AdminClient, to: Option<u8>, json: bool) -> Result<(), String> {
    let q = to.map(|t| format!("?to={t}")).unwrap_or_default();
    let v = c.json("POST", &format!("{PREFIX}metadata/raise-format{q}")).await?;
    if json {
        out(&format!("{v}\n"));
        return Ok(());
    }
    let r: crate::cluster_admin::RaiseResult =
        serde_json::from_value(v).map_err(|e| format!("unexpected answer: {e}"))?;
    out(&format!("{}\n", r.done));
    print_format(&r.format);
    Ok(())
}
