//! Registry behaviour with in-process checks: single-flight, TTL, timeouts, panics,
//! thresholds, staleness, groups, listeners and build errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use pf_health::{
    BuildError, CheckOptions, CheckResult, FailureReason, HealthRegistry, Phase, Selection, Status,
    check_fn,
};

fn counting(runs: &Arc<AtomicUsize>, status: Status) -> impl pf_health::HealthCheck {
    let runs = runs.clone();
    check_fn(move || {
        runs.fetch_add(1, Ordering::SeqCst);
        async move { status }
    })
}

#[tokio::test]
async fn concurrent_callers_share_one_run_and_ttl_caches() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (release, gate) = tokio::sync::watch::channel(false);
    let check = {
        let runs = runs.clone();
        check_fn(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            let mut gate = gate.clone();
            async move {
                gate.wait_for(|open| *open).await.unwrap();
                Status::Pass
            }
        })
    };
    let registry = HealthRegistry::builder()
        .check(
            "slow",
            check,
            CheckOptions::new()
                .timeout(Duration::from_secs(30))
                .on_demand(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    registry.lifecycle().mark_ready();
    let waiters: Vec<_> = (0..50)
        .map(|_| {
            let r = registry.clone();
            tokio::spawn(async move { r.check_readiness().await.status() })
        })
        .collect();
    tokio::task::yield_now().await;
    release.send_replace(true);
    for w in waiters {
        assert_eq!(w.await.unwrap(), Status::Pass);
    }
    assert_eq!(registry.check_readiness().await.status(), Status::Pass);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "one run for all callers within the TTL"
    );
}

