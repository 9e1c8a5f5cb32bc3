//! The [`HealthRegistry`] facade (reports over the registered checks) and its builder.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
#[cfg(feature = "metrics")]
use std::sync::Weak;

use tokio::sync::watch;

use crate::check::{DynCheck, Erased, HealthCheck};
use crate::error::BuildError;
use crate::lifecycle::{Lifecycle, Phase};
use crate::options::{CheckOptions, Mode, valid_name};
use crate::periodic::refresh_periodically;
use crate::report::{CheckReport, HealthReport, ServiceInfo};
use crate::slot::{Listener, Slot, StatusChange, wait};

/// Which checks a report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selection {
    /// Critical checks and the lifecycle (`/readyz`).
    Readiness,
    /// Every check and the lifecycle (`/health`).
    All,
    /// The checks of one group (`/health/<group>`).
    Group(String),
}

pub(crate) struct Inner {
    slots: Vec<Arc<Slot>>,
    by_name: HashMap<Arc<str>, usize>,
    groups: Vec<String>,
    lifecycle: Lifecycle,
    background: Vec<tokio::task::JoinHandle<()>>,
    info: ServiceInfo,
    changes: Arc<watch::Sender<u64>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
    }
}

/// The set of health checks of one application, with its [`Lifecycle`].
///
/// Cheap to clone (an `Arc`); background tasks of periodic checks stop when the last clone is
/// dropped. Build one with [`HealthRegistry::builder`].
///
/// ```
/// use std::time::Duration;
/// use pf_health::{check_fn, CheckOptions, HealthRegistry, Status};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = HealthRegistry::builder()
///     .check("queue", check_fn(|| async { Status::Pass }), CheckOptions::new())
///     .check(
///         "search",
///         check_fn(|| async { Err::<(), _>("index unavailable") }),
///         CheckOptions::new().critical(false).timeout(Duration::from_millis(200)),
///     )
///     .build()
///     .unwrap();
/// registry.lifecycle().mark_ready();
///
/// let ready = registry.check_readiness().await;
/// assert_eq!(ready.status(), Status::Pass); // "search" is not critical
/// let all = registry.check_all().await;
/// assert_eq!(all.status(), Status::Warn);
/// # }
/// ```
#[derive(Clone)]
pub struct HealthRegistry {
    inner: Arc<Inner>,
}

impl fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthRegistry")
            .field("checks", &self.check_names().collect::<Vec<_>>())
            .field("phase", &self.inner.lifecycle.phase())
            .finish()
    }
}

impl HealthRegistry {
    /// Starts building a registry.
    pub fn builder() -> HealthRegistryBuilder {
        HealthRegistryBuilder::default()
    }

