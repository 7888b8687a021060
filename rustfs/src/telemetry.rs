//! Logs and traces: the tracing subscriber (text or JSON logs on stderr) and, when an OTLP
//! endpoint is configured, an OpenTelemetry layer exporting spans over gRPC or HTTP
//! (protobuf). W3C `traceparent` headers of incoming requests are followed, so a request
//! passing through two nodes is one trace.
//!
//! Sampling is decided once per request, before its span exists (parent-based: a caller's
//! sampled flag wins, else the configured ratio). An unsampled request's span and all its
//! children never reach the OpenTelemetry layer (`trace_filter`), so they cost what they
//! cost with tracing off. Background roots (migration and validation batches) are always
//! exported.
//!
//! Off by default. This module must never put a credential, a header value other than the
//! trace context, or object data in a span or a log line.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Name of the span of one S3 request (see `observe::request_span`).
pub const REQUEST_SPAN: &str = "s3_request";
/// Spans that start a trace of their own when no request is around.
pub(crate) const BACKGROUND_ROOTS: [&str; 2] = ["migration_batch", "validation_batch"];

/// Ratio of root traces sampled; unset while trace export is off.
static SAMPLING: OnceLock<f64> = OnceLock::new();

/// Sampled requests alive (their [`Sampled`] not dropped): while there are none, no span
/// or event can be under a sampled request, and the export filter answers without looking
/// up the current span.
static SAMPLED_ALIVE: AtomicUsize = AtomicUsize::new(0);

/// Whether a request is exported; a sampled one counts as alive until this is dropped (hold
/// it until the response body ends, so the spans of streaming are exported too).
pub struct Sampled(bool);

impl Sampled {
    fn new(sampled: bool) -> Self {
        if sampled {
            SAMPLED_ALIVE.fetch_add(1, Ordering::Relaxed);
        }
        Self(sampled)
    }

    pub fn is(&self) -> bool {
        self.0
    }
}

impl Drop for Sampled {
    fn drop(&mut self) {
        if self.0 {
            SAMPLED_ALIVE.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

thread_local! {
    /// Whether the request span about to be created on this thread is sampled.
    static SAMPLE_NEXT: Cell<bool> = const { Cell::new(false) };
}

/// Whether a sampled request may be running (see [`Sampled`]).
pub(crate) fn sampled_alive() -> bool {
    SAMPLED_ALIVE.load(Ordering::Relaxed) > 0
}

/// Whether the request span being made on this thread is sampled.
pub(crate) fn sample_next() -> bool {
    SAMPLE_NEXT.with(Cell::get)
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

/// Log lines on stderr: text (colours only on a terminal) or one JSON object per line,
/// with the current span's fields (the request's trace id).
fn fmt_layer<S>(json: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use std::io::IsTerminal;
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    if json { fmt.json().with_current_span(true).with_span_list(false).boxed() } else { fmt.boxed() }
}

/// Installs the global subscriber. Call inside the tokio runtime (the gRPC exporter needs it).
pub fn init(cfg: &TelemetryConfig) -> Result<Telemetry, String> {
    let (otel, provider) = match &cfg.endpoint {
        Some(endpoint) => {
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter(cfg, endpoint)?)
                // Requests are sampled before their span exists (`request_span`).
                .with_sampler(Sampler::AlwaysOn)
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
                .with_tracked_inactivity(false)
                .with_filter(
                    // Callsites outside our crates are never exported: decided once per callsite.
                    tracing_subscriber::filter::dynamic_filter_fn(crate::trace_filter::exported).with_callsite_filter(
                        |meta| {
                            if meta.target().starts_with("rustfs") {
                                tracing::subscriber::Interest::sometimes()
                            } else {
                                tracing::subscriber::Interest::never()
                            }
                        },
                    ),
                );
            let _ = SAMPLING.set(cfg.sampling);
            (Some(layer), Some(provider))
        }
        None => (None, None),
    };
    // The log filter is global: disabled callsites (s3s's debug spans, our debug children)
    // cost nothing. With export, it also lets our spans under a sampled request through,
    // and only the exporter filters for itself (`trace_filter`).
    match otel {
        None => tracing_subscriber::registry().with(log_filter()).with(fmt_layer(cfg.json_logs)).try_init(),
        Some(otel) => tracing_subscriber::registry()
            .with(crate::trace_filter::LogFilter(log_filter()))
            .with(fmt_layer(cfg.json_logs))
            .with(otel)
            .try_init(),
    }
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

/// Opens the span of one request (built by `make`), deciding whether it is sampled: a
/// valid `traceparent` decides by its sampled flag, else the configured ratio. `make` gets
/// the trace id when it is known before the span exists (unsampled: the caller's, else a
/// fresh random one), `None` when the exported span will make it; either way the span ends
/// up with a `trace_id`, so log lines of one request can always be grouped. Returns the span
/// and whether it is exported (hold that until the response ends).
pub fn request_span(
    headers: &http::HeaderMap,
    make: impl FnOnce(Option<&str>) -> tracing::Span,
) -> (tracing::Span, Sampled) {
    let parent = headers
        .contains_key("traceparent")
        .then(|| TraceContextPropagator::new().extract(&Headers(headers)))
        .filter(|cx| cx.span().span_context().is_valid());
    let sampled = match (SAMPLING.get(), &parent) {
        (None, _) => false,
        (Some(_), Some(p)) => p.span().span_context().is_sampled(),
        (Some(ratio), None) => *ratio >= 1.0 || rand::random::<f64>() < *ratio,
    };
    if sampled {
        let guard = Sampled::new(true);
        SAMPLE_NEXT.with(|c| c.set(true));
        let span = make(None);
        SAMPLE_NEXT.with(|c| c.set(false));
        if let Some(p) = parent {
            let _ = span.set_parent(p);
        }
        let id = span.context().span().span_context().trace_id().to_string();
        span.record("trace_id", id.as_str());
        return (span, guard);
    }
    let id = match &parent {
        Some(p) => p.span().span_context().trace_id().to_string(),
        None => format!("{:032x}", rand::random::<u128>()),
    };
    (make(Some(&id)), Sampled::new(false))
}