#[tokio::test]
async fn ttl_zero_runs_every_time() {
    let runs = Arc::new(AtomicUsize::new(0));
    let registry = HealthRegistry::builder()
        .check(
            "c",
            counting(&runs, Status::Pass),
            CheckOptions::new().on_demand(Duration::ZERO),
        )
        .build()
        .unwrap();
    for _ in 0..3 {
        registry.check("c").await.unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn hanging_check_times_out_and_panicking_check_fails() {
    let registry = HealthRegistry::builder()
        .check(
            "hang",
            check_fn(std::future::pending::<Status>),
            CheckOptions::new().timeout(Duration::from_millis(50)),
        )
        .check(
            "panic",
            check_fn(|| async { panic!("boom at postgres://u:pw@h/db") as Status }),
            CheckOptions::new(),
        )
        .build()
        .unwrap();
    let hang = registry.check("hang").await.unwrap();
    assert_eq!(hang.status(), Status::Fail);
    assert_eq!(hang.failure_reason(), Some(FailureReason::Timeout));
    assert!(
        hang.output().unwrap().contains("timed out"),
        "{:?}",
        hang.output()
    );

    let panic = registry.check("panic").await.unwrap();
    assert_eq!(panic.status(), Status::Fail);
    assert_eq!(panic.failure_reason(), Some(FailureReason::Error));
    let out = panic.output().unwrap();
    assert!(out.contains("panicked"), "{out}");
    assert!(!out.contains("pw@"), "credentials must not leak: {out}");
}

#[tokio::test]
async fn failure_and_recovery_thresholds_damp_flapping() {
    let healthy = Arc::new(AtomicBool::new(true));
    let check = {
        let healthy = healthy.clone();
        check_fn(move || {
            let ok = healthy.load(Ordering::SeqCst);
            async move {
                if ok {
                    CheckResult::pass()
                } else {
                    CheckResult::fail("down")
                }
            }
        })
    };
    let changes = Arc::new(parking_lot_free::Changes::default());
    let registry = HealthRegistry::builder()
        .check(
            "dep",
            check,
            CheckOptions::new()
                .on_demand(Duration::ZERO)
                .failure_threshold(2)
                .recovery_threshold(3),
        )
        .on_status_change({
            let changes = changes.clone();
            move |c| changes.push((c.previous, c.current))
        })
        .build()
        .unwrap();
    let status = || async { registry.check("dep").await.unwrap() };
    assert_eq!(status().await.status(), Status::Pass);
    healthy.store(false, Ordering::SeqCst);
    let first = status().await;
    assert_eq!(
        first.status(),
        Status::Warn,
        "one failure is below the threshold"
    );
    assert_eq!(first.raw_status(), Status::Fail);
    assert_eq!(status().await.status(), Status::Fail);
    healthy.store(true, Ordering::SeqCst);
    assert_eq!(status().await.status(), Status::Fail, "recovering 1/3");
    assert_eq!(status().await.status(), Status::Fail, "recovering 2/3");
    assert_eq!(status().await.status(), Status::Pass, "recovered 3/3");
    assert_eq!(
        changes.take(),
        vec![
            (None, Status::Pass),
            (Some(Status::Pass), Status::Warn),
            (Some(Status::Warn), Status::Fail),
            (Some(Status::Fail), Status::Pass)
        ]
    );
}

mod parking_lot_free {
    #[derive(Default)]
    pub struct Changes(std::sync::Mutex<Vec<(Option<pf_health::Status>, pf_health::Status)>>);
    impl Changes {
        pub fn push(&self, c: (Option<pf_health::Status>, pf_health::Status)) {
            self.0.lock().unwrap().push(c);
        }
        pub fn take(&self) -> Vec<(Option<pf_health::Status>, pf_health::Status)> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }
}

#[tokio::test(start_paused = true)]
async fn periodic_checks_refresh_in_background_and_probes_read_the_cache() {
    let runs = Arc::new(AtomicUsize::new(0));
    let registry = HealthRegistry::builder()
        .check(
            "bg",
            counting(&runs, Status::Pass),
            CheckOptions::new()
                .periodic(Duration::from_secs(10))
                .stale_after(2),
        )
        .build()
        .unwrap();
    // The first probe waits for the first run.
    assert_eq!(registry.check("bg").await.unwrap().status(), Status::Pass);
    tokio::time::sleep(Duration::from_secs(35)).await;
    let after = runs.load(Ordering::SeqCst);
    assert!(after >= 3, "background runs happened: {after}");
    // Probes read the cache, never run the check.
    for _ in 0..10 {
        registry.check("bg").await.unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), after);
    let cached = registry.cached("bg").unwrap();
    assert_eq!(cached.status(), Status::Pass);
}

#[tokio::test(start_paused = true)]
async fn periodic_result_older_than_k_intervals_fails() {
    let (release, gate) = tokio::sync::watch::channel(0u32);
    let check = check_fn(move || {
        let mut gate = gate.clone();
        async move {
            // The first run answers at once; later runs hang (within their timeout).
            let first = *gate.borrow() == 0;
            if !first {
                let _ = gate.wait_for(|v| *v > 1).await;
            }
            Status::Pass
        }
    });
    let registry = HealthRegistry::builder()
        .check(
            "stuck",
            check,
            CheckOptions::new()
                .periodic(Duration::from_secs(1))
                .timeout(Duration::from_secs(3600))
                .stale_after(3),
        )
        .build()
        .unwrap();
    assert_eq!(
        registry.check("stuck").await.unwrap().status(),
        Status::Pass
    );
    release.send_replace(1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The second run hangs (its timeout is long): after 3 intervals the result is stale.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let report = registry.check("stuck").await.unwrap();
    assert_eq!(report.status(), Status::Fail);
    assert!(
        report.output().unwrap().starts_with("stale"),
        "{:?}",
        report.output()
    );
}

#[tokio::test]
async fn readiness_uses_critical_checks_and_lifecycle_groups_and_exclude() {
    let registry = HealthRegistry::builder()
        .check(
            "db",
            check_fn(|| async { Status::Pass }),
            CheckOptions::new().group("data"),
        )
        .check(
            "search",
            check_fn(|| async { CheckResult::fail("down") }),
            CheckOptions::new().critical(false).group("data"),
        )
        .check(
            "broken",
            check_fn(|| async { CheckResult::fail("down") }),
            CheckOptions::new(),
        )
        .build()
        .unwrap();
    assert_eq!(registry.lifecycle().phase(), Phase::Starting);
    let ready = registry.check_readiness().await;
    assert_eq!(ready.status(), Status::Fail);
    assert_eq!(ready.output(), Some("starting"));
    registry.lifecycle().mark_ready();
    assert_eq!(
        registry.check_readiness().await.status(),
        Status::Fail,
        "broken is critical"
    );
    let excluded = registry.report(&Selection::Readiness, &["broken"]).await;
    assert_eq!(excluded.status(), Status::Pass);
    assert!(
        excluded.get("search").is_none(),
        "non-critical checks are not in readiness"
    );
    let data = registry.check_group("data").await.unwrap();
    assert_eq!(
        data.status(),
        Status::Warn,
        "non-critical failure only warns"
    );
    assert_eq!(data.checks().len(), 2);
    assert!(registry.check_group("nope").await.is_none());
    registry.lifecycle().start_draining();
    let draining = registry.report(&Selection::Readiness, &["broken"]).await;
    assert_eq!(
        (draining.status(), draining.output()),
        (Status::Fail, Some("draining"))
    );
}

#[test]
fn bad_input_gets_clear_errors() {
    let ok = || check_fn(|| async { Status::Pass });
    let err = HealthRegistry::builder()
        .check("bad name!", ok(), CheckOptions::new())
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::InvalidName("bad name!".into()));
    assert!(err.to_string().contains("A-Z a-z 0-9"));
    let err = HealthRegistry::builder()
        .check("a", ok(), CheckOptions::new())
        .check("a", ok(), CheckOptions::new())
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "check \"a\" is registered twice");
    let err = HealthRegistry::builder()
        .check("a", ok(), CheckOptions::new().timeout(Duration::ZERO))
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("timeout must be greater than zero"),
        "{err}"
    );
    let err = HealthRegistry::builder()
        .check("a", ok(), CheckOptions::new().failure_threshold(0))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("thresholds"), "{err}");
    // Periodic checks need a runtime; this test has none.
    let err = HealthRegistry::builder()
        .check(
            "a",
            ok(),
            CheckOptions::new().periodic(Duration::from_secs(1)),
        )
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::NoRuntime);
}
