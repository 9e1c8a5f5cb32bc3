//! Built-in checks against real PostgreSQL and Redis: healthy, unreachable, frozen
//! (SIGSTOP) and recovering, pool exhausted.

mod common;

use std::time::Duration;

use common::{PG_URL, REDIS_URL};
use pf_health::checks::{DeadpoolPostgresCheck, PgPoolCheck, RedisCheck};
use pf_health::{CheckOptions, FailureReason, HealthRegistry, Status};
use pf_tests::process::free_port;
use pf_tests::services::RedisServer;
use sqlx::postgres::PgPoolOptions;

fn observed(report: &pf_health::CheckReport, measurement: &str) -> f64 {
    report
        .result()
        .observations()
        .iter()
        .find(|o| o.measurement() == measurement)
        .unwrap_or_else(|| panic!("no {measurement} observation in {:?}", report.result()))
        .value()
        .as_f64()
        .unwrap()
}

#[tokio::test]
async fn healthy_postgres_and_redis_pass_with_latency_observed() {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(PG_URL)
        .await
        .unwrap();
    let redis = redis::aio::ConnectionManager::new(redis::Client::open(REDIS_URL).unwrap())
        .await
        .unwrap();
    let mut cfg = deadpool_postgres::Config::new();
    cfg.url = Some(PG_URL.into());
    let deadpool = cfg
        .create_pool(
            Some(deadpool_postgres::Runtime::Tokio1),
            deadpool_postgres::tokio_postgres::NoTls,
        )
        .unwrap();
    let registry = HealthRegistry::builder()
        .check(
            "postgres",
            PgPoolCheck::new(pool.clone()),
            CheckOptions::new(),
        )
        .check(
            "postgres-deadpool",
            DeadpoolPostgresCheck::new(deadpool),
            CheckOptions::new(),
        )
        .check("redis", RedisCheck::new(redis), CheckOptions::new())
        .build()
        .unwrap();
    registry.lifecycle().mark_ready();
    let report = registry.check_readiness().await;
    assert_eq!(report.status(), Status::Pass, "{report:?}");
    for name in ["postgres", "postgres-deadpool", "redis"] {
        let check = report.get(name).unwrap();
        assert_eq!(check.status(), Status::Pass, "{check:?}");
        let latency = observed(check, "responseTime");
        assert!(latency > 0.0, "{name} latency observed: {latency}");
    }
    assert!(observed(report.get("postgres").unwrap(), "utilization") >= 0.0);
    let json = report.to_json(true);
    assert_eq!(
        json["checks"]["redis:responseTime"][0]["observedUnit"],
        "ms"
    );
    assert_eq!(
        json["checks"]["postgres:utilization"][0]["observedUnit"],
        "percent"
    );
    assert_eq!(
        json["checks"]["postgres:responseTime"][0]["componentType"],
        "datastore"
    );
    // The check borrowed from the application's pool rather than opening its own.
    assert!(pool.size() <= 4);
}

