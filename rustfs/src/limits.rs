//! The server's limits and timeouts against slow, stalled or hostile clients, resolved from
//! flags, `RUSTFS_*` variables and the YAML file (in that order). Documented in the README.

use std::time::Duration;

use clap::Args;
use serde::Deserialize;

/// Largest aws-chunked chunk accepted (MinIO's bound too); SDKs send 64 KiB to 1 MiB.
pub const MAX_AWS_CHUNK: u64 = 16 << 20;

#[derive(Debug, Clone, Args, Default)]
pub struct LimitArgs {
    /// Seconds a client may leave a request body or a response without progress before the
    /// request fails (RequestTimeout) and the connection closes.
    #[arg(long, env = "RUSTFS_IDLE_TIMEOUT_SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Connections served at once; more are answered 503 SlowDown and closed.
    #[arg(long, env = "RUSTFS_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Largest browser-form (multipart/form-data POST) request body, in bytes (the file is
    /// streamed: this bounds what a form may upload).
    #[arg(long, env = "RUSTFS_POST_FORM_MAX_BYTES")]
    pub post_form_max_bytes: Option<u64>,
    /// Browser-form POSTs served at once (each holds up to 1 MiB of form fields); more are
    /// answered 503 SlowDown.
    #[arg(long, env = "RUSTFS_POST_FORM_CONCURRENCY")]
    pub post_form_concurrency: Option<usize>,
    /// Seconds the data of a replaced or deleted version is kept for readers that started
    /// before, at least (then it is freed once no reader holds it).
    #[arg(long, env = "RUSTFS_FREE_DELAY_SECS")]
    pub free_delay_secs: Option<u64>,
    /// Threads for blocking file I/O (shard reads and writes, xl.meta); none is ever held
    /// by a stalled client for longer than the idle timeout.
    #[arg(long, env = "RUSTFS_BLOCKING_THREADS")]
    pub blocking_threads: Option<usize>,
    /// Seconds one call to a drive of another node may take (a dead or partitioned node
    /// costs at most this, then its drives go offline).
    #[arg(long, env = "RUSTFS_DRIVE_TIMEOUT_SECS")]
    pub drive_timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LimitFile {
    pub idle_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub post_form_max_bytes: Option<u64>,
    pub post_form_concurrency: Option<usize>,
    pub free_delay_secs: Option<u64>,
    pub blocking_threads: Option<usize>,
    pub drive_timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub post_form_max_bytes: u64,
    pub post_form_concurrency: usize,
    pub free_delay: Duration,
    pub blocking_threads: usize,
    pub drive_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(60),
            max_connections: 2048,
            post_form_max_bytes: (5 << 30) + (1 << 20),
            post_form_concurrency: 256,
            free_delay: Duration::from_secs(30),
            blocking_threads: 512,
            drive_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    pub fn resolve(args: LimitArgs, file: LimitFile) -> Result<Self, String> {
        let d = Self::default();
        let l = Self {
            idle_timeout: args.idle_timeout_secs.or(file.idle_timeout_secs).map_or(d.idle_timeout, Duration::from_secs),
            max_connections: args.max_connections.or(file.max_connections).unwrap_or(d.max_connections),
            post_form_max_bytes: args.post_form_max_bytes.or(file.post_form_max_bytes).unwrap_or(d.post_form_max_bytes),
            post_form_concurrency: args
                .post_form_concurrency
                .or(file.post_form_concurrency)
                .unwrap_or(d.post_form_concurrency),
            free_delay: args.free_delay_secs.or(file.free_delay_secs).map_or(d.free_delay, Duration::from_secs),
            blocking_threads: args.blocking_threads.or(file.blocking_threads).unwrap_or(d.blocking_threads),
            drive_timeout: args
                .drive_timeout_secs
                .or(file.drive_timeout_secs)
                .map_or(d.drive_timeout, Duration::from_secs),
        };
        if l.idle_timeout.is_zero()
            || l.drive_timeout.is_zero()
            || l.max_connections == 0
            || l.post_form_concurrency == 0
            || l.blocking_threads < 4
        {
            return Err(
                "idle_timeout_secs, drive_timeout_secs, max_connections and post_form_concurrency must be above 0, blocking_threads at least 4"
                    .into(),
            );
        }
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_and_zero_is_refused() {
        let args = LimitArgs { max_connections: Some(7), ..Default::default() };
        let file = LimitFile { max_connections: Some(9), idle_timeout_secs: Some(5), ..Default::default() };
        let l = Limits::resolve(args, file).unwrap();
        assert_eq!((l.max_connections, l.idle_timeout), (7, Duration::from_secs(5)));
        assert_eq!(l.post_form_max_bytes, (5 << 30) + (1 << 20));
        let zero = LimitArgs { idle_timeout_secs: Some(0), ..Default::default() };
        assert!(Limits::resolve(zero, LimitFile::default()).is_err());
    }
}
