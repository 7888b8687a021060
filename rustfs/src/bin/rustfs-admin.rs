//! `rustfs-admin`: the operator CLI. Talks to the admin API with signed requests.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ecstore::HealProgress;
use rustfs::admin::PREFIX;
use rustfs::admin_client::AdminClient;
use s3api::lifecycle::scan::LifecycleStatus;

#[derive(Parser)]
#[command(name = "rustfs-admin", version, about = "Operate a rustfs server")]
struct Cli {
    /// Server URL.
    #[arg(long, env = "RUSTFS_ENDPOINT", default_value = "http://127.0.0.1:9000", global = true)]
    endpoint: String,
    /// Access key of the root user.
    #[arg(long, env = "RUSTFS_ACCESS_KEY", default_value = rustfs::config::DEFAULT_ACCESS_KEY, global = true)]
    access_key: String,
    /// Secret key of the root user.
    #[arg(long, env = "RUSTFS_SECRET_KEY", default_value = rustfs::config::DEFAULT_SECRET_KEY, hide_default_value = true, hide_env_values = true, global = true)]
    secret_key: String,
    #[arg(long, env = "RUSTFS_REGION", default_value = "us-east-1", global = true)]
    region: String,
    /// A CA certificate (PEM) to trust for an `https://` endpoint (a self-signed server).
    #[arg(long, env = "RUSTFS_CA_CERT", global = true)]
    ca_cert: Option<std::path::PathBuf>,
    /// Print JSON for machines.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Version, uptime, drives, bucket and object counts.
    Info,
    /// Remove shards that no committed object or upload references (older than the grace period).
    Gc,
    /// The server's background workers: state, units of work done, errors.
    Workers,
    /// Work with xl.meta files (MinIO's per-object metadata).
    Xlmeta {
        #[command(subcommand)]
        cmd: XlmetaCmd,
    },
    /// Load benchmark against any S3 endpoint.
    Bench(rustfs::bench::BenchArgs),
    /// DualTrack migration from xl.meta to the KV: status, phase, migrator, cleanup.
    Migration {
        #[command(subcommand)]
        cmd: rustfs::migration_cli::MigrationCmd,
    },
    /// Compare a random sample of keys across xl.meta and the KV (and repair).
    Validate(rustfs::migration_cli::ValidateArgs),
    /// Metadata maintenance.
    Metadata {
        #[command(subcommand)]
        cmd: rustfs::migration_cli::MetadataCmd,
    },
    /// Users and their access keys (managed at runtime, kept in the metadata).
    User {
        #[command(subcommand)]
        cmd: rustfs::iam_cli::UserCmd,
    },
    /// Groups of users (policies attached to a group apply to its members).
    Group {
        #[command(subcommand)]
        cmd: rustfs::iam_cli::GroupCmd,
    },
    /// Named policies (the bucket-policy language, without principals) for users and groups.
    Policy {
        #[command(subcommand)]
        cmd: rustfs::iam_cli::PolicyCmd,
    },
    /// Scan objects and rebuild missing or corrupt shards (in a cluster, on the metadata
    /// leader, for every node's drives); `heal status` shows the walk through any node.
    Heal {
        #[command(subcommand)]
        cmd: Option<HealCmd>,
        /// Only this bucket.
        #[arg(long)]
        bucket: Option<String>,
        /// Start the job and return without waiting.
        #[arg(long)]
        no_wait: bool,
    },
    /// The lifecycle scanner (on the metadata leader): what it expired and aborted, and the
    /// progress of the current scan.
    Lifecycle {
        /// Wait for the next scan to finish, showing its progress.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Subcommand)]
enum HealCmd {
    /// The running or last heal walk of the cluster (or of this server): progress and outcome.
    Status,
}

#[derive(Subcommand)]
enum XlmetaCmd {
    /// Print an xl.meta file as JSON; a corrupt file gives the offset and the problem.
    Inspect {
        /// Path of the xl.meta file.
        file: std::path::PathBuf,
    },
}

fn xlmeta_inspect(file: &std::path::Path) -> Result<(), String> {
    let buf = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let v = ecstore::xlmeta::inspect(&buf).map_err(|e| format!("{}: {e}", file.display()))?;
    out(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()));
    Ok(())
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// The adopted MinIO deployment: layout, write format, buckets and what was not imported.
fn print_adopted(o: &mut String, a: &rustfs::admin::Adopted) {
    let r = &a.report;
    let _ = writeln!(o, "adopted:        MinIO deployment {} ({})", r.deployment_id, r.distribution);
    let _ = writeln!(
        o,
        "  layout:       {} set(s) of {} drives; new objects {}+{}, written in {} format",
        r.sets,
        r.drives_per_set,
        r.data,
        r.parity,
        if a.minio_writes { "MinIO's" } else { "this server's" }
    );
    if r.pools.len() > 1 {
        for (i, p) in r.pools.iter().enumerate() {
            let _ = writeln!(
                o,
                "  pool {}:       {} set(s) of {} drives, {}+{}, {} ({}): {}",
                i + 1,
                p.sets,
                p.drives_per_set,
                p.data,
                p.parity,
                p.distribution,
                p.args,
                p.state
            );
        }
    }
    let more = if r.objects_capped { "+" } else { "" };
    let _ = writeln!(
        o,
        "  found:        {} bucket(s), {}{more} object(s) counted on one drive",
        r.buckets.len(),
        r.objects
    );
    for u in &r.unclaimed {
        let _ = writeln!(o, "  missing:      MinIO drive {u} (no drive given carries it)");
    }
    for d in &r.other_drives {
        let _ = writeln!(o, "  other drive:  {d}");
    }
    for b in &a.buckets {
        let kept =
            if b.kept.is_empty() { String::new() } else { format!("; kept, not applied: {}", b.kept.join(", ")) };
        let problem = b.problem.as_ref().map(|p| format!("; metadata unreadable: {p}")).unwrap_or_default();
        let _ = writeln!(o, "  bucket:       {} (versioning {}{kept}{problem})", b.name, b.versioning);
    }
    for n in &r.not_imported {
        let _ = writeln!(o, "  not imported: {n}");
    }
}

fn print_info(v: &serde_json::Value) {
    let mut o = String::new();
    let g = |k: &str| v.get(k).cloned().unwrap_or_default();
    let _ = writeln!(o, "version:        {}", g("version").as_str().unwrap_or("?"));
    let _ = writeln!(o, "deployment:     {}", g("deployment_id").as_str().unwrap_or("?"));
    let _ = writeln!(o, "uptime:         {}s", g("uptime_secs"));
    let _ = writeln!(o, "ready:          {}", g("ready"));
    let _ = writeln!(o, "erasure sets:   {} ({} with quorum)", g("sets"), g("sets_with_quorum"));
    let _ = writeln!(o, "buckets:        {}", g("buckets"));
    let _ = writeln!(o, "objects:        {}", g("objects"));
    let _ = writeln!(o, "heal queue:     {}", g("heal_queue"));
    if let Some(p) = g("pools").as_array().filter(|p| p.len() > 1) {
        let sets: Vec<String> = p.iter().map(|n| n.to_string()).collect();
        let _ = writeln!(o, "pools:          {} (sets per pool: {})", p.len(), sets.join(", "));
    }
    if let Some(a) = v.get("adopted").and_then(|a| serde_json::from_value::<rustfs::admin::Adopted>(a.clone()).ok()) {
        print_adopted(&mut o, &a);
    }
    let nodes = g("nodes");
    if let Some(ns) = nodes.as_array().filter(|n| !n.is_empty()) {
        let _ = writeln!(o, "nodes:");
        for n in ns {
            let s = |k: &str| n.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
            let me = if n.get("this_node").and_then(|v| v.as_bool()) == Some(true) { "  (this node)" } else { "" };
            let _ = writeln!(
                o,
                "  {:<24} {:<9} drives {}/{} online  internode {}{me}",
                s("node"),
                s("state"),
                n.get("drives_online").unwrap_or(&serde_json::Value::Null),
                n.get("drives").unwrap_or(&serde_json::Value::Null),
                s("internode"),
            );
        }
    }
    let _ = writeln!(o, "drives:");
    for d in g("drives").as_array().into_iter().flatten() {
        let state = d.get("state").and_then(|s| s.as_str()).unwrap_or("?");
        let reason = d.get("reason").and_then(|s| s.as_str()).map(|r| format!(" ({r})")).unwrap_or_default();
        let _ = writeln!(
            o,
            "  set {} drive {:>2}  {:<8} used {:>10} of {:>10}  errors {}  {}{}",
            d.get("set").unwrap_or(&serde_json::Value::Null),
            d.get("index").unwrap_or(&serde_json::Value::Null),
            state,
            human(d.get("used_bytes").and_then(|x| x.as_u64()).unwrap_or(0)),
            human(d.get("total_bytes").and_then(|x| x.as_u64()).unwrap_or(0)),
            d.get("io_errors").unwrap_or(&serde_json::Value::Null),
            d.get("path").and_then(|s| s.as_str()).unwrap_or(""),
            reason
        );
    }
    out(&o);
}

/// Writes to stdout; a closed pipe (e.g. `| head`) is not an error worth a panic.
fn out(s: &str) {
    let _ = std::io::stdout().write_all(s.as_bytes());
}

async fn heal(c: &AdminClient, bucket: Option<String>, no_wait: bool, json: bool) -> Result<(), String> {
    let q = bucket
        .map(|b| format!("?bucket={}", percent_encoding::utf8_percent_encode(&b, percent_encoding::NON_ALPHANUMERIC)))
        .unwrap_or_default();
    let started: HealProgress = c.typed("POST", &format!("{PREFIX}heal{q}")).await?;
    if no_wait {
        let line = if json {
            serde_json::to_string(&started).unwrap_or_default()
        } else if started.mark.is_some() {
            "heal requested: the metadata leader runs it (see `rustfs-admin heal status`)".to_string()
        } else {
            format!("heal job {} started", started.id)
        };
        out(&format!("{line}\n"));
        return Ok(());
    }
    let bar = (!json).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("heal {bar:40} {pos}/{len} objects  {per_sec}  eta {eta}  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let last = loop {
        // A cluster's walk is the one started for the mark this request made (or joined).
        let p: Option<HealProgress> = match c.typed("GET", &format!("{PREFIX}heal")).await {
            Ok(p) => Some(p),
            Err(_) if started.mark.is_some() => None,
            Err(e) => return Err(e),
        };
        if let Some(p) = p.filter(|p| started.mark.is_none() || p.mark == started.mark) {
            if let Some(b) = &bar {
                b.set_length(p.objects_total);
                b.set_position(p.objects_scanned);
                b.set_message(format!("healed {}", p.objects_healed));
            }
            if !p.running {
                break p;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if json {
        out(&format!("{}\n", serde_json::to_string(&last).unwrap_or_default()));
    } else {
        out(&format!(
            "heal finished: {} objects scanned, {} healed ({} shards, {}), {} failed\n",
            last.objects_scanned,
            last.objects_healed,
            last.shards_healed,
            human(last.bytes_healed),
            last.objects_failed
        ));
        for f in &last.failures {
            out(&format!("  failed: {f}\n"));
        }
        if let Some(e) = &last.error {
            out(&format!("  error: {e}\n"));
        }
    }
    match (last.error, last.objects_failed) {
        (Some(e), _) => Err(e),
        (None, n) if n > 0 => Err(format!("{n} objects could not be healed")),
        _ => Ok(()),
    }
}

async fn lifecycle(c: &AdminClient, wait: bool, json: bool) -> Result<(), String> {
    let path = format!("{PREFIX}lifecycle");
    let mut s: LifecycleStatus = c.typed("GET", &path).await?;
    if wait {
        let bar = (!json).then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template("lifecycle {bar:40} {pos}/{len} buckets  {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        let first = s.scans;
        while s.scans == first {
            if let Some(b) = &bar {
                b.set_length(s.buckets_total);
                b.set_position(s.buckets_done);
                b.set_message(format!("{} versions  {}", s.scan_versions, s.bucket.as_deref().unwrap_or("")));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            s = c.typed("GET", &path).await?;
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    }
    if json {
        out(&format!("{}\n", serde_json::to_string(&s).unwrap_or_default()));
        return Ok(());
    }
    let mut o = String::new();
    let state = if s.running { "running" } else { "idle" };
    let _ = writeln!(o, "lifecycle scanner: {state}, {} scans done", s.scans);
    if s.running {
        let _ = writeln!(
            o,
            "  scan: {} of {} buckets, {} versions{}",
            s.buckets_done,
            s.buckets_total,
            s.scan_versions,
            s.bucket.as_deref().map(|b| format!(", now {b}")).unwrap_or_default()
        );
    } else if let Some(secs) = s.last_scan_seconds {
        let _ = writeln!(o, "  last scan: {} buckets, {} versions in {secs:.1} s", s.buckets_total, s.scan_versions);
    }
    let _ = writeln!(o, "  versions examined: {}", s.versions_scanned);
    let _ = writeln!(
        o,
        "  expired: {} current, {} noncurrent, {} delete markers; {} uploads aborted",
        s.current_expired, s.noncurrent_expired, s.delete_markers_removed, s.uploads_aborted
    );
    let _ = writeln!(o, "  kept by object lock: {}, errors: {}", s.locked_skipped, s.errors);
    out(&o);
    Ok(())
}

async fn heal_status(c: &AdminClient, json: bool) -> Result<(), String> {
    let p: HealProgress = c.typed("GET", &format!("{PREFIX}heal")).await?;
    if json {
        out(&format!("{}\n", serde_json::to_string(&p).unwrap_or_default()));
        return Ok(());
    }
    let pct = if p.objects_total > 0 { 100.0 * p.objects_scanned as f64 / p.objects_total as f64 } else { 100.0 };
    let mut o = String::new();
    let _ = writeln!(
        o,
        "heal walk {} ({}): {}",
        p.id,
        p.bucket.as_deref().unwrap_or("all buckets"),
        if p.running { "running" } else { "finished" }
    );
    let _ = writeln!(o, "  scanned {} of {} object versions ({pct:.0}%)", p.objects_scanned, p.objects_total);
    let _ = writeln!(
        o,
        "  healed {} objects ({} shards, {}), {} failed",
        p.objects_healed,
        p.shards_healed,
        human(p.bytes_healed),
        p.objects_failed
    );
    for f in &p.failures {
        let _ = writeln!(o, "  failed: {f}");
    }
    if let Some(e) = &p.error {
        let _ = writeln!(o, "  error: {e}");
    }
    if let Some(w) = &p.wanted {
        let _ = writeln!(
            o,
            "heal wanted ({}{}): the metadata leader walks once every drive is online",
            w.reason,
            w.bucket.as_deref().map(|b| format!(", bucket {b}")).unwrap_or_default()
        );
    }
    out(&o);
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let c = AdminClient::with_ca(&cli.endpoint, &cli.access_key, &cli.secret_key, &cli.region, cli.ca_cert.as_deref());
    let res = match cli.cmd {
        Cmd::Info => c.json("GET", &format!("{PREFIX}info")).await.map(|v| {
            if cli.json {
                out(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()));
            } else {
                print_info(&v);
            }
        }),
        Cmd::Gc => c.json("POST", &format!("{PREFIX}gc")).await.and_then(|v| {
            let r: rustfs::gc_job::GcReport =
                serde_json::from_value(v).map_err(|e| format!("unexpected gc report: {e}"))?;
            if cli.json {
                out(&format!("{}\n", serde_json::to_string(&r).unwrap_or_default()));
            } else {
                out(&format!(
                    "gc: {} shard folders seen, {} too young, {} in use by readers, {} removed, {} deleted buckets' folders removed\n",
                    r.data_dirs_seen, r.data_dirs_young, r.data_dirs_in_use, r.data_dirs_removed, r.deleted_buckets_removed
                ));
            }
            Ok(())
        }),
        Cmd::Workers => c.json("GET", &format!("{PREFIX}workers")).await.and_then(|v| {
            let ws: Vec<metadata::background::WorkerInfo> =
                serde_json::from_value(v).map_err(|e| format!("unexpected workers list: {e}"))?;
            if cli.json {
                out(&format!("{}\n", serde_json::to_string(&ws).unwrap_or_default()));
            } else {
                for w in ws {
                    let lead = if w.leader_only { " (leader only)" } else { "" };
                    let err = w.last_error.map(|e| format!(", last error: {e}")).unwrap_or_default();
                    out(&format!("{:<24} {:<8} {} units, {} errors{lead}{err}\n", w.name, w.state, w.units, w.errors));
                }
            }
            Ok(())
        }),
        Cmd::Heal { cmd: Some(HealCmd::Status), .. } => heal_status(&c, cli.json).await,
        Cmd::Lifecycle { wait } => lifecycle(&c, wait, cli.json).await,
        Cmd::Heal { cmd: None, bucket, no_wait } => heal(&c, bucket, no_wait, cli.json).await,
        Cmd::Xlmeta { cmd: XlmetaCmd::Inspect { file } } => xlmeta_inspect(&file),
        Cmd::User { cmd } => rustfs::iam_cli::user(&c, cmd, cli.json).await,
        Cmd::Group { cmd } => rustfs::iam_cli::group(&c, cmd, cli.json).await,
        Cmd::Policy { cmd } => rustfs::iam_cli::policy(&c, cmd, cli.json).await,
        Cmd::Migration { cmd } => rustfs::migration_cli::migration(&c, cmd, cli.json).await,
        Cmd::Validate(a) => rustfs::migration_cli::validate(&c, a, cli.json).await,
        Cmd::Metadata { cmd: rustfs::migration_cli::MetadataCmd::RebuildKv { no_wait } } => {
            rustfs::migration_cli::rebuild_kv(&c, no_wait, cli.json).await
        }
        Cmd::Metadata { cmd: rustfs::migration_cli::MetadataCmd::Status } => {
            rustfs::cluster_cli::status(&c, cli.json).await
        }
        Cmd::Metadata { cmd: rustfs::migration_cli::MetadataCmd::Lag } => rustfs::cluster_cli::lag(&c, cli.json).await,
        Cmd::Metadata { cmd: rustfs::migration_cli::MetadataCmd::Format } => {
            rustfs::cluster_cli::format(&c, cli.json).await
        }
        Cmd::Metadata { cmd: rustfs::migration_cli::MetadataCmd::RaiseFormat { to } } => {
            rustfs::cluster_cli::raise_format(&c, to, cli.json).await
        }
        Cmd::Metadata { cmd } => rustfs::cluster_cli::change(&c, cmd, cli.json).await,
        Cmd::Bench(args) => rustfs::bench::run(&c, &args).await.map(|r| {
            if cli.json {
                out(&format!("{}\n", serde_json::to_string(&r).unwrap_or_default()));
            } else {
                out(&format!("{r}\n"));
            }
        }),
    };
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e == rustfs::gates_cli::GATES_FAILED => {
            eprintln!("rustfs-admin: {e}");
            std::process::ExitCode::from(rustfs::gates_cli::GATES_FAILED_EXIT)
        }
        Err(e) => {
            eprintln!("rustfs-admin: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