#[tokio::test]
async fn unreachable_port_fails_within_the_timeout_without_leaking_credentials() {
    let port = free_port();
    let url = format!("postgres://postgres:hunter2secret@127.0.0.1:{port}/test");
    // sqlx retries refused connections until its acquire timeout: the check's timeout caps it.
    let patient_pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(3600))
        .connect_lazy(&url)
        .unwrap();
    // With a short acquire timeout the pool gives up first and the error is reported.
    let quick_pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(200))
        .connect_lazy(&url)
        .unwrap();
    let registry = HealthRegistry::builder()
        .check(
            "patient",
            PgPoolCheck::new(patient_pool),
            CheckOptions::new().timeout(Duration::from_millis(300)),
        )
        .check(
            "quick",
            PgPoolCheck::new(quick_pool),
            CheckOptions::new().timeout(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    registry.lifecycle().mark_ready();
    let report = registry.check_readiness().await;
    assert_eq!(report.status(), Status::Fail);
    let patient = report.get("patient").unwrap();
    assert_eq!(patient.status(), Status::Fail);
    assert_eq!(
        patient.failure_reason(),
        Some(FailureReason::Timeout),
        "{patient:?}"
    );
    let quick = report.get("quick").unwrap();
    assert_eq!(quick.status(), Status::Fail);
    assert_eq!(
        quick.failure_reason(),
        Some(FailureReason::Error),
        "{quick:?}"
    );
    for check in report.checks() {
        let out = check.output().unwrap();
        assert!(
            !out.contains("hunter2secret") && !out.contains("postgres://postgres"),
            "{out}"
        );
        assert!(out.len() <= pf_health::MAX_OUTPUT_LEN);
    }
    let body = report.to_json(true).to_string();
    assert!(!body.contains("hunter2secret"), "{body}");

    // Redis refuses too; its error message, even with the URL appended, is sanitised.
    let redis = redis::Client::open(format!("redis://:hunter2secret@127.0.0.1:{port}")).unwrap();
    let err = redis.get_multiplexed_async_connection().await.unwrap_err();
    let sanitized = pf_health::sanitize_output(&format!(
        "redis: {err} (redis://:hunter2secret@127.0.0.1:{port})"
    ));
    assert!(!sanitized.contains("hunter2secret"), "{sanitized}");
}

#[tokio::test]
async fn frozen_redis_times_out_and_recovery_respects_the_threshold() {
    let server = RedisServer::start();
    let connection = redis::aio::ConnectionManager::new(redis::Client::open(server.url()).unwrap())
        .await
        .unwrap();
    let registry = HealthRegistry::builder()
        .check(
            "redis",
            RedisCheck::new(connection),
            CheckOptions::new()
                .timeout(Duration::from_millis(300))
                .on_demand(Duration::ZERO)
                .recovery_threshold(2),
        )
        .build()
        .unwrap();
    assert_eq!(
        registry.check("redis").await.unwrap().status(),
        Status::Pass
    );

    server.freeze();
    let frozen = registry.check("redis").await.unwrap();
    assert_eq!(frozen.status(), Status::Fail);
    assert_eq!(
        frozen.failure_reason(),
        Some(FailureReason::Timeout),
        "{frozen:?}"
    );
    assert!(frozen.output().unwrap().contains("timed out"));

    server.thaw();
    // The connection recovers; the first good run is not yet enough.
    let mut first_good = None;
    for _ in 0..50 {
        let report = registry.check("redis").await.unwrap();
        if report.raw_status() == Status::Pass {
            first_good = Some(report);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_good = first_good.expect("redis answers again after SIGCONT");
    assert_eq!(
        first_good.status(),
        Status::Fail,
        "recovery threshold 2: still failing"
    );
    assert!(first_good.output().unwrap().contains("recovering (1 of 2"));
    let second = registry.check("redis").await.unwrap();
    assert_eq!(second.status(), Status::Pass, "{second:?}");
}

#[tokio::test]
async fn exhausted_pool_warns_instead_of_failing() {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(30))
        .connect(PG_URL)
        .await
        .unwrap();
    let registry = HealthRegistry::builder()
        .check(
            "postgres",
            PgPoolCheck::new(pool.clone()),
            CheckOptions::new().on_demand(Duration::ZERO),
        )
        .build()
        .unwrap();
    registry.lifecycle().mark_ready();
    let held = (pool.acquire().await.unwrap(), pool.acquire().await.unwrap());
    let report = registry.check_readiness().await;
    assert_eq!(report.status(), Status::Warn, "{report:?}");
    let check = report.get("postgres").unwrap();
    assert_eq!(check.status(), Status::Warn);
    assert_eq!(observed(check, "utilization"), 100.0);
    assert!(
        check.output().unwrap().contains("2 of 2"),
        "{:?}",
        check.output()
    );
    drop(held);
    // sqlx returns connections to the pool on a background task: wait (bounded) for them.
    let mut status = Status::Warn;
    for _ in 0..100 {
        status = registry.check("postgres").await.unwrap().status();
        if status == Status::Pass {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, Status::Pass);

    // The same for deadpool.
    let mut cfg = deadpool_postgres::Config::new();
    cfg.url = Some(PG_URL.into());
    cfg.pool = Some(deadpool_postgres::PoolConfig::new(1));
    let deadpool = cfg
        .create_pool(
            Some(deadpool_postgres::Runtime::Tokio1),
            deadpool_postgres::tokio_postgres::NoTls,
        )
        .unwrap();
    let registry = HealthRegistry::builder()
        .check(
            "pg",
            DeadpoolPostgresCheck::new(deadpool.clone()),
            CheckOptions::new().on_demand(Duration::ZERO),
        )
        .build()
        .unwrap();
    let held = deadpool.get().await.unwrap();
    assert_eq!(registry.check("pg").await.unwrap().status(), Status::Warn);
    drop(held);
    assert_eq!(registry.check("pg").await.unwrap().status(), Status::Pass);
}

#[tokio::test]
async fn require_primary_passes_on_a_primary() {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(PG_URL)
        .await
        .unwrap();
    let registry = HealthRegistry::builder()
        .check(
            "pg",
            PgPoolCheck::new(pool).require_primary(true),
            CheckOptions::new(),
        )
        .build()
        .unwrap();
    assert_eq!(registry.check("pg").await.unwrap().status(), Status::Pass);
}
