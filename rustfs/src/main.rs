//! `rustfs`: the S3 server. `rustfs server` with no arguments starts the embedded default.

use clap::{Parser, Subcommand};
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

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,s3s=off"));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        b.json().init();
    } else {
        b.init();
    }
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
    init_logging(cfg.log_json);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rustfs: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(rustfs::server::run(cfg)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("rustfs: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
