//! Server configuration: flags, then `RUSTFS_*` environment variables, then a YAML file, in
//! that order of precedence; users and their credentials. Secrets are never logged: `Debug`
//! of a user hides its secret.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use s3api::User;
use serde::Deserialize;

pub const DEFAULT_ACCESS_KEY: &str = "rustfsadmin";
pub const DEFAULT_SECRET_KEY: &str = "rustfsadmin";
/// Where the server listens when credentials are set.
pub const DEFAULT_ADDRESS: &str = "0.0.0.0:9000";
/// Where it listens with the default credentials (loopback only).
pub const DEFAULT_LOCAL_ADDRESS: &str = "127.0.0.1:9000";
pub const DEFAULT_DATA: &str = "./data";

#[derive(Debug, Clone, Args, Default)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "RUSTFS_ADDRESS")]
    pub address: Option<String>,
    /// Data folder: holds drive1..drive12 (unless --drives is given) and the metadata KV.
    #[arg(long, env = "RUSTFS_DATA")]
    pub data: Option<PathBuf>,
    /// Drive folders or mount points: 12, or a multiple of 12 (or a MinIO deployment's drives,
    /// adopted in place: any set size MinIO allows); MinIO's ellipses work
    /// (`/mnt/disk{1...12}`), and drives of a cluster are `http://host:port/path`
    /// (`http://node{1...3}:9000/data{1...4}`: each argument with ellipses is a pool).
    #[arg(long, num_args = 1.., value_delimiter = ',', env = "RUSTFS_DRIVES")]
    pub drives: Vec<String>,
    /// YAML configuration file.
    #[arg(long, env = "RUSTFS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Domain(s) for virtual-hosted-style requests (bucket.DOMAIN).
    #[arg(long, num_args = 1.., value_delimiter = ',', env = "RUSTFS_DOMAIN")]
    pub domain: Vec<String>,
    /// Region the server reports.
    #[arg(long, env = "RUSTFS_REGION")]
    pub region: Option<String>,
    /// Objects up to this many bytes are stored inline in metadata.
    #[arg(long, env = "RUSTFS_INLINE_THRESHOLD")]
    pub inline_threshold: Option<usize>,
    /// Seconds to let in-flight requests finish after SIGTERM.
    #[arg(long, env = "RUSTFS_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<u64>,
    /// Serve HTTPS with the certificate and key of this folder (`public.crt`,
    /// `private.key`, as MinIO lays them out); reloaded when they change.
    #[arg(long, env = "RUSTFS_CERTS_DIR", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub certs_dir: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM) and the key of `--tls-key`.
    #[arg(long, env = "RUSTFS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, env = "RUSTFS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, env = "RUSTFS_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Metadata engine: `kv` (default) or `legacy` (MinIO-format xl.meta files on the drives);
    /// `kv_primary` and `complete` (the migration guide's values) are a legacy deployment
    /// whose migration has reached that phase.
    #[arg(long, env = "RUSTFS_METADATA_ENGINE")]
    pub metadata_engine: Option<String>,
    /// Seconds an unreferenced shard folder must age before garbage collection removes it.
    #[arg(long, env = "RUSTFS_GC_GRACE_SECS")]
    pub gc_grace_secs: Option<u64>,
    /// Seconds between background garbage collection runs.
    #[arg(long, env = "RUSTFS_GC_INTERVAL_SECS")]
    pub gc_interval_secs: Option<u64>,
    /// Server-side encryption keyring file (`<id> <base64 32-byte key>` per line, the first
    /// current); default `DATA/sse.keys`, created on a single node's first start.
    #[arg(long, env = "RUSTFS_SSE_KEYS_FILE")]
    pub sse_keys_file: Option<PathBuf>,
    /// Seconds in a lifecycle day (86400; shorter only to test lifecycle rules quickly).
    #[arg(long, env = "RUSTFS_LIFECYCLE_DAY_SECS")]
    pub lifecycle_day_secs: Option<u64>,
    /// Seconds between the starts of two lifecycle scans.
    #[arg(long, env = "RUSTFS_LIFECYCLE_INTERVAL_SECS")]
    pub lifecycle_interval_secs: Option<u64>,
    /// Most object versions the lifecycle scanner examines a second (0: no bound).
    #[arg(long, env = "RUSTFS_LIFECYCLE_RATE")]
    pub lifecycle_rate: Option<u32>,
    /// Start-up DualTrack canary ratio of a legacy deployment (0 = legacy, 1 = fullout);
    /// used only until a migration state is persisted.
    #[arg(long, env = "RUSTFS_DUAL_TRACK_RATIO")]
    pub dual_track_ratio: Option<f64>,
    /// Who may read `/metrics`: `public` (anyone) or `bearer` (needs --metrics-token).
    #[arg(long, env = "RUSTFS_METRICS_AUTH")]
    pub metrics_auth: Option<String>,
    /// Bearer token `/metrics` requires unless metrics_auth is public.
    #[arg(long, env = "RUSTFS_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// OTLP endpoint to export traces to (off when unset), e.g. http://127.0.0.1:4317.
    #[arg(long, env = "RUSTFS_OTEL_ENDPOINT")]
    pub otel_endpoint: Option<String>,
    /// OTLP protocol: `grpc` or `http/protobuf`.
    #[arg(long, env = "RUSTFS_OTEL_PROTOCOL")]
    pub otel_protocol: Option<String>,
    /// Share of traces sampled, 0.0 to 1.0 (a sampled caller's traceparent is followed).
    #[arg(long, env = "RUSTFS_OTEL_SAMPLING")]
    pub otel_sampling: Option<f64>,
    /// Seconds between counts of the objects on each metadata track (rustfs_objects_in_kv/fs).
    #[arg(long, env = "RUSTFS_INVENTORY_INTERVAL_SECS")]
    pub inventory_interval_secs: Option<u64>,
    /// MiB of the metadata KV's block cache (its tables' data, index and filter blocks).
    #[arg(long, env = "RUSTFS_KV_CACHE_MB")]
    pub kv_cache_mb: Option<u64>,
    /// MiB a metadata KV memtable fills before it is written out as a table.
    #[arg(long, env = "RUSTFS_KV_MEMTABLE_MB")]
    pub kv_memtable_mb: Option<u64>,
    /// Milliseconds between a replicated group member's records of which store formats its
    /// build reads (`rustfs-admin metadata raise-format` wants them fresh: at most three of
    /// these old).
    #[arg(long, env = "RUSTFS_METADATA_FORMAT_ANNOUNCE_MS")]
    pub metadata_format_announce_ms: Option<u64>,
    #[command(flatten)]
    pub limits: crate::limits::LimitArgs,
    #[command(flatten)]
    pub replication: crate::replication_config::ReplicationArgs,
    #[command(flatten)]
    pub cluster: crate::cluster_config::ClusterArgs,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub address: Option<String>,
    pub data: Option<PathBuf>,
    #[serde(default)]
    pub drives: Vec<String>,
    /// The drives pool by pool (instead of `drives`): each a list of drive arguments.
    #[serde(default)]
    pub pools: Vec<Vec<String>>,
    /// This node's `host:port` among the drive nodes (see `cluster_config`).
    pub node: Option<String>,
    pub internode_port: Option<u16>,
    #[serde(default)]
    pub domains: Vec<String>,
    pub region: Option<String>,
    pub inline_threshold: Option<usize>,
    pub shutdown_timeout: Option<u64>,
    pub certs_dir: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub log_format: Option<String>,
    pub gc_grace_secs: Option<u64>,
    pub gc_interval_secs: Option<u64>,
    pub lifecycle_day_secs: Option<u64>,
    pub lifecycle_interval_secs: Option<u64>,
    pub lifecycle_rate: Option<u32>,
    pub sse_keys_file: Option<PathBuf>,
    pub metadata_engine: Option<String>,
    pub metrics_auth: Option<String>,
    pub metrics_token: Option<String>,
    pub otel_endpoint: Option<String>,
    pub otel_protocol: Option<String>,
    pub otel_sampling: Option<f64>,
    pub inventory_interval_secs: Option<u64>,
    pub kv_cache_mb: Option<u64>,
    pub kv_memtable_mb: Option<u64>,
    pub metadata_format_announce_ms: Option<u64>,
    /// Limits and timeouts (see `limits`).
    #[serde(default)]
    pub limits: crate::limits::LimitFile,
    #[serde(default)]
    pub users: Vec<FileUser>,
    /// The seed's migration.yaml `migration:` section.
    #[serde(default)]
    pub migration: crate::migration_config::MigrationFile,
    /// The seed's migration.yaml `consistency:` section.
    #[serde(default)]
    pub consistency: crate::migration_config::ConsistencyFile,
    /// The seed's metadata-replication.yaml `metadata:` section.
    #[serde(default)]
    pub metadata: crate::replication_config::MetadataFile,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUser {
    pub access_key: String,
    pub secret_key: String,
    pub display_name: Option<String>,
}

