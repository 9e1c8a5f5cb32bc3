//! The endpoints over real HTTP on loopback: probe storm, PostgreSQL down, drain, details.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::get;
use common::{PG_URL, REDIS_URL, client};
use pf_health::checks::{PgPoolCheck, RedisCheck};
use pf_health::{
    BearerToken, CheckOptions, CheckResult, HealthCheck, HealthLayer, HealthRegistry, ShowDetails,
    Status, check_fn,
};
use pf_tests::loopback::serve;
use pf_tests::services::PgCluster;
use sqlx::postgres::PgPoolOptions;

/// Counts the runs of the check it wraps.
struct Counting<C> {
    inner: C,
    runs: Arc<AtomicUsize>,
}

impl<C: HealthCheck> HealthCheck for Counting<C> {
    async fn check(&self) -> CheckResult {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.inner.check().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_storm_runs_each_check_once() {
    const PROBES: usize = 1000;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(PG_URL)
        .await
        .unwrap();
    let redis = redis::aio::ConnectionManager::new(redis::Client::open(REDIS_URL).unwrap())
        .await
        .unwrap();
    let (pg_runs, redis_runs, gated_runs) = Default::default();
    let (arrived_tx, arrived) = tokio::sync::watch::channel(0usize);
    // This check only finishes once every probe has arrived: all 1,000 are in flight at once.
    let gated = check_fn(move || {
        let mut arrived = arrived.clone();
        async move {
            arrived
                .wait_for(|n| *n >= PROBES)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    });
    let ttl = CheckOptions::new()
        .on_demand(Duration::from_secs(3600))
        .timeout(Duration::from_secs(60));
    let registry = HealthRegistry::builder()
        .check(
            "postgres",
            Counting {
                inner: PgPoolCheck::new(pool),
                runs: Arc::clone(&pg_runs),
            },
            ttl.clone(),
        )
        .check(
            "redis",
            Counting {
                inner: RedisCheck::new(redis),
                runs: Arc::clone(&redis_runs),
            },
            ttl.clone(),
        )
        .check(
            "gated",
            Counting {
                inner: gated,
                runs: Arc::clone(&gated_runs),
            },
            ttl,
        )
        .build()
        .unwrap();
    registry.lifecycle().mark_ready();
    let arrived_tx = Arc::new(arrived_tx);
    let app = axum::Router::new()
        .route("/", get(|| async { "app" }))
        .layer(HealthLayer::new(registry.clone()))
        .layer(tower::util::MapRequestLayer::new(
            move |req: axum::extract::Request| {
                arrived_tx.send_modify(|n| *n += 1);
                req
            },
        ));
    let server = serve(app).await;
    let addr = server.addr();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let url = format!("http://{addr}/readyz");
    let probes: Vec<_> = (0..PROBES)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move { client.get(&url).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let mut ok = 0;
    for probe in probes {
        if probe.await.unwrap().expect("probe answered") == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, PROBES, "every probe got 200");
    assert_eq!(pg_runs.load(Ordering::SeqCst), 1, "postgres ran once");
    assert_eq!(redis_runs.load(Ordering::SeqCst), 1, "redis ran once");
    assert_eq!(gated_runs.load(Ordering::SeqCst), 1, "gated ran once");
}

#[tokio::test]
async fn livez_stays_up_while_postgres_is_down_and_readyz_fails_with_health_json() {
    let mut cluster = PgCluster::start();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&cluster.url())
        .await
        .unwrap();
    let registry = HealthRegistry::builder()
        .check(
            "postgres",
            PgPoolCheck::new(pool),
            CheckOptions::new()
                .on_demand(Duration::ZERO)
                .timeout(Duration::from_secs(5)),
        )
        .build()
        .unwrap();
    registry.lifecycle().mark_ready();
    let app = axum::Router::new().layer(HealthLayer::new(registry).show_details(ShowDetails));
    let server = serve(app).await;
    let addr = server.addr();
    let client = client();
    let get = |path: &str| client.get(format!("http://{addr}{path}")).send();

    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    cluster.stop();

    let live = get("/livez").await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = get("/readyz?verbose").await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.headers()["content-type"], "application/health+json");
    assert_eq!(ready.headers()["cache-control"], "no-store");
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "fail");
    let entry = &body["checks"]["postgres:responseTime"][0];
    assert_eq!(entry["status"], "fail", "{body}");
    assert!(
        entry["output"].as_str().unwrap().starts_with("postgres:"),
        "{body}"
    );
    assert!(entry["time"].as_str().unwrap().ends_with('Z'));
    // Still live after the dependency failed.
    assert_eq!(get("/livez").await.unwrap().status(), 200);

    cluster.start_server();
    let mut recovered = false;
    for _ in 0..50 {
        if get("/readyz").await.unwrap().status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "readiness comes back with the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_fails_readiness_before_the_listener_closes_and_finishes_in_flight_requests() {
    let registry = HealthRegistry::builder().build().unwrap();
    registry.lifecycle().mark_ready();
    let (release_tx, release) = tokio::sync::watch::channel(false);
    let (entered_tx, mut entered) = tokio::sync::mpsc::channel::<()>(1);
    let app = axum::Router::new()
        .route(
            "/slow",
            get(move || {
                let mut release = release.clone();
                let entered_tx = entered_tx.clone();
                async move {
                    entered_tx.send(()).await.unwrap();
                    release.wait_for(|r| *r).await.unwrap();
                    "done"
                }
            }),
        )
        .layer(HealthLayer::new(registry.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (signal_tx, signal) = tokio::sync::oneshot::channel::<()>();
    let shutdown = registry
        .lifecycle()
        .drain_on(signal, Duration::from_secs(2));
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    });

    let client = client();
    assert_eq!(
        client
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.get(format!("http://{addr}/slow")).send().await }
    });
    entered.recv().await.unwrap();