    /// The lifecycle (starting → ready → draining) that readiness and startup follow.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.inner.lifecycle
    }

    /// The names of the registered checks, in registration order.
    pub fn check_names(&self) -> impl Iterator<Item = &str> {
        self.inner.slots.iter().map(|s| &*s.name)
    }

    /// The names of the groups that checks declared.
    pub fn groups(&self) -> &[String] {
        &self.inner.groups
    }

    /// Readiness: the critical checks and the lifecycle (what `/readyz` answers).
    pub async fn check_readiness(&self) -> HealthReport {
        self.report(&Selection::Readiness, &[]).await
    }

    /// Every check and the lifecycle (what `/health` answers): a failing non-critical check
    /// makes the status `warn`.
    pub async fn check_all(&self) -> HealthReport {
        self.report(&Selection::All, &[]).await
    }

    /// The checks of one group; `None` if no check is in that group.
    pub async fn check_group(&self, group: &str) -> Option<HealthReport> {
        if !self.inner.groups.iter().any(|g| g == group) {
            return None;
        }
        Some(self.report(&Selection::Group(group.to_owned()), &[]).await)
    }

    /// Gets one check's result (from cache or by running it); `None` for an unknown name.
    pub async fn check(&self, name: &str) -> Option<CheckReport> {
        let slot = self.inner.slots.get(*self.inner.by_name.get(name)?)?;
        let record = match slot.lookup() {
            Ok(record) => record,
            Err(mut rx) => wait(&mut rx).await,
        };
        Some(slot.report(record))
    }

    /// The latest result of a check without running anything; `None` if unknown or never run.
    pub fn cached(&self, name: &str) -> Option<CheckReport> {
        let slot = self.inner.slots.get(*self.inner.by_name.get(name)?)?;
        slot.cached_report()
    }

    /// Builds a report for `selection`, leaving out the checks named in `exclude`.
    ///
    /// All checks that need a run are started at once and run concurrently; cached results are
    /// reused and concurrent callers share runs.
    pub async fn report(&self, selection: &Selection, exclude: &[&str]) -> HealthReport {
        let selected = self.inner.slots.iter().filter(|slot| {
            let wanted = match selection {
                Selection::Readiness => slot.options.critical,
                Selection::All => true,
                Selection::Group(group) => slot.options.groups.iter().any(|g| g == group),
            };
            wanted && !exclude.contains(&&*slot.name)
        });
        // Start every needed run before waiting on any, so they overlap.
        let lookups: Vec<_> = selected.map(|slot| (slot, slot.lookup())).collect();
        let mut checks = Vec::with_capacity(lookups.len());
        for (slot, lookup) in lookups {
            let record = match lookup {
                Ok(record) => record,
                Err(mut rx) => wait(&mut rx).await,
            };
            checks.push(slot.report(record));
        }
        let lifecycle = match selection {
            Selection::Group(_) => None,
            _ => Some(self.inner.lifecycle.phase()),
        };
        HealthReport::aggregate(checks, lifecycle)
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn downgrade(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn slots(&self) -> &[Arc<Slot>] {
        &self.inner.slots
    }

    pub(crate) fn info(&self) -> &ServiceInfo {
        &self.inner.info
    }

    /// Notified whenever a check's reported status changes (the value is a change counter).
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Whether the lifecycle lets the application serve (for `/readyz` with no checks).
    pub(crate) fn phase(&self) -> Phase {
        self.inner.lifecycle.phase()
    }
}

/// Builds a [`HealthRegistry`]: see there for an example.
#[derive(Default)]
#[must_use]
pub struct HealthRegistryBuilder {
    checks: Vec<(String, Arc<dyn DynCheck>, CheckOptions)>,
    listeners: Vec<Listener>,
    lifecycle: Option<Lifecycle>,
    info: ServiceInfo,
}

impl fmt::Debug for HealthRegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthRegistryBuilder")
            .field(
                "checks",
                &self.checks.iter().map(|c| &c.0).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl HealthRegistryBuilder {
    /// Registers a check under `name` (`A-Z a-z 0-9 _ . -`, at most 64 characters).
    pub fn check(
        mut self,
        name: impl Into<String>,
        check: impl HealthCheck,
        options: CheckOptions,
    ) -> Self {
        self.checks
            .push((name.into(), Arc::new(Erased(check)), options));
        self
    }

    /// Calls `listener` whenever a check's reported status changes (and for its first result).
    /// Keep it quick: it runs on the check's task.
    pub fn on_status_change(
        mut self,
        listener: impl Fn(&StatusChange) + Send + Sync + 'static,
    ) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Uses an existing lifecycle (e.g. one shared with the shutdown code). By default the
    /// registry makes its own, in phase [`Phase::Starting`].
    pub fn lifecycle(mut self, lifecycle: Lifecycle) -> Self {
        self.lifecycle = Some(lifecycle);
        self
    }

    /// health+json `serviceId`.
    pub fn service_id(mut self, id: impl Into<String>) -> Self {
        self.info.service_id = Some(id.into());
        self
    }

    /// health+json `version` (e.g. the major API version).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.info.version = Some(version.into());
        self
    }

    /// health+json `releaseId` (e.g. the crate version or git commit).
    pub fn release_id(mut self, release: impl Into<String>) -> Self {
        self.info.release_id = Some(release.into());
        self
    }

    /// health+json `description`.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.info.description = Some(description.into());
        self
    }

    /// Validates names and options and starts the background tasks of periodic checks.
    ///
    /// Errors: an invalid or duplicate name, inconsistent options, or periodic checks
    /// outside a Tokio runtime.
    pub fn build(self) -> Result<HealthRegistry, BuildError> {
        let listeners: Arc<[Listener]> = self.listeners.into();
        let changes = Arc::new(watch::Sender::new(0u64));
        let mut slots = Vec::with_capacity(self.checks.len());
        let mut by_name = HashMap::new();
        let mut groups: Vec<String> = Vec::new();
        for (name, check, options) in self.checks {
            if !valid_name(&name) {
                return Err(BuildError::InvalidName(name));
            }
            options.validate(&name)?;
            let name: Arc<str> = name.into();
            if by_name.insert(name.clone(), slots.len()).is_some() {
                return Err(BuildError::DuplicateName(name.to_string()));
            }
            for group in &options.groups {
                if !groups.contains(group) {
                    groups.push(group.clone());
                }
            }
            slots.push(Arc::new(Slot::new(
                name,
                options,
                check,
                listeners.clone(),
                changes.clone(),
            )));
        }
        let periodic: Vec<_> = slots
            .iter()
            .filter(|s| matches!(s.options.mode, Mode::Periodic { .. }))
            .collect();
        let mut background = Vec::new();
        if !periodic.is_empty() {
            let handle =
                tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
            for slot in periodic {
                background.push(handle.spawn(refresh_periodically(Arc::downgrade(slot))));
            }
        }
        Ok(HealthRegistry {
            inner: Arc::new(Inner {
                slots,
                by_name,
                groups,
                lifecycle: self.lifecycle.unwrap_or_default(),
                background,
                info: self.info,
                changes,
            }),
        })
    }
}
