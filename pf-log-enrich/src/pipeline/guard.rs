//! [`LoggingGuard`]: keeps the OTLP export alive and shuts it down, within a bounded time.

use std::fmt;
use std::time::Duration;

use crate::pipeline::stats::ExportStats;
use crate::pipeline::writer::{NonBlockingGuard, WriterStats};

/// Flushes and shuts down the OTLP pipeline when dropped, waiting at most
/// [`LogConfig::shutdown_timeout`](crate::LogConfig::shutdown_timeout). Keep it alive for the
/// life of the program.
#[must_use = "dropping the guard shuts the OTLP export down"]
pub struct LoggingGuard {
    #[cfg(feature = "otlp")]
    pub(crate) tracer: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    #[cfg(feature = "otlp")]
    pub(crate) logger: Option<opentelemetry_sdk::logs::SdkLoggerProvider>,
    pub(crate) stats: Option<ExportStats>,
    /// The non-blocking writer's flush ([`Logging::non_blocking`](crate::Logging::non_blocking)).
    pub(crate) writer: Option<NonBlockingGuard>,
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) timeout: Duration,
}

impl fmt::Debug for LoggingGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoggingGuard")
            .field("exporting", &self.is_exporting())
            .finish()
    }
}

impl LoggingGuard {
    /// A guard with nothing to shut down.
    pub(crate) fn local(timeout: Duration) -> Self {
        Self {
            #[cfg(feature = "otlp")]
            tracer: None,
            #[cfg(feature = "otlp")]
            logger: None,
            stats: None,
            writer: None,
            timeout,
        }
    }

    /// Whether OTLP export is active.
    pub fn is_exporting(&self) -> bool {
        #[cfg(feature = "otlp")]
        {
            self.tracer.is_some()
        }
        #[cfg(not(feature = "otlp"))]
        {
            false
        }
    }

    /// Live counts of exported / failed / dropped spans and log records, when exporting.
    ///
    /// ```
    /// use pf_log_enrich::{LogConfig, Logging};
    /// let (_subscriber, guard) = Logging::from_config(LogConfig::from_lookup(|_| None))
    ///     .writer(std::io::sink)
    ///     .build()
    ///     .unwrap();
    /// assert!(guard.export_stats().is_none(), "not shipping: nothing is exported");
    /// ```
    pub fn export_stats(&self) -> Option<ExportStats> {
        self.stats.clone()
    }

    /// The non-blocking writer's counts (lines written, dropped, failed), when the pipeline
    /// was built with [`Logging::non_blocking`](crate::Logging::non_blocking).
    pub fn writer_stats(&self) -> Option<WriterStats> {
        self.writer.as_ref().map(NonBlockingGuard::stats)
    }

    /// The tracer provider, when exporting (e.g. for a global `opentelemetry` tracer).
    #[cfg(feature = "otlp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
    pub fn tracer_provider(&self) -> Option<&opentelemetry_sdk::trace::SdkTracerProvider> {
        self.tracer.as_ref()
    }

    /// Flushes and shuts down now (also done on drop).
    pub fn shutdown(mut self) {
        self.shutdown_inner();
    }

    fn shutdown_inner(&mut self) {
        // log lines first, within the same deadline
        if let Some(mut writer) = self.writer.take() {
            writer.finish(self.timeout);
        }
        #[cfg(feature = "otlp")]
        {
            let tracer = self.tracer.take();
            let logger = self.logger.take();
            if tracer.is_none() && logger.is_none() {
                return;
            }
            let timeout = self.timeout;
            let (tx, rx) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("pf-log-shutdown".into())
                .spawn(move || {
                    if let Some(t) = tracer {
                        let _ = t.shutdown_with_timeout(timeout);
                    }
                    if let Some(l) = logger {
                        let _ = l.shutdown_with_timeout(timeout);
                    }
                    let _ = tx.send(());
                });
            if spawned.is_ok() {
                // Bounded: an unreachable collector never holds the process.
                let _ = rx.recv_timeout(timeout + Duration::from_millis(500));
            }
        }
    }
}

impl Drop for LoggingGuard {
    fn drop(&mut self) {
        self.shutdown_inner();
    }
}