impl std::fmt::Debug for FileUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileUser").field("access_key", &self.access_key).finish_non_exhaustive()
    }
}

/// Where object metadata lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The KV track (surrealkv).
    Kv,
    /// The legacy track: MinIO-format xl.meta files on the drives.
    Legacy,
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub address: SocketAddr,
    pub data: PathBuf,
    /// The drives, their sets and pools, and (in a cluster) their nodes.
    pub topology: ecstore::topology::Topology,
    /// This node's place in the cluster (`None`: the drives are all this node's).
    pub cluster: Option<crate::cluster_config::Cluster>,
    pub meta_dir: PathBuf,
    /// The sizes of the metadata KV's caches.
    pub kv: metadata::KvOptions,
    pub domains: Vec<String>,
    pub region: String,
    pub inline_threshold: usize,
    pub shutdown_timeout: u64,
    /// HTTPS on the S3 port (`None`: plain HTTP).
    pub tls: Option<crate::tls::TlsFiles>,
    pub log_json: bool,
    pub gc_grace: std::time::Duration,
    pub engine: Engine,
    pub gc_interval: std::time::Duration,
    /// The lifecycle scanner's day, interval and pace.
    pub lifecycle: s3api::lifecycle::scan::ScanConfig,
    /// The server-side encryption keyring file, when given.
    pub sse_keys_file: Option<PathBuf>,
    /// The root user (admin API access); first of `users`.
    pub root: User,
    pub users: Vec<User>,
    /// Whether the root credentials are the documented defaults.
    pub default_credentials: bool,
    pub migration: crate::migration_config::MigrationConfig,
    pub telemetry: crate::telemetry::TelemetryConfig,
    pub metrics_access: crate::metrics::Access,
    pub inventory_interval: std::time::Duration,
    /// How often a replicated group member says which store formats its build reads.
    pub format_announce: std::time::Duration,
    pub limits: crate::limits::Limits,
    /// The metadata group this node belongs to (`None`: a local KV).
    pub replication: Option<replication::ReplicationConfig>,
    /// A MinIO deployment found on the drives (adopted in place: its sets and placement).
    pub adoption: Option<ecstore::adopt::Adoption>,
}

