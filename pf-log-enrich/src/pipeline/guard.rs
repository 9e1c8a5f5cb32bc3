//! [`LoggingGuard`]: keeps the OTLP export alive and shuts it down, within a bounded time.

use std::fmt;
use std::time::Duration;

use crate::pipeline::stats::ExportStats;
use crate::pipeline::writer::{NonBlockingGuard, WriterStats};

/// Flushes and shuts down the OTLP pipeline when dropped, waiting at most
/// [`LogConfig::shutdown_timeout`](crate::LogConfig::shutdown_timeout) in total (default
/// 2.5 s, `LOG_SHUTDOWN_TIMEOUT_MS`), also with a collector that accepts and never answers.
/// Keep it alive for the life of the program.
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

    /// Flushes and shuts down now (also done on drop), waiting at most
    /// [`LogConfig::shutdown_timeout`](crate::LogConfig::shutdown_timeout) in total for both
    /// signals; what could not be sent by then is abandoned and reported (a WARN line on
    /// stdout and the returned [`ShutdownReport`]).
    ///
    /// ```
    /// use pf_log_enrich::{LogConfig, Logging};
    /// let (_subscriber, guard) = Logging::from_config(LogConfig::from_lookup(|_| None))
    ///     .writer(std::io::sink)
    ///     .build()
    ///     .unwrap();
    /// assert!(!guard.shutdown().abandoned(), "nothing to export, nothing abandoned");
    /// ```
    pub fn shutdown(mut self) -> ShutdownReport {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> ShutdownReport {
        // One deadline for everything: the OTLP signals shut down side by side on their own
        // threads while the log lines are flushed here, and nothing waits past the deadline.
        let timeout = self.timeout;
        let deadline = std::time::Instant::now() + timeout;
        #[cfg(feature = "otlp")]
        let pending = self.start_otlp_shutdown();
        if let Some(mut writer) = self.writer.take() {
            writer.finish(deadline.saturating_duration_since(std::time::Instant::now()));
        }
        #[cfg(feature = "otlp")]
        if let Some((rx, waiting)) = pending {
            return self.finish_otlp_shutdown(rx, waiting, deadline);
        }
        ShutdownReport::default()
    }

    /// Starts shutting the tracer and logger providers down, each on its own thread; the
    /// receiver gets one `true` (clean) or `false` per thread started.
    #[cfg(feature = "otlp")]
    fn start_otlp_shutdown(&mut self) -> Option<(std::sync::mpsc::Receiver<bool>, usize)> {
        let tracer = self.tracer.take();
        let logger = self.logger.take();
        if tracer.is_none() && logger.is_none() {
            return None;
        }
        let timeout = self.timeout;
        let (tx, rx) = std::sync::mpsc::channel::<bool>();
        let mut waiting = 0;
        if let Some(t) = tracer {
            let tx = tx.clone();
            waiting += usize::from(
                spawn_shutdown(move || {
                    let _ = tx.send(t.shutdown_with_timeout(timeout).is_ok());
                })
                .is_ok(),
            );
        }
        if let Some(l) = logger {
            waiting += usize::from(
                spawn_shutdown(move || {
                    let _ = tx.send(l.shutdown_with_timeout(timeout).is_ok());
                })
                .is_ok(),
            );
        }
        Some((rx, waiting))
    }

    /// Waits for the provider shutdowns until `deadline`, then reports (and warns about)
    /// what was abandoned.
    #[cfg(feature = "otlp")]
    fn finish_otlp_shutdown(
        &self,
        rx: std::sync::mpsc::Receiver<bool>,
        waiting: usize,
        deadline: std::time::Instant,
    ) -> ShutdownReport {
        let mut completed = true;
        for _ in 0..waiting {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(ok) => completed &= ok,
                Err(_) => {
                    completed = false;
                    break;
                }
            }
        }
        let (spans, log_records) = self.stats.as_ref().map_or((0, 0), |s| {
            (s.inner.spans.pending(), s.inner.logs.pending())
        });
        let report = ShutdownReport {
            abandoned: !completed || spans + log_records > 0,
            spans,
            log_records,
        };
        if report.abandoned {
            // Through the subscriber: a non-blocking writer's thread still serves it.
            tracing::warn!(
                target: crate::pipeline::stats::WARN_TARGET,
                timeout_ms = self.timeout.as_millis() as u64,
                spans_abandoned = spans,
                log_records_abandoned = log_records,
                "OTLP export abandoned at shutdown: the collector did not take everything within {} ms",
                self.timeout.as_millis(),
            );
        }
        report
    }
}

#[cfg(feature = "otlp")]
fn spawn_shutdown(f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("pf-log-shutdown".into())
        .spawn(f)
        .map(drop)
}

/// What [`LoggingGuard::shutdown`] achieved within its deadline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    abandoned: bool,
    spans: u64,
    log_records: u64,
}

impl ShutdownReport {
    /// Whether the deadline ended the flush before the collector took everything (or the
    /// flush failed): telemetry was lost.
    pub fn abandoned(&self) -> bool {
        self.abandoned
    }

    /// Spans still queued or in an unanswered export when the guard gave up.
    pub fn spans_abandoned(&self) -> u64 {
        self.spans
    }

    /// Log records still queued or in an unanswered export when the guard gave up.
    pub fn log_records_abandoned(&self) -> u64 {
        self.log_records
    }
}

impl Drop for LoggingGuard {
    fn drop(&mut self) {
        let _ = self.shutdown_inner();
    }
}
