//! `rustfs-admin migration …`, `validate` and `metadata rebuild-kv`: the CLI side of the
//! DualTrack admin API, with progress bars (objects, rate, ETA) for the long jobs. This
//! module only talks to the admin API; it must never open a store.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::admin::PREFIX;
use crate::admin_client::AdminClient;

#[derive(Subcommand)]
pub enum MigrationCmd {
    /// Phase, ratio, level, shadow queue, migrator progress and the last validation.
    Status {
        /// One line of `key=value` words for scripts: phase, ratio, level, migrator_done,
        /// migrator (running, idle or never), scanned, total, validation (clean, not_clean,
        /// running or none).
        #[arg(long)]
        short: bool,
    },
    /// Change the phase (legacy, canary, fullout, kv_primary, complete), ratio or level.
    Phase {
        phase: String,
        /// Canary ratio in [0, 1].
        #[arg(long)]
        ratio: Option<f64>,
        /// Consistency level: strong, eventual or lazy.
        #[arg(long)]
        level: Option<String>,
    },
    /// Start a migrator pass (copies xl.meta into the KV; resumes from its checkpoint).
    Start {
        /// Wait for the pass to finish, with a progress bar.
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        concurrency: Option<usize>,
        /// Rate limit (0 = unlimited).
        #[arg(long)]
        objects_per_day: Option<u64>,
        /// access_frequency, size or random.
        #[arg(long)]
        priority: Option<String>,
    },
    /// Stop the migrator after its current batch (the checkpoint stays).
    Stop,
    /// Check the gates of the next phase: error rate, p99 latency and consistency errors
    /// over a window (sampled from every node, or from Prometheus), and the last
    /// validation's divergence. Exits 3 when a gate fails, naming it and why.
    Gates(crate::gates_cli::GatesArgs),
    /// Remove the xl.meta files of migrated objects (only in phase complete).
    Cleanup {
        /// Start the job and return without waiting.
        #[arg(long)]
        no_wait: bool,
    },
}

#[derive(Args)]
pub struct ValidateArgs {
    /// Only this bucket.
    #[arg(long)]
    pub bucket: Option<String>,
    /// Share of keys to check, sampled at random (0, 1].
    #[arg(long, default_value_t = 1.0)]
    pub sample: f64,
    /// Repair what differs: use-kv, use-fs, sync-to-kv or sync-to-fs.
    #[arg(long)]
    pub repair: Option<String>,
    /// Start the run and return without waiting.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Subcommand)]
pub enum MetadataCmd {
    /// Rebuild the KV's object metadata from the xl.meta files (after losing the KV).
    RebuildKv {
        #[arg(long)]
        no_wait: bool,
    },
    /// The metadata group: leader, term, commit and applied index, every member.
    Status,
    /// How far each member of the metadata group is behind, in entries and time.
    Lag,
    /// Add a node to the metadata group (start it first with --join); it catches up by
    /// snapshot as a learner, then becomes a voter. Waits for that.
    AddNode {
        #[arg(long)]
        id: u64,
        /// Its internode address, HOST:PORT.
        #[arg(long)]
        address: String,
    },
    /// Remove a node from the metadata group.
    RemoveNode {
        #[arg(long)]
        id: u64,
    },
    /// Hand the metadata group's leadership to node N.
    TransferLeadership {
        #[arg(long)]
        to: u64,
    },
    /// Snapshots of the metadata log.
    Snapshot {
        #[command(subcommand)]
        cmd: SnapshotCmd,
    },
    /// The metadata store's format, and which formats each member's build reads.
    Format,
    /// Raise a replicated metadata store's format (after every node runs a build that reads
    /// it): refused, changing nothing, while a member has not said so recently.
    RaiseFormat {
        /// The format to raise to (default: the newest this build writes).
        #[arg(long)]
        to: Option<u8>,
    },
}

#[derive(Subcommand)]
pub enum SnapshotCmd {
    /// Compact the log behind a snapshot point now.
    Create,
}

fn out(s: &str) {
    let _ = std::io::stdout().write_all(s.as_bytes());
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let q: Vec<String> = pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", enc(v)))).collect();
    if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) }
}