/// A MinIO deployment found on the drives given.
enum Found {
    /// One node's drives (bare paths), each pool's ordered by their MinIO uuids.
    Local(ecstore::adopt::Adoption, Vec<Vec<String>>),
    /// A cluster's drive list (`http://host:port/path`), in MinIO's endpoint order pool by
    /// pool; the adoption report is taken once this node is known.
    Cluster(ecstore::topology::Topology),
}

/// A MinIO deployment on the drives given (`--drives`, the file's `drives`, or its `pools`;
/// several pools as MinIO takes them: one argument with ellipses each): `None` when no
/// drive carries MinIO's format.
fn detect_minio(args: &[String], drives: &[String], pools: &[Vec<String>]) -> Result<Option<Found>, String> {
    let groups: Vec<Vec<String>> = match (args, drives) {
        ([_, ..], _) => ecstore::topology::Topology::group_args(args)?,
        (_, [_, ..]) => ecstore::topology::Topology::group_args(drives)?,
        _ if !pools.is_empty() => pools.to_vec(),
        _ => return Ok(None),
    };
    let mut expanded: Vec<Vec<String>> = Vec::new();
    for g in &groups {
        let mut e = Vec::new();
        for a in g {
            e.extend(ecstore::topology::expand(a)?);
        }
        expanded.push(e);
    }
    let adopting = |e: String| format!("adopting the MinIO deployment on the drives: {e}");
    if expanded.iter().flatten().any(|e| e.contains("://")) {
        // A cluster: the folders of this machine that each pool names carry MinIO's format
        // (the same sets on every drive of a pool) if it is one; a pool without a folder
        // here is read from another node's drives when the drives are opened.
        let mut per_set = Vec::new();
        for e in &expanded {
            let mut seen = std::collections::BTreeSet::new();
            for d in e {
                if let Some(path) = d.strip_prefix("http://").and_then(|r| r.find('/').map(|i| &r[i..])) {
                    seen.insert(PathBuf::from(path));
                }
            }
            let local: Vec<PathBuf> = seen.into_iter().filter(|p| p.is_dir()).collect();
            per_set.push(ecstore::adopt::cluster_format(&local)?.map(|f| f.drives_per_set()));
        }
        if per_set.iter().all(Option::is_none) {
            return Ok(None);
        }
        let topology = ecstore::topology::Topology::minio(&groups, &per_set).map_err(adopting)?;
        return Ok(Some(Found::Cluster(topology)));
    }
    let paths: Vec<Vec<PathBuf>> = expanded.into_iter().map(|e| e.into_iter().map(PathBuf::from).collect()).collect();
    let args: Vec<String> = groups.iter().map(|g| g.join(" ")).collect();
    ecstore::adopt::detect(&paths, &args).map(|a| a.map(|a| Found::Local(a, groups))).map_err(adopting)
}

