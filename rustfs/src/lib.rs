//! The `rustfs` server and `rustfs-admin` CLI: configuration, wiring of the stores, the
//! HTTP server (S3 via s3s, health probes, the signed admin API) and long-running jobs.

pub mod admin;
pub mod admin_client;
pub mod admin_query;
pub mod adoption;
pub mod app;
pub mod bench;
pub mod cluster_admin;
pub mod cluster_cli;
pub mod cluster_config;
pub mod config;
pub mod coordinator;
pub mod gates;
pub mod gates_cli;
pub mod gc_job;
pub mod guard;
pub mod http;
pub mod iam_admin;
pub mod iam_cli;
pub mod inventory;
pub mod limits;
pub mod metrics;
pub mod migration_admin;
pub mod migration_cli;
pub mod migration_config;
pub mod node;
pub mod observe;
pub mod replication_config;
pub mod server;
pub mod sigv2;
pub mod telemetry;
pub mod tls;
pub mod trace_filter;
pub mod waiting;
