//! [`LoggingGuard`]: keeps the OTLP export alive and shuts it down, within a bounded time.

use std::fmt;
use std::time::Duration;

use crate::pipeline::stats::ExportStats;

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
        #[cfg(feature = "otlp")]
        {
            use std::time::Instant;
            let tracer = self.tracer.take();
            let logger = self.logger.take();
            if tracer.is_none() && logger.is_none() {
                return ShutdownReport::default();
            }
            // One deadline for everything: both signals shut down side by side, each told the
            // whole budget, and the guard waits for them until the deadline only.
            let timeout = self.timeout;
            let deadline = Instant::now() + timeout;
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
                let tx = tx.clone();
                waiting += usize::from(
                    spawn_shutdown(move || {
                        let _ = tx.send(l.shutdown_with_timeout(timeout).is_ok());
                    })
                    .is_ok(),
                );
            }
            drop(tx);
            let mut completed = true;
            for _ in 0..waiting {
                let left = deadline.saturating_duration_since(Instant::now());
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
                tracing::warn!(
                    target: crate::pipeline::stats::WARN_TARGET,
                    timeout_ms = timeout.as_millis() as u64,
                    spans_abandoned = spans,
                    log_records_abandoned = log_records,
                    "OTLP export abandoned at shutdown: the collector did not take everything within {} ms",
                    timeout.as_millis(),
                );
            }
            report
        }
        #[cfg(not(feature = "otlp"))]
        ShutdownReport::default()
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
