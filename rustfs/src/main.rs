//! `rustfs`: the S3 server. `rustfs server` with no arguments starts the embedded default.

use clap::{Parser, Subcommand};

/// jemalloc keeps freed pages for reuse a while (and per thread), where glibc's malloc
/// hands the large buffers of erasure coding and bodies back to the system and faults them
/// in again, which costs a busy node more CPU than hashing its bytes.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use rustfs::config::{Config, ServerArgs};

#[derive(Parser)]
#[command(name = "rustfs", version, about = "S3-compatible object storage server")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the server.
    Server(ServerArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let Cmd::Server(args) = cli.cmd;
    let cfg = match Config::resolve(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rustfs: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(cfg.limits.blocking_threads)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rustfs: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let res = rt.block_on(async move {
        let telemetry = rustfs::telemetry::init(&cfg.telemetry)?;
        let res = rustfs::server::run(cfg).await;
        let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
        res
    });
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("rustfs: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
