//! [`LogFilter`]: the `RUST_LOG` filter of each output layer.
//!
//! `EnvFilter` keeps per-span state for directives that filter on spans and fields: on every
//! span's creation, enter, exit and close it takes a read lock and looks the span up, even
//! when the directives are plain `target=level` pairs. Those (most configurations: `info`,
//! `info,my_app=debug`) mean the same to `Targets`, which decides from the metadata alone.

use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber, span};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Filter};

/// `Targets` for target-and-level directives, `EnvFilter` for anything else (span and field
/// directives, or a string only `EnvFilter` accepts: it also reports the syntax errors).
pub(crate) enum LogFilter {
    Targets(Box<Targets>),
    Env(Box<EnvFilter>),
}

impl LogFilter {
    /// Parses `RUST_LOG`-style directives.
    pub(crate) fn parse(directives: &str) -> Result<Self, tracing_subscriber::filter::ParseError> {
        if is_plain(directives)
            && let Ok(targets) = directives.parse::<Targets>()
        {
            return Ok(Self::Targets(Box::new(targets)));
        }
        EnvFilter::builder()
            .parse(directives)
            .map(|f| Self::Env(Box::new(f)))
    }
}

/// Non-empty `target=level` / `level` / `target` directives, without spaces, spans or fields.
fn is_plain(directives: &str) -> bool {
    !directives.is_empty()
        && directives.split(',').all(|d| {
            !d.is_empty()
                && d.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-' | b'.' | b'=')
                })
        })
}

impl<S: Subscriber> Filter<S> for LogFilter {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        match self {
            Self::Targets(f) => Filter::<S>::enabled(&**f, meta, cx),
            Self::Env(f) => Filter::<S>::enabled(&**f, meta, cx),
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        match self {
            Self::Targets(f) => Filter::<S>::callsite_enabled(&**f, meta),
            Self::Env(f) => Filter::<S>::callsite_enabled(&**f, meta),
        }
    }

