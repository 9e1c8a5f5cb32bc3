//! The application [`Lifecycle`] (starting → ready → draining) and drain on shutdown.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Where the application is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Warming up: `/startupz` and `/readyz` fail.
    Starting,
    /// Serving: `/startupz` passes, `/readyz` follows the critical checks.
    Ready,
    /// Shutting down: `/readyz` fails so load balancers stop sending traffic, while in-flight
    /// requests finish. `/livez` still passes (the process must not be restarted meanwhile).
    Draining,
}

impl Phase {
    /// `starting`, `ready` or `draining`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Draining => "draining",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The lifecycle shared by the health endpoints and the shutdown code. Cheap to clone.
///
/// Phases only move forward: starting → ready → draining.
///
/// ```
/// use pf_health::{Lifecycle, Phase};
///
/// let lifecycle = Lifecycle::new();
/// assert_eq!(lifecycle.phase(), Phase::Starting);
/// assert!(lifecycle.mark_ready());
/// lifecycle.start_draining();
/// assert!(!lifecycle.mark_ready()); // no way back from draining
/// assert_eq!(lifecycle.phase(), Phase::Draining);
/// ```
#[derive(Clone)]
pub struct Lifecycle {
    phase: Arc<watch::Sender<Phase>>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lifecycle")
            .field("phase", &self.phase())
            .finish()
    }
}

impl Lifecycle {
    /// A lifecycle in [`Phase::Starting`].
    pub fn new() -> Self {
        Self {
            phase: Arc::new(watch::Sender::new(Phase::Starting)),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Starting → ready. Returns `false` (and changes nothing) when already draining.
    pub fn mark_ready(&self) -> bool {
        self.phase.send_if_modified(|phase| match phase {
            Phase::Starting => {
                *phase = Phase::Ready;
                true
            }
            _ => false,
        });
        self.phase() == Phase::Ready
    }

    /// Enters [`Phase::Draining`]: readiness fails from now on.
    pub fn start_draining(&self) {
        self.phase.send_if_modified(|phase| {
            let changed = *phase != Phase::Draining;
            *phase = Phase::Draining;
            changed
        });
        tracing::info!("draining: readiness now fails");
    }

    /// A receiver notified on every phase change.
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) fn subscribe(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// Waits until the phase is at least `phase`.
    pub async fn reached(&self, phase: Phase) {
        let mut rx = self.phase.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|p| *p >= phase).await;
    }

    /// A future for a server's graceful shutdown (e.g. axum's `with_graceful_shutdown`): when
    /// `signal` completes it enters [`Phase::Draining`], waits `delay` so that load balancers
    /// see `/readyz` fail and stop sending traffic, then completes; the server then stops
    /// accepting and lets in-flight requests finish.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pf_health::{Lifecycle, Phase};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let lifecycle = Lifecycle::new();
    /// lifecycle.mark_ready();
    /// let shutdown = lifecycle.drain_on(async {}, Duration::from_millis(10));
    /// // axum::serve(listener, app).with_graceful_shutdown(shutdown).await
    /// shutdown.await;
    /// assert_eq!(lifecycle.phase(), Phase::Draining);
    /// # }
    /// ```
    pub fn drain_on<F>(
        &self,
        signal: F,
        delay: Duration,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future + Send + 'static,
    {
        let lifecycle = self.clone();
        async move {
            // Someone else (e.g. an admin endpoint) may start draining too.
            tokio::select! {
                _ = signal => {}
                _ = lifecycle.reached(Phase::Draining) => {}
            }
            lifecycle.start_draining();
            tracing::info!(
                delay_ms = delay.as_millis() as u64,
                "waiting before closing the listener"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// Completes on Ctrl-C or, on Unix, SIGTERM (what Kubernetes sends): pass it to
/// [`Lifecycle::drain_on`].
///
/// ```no_run
/// use std::time::Duration;
/// use pf_health::{shutdown_signal, Lifecycle};
///
/// # async fn serve(lifecycle: Lifecycle) {
/// let shutdown = lifecycle.drain_on(shutdown_signal(), Duration::from_secs(5));
/// # shutdown.await;
/// # }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
