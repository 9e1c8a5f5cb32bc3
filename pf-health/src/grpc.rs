//! The gRPC health checking protocol (`grpc.health.v1.Health`, as served by
//! [tonic-health](https://docs.rs/tonic-health)) answered from a [`HealthRegistry`].
//!
//! The service names a client asks about map onto the registry:
//!
//! | `service` | answers with | `NOT_SERVING` when |
//! |---|---|---|
//! | `""` (and names added with [`GrpcHealth::readiness_service`]) | readiness, as `/readyz` | a critical check fails, starting, draining |
//! | a group name | the group, as `/health/<group>` | a check of the group fails (a failing non-critical check is `warn`, so `SERVING`) |
//! | a check name | that check | the check fails |
//! | anything else | `Check`: the error `NOT_FOUND`; `Watch`: one `SERVICE_UNKNOWN` message | — |
//!
//! A group and a check with the same name: the group wins.
//!
//! `pass` and `warn` are `SERVING`, `fail` is `NOT_SERVING`. `Check` goes through the same
//! cache and single-flight as the HTTP endpoints: a storm of probes runs each on-demand check
//! at most once per TTL, and periodic checks are only read.
//!
//! `Watch` sends the current status at once and a new message whenever it changes. It
//! re-evaluates when a check's reported status changes (periodic checks), when the
//! [`Lifecycle`](crate::Lifecycle) changes phase, and every
//! [`watch_interval`](GrpcHealth::watch_interval) (on-demand checks, which only run when
//! asked, and staleness); each re-evaluation goes through the cache too. A watch holds no
//! queue and no task of its own: it is a small state machine polled by the connection, and
//! ends when the client goes away.
//!
//! ```
//! use std::time::Duration;
//! use pf_health::{check_fn, CheckOptions, HealthRegistry, Status};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = HealthRegistry::builder()
//!     .check("db", check_fn(|| async { Status::Pass }), CheckOptions::new().group("storage"))
//!     .build()?;
//!
//! let health = pf_health::grpc::GrpcHealth::new(registry.clone())
//!     .watch_interval(Duration::from_secs(1))
//!     .readiness_service("shop.v1.Orders")
//!     .into_server();
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! registry.lifecycle().mark_ready();
//! let shutdown = registry.lifecycle().drain_on(pf_health::shutdown_signal(), Duration::from_secs(5));
//! tonic::transport::Server::builder()
//!     .add_service(health)
//!     // .add_service(OrdersServer::new(orders))
//!     .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), shutdown)
//!     .await?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use futures_util::stream::{self, BoxStream};
use tokio::sync::watch;
use tonic::{Request, Response};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

pub use tonic_health::pb::health_server::{Health, HealthServer};

use crate::check::Status;
use crate::lifecycle::Phase;
use crate::registry::HealthRegistry;

/// The default [`GrpcHealth::watch_interval`].
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// A `grpc.health.v1.Health` service for a tonic server, answering from the registry:
/// `""` is readiness, a group or check name is that group or check (see the
/// [module docs](self)).
///
/// Shorthand for `GrpcHealth::new(registry).into_server()`.
///
/// ```
/// use pf_health::{check_fn, CheckOptions, HealthRegistry, Status};
///
/// let registry = HealthRegistry::builder()
///     .check("queue", check_fn(|| async { Status::Pass }), CheckOptions::new())
///     .build()
///     .unwrap();
/// let service = pf_health::grpc::health_service(registry);
/// let router = tonic::service::Routes::new(service);
/// # let _ = router;
/// ```
pub fn health_service(registry: HealthRegistry) -> HealthServer<GrpcHealth> {
    GrpcHealth::new(registry).into_server()
}

/// The [`Health`] implementation over a [`HealthRegistry`]; [`into_server`](Self::into_server)
/// makes the tonic service. Cheap to clone.
#[derive(Clone)]
pub struct GrpcHealth {
    registry: HealthRegistry,
    watch_interval: Duration,
    readiness_services: Arc<[String]>,
}

impl fmt::Debug for GrpcHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcHealth")
            .field("registry", &self.registry)
            .field("watch_interval", &self.watch_interval)
            .field("readiness_services", &self.readiness_services)
            .finish()
    }
}

/// What a `service` name refers to.
#[derive(Debug, Clone)]
enum Target {
    Readiness,
    Group(String),
    Check(String),
}

impl GrpcHealth {
    /// The service for `registry`, with the default watch interval (2 s).
    pub fn new(registry: HealthRegistry) -> Self {
        Self {
            registry,
            watch_interval: DEFAULT_WATCH_INTERVAL,
            readiness_services: Arc::from(Vec::new()),
        }
    }

