//! What the OpenTelemetry exporter sees, with one per-layer filter: per-layer filtering
//! makes every span enter and exit look the span up once per filtered layer, so the log
//! layer is not filtered per layer but by the one global filter:
//!
//! - [`LogFilter`], the global filter: the log directives (`RUST_LOG`), plus our crates'
//!   spans of any level below a sampled request (so a sampled trace keeps its debug
//!   children). It marks a sampled request's span and our spans under it when they are
//!   made, and looks at the current span only while a sampled request is alive;
//! - [`exported`], the exporter's filter: a sampled request's span and our spans under it,
//!   WARN+ events there, and background roots alone. While no sampled request is alive it
//!   answers without looking anything up.
//!
//! This module must never let the exporter take a span of an unsampled request.

use tracing::span;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::telemetry::{BACKGROUND_ROOTS, REQUEST_SPAN};

/// The mark of a sampled request's span and of our spans under it (in their extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sampled;

fn ours(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("rustfs")
}

/// Whether the span a new span would be under (explicit parent, else the current span) is
/// marked.
fn under_sampled<S>(attrs: &span::Attributes<'_>, cx: &Context<'_, S>) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let parent = match attrs.parent() {
        Some(p) => cx.span(p),
        None if attrs.is_contextual() => cx.lookup_current(),
        None => None,
    };
    parent.is_some_and(|s| s.extensions().get::<Sampled>().is_some())
}

/// The global filter: see the module documentation.
pub struct LogFilter(pub EnvFilter);

impl<S> Layer<S> for LogFilter
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if meta.is_span() && ours(meta) {
            // Our spans are decided per span (below a sampled request or not).
            return tracing::subscriber::Interest::sometimes();
        }
        Layer::<S>::register_callsite(&self.0, meta)
    }

    fn enabled(&self, meta: &Metadata<'_>, cx: Context<'_, S>) -> bool {
        if Layer::<S>::enabled(&self.0, meta, cx.clone()) {
            return true;
        }
        meta.is_span()
            && ours(meta)
            && crate::telemetry::sampled_alive()
            && cx.lookup_current().is_some_and(|s| s.extensions().get::<Sampled>().is_some())
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, cx: Context<'_, S>) {
        let meta = attrs.metadata();
        let sampled = ours(meta)
            && if meta.name() == REQUEST_SPAN {
                crate::telemetry::sample_next()
            } else {
                crate::telemetry::sampled_alive() && under_sampled(attrs, &cx)
            };
        if sampled && let Some(s) = cx.span(id) {
            s.extensions_mut().insert(Sampled);
        }
        self.0.on_new_span(attrs, id, cx)
    }
    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, cx: Context<'_, S>) {
        self.0.on_record(id, values, cx)
    }
    fn on_enter(&self, id: &span::Id, cx: Context<'_, S>) {
        self.0.on_enter(id, cx)
    }
    fn on_exit(&self, id: &span::Id, cx: Context<'_, S>) {
        self.0.on_exit(id, cx)
    }
    fn on_close(&self, id: span::Id, cx: Context<'_, S>) {
        self.0.on_close(id, cx)
    }
}

/// The exporter's filter: see the module documentation.
pub fn exported<S>(meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if !ours(meta) {
        return false;
    }
    if meta.name() == REQUEST_SPAN {
        return crate::telemetry::sample_next();
    }
    if meta.is_event() && *meta.level() > tracing::Level::WARN {
        return false;
    }
    let background_root = meta.is_span() && BACKGROUND_ROOTS.contains(&meta.name());
    if !background_root && !crate::telemetry::sampled_alive() {
        // Nothing sampled is running: this cannot be under a sampled request.
        return false;
    }
    match cx.lookup_current() {
        Some(cur) => cur.scope().last().is_some_and(|root| root.name() == REQUEST_SPAN),
        None => background_root,
    }
}
