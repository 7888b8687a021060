//! Logs and traces: the tracing subscriber (text or JSON logs on stderr) and, when an OTLP
//! endpoint is configured, an OpenTelemetry layer exporting spans over gRPC or HTTP
//! (protobuf) with a parent-based ratio sampler. W3C `traceparent` headers of incoming
//! requests are followed, so a request passing through two nodes is one trace.
//!
//! Off by default. This module must never put a credential, a header value other than the
//! trace context, or object data in a span or a log line.

use std::time::Duration;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    HttpProtobuf,
}

#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// OTLP endpoint; `None` = tracing export off.
    pub endpoint: Option<String>,
    pub protocol: OtlpProtocol,
    /// Share of root traces sampled (0.0 to 1.0).
    pub sampling: f64,
    pub json_logs: bool,
}

impl TelemetryConfig {
    pub fn resolve(
        endpoint: Option<String>,
        protocol: Option<String>,
        sampling: Option<f64>,
        json_logs: bool,
    ) -> Result<Self, String> {
        let protocol = match protocol.as_deref().unwrap_or("grpc") {
            "grpc" => OtlpProtocol::Grpc,
            "http/protobuf" | "http" => OtlpProtocol::HttpProtobuf,
            other => return Err(format!("unknown OTLP protocol {other:?}: use grpc or http/protobuf")),
        };
        let sampling = sampling.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&sampling) {
            return Err(format!("otel sampling {sampling} is not between 0.0 and 1.0"));
        }
        let endpoint = endpoint.filter(|e| !e.trim().is_empty());
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(format!("OTLP endpoint {e:?} must start with http:// or https://"));
        }
        Ok(Self { endpoint, protocol, sampling, json_logs })
    }
}

/// Keeps the trace pipeline alive; `shutdown` flushes the spans still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is buffered and stops the exporter (blocking; call off the runtime).
    pub fn shutdown(self) {
        if let Some(p) = self.provider
            && let Err(e) = p.shutdown_with_timeout(Duration::from_secs(5))
        {
            eprintln!("rustfs: flushing traces failed: {e}");
        }
    }
}

fn log_filter() -> EnvFilter {
    EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info,s3s=off"))
}

/// Spans exported: requests (info) and their children in our crates (debug).
fn trace_filter() -> EnvFilter {
    EnvFilter::new("warn,rustfs=debug,rustfs_ecstore=debug,rustfs_metadata=debug,rustfs_s3api=debug")
}

fn exporter(cfg: &TelemetryConfig, endpoint: &str) -> Result<opentelemetry_otlp::SpanExporter, String> {
    let timeout = Duration::from_secs(10);
    match cfg.protocol {
        OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_timeout(timeout)
            .build(),
        OtlpProtocol::HttpProtobuf => {
            let url = if endpoint.trim_end_matches('/').ends_with("/v1/traces") {
                endpoint.to_string()
            } else {
                format!("{}/v1/traces", endpoint.trim_end_matches('/'))
            };
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(url)
                .with_timeout(timeout)
                .build()
        }
    }
    .map_err(|e| format!("cannot set up the OTLP exporter: {e}"))
}

/// Installs the global subscriber. Call inside the tokio runtime (the gRPC exporter needs it).
pub fn init(cfg: &TelemetryConfig) -> Result<Telemetry, String> {
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if cfg.json_logs {
        fmt.json().with_current_span(true).with_span_list(false).with_filter(log_filter()).boxed()
    } else {
        fmt.with_filter(log_filter()).boxed()
    };
    let (otel, provider) = match &cfg.endpoint {
        Some(endpoint) => {
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter(cfg, endpoint)?)
                .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(cfg.sampling))))
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name("rustfs")
                        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                        .build(),
                )
                .build();
            let tracer = provider.tracer("rustfs");
            let layer = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_level(true)
                .with_location(false)
                .with_threads(false)
                .with_filter(trace_filter());
            (Some(layer), Some(provider))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))?;
    if let Some(e) = &cfg.endpoint {
        tracing::info!(endpoint = %e, protocol = ?cfg.protocol, sampling = cfg.sampling, "exporting traces over OTLP");
    }
    Ok(Telemetry { provider })
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Makes `span` a child of the trace context the request carries (`traceparent`), if any,
/// and returns the request's trace id (hex): the OpenTelemetry trace id when tracing is on,
/// else a fresh random id, so log lines of one request can always be grouped.
pub fn attach(span: &tracing::Span, headers: &http::HeaderMap) -> String {
    if headers.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&Headers(headers));
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
    let id = span.context().span().span_context().trace_id();
    if id != opentelemetry::trace::TraceId::INVALID {
        return id.to_string();
    }
    format!("{:032x}", rand::random::<u128>())
}