    fn event_enabled(&self, event: &Event<'_>, cx: &Context<'_, S>) -> bool {
        match self {
            Self::Targets(f) => Filter::<S>::event_enabled(&**f, event, cx),
            Self::Env(f) => Filter::<S>::event_enabled(&**f, event, cx),
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        match self {
            Self::Targets(f) => Filter::<S>::max_level_hint(&**f),
            Self::Env(f) => Filter::<S>::max_level_hint(&**f),
        }
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, cx: Context<'_, S>) {
        if let Self::Env(f) = self {
            Filter::<S>::on_new_span(&**f, attrs, id, cx);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, cx: Context<'_, S>) {
        if let Self::Env(f) = self {
            Filter::<S>::on_record(&**f, id, values, cx);
        }
    }

    fn on_enter(&self, id: &span::Id, cx: Context<'_, S>) {
        if let Self::Env(f) = self {
            Filter::<S>::on_enter(&**f, id, cx);
        }
    }

    fn on_exit(&self, id: &span::Id, cx: Context<'_, S>) {
        if let Self::Env(f) = self {
            Filter::<S>::on_exit(&**f, id, cx);
        }
    }

    fn on_close(&self, id: span::Id, cx: Context<'_, S>) {
        if let Self::Env(f) = self {
            Filter::<S>::on_close(&**f, id, cx);
        }
    }
}

/// The same filter in front of the whole subscriber (`Logging::build` with one output): it
/// decides from the metadata (`Targets`), or keeps `EnvFilter`'s span state.
impl<S> tracing_subscriber::Layer<S> for LogFilter
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        match self {
            Self::Targets(f) => tracing_subscriber::Layer::<S>::register_callsite(&**f, meta),
            Self::Env(f) => tracing_subscriber::Layer::<S>::register_callsite(&**f, meta),
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, cx: Context<'_, S>) -> bool {
        match self {
            Self::Targets(f) => tracing_subscriber::Layer::<S>::enabled(&**f, meta, cx),
            Self::Env(f) => tracing_subscriber::Layer::<S>::enabled(&**f, meta, cx),
        }
    }

    fn event_enabled(&self, event: &Event<'_>, cx: Context<'_, S>) -> bool {
        match self {
            Self::Targets(f) => tracing_subscriber::Layer::<S>::event_enabled(&**f, event, cx),
            Self::Env(f) => tracing_subscriber::Layer::<S>::event_enabled(&**f, event, cx),
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        match self {
            Self::Targets(f) => tracing_subscriber::Layer::<S>::max_level_hint(&**f),
            Self::Env(f) => tracing_subscriber::Layer::<S>::max_level_hint(&**f),
        }
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, cx: Context<'_, S>) {
        if let Self::Env(f) = self {
            tracing_subscriber::Layer::<S>::on_new_span(&**f, attrs, id, cx);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, cx: Context<'_, S>) {
        if let Self::Env(f) = self {
            tracing_subscriber::Layer::<S>::on_record(&**f, id, values, cx);
        }
    }

    fn on_enter(&self, id: &span::Id, cx: Context<'_, S>) {
        if let Self::Env(f) = self {
            tracing_subscriber::Layer::<S>::on_enter(&**f, id, cx);
        }
    }

    fn on_exit(&self, id: &span::Id, cx: Context<'_, S>) {
        if let Self::Env(f) = self {
            tracing_subscriber::Layer::<S>::on_exit(&**f, id, cx);
        }
    }

    fn on_close(&self, id: span::Id, cx: Context<'_, S>) {
        if let Self::Env(f) = self {
            tracing_subscriber::Layer::<S>::on_close(&**f, id, cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// Records the events that reach it, as `target:level`.
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> tracing_subscriber::Layer<S> for Recorder {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            let meta = event.metadata();
            self.0
                .lock()
                .unwrap()
                .push(format!("{}:{}", meta.target(), meta.level()));
        }
    }

    /// Which of a fixed set of events pass `filter`, as `target:level` strings.
    fn passed(filter: LogFilter) -> Vec<String> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let layer = Recorder(seen.clone()).with_filter(filter);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            macro_rules! each_level {
                ($target:literal) => {
                    tracing::error!(target: $target, "e");
                    tracing::warn!(target: $target, "w");
                    tracing::info!(target: $target, "i");
                    tracing::debug!(target: $target, "d");
                    tracing::trace!(target: $target, "t");
                };
            }
            let span = tracing::info_span!(target: "app", "work");
            let _enter = span.enter();
            each_level!("app");
            each_level!("app::db");
            each_level!("application");
            each_level!("hyper::proto");
            each_level!("pf_log_enrich::request");
        });
        seen.lock().unwrap().clone()
    }

    #[test]
    fn targets_decide_as_env_filter_does_for_plain_directives() {
        for directives in [
            "info",
            "warn,app=trace",
            "app=debug,app::db=off",
            "hyper=warn,info",
            "app",
            "trace,hyper::proto=error,pf_log_enrich=warn",
            "off",
        ] {
            let targets = LogFilter::parse(directives).unwrap();
            assert!(matches!(targets, LogFilter::Targets(_)), "{directives}");
            let env = LogFilter::Env(Box::new(EnvFilter::builder().parse(directives).unwrap()));
            assert_eq!(passed(targets), passed(env), "{directives}");
        }
    }

    #[test]
    fn span_and_field_directives_and_errors_stay_with_env_filter() {
        for directives in ["app[work]=debug", "info,app[{user}]=trace"] {
            assert!(
                matches!(LogFilter::parse(directives).unwrap(), LogFilter::Env(_)),
                "{directives}"
            );
        }
        assert!(LogFilter::parse("app=loud").is_err());
        // A span directive enables what is inside that span only.
        let inside = passed(LogFilter::parse("warn,app[work]=debug").unwrap());
        assert!(inside.contains(&"app:DEBUG".to_string()), "{inside:?}");
    }
}