/// The adoption report of this node of an adopted cluster (its own drives, by position).
fn adopt_cluster(topology: &ecstore::topology::Topology, me: &str) -> Result<ecstore::adopt::Adoption, String> {
    let mine: Vec<(usize, PathBuf)> = topology
        .drives
        .iter()
        .enumerate()
        .filter(|(_, e)| e.node.as_deref() == Some(me))
        .map(|(i, e)| (i, e.path.clone()))
        .collect();
    let mut a = ecstore::adopt::detect_cluster(&mine, &topology.pool_ranges())
        .map_err(|e| format!("adopting the MinIO deployment on the drives: {e}"))?
        .ok_or_else(|| format!("none of the drives of this node ({me}) carries the MinIO deployment's format.json"))?;
    if let Some(formats) = a.known_formats() {
        a.complete(formats, &topology.pool_args);
    }
    Ok(a)
}

fn load_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| format!("invalid config {}: {e}", path.display()))
}

impl Config {
    pub fn resolve(args: ServerArgs) -> Result<Self, String> {
        Self::resolve_with(args, |k| std::env::var(k).ok())
    }

    /// Like [`Config::resolve`], reading the credential variables through `var`.
    pub fn resolve_with(args: ServerArgs, var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let file = match &args.config {
            Some(p) => load_file(p)?,
            None => FileConfig::default(),
        };
        let explicit_address = args.address.or(file.address);
        let data = args.data.or(file.data).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
        if !file.pools.is_empty() && !file.drives.is_empty() {
            return Err("give the drives as `drives` or as `pools` in the config file, not both".into());
        }
        let found = detect_minio(&args.drives, &file.drives, &file.pools)?;
        let topology = if let Some(Found::Local(a, groups)) = &found {
            let pools: Vec<(usize, usize)> =
                a.formats.iter().flatten().map(|f| (f.xl.sets.len() * f.drives_per_set(), f.xl.sets.len())).collect();
            Ok(ecstore::topology::Topology::adopted(&a.drives, &pools, groups))
        } else if let Some(Found::Cluster(t)) = &found {
            Ok(t.clone())
        } else if !args.drives.is_empty() {
            ecstore::topology::Topology::parse(&args.drives)
        } else if !file.pools.is_empty() {
            ecstore::topology::Topology::parse_pools(&file.pools)
        } else if !file.drives.is_empty() {
            ecstore::topology::Topology::parse(&file.drives)
        } else {
            ecstore::topology::Topology::local(&(1..=12).map(|i| data.join(format!("drive{i}"))).collect::<Vec<_>>())
        }
        .map_err(|e| format!("{e} (the erasure sets need 12 drives each: 12, 24, 36, ...)"))?;
        let env = |k: &str| var(k).filter(|v| !v.is_empty());
        let (access, secret, default_credentials) = match (env("RUSTFS_ACCESS_KEY"), env("RUSTFS_SECRET_KEY")) {
            (Some(a), Some(s)) => (a, s, false),
            (None, None) => (DEFAULT_ACCESS_KEY.into(), DEFAULT_SECRET_KEY.into(), true),
            _ => {
                return Err("RUSTFS_ACCESS_KEY and RUSTFS_SECRET_KEY must be set together".into());
            }
        };
        if access.len() < 3 || secret.len() < 8 {
            return Err("access key needs at least 3 characters and secret key at least 8".into());
        }
        // With the documented default credentials anyone could write everything: the server
        // then listens on the loopback interface only, unless told otherwise explicitly.
        let address = explicit_address
            .unwrap_or_else(|| if default_credentials { DEFAULT_LOCAL_ADDRESS.into() } else { DEFAULT_ADDRESS.into() });
        let address: SocketAddr = address.parse().map_err(|e| format!("invalid address {address:?}: {e}"))?;
        if default_credentials && !address.ip().is_loopback() {
            return Err(format!(
                "refusing to listen on {address} with the default credentials ({DEFAULT_ACCESS_KEY}/{DEFAULT_SECRET_KEY}): set RUSTFS_ACCESS_KEY and RUSTFS_SECRET_KEY, or listen on 127.0.0.1"
            ));
        }
        let root = User { access_key: access.clone(), secret_key: secret, display_name: access };
        let mut users = vec![root.clone()];
        for u in file.users {
            if users.iter().any(|x| x.access_key == u.access_key) {
                return Err(format!("user {} is defined twice", u.access_key));
            }
            users.push(User {
                display_name: u.display_name.unwrap_or_else(|| u.access_key.clone()),
                access_key: u.access_key,
                secret_key: u.secret_key,
            });
        }
        let log_format = args.log_format.or(file.log_format).unwrap_or_else(|| "text".into());
        let (engine, engine_phase) =
            crate::migration_config::parse_engine(args.metadata_engine.or(file.metadata_engine).as_deref())?;
        let metrics_access = crate::metrics::Access::resolve(
            args.metrics_auth.or(file.metrics_auth),
            args.metrics_token.or(file.metrics_token),
        )?;
        let telemetry = crate::telemetry::TelemetryConfig::resolve(
            args.otel_endpoint.or(file.otel_endpoint),
            args.otel_protocol.or(file.otel_protocol),
            args.otel_sampling.or(file.otel_sampling),
            log_format == "json",
        )?;
        let inventory_interval = std::time::Duration::from_secs(
            args.inventory_interval_secs.or(file.inventory_interval_secs).unwrap_or(300).max(1),
        );
        let limits = crate::limits::Limits::resolve(args.limits, file.limits)?;
        let cluster =
            crate::cluster_config::resolve(&topology, args.cluster, file.node, file.internode_port, &address)?;
        let adoption = match found {
            Some(Found::Local(a, _)) => Some(a),
            Some(Found::Cluster(t)) => {
                let me = cluster.as_ref().map(|c| c.me.clone()).unwrap_or_default();
                Some(adopt_cluster(&t, &me)?)
            }
            None => None,
        };
        let derived = cluster.as_ref().map(|c| (c.my_id(), c.peers()));
        let kv = kv_options(args.kv_cache_mb.or(file.kv_cache_mb), args.kv_memtable_mb.or(file.kv_memtable_mb))?;
        let replication = crate::replication_config::resolve(args.replication, file.metadata, &var, derived, kv)?;
        if replication.is_some() && cluster.is_none() && engine == Engine::Legacy {
            return Err(
                "replicated metadata needs the kv engine (the legacy engine keeps xl.meta on local drives)".into()
            );
        }
        let migration = crate::migration_config::MigrationConfig::resolve(
            engine,
            engine_phase,
            args.dual_track_ratio,
            file.migration,
            file.consistency,
        )?;
        Ok(Self {
            address,
            meta_dir: data.join("meta"),
            kv,
            data,
            topology,
            cluster,
            domains: if args.domain.is_empty() { file.domains } else { args.domain },
            region: args.region.or(file.region).unwrap_or_else(|| "us-east-1".into()),
            inline_threshold: args.inline_threshold.or(file.inline_threshold).unwrap_or(128 * 1024),
            shutdown_timeout: args.shutdown_timeout.or(file.shutdown_timeout).unwrap_or(30),
            tls: match (
                args.certs_dir.or(file.certs_dir),
                args.tls_cert.or(file.tls_cert),
                args.tls_key.or(file.tls_key),
            ) {
                (Some(d), None, None) => Some(crate::tls::TlsFiles::in_dir(&d)),
                (None, Some(cert), Some(key)) => Some(crate::tls::TlsFiles { cert, key }),
                (None, None, None) => None,
                _ => return Err("give the certificate as certs_dir, or as tls_cert with tls_key, not both".into()),
            },
            log_json: log_format == "json",
            engine,
            gc_grace: std::time::Duration::from_secs(args.gc_grace_secs.or(file.gc_grace_secs).unwrap_or(3600)),
            gc_interval: std::time::Duration::from_secs(
                args.gc_interval_secs.or(file.gc_interval_secs).unwrap_or(3600).max(1),
            ),
            sse_keys_file: args.sse_keys_file.clone().or(file.sse_keys_file.clone()),
            lifecycle: s3api::lifecycle::scan::ScanConfig {
                day: std::time::Duration::from_secs(
                    args.lifecycle_day_secs.or(file.lifecycle_day_secs).unwrap_or(86_400).max(1),
                ),
                interval: std::time::Duration::from_secs(
                    args.lifecycle_interval_secs.or(file.lifecycle_interval_secs).unwrap_or(3600).max(1),
                ),
                rate: args.lifecycle_rate.or(file.lifecycle_rate).unwrap_or(10_000),
            },
            root,
            users,
            default_credentials,
            migration,
            telemetry,
            metrics_access,
            inventory_interval,
            format_announce: std::time::Duration::from_millis(
                args.metadata_format_announce_ms.or(file.metadata_format_announce_ms).unwrap_or(10_000).max(100),
            ),
            limits,
            replication,
            adoption,
        })
    }
}