fn bar(template: &str) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::new(0);
    b.set_style(
        indicatif::ProgressStyle::with_template(template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    b
}

fn u(v: &Value, path: &[&str]) -> u64 {
    let mut cur = v;
    for p in path {
        cur = cur.get(p).unwrap_or(&Value::Null);
    }
    cur.as_u64().unwrap_or(0)
}

fn print_status(v: &Value) {
    let mut o = String::new();
    let s = &v["state"];
    let _ = writeln!(
        o,
        "phase:        {} (ratio {}, level {})",
        s["phase"].as_str().unwrap_or("?"),
        s["ratio"],
        s["level"].as_str().unwrap_or("?")
    );
    let _ = writeln!(
        o,
        "kv:           migrator_done={} stale={} last_validation_clean={} epoch={}",
        s["migrator_done"], s["kv_stale"], s["last_validation_clean"], s["epoch"]
    );
    let q = &v["queue"];
    let _ = writeln!(
        o,
        "shadow queue: {} pending (capacity {}, window {}s, oldest {} ms), {} synced, {} inline, {} failed",
        q["depth"], q["capacity"], q["window_secs"], q["oldest_ms"], q["synced"], q["inline"], q["failed"]
    );
    let c = &v["counters"];
    let _ = writeln!(
        o,
        "reads:        {} kv, {} xl.meta, {} fallbacks, {} consistency errors",
        c["kv_reads"], c["fs_reads"], c["fallbacks"], c["consistency_errors"]
    );
    let m = &v["migrator"];
    let cp = &m["checkpoint"];
    if cp.is_object() {
        let _ = writeln!(
            o,
            "migrator:     {} pass {}: {}/{} keys ({} copied, {} in sync, {} purged, {} errors), {:.0} keys/s{}",
            if m["running"].as_bool() == Some(true) { "running" } else { "idle" },
            cp["pass"],
            cp["scanned"],
            cp["total"],
            cp["copied"],
            cp["in_sync"],
            cp["purged"],
            cp["errors"],
            m["rate"].as_f64().unwrap_or(0.0),
            if cp["done"].as_bool() == Some(true) { ", done" } else { "" }
        );
    } else {
        let _ = writeln!(o, "migrator:     never ran");
    }
    if let Some(e) = m["last_error"].as_str() {
        let _ = writeln!(o, "              last error: {e}");
    }
    let val = &v["validation"];
    if val.is_object() {
        let st = &val["stats"];
        let _ = writeln!(
            o,
            "validation:   #{} {}: checked {}, in_sync {}, diverged {}, kv_only {}, fs_only {}, missing {}, errors {}, repaired {}",
            val["id"],
            if val["running"].as_bool() == Some(true) {
                "running"
            } else if val["clean"].as_bool() == Some(true) {
                "clean"
            } else {
                "NOT clean"
            },
            st["checked"],
            st["in_sync"],
            st["diverged"],
            st["kv_only"],
            st["fs_only"],
            st["missing"],
            st["errors"],
            st["repaired"]
        );
    }
    let j = &v["job"];
    if j.is_object() {
        let _ = writeln!(
            o,
            "job:          {} {}: {}/{} keys, {} changed, {} kept, {} errors",
            j["kind"].as_str().unwrap_or("?"),
            if j["running"].as_bool() == Some(true) { "running" } else { "finished" },
            j["done"],
            j["total"],
            j["changed"],
            j["kept"],
            j["errors"]
        );
    }
    out(&o);
}

/// `migration status --short`: one line of `key=value` words.
pub fn short_status(v: &Value) -> String {
    let s = &v["state"];
    let m = &v["migrator"];
    let migrator = if m["running"].as_bool() == Some(true) {
        "running"
    } else if m["checkpoint"].is_object() {
        "idle"
    } else {
        "never"
    };
    let val = &v["validation"];
    let validation = if !val.is_object() {
        "none"
    } else if val["running"].as_bool() == Some(true) {
        "running"
    } else if val["clean"].as_bool() == Some(true) {
        "clean"
    } else {
        "not_clean"
    };
    format!(
        "phase={} ratio={} level={} migrator_done={} migrator={migrator} scanned={} total={} validation={validation}",
        s["phase"].as_str().unwrap_or("unknown"),
        s["ratio"],
        s["level"].as_str().unwrap_or("unknown"),
        s["migrator_done"].as_bool().unwrap_or(false),
        u(m, &["checkpoint", "scanned"]),
        u(m, &["checkpoint", "total"]),
    )
}

async fn wait_migrator(c: &AdminClient, json: bool) -> Result<Value, String> {
    let b = (!json).then(|| bar("migrate {bar:40} {pos}/{len} keys  {per_sec}  eta {eta}  {msg}"));
    let last = loop {
        let v = c.json("GET", &format!("{PREFIX}migration")).await?;
        let m = &v["migrator"];
        if let Some(b) = &b {
            b.set_length(u(m, &["checkpoint", "total"]));
            b.set_position(u(m, &["checkpoint", "scanned"]));
            b.set_message(format!("copied {}", u(m, &["checkpoint", "copied"])));
        }
        if m["running"].as_bool() != Some(true) {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if let Some(b) = b {
        b.finish_and_clear();
    }
    Ok(last)
}

async fn wait_job(c: &AdminClient, json: bool) -> Result<Value, String> {
    let b = (!json).then(|| bar("{msg} {bar:40} {pos}/{len} keys  {per_sec}  eta {eta}"));
    loop {
        let v = c.json("GET", &format!("{PREFIX}migration")).await?;
        let j = v["job"].clone();
        if let Some(b) = &b {
            b.set_length(u(&j, &["total"]));
            b.set_position(u(&j, &["done"]));
            b.set_message(j["kind"].as_str().unwrap_or("job").to_string());
        }
        if j["running"].as_bool() != Some(true) {
            if let Some(b) = b {
                b.finish_and_clear();
            }
            return Ok(j);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn job_result(j: &Value, json: bool) -> Result<(), String> {
    if json {
        out(&format!("{j}\n"));
    } else {
        out(&format!(
            "{} finished: {} keys, {} changed, {} kept, {} errors\n",
            j["kind"].as_str().unwrap_or("job"),
            j["done"],
            j["changed"],
            j["kept"],
            j["errors"]
        ));
        for f in j["failures"].as_array().into_iter().flatten() {
            out(&format!("  failed: {}\n", f.as_str().unwrap_or("")));
        }
    }
    match (j["error"].as_str(), u(j, &["errors"])) {
        (Some(e), _) => Err(e.to_string()),
        (None, n) if n > 0 => Err(format!("{n} keys failed")),
        _ => Ok(()),
    }
}

pub async fn migration(c: &AdminClient, cmd: MigrationCmd, json: bool) -> Result<(), String> {
    match cmd {
        MigrationCmd::Status { short } => {
            let v = c.json("GET", &format!("{PREFIX}migration")).await?;
            if short {
                out(&format!("{}\n", short_status(&v)));
            } else if json {
                out(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()));
            } else {
                print_status(&v);
            }
            Ok(())
        }
        MigrationCmd::Phase { phase, ratio, level } => {
            let q = query(&[("phase", Some(phase)), ("ratio", ratio.map(|r| r.to_string())), ("level", level)]);
            let s = c.json("POST", &format!("{PREFIX}migration/phase{q}")).await?;
            if json {
                out(&format!("{s}\n"));
            } else {
                out(&format!(
                    "phase is now {} (ratio {}, level {})\n",
                    s["phase"].as_str().unwrap_or("?"),
                    s["ratio"],
                    s["level"].as_str().unwrap_or("?")
                ));
            }
            Ok(())
        }
        MigrationCmd::Start { wait, concurrency, objects_per_day, priority } => {
            let q = query(&[
                ("concurrency", concurrency.map(|n| n.to_string())),
                ("objects_per_day", objects_per_day.map(|n| n.to_string())),
                ("priority", priority),
            ]);
            c.json("POST", &format!("{PREFIX}migration/start{q}")).await?;
            if !wait {
                out(if json { "{\"started\":true}\n" } else { "migrator started\n" });
                return Ok(());
            }
            let v = wait_migrator(c, json).await?;
            let m = &v["migrator"];
            if json {
                out(&format!("{m}\n"));
            } else {
                let cp = &m["checkpoint"];
                out(&format!(
                    "migrator pass {} finished: {} keys scanned, {} copied, {} in sync, {} purged, {} errors ({:.0} keys/s); migrator_done={}\n",
                    cp["pass"],
                    cp["scanned"],
                    cp["copied"],
                    cp["in_sync"],
                    cp["purged"],
                    cp["errors"],
                    m["rate"].as_f64().unwrap_or(0.0),
                    v["state"]["migrator_done"]
                ));
            }
            match m["last_error"].as_str() {
                Some(e) => Err(e.to_string()),
                None => Ok(()),
            }
        }
        MigrationCmd::Stop => {
            c.json("POST", &format!("{PREFIX}migration/stop")).await?;
            out("migrator stopping after its current batch\n");
            Ok(())
        }
        MigrationCmd::Gates(a) => match crate::gates_cli::gates(c, a, json).await? {
            true => Ok(()),
            false => Err(crate::gates_cli::GATES_FAILED.into()),
        },
        MigrationCmd::Cleanup { no_wait } => {
            c.json("POST", &format!("{PREFIX}migration/cleanup")).await?;
            if no_wait {
                out("cleanup started\n");
                return Ok(());
            }
            let j = wait_job(c, json).await?;
            job_result(&j, json)
        }
    }
}

pub async fn rebuild_kv(c: &AdminClient, no_wait: bool, json: bool) -> Result<(), String> {
    c.json("POST", &format!("{PREFIX}metadata/rebuild-kv")).await?;
    if no_wait {
        out("rebuild-kv started\n");
        return Ok(());
    }
    let j = wait_job(c, json).await?;
    job_result(&j, json)
}

/// Starts a validation and waits for it (with a spinner unless `quiet`); returns its report.
pub async fn run_validation(
    c: &AdminClient,
    bucket: Option<String>,
    sample: f64,
    repair: Option<String>,
    quiet: bool,
) -> Result<Value, String> {
    let q = query(&[("bucket", bucket), ("sample", Some(sample.to_string())), ("repair", repair)]);
    let started = c.json("POST", &format!("{PREFIX}validate{q}")).await?;
    let id = started["id"].clone();
    let b = (!quiet).then(|| bar("validate {spinner} {pos} keys checked  {per_sec}  {msg}"));
    let r = loop {
        let r = c.json("GET", &format!("{PREFIX}validate")).await?;
        if let Some(b) = &b {
            b.set_position(u(&r, &["stats", "checked"]));
            b.set_message(format!("diverged {}", u(&r, &["stats", "diverged"])));
        }
        if r["running"].as_bool() != Some(true) && r["id"] == id {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if let Some(b) = b {
        b.finish_and_clear();
    }
    Ok(r)
}

pub async fn validate(c: &AdminClient, a: ValidateArgs, json: bool) -> Result<(), String> {
    if a.no_wait {
        let q = query(&[("bucket", a.bucket), ("sample", Some(a.sample.to_string())), ("repair", a.repair)]);
        let started = c.json("POST", &format!("{PREFIX}validate{q}")).await?;
        out(&format!("validation {} started\n", started["id"]));
        return Ok(());
    }
    let r = run_validation(c, a.bucket, a.sample, a.repair, json).await?;
    if json {
        // The seed's ValidationStats names at the top level.
        let mut flat = r["stats"].clone();
        if let Some(m) = flat.as_object_mut() {
            for k in ["clean", "population", "sample", "repair", "bucket", "findings", "error"] {
                m.insert(k.into(), r[k].clone());
            }
        }
        out(&format!("{flat}\n"));
    } else {
        let s = &r["stats"];
        out(&format!(
            "validation {}: checked {} of {} keys, in_sync {}, diverged {}, kv_only {}, fs_only {}, missing {}, errors {}, repaired {}\n",
            if r["clean"].as_bool() == Some(true) { "clean" } else { "NOT clean" },
            s["checked"],
            r["population"],
            s["in_sync"],
            s["diverged"],
            s["kv_only"],
            s["fs_only"],
            s["missing"],
            s["errors"],
            s["repaired"]
        ));
        for f in r["findings"].as_array().into_iter().flatten().take(20) {
            out(&format!(
                "  {} {}/{}{}{}\n",
                f["class"].as_str().unwrap_or("?"),
                f["bucket"].as_str().unwrap_or(""),
                f["key"].as_str().unwrap_or(""),
                f["detail"].as_str().map(|d| format!(": {d}")).unwrap_or_default(),
                if f["repaired"].as_bool() == Some(true) { " (repaired)" } else { "" }
            ));
        }
    }
    match r["error"].as_str() {
        Some(e) => Err(e.to_string()),
        None => Ok(()),
    }
}