    /// How often a `Watch` re-evaluates when nothing announced a change (default 2 s).
    ///
    /// Changes of periodic checks and of the lifecycle are sent at once; on-demand checks
    /// only run when asked, so a watch asks every `interval` (through the cache: a check
    /// still runs at most once per TTL, however many watches there are). Zero is raised to
    /// 1 ms.
    pub fn watch_interval(mut self, interval: Duration) -> Self {
        self.watch_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Answers readiness (like `""`) for `service` too, e.g. the fully qualified name of the
    /// application's gRPC service (`shop.v1.Orders`), which some clients and load balancers
    /// ask about.
    pub fn readiness_service(mut self, service: impl Into<String>) -> Self {
        let mut services = self.readiness_services.to_vec();
        services.push(service.into());
        self.readiness_services = services.into();
        self
    }

    /// The tonic service to add to a server (`Server::builder().add_service(..)`).
    pub fn into_server(self) -> HealthServer<Self> {
        HealthServer::new(self)
    }

    /// The registry answered from.
    pub fn registry(&self) -> &HealthRegistry {
        &self.registry
    }

    fn resolve(&self, service: &str) -> Option<Target> {
        if service.is_empty() || self.readiness_services.iter().any(|s| s == service) {
            Some(Target::Readiness)
        } else if self.registry.groups().iter().any(|g| g == service) {
            Some(Target::Group(service.to_owned()))
        } else if self.registry.check_names().any(|c| c == service) {
            Some(Target::Check(service.to_owned()))
        } else {
            None
        }
    }

    async fn evaluate(&self, target: &Target) -> ServingStatus {
        let status = match target {
            Target::Readiness => self.registry.check_readiness().await.status(),
            Target::Group(group) => match self.registry.check_group(group).await {
                Some(report) => report.status(),
                None => return ServingStatus::ServiceUnknown,
            },
            Target::Check(name) => match self.registry.check(name).await {
                Some(report) => report.status(),
                None => return ServingStatus::ServiceUnknown,
            },
        };
        serving_status(status)
    }
}

/// `pass` / `warn` → `SERVING`, `fail` → `NOT_SERVING`.
fn serving_status(status: Status) -> ServingStatus {
    if status.is_healthy() {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

#[tonic::async_trait]
impl Health for GrpcHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, tonic::Status> {
        let service = &request.get_ref().service;
        let Some(target) = self.resolve(service) else {
            return Err(tonic::Status::not_found(format!(
                "unknown service {:?}",
                truncate(service, 64)
            )));
        };
        Ok(Response::new(response(self.evaluate(&target).await)))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, tonic::Status> {
        let target = self.resolve(&request.get_ref().service);
        Ok(Response::new(WatchStream::new(self.clone(), target)))
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The stream of a `Watch` call: the current status, then one message per change.
///
/// Holds no queue (memory stays constant however long it runs) and no task of its own: it
/// stops when dropped, which tonic does when the client goes away.
pub struct WatchStream {
    inner: BoxStream<'static, Result<HealthCheckResponse, tonic::Status>>,
}

impl fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchStream").finish_non_exhaustive()
    }
}

struct WatchState {
    health: GrpcHealth,
    target: Option<Target>,
    last: Option<ServingStatus>,
    changes: watch::Receiver<u64>,
    phase: watch::Receiver<Phase>,
    first: bool,
}

impl WatchState {
    /// Waits for a change notification or the poll interval.
    async fn wait(&mut self) {
        let interval = self.health.watch_interval;
        // `changed()` is cancel-safe; the senders live in the registry we hold, so they
        // cannot close (if they ever did, the interval still paces the loop).
        tokio::select! {
            _ = self.changes.changed() => {}
            _ = self.phase.changed() => {}
            _ = tokio::time::sleep(interval) => {}
        }
    }

    async fn next(&mut self) -> ServingStatus {
        loop {
            if !self.first {
                self.wait().await;
            }
            self.first = false;
            // Mark everything seen before evaluating, so a change during the evaluation
            // wakes the next wait.
            self.changes.borrow_and_update();
            self.phase.borrow_and_update();
            let Some(target) = &self.target else {
                if self.last.is_none() {
                    return ServingStatus::ServiceUnknown;
                }
                // The set of checks and groups is fixed: an unknown service stays unknown.
                // The protocol says to keep the call open, so wait for the client to leave.
                return std::future::pending().await;
            };
            let status = self.health.evaluate(target).await;
            if self.last != Some(status) {
                return status;
            }
        }
    }
}

impl WatchStream {
    fn new(health: GrpcHealth, target: Option<Target>) -> Self {
        let state = WatchState {
            changes: health.registry.subscribe_changes(),
            phase: health.registry.lifecycle().subscribe(),
            health,
            target,
            last: None,
            first: true,
        };
        let inner = stream::unfold(state, |mut state| async move {
            let status = state.next().await;
            state.last = Some(status);
            Some((Ok(response(status)), state))
        });
        Self {
            inner: Box::pin(inner),
        }
    }
}

impl Stream for WatchStream {
    type Item = Result<HealthCheckResponse, tonic::Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_char_boundary() {
        assert_eq!(truncate("abc", 64), "abc");
        assert_eq!(truncate("ééé", 3), "é");
    }

    #[test]
    fn maps_statuses() {
        assert_eq!(serving_status(Status::Pass), ServingStatus::Serving);
        assert_eq!(serving_status(Status::Warn), ServingStatus::Serving);
        assert_eq!(serving_status(Status::Fail), ServingStatus::NotServing);
    }
}