/// The metadata KV's sizes from `kv_cache_mb` and `kv_memtable_mb` (defaults where unset).
fn kv_options(cache_mb: Option<u64>, memtable_mb: Option<u64>) -> Result<metadata::KvOptions, String> {
    let d = metadata::KvOptions::default();
    if memtable_mb.is_some_and(|m| !(4..=4096).contains(&m)) {
        return Err("kv_memtable_mb must be between 4 and 4096".into());
    }
    // Below ~16 MiB the cache's shards refuse an index partition, and every lookup rereads it.
    if cache_mb.is_some_and(|m| m < 16) {
        return Err("kv_cache_mb must be at least 16".into());
    }
    Ok(metadata::KvOptions {
        block_cache_bytes: cache_mb.map_or(d.block_cache_bytes, |m| m.saturating_mul(1 << 20)),
        memtable_bytes: memtable_mb.map_or(d.memtable_bytes, |m| (m as usize) << 20),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_users_and_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        std::fs::write(
            &p,
            "address: 127.0.0.1:9100\ndata: /tmp/x\nusers:\n  - access_key: AKIAEXAMPLEALT\n    secret_key: example-secret\n    display_name: alt\n",
        )
        .unwrap();
        let args = ServerArgs { config: Some(p.clone()), address: Some("127.0.0.1:9200".into()), ..Default::default() };
        let c = Config::resolve(args).unwrap();
        assert_eq!(c.address.port(), 9200, "flag wins over file");
        assert_eq!(c.data, PathBuf::from("/tmp/x"));
        assert_eq!(c.topology.drives.len(), 12);
        assert_eq!(c.users.len(), 2);
        assert_eq!(c.users[1].display_name, "alt");
        assert!(!format!("{:?}", c.users).contains("example-secret"), "secrets never in Debug");
        std::fs::write(&p, "bogus_key: 1\n").unwrap();
        assert!(Config::resolve(ServerArgs { config: Some(p), ..Default::default() }).is_err());
    }

    /// With the default credentials the server listens on loopback only.
    #[test]
    fn default_credentials_stay_on_loopback() {
        let none = |_: &str| None;
        let c = Config::resolve_with(ServerArgs::default(), none).unwrap();
        assert!(c.default_credentials);
        assert_eq!(c.address.to_string(), DEFAULT_LOCAL_ADDRESS);
        let open = ServerArgs { address: Some("0.0.0.0:9000".into()), ..Default::default() };
        assert!(Config::resolve_with(open, none).unwrap_err().contains("default credentials"));
        let set = |k: &str| match k {
            "RUSTFS_ACCESS_KEY" => Some("admin-key".to_string()),
            "RUSTFS_SECRET_KEY" => Some("a-long-secret".to_string()),
            _ => None,
        };
        let c = Config::resolve_with(ServerArgs::default(), set).unwrap();
        assert_eq!(c.address.to_string(), DEFAULT_ADDRESS);
    }

    #[test]
    fn drive_count_must_be_multiple_of_12() {
        let args = ServerArgs { drives: vec!["/a".into(), "/b".into()], ..Default::default() };
        assert!(Config::resolve(args).unwrap_err().contains("12"));
    }
}