    signal_tx.send(()).unwrap();
    registry
        .lifecycle()
        .reached(pf_health::Phase::Draining)
        .await;
    // The listener still accepts (new connection) and readiness already fails.
    let ready = client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["output"], "draining");
    assert_eq!(
        client
            .get(format!("http://{addr}/livez"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // After the delay the listener closes, while the slow request is still in flight.
    let mut closed = false;
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(closed, "the listener closes after the drain delay");
    assert!(
        !slow.is_finished(),
        "the in-flight request is still running"
    );
    release_tx.send_replace(true);
    let response = slow.await.unwrap().expect("in-flight request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn details_only_for_permitted_callers_and_exclude_and_groups() {
    let registry = HealthRegistry::builder()
        .check(
            "ok",
            check_fn(|| async { Status::Pass }),
            CheckOptions::new().group("core"),
        )
        .check(
            "flaky",
            check_fn(|| async { CheckResult::fail("connect postgres://u:pw@db failed") }),
            CheckOptions::new(),
        )
        .service_id("demo")
        .build()
        .unwrap();
    registry.lifecycle().mark_ready();
    let app = axum::Router::new()
        .route("/", get(|| async { "app" }))
        .layer(HealthLayer::new(registry).show_details(BearerToken::new("t0k3n").unwrap()));
    let server = serve(app).await;
    let addr = server.addr();
    let client = client();
    let url = |p: &str| format!("http://{addr}{p}");

    let anonymous: serde_json::Value = client
        .get(url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The details are withheld, and the response says how to get them (never the token).
    assert_eq!(
        anonymous,
        serde_json::json!({
            "status": "fail",
            "serviceId": "demo",
            "notes": ["check details need `Authorization: Bearer <token>` with the service's health-details token"],
        })
    );
    assert!(!anonymous.to_string().contains("t0k3n"));
    let verbose_ready: serde_json::Value = client
        .get(url("/readyz?verbose"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(verbose_ready.get("checks").is_none());
    assert_eq!(verbose_ready["notes"].as_array().map(Vec::len), Some(1));
    // A plain readiness probe asked for nothing, and is told nothing.
    let plain_ready: serde_json::Value = client
        .get(url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(plain_ready.get("notes").is_none());
    let res = client
        .get(url("/health"))
        .bearer_auth("t0k3n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let full: serde_json::Value = res.json().await.unwrap();
    let output = full["checks"]["flaky:responseTime"][0]["output"]
        .as_str()
        .unwrap();
    assert!(!output.contains("pw@"), "{output}");
    assert_eq!(full["checks"]["ok:responseTime"][0]["status"], "pass");
    assert!(full["checks"]["ok:responseTime"][0].get("output").is_none());

    assert_eq!(
        client
            .get(url("/readyz?exclude=flaky"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(url("/health/core"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(url("/health/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client.post(url("/readyz")).send().await.unwrap().status(),
        405
    );
    assert_eq!(
        client.get(url("/startupz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        client
            .get(url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "app"
    );
}
