//! The `grpc` feature against a real tonic server on 127.0.0.1 and the tonic-health client:
//! status mapping, NOT_FOUND, lifecycle, Watch (polling and change notifications, end on
//! client drop) and a probe storm that runs the check once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use pf_health::grpc::{GrpcHealth, HealthServer};
use pf_health::{CheckOptions, HealthCheck, HealthRegistry, Status, check_fn};
use tonic::Code;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Upper bound for anything the tests wait for; never part of an assertion about speed.
const WAIT: Duration = Duration::from_secs(20);

/// A running server; aborted when dropped, also when a test panics.
struct TestServer {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(service: HealthServer<GrpcHealth>) -> (TestServer, HealthClient<Channel>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .expect("grpc server");
    });
    let server = TestServer { task };
    let channel = tokio::time::timeout(
        WAIT,
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect(),
    )
    .await
    .expect("connect timed out")
    .expect("connect");
    (server, HealthClient::new(channel))
}

/// A check whose result the test flips; counts its runs.
fn flag_check(ok: &Arc<AtomicBool>, runs: &Arc<AtomicUsize>) -> impl HealthCheck + use<> {
    let (ok, runs) = (ok.clone(), runs.clone());
    check_fn(move || {
        runs.fetch_add(1, Ordering::SeqCst);
        let ok = ok.load(Ordering::SeqCst);
        async move { if ok { Status::Pass } else { Status::Fail } }
    })
}

fn fresh() -> CheckOptions {
    CheckOptions::new().on_demand(Duration::ZERO)
}

async fn check(
    client: &mut HealthClient<Channel>,
    service: &str,
) -> Result<ServingStatus, tonic::Status> {
    let response = tokio::time::timeout(
        WAIT,
        client.check(HealthCheckRequest {
            service: service.into(),
        }),
    )
    .await
    .expect("Check timed out")?;
    Ok(ServingStatus::try_from(response.into_inner().status).expect("known enum value"))
}

async fn next_status(
    stream: &mut tonic::Streaming<tonic_health::pb::HealthCheckResponse>,
) -> ServingStatus {
    let message = tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("no Watch message in time")
        .expect("Watch failed")
        .expect("Watch ended");
    ServingStatus::try_from(message.status).expect("known enum value")
}

async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_when_checks_pass() {
    let ok = Arc::new(AtomicBool::new(true));
    let runs = Arc::new(AtomicUsize::new(0));
    let registry = HealthRegistry::builder()
        .check("db", flag_check(&ok, &runs), fresh().group("storage"))
        .build()
        .unwrap();
    registry.lifecycle().mark_ready();
    let (_server, mut client) = serve(pf_health::grpc::health_service(registry)).await;

    assert_eq!(
        check(&mut client, "").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        check(&mut client, "db").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        check(&mut client, "storage").await.unwrap(),
        ServingStatus::Serving
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_serving_when_a_critical_check_fails() {
    let db_ok = Arc::new(AtomicBool::new(true));
    let search_ok = Arc::new(AtomicBool::new(true));
    let runs = Arc::new(AtomicUsize::new(0));
    let registry = HealthRegistry::builder()
        .check("db", flag_check(&db_ok, &runs), fresh().group("storage"))
        .check(
            "search",
            flag_check(&search_ok, &runs),
            fresh().critical(false).group("extras"),
        )
        .build()
        .unwrap();
    registry.lifecycle().mark_ready();
    let (_server, mut client) = serve(pf_health::grpc::health_service(registry)).await;
    assert_eq!(
        check(&mut client, "").await.unwrap(),
        ServingStatus::Serving
    );

    // A failing non-critical check: the check itself is NOT_SERVING, readiness is not.
    search_ok.store(false, Ordering::SeqCst);
    assert_eq!(
        check(&mut client, "search").await.unwrap(),
        ServingStatus::NotServing
    );
    assert_eq!(
        check(&mut client, "").await.unwrap(),
        ServingStatus::Serving
    );
    // As `/health/extras`: a non-critical failure is `warn`.
    assert_eq!(
        check(&mut client, "extras").await.unwrap(),
        ServingStatus::Serving
    );

    db_ok.store(false, Ordering::SeqCst);
    assert_eq!(
        check(&mut client, "").await.unwrap(),
        ServingStatus::NotServing
    );
    assert_eq!(
        check(&mut client, "db").await.unwrap(),
        ServingStatus::NotServing
    );
    assert_eq!(
        check(&mut client, "storage").await.unwrap(),
        ServingStatus::NotServing
    );

    db_ok.store(true, Ordering::SeqCst);
    assert_eq!(
        check(&mut client, "").await.unwrap(),
        ServingStatus::Serving
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_service_is_not_found() {
    let registry = HealthRegistry::builder()
        .check("db", check_fn(|| async { Status::Pass }), fresh())
        .build()
        .unwrap();
    registry.lifecycle().mark_ready();
    let (_server, mut client) = serve(pf_health::grpc::health_service(registry)).await;

    let err = check(&mut client, "nope").await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("nope"), "{}", err.message());

    // Watch follows the protocol: SERVICE_UNKNOWN, and the call stays open.
    let mut stream = client
        .watch(HealthCheckRequest {
            service: "nope".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        next_status(&mut stream).await,
        ServingStatus::ServiceUnknown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_lifecycle() {
    let registry = HealthRegistry::builder()
        .check("db", check_fn(|| async { Status::Pass }), fresh())
        .build()
        .unwrap();
    let service = GrpcHealth::new(registry.clone())
        .readiness_service("shop.v1.Orders")
        .into_server();
    let (_server, mut client) = serve(service).await;

    // Starting.
    assert_eq!(
        check(&mut client, "").await.unwrap(),
        ServingStatus::NotServing
    );
    registry.lifecycle().mark_ready();
    assert_eq!(
        check(&mut client, "").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        check(&mut client, "shop.v1.Orders").await.unwrap(),
        ServingStatus::Serving
    );

    // Drain: readiness fails at once, the check itself still passes.
    let shutdown = registry
        .lifecycle()
        .drain_on(std::future::pending::<()>(), Duration::ZERO);
    registry.lifecycle().start_draining();
    tokio::time::timeout(WAIT, shutdown).await.unwrap();
    assert_eq!(
        check(&mut client, "").await.unwrap(),
        ServingStatus::NotServing
    );
    assert_eq!(
        check(&mut client, "shop.v1.Orders").await.unwrap(),
        ServingStatus::NotServing
    );
    assert_eq!(
        check(&mut client, "db").await.unwrap(),
        ServingStatus::Serving
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sends_changes_of_on_demand_checks() {
    let ok = Arc::new(AtomicBool::new(true));
    let runs = Arc::new(AtomicUsize::new(0));
    let registry = HealthRegistry::builder()
        .check("db", flag_check(&ok, &runs), fresh())
        .build()
        .unwrap();
    registry.lifecycle().mark_ready();
    let service = GrpcHealth::new(registry)
        .watch_interval(Duration::from_millis(10))
        .into_server();
    let (_server, mut client) = serve(service).await;

    for service in ["", "db"] {
        ok.store(true, Ordering::SeqCst);
        let mut stream = client
            .watch(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(next_status(&mut stream).await, ServingStatus::Serving);
        ok.store(false, Ordering::SeqCst);
        assert_eq!(next_status(&mut stream).await, ServingStatus::NotServing);
        ok.store(true, Ordering::SeqCst);
        assert_eq!(next_status(&mut stream).await, ServingStatus::Serving);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sends_periodic_and_lifecycle_changes_without_polling() {
    let ok = Arc::new(AtomicBool::new(true));
    let runs = Arc::new(AtomicUsize::new(0));
    let registry = HealthRegistry::builder()
        .check(
            "db",
            flag_check(&ok, &runs),
            CheckOptions::new()
                .periodic(Duration::from_millis(10))
                .stale_after(1000),
        )
        .build()
        .unwrap();
    // The interval is far longer than the test: only notifications can deliver changes.
    let service = GrpcHealth::new(registry.clone())
        .watch_interval(Duration::from_secs(3600))
        .into_server();
    let (_server, mut client) = serve(service).await;

    let mut stream = client
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    // Starting.
    assert_eq!(next_status(&mut stream).await, ServingStatus::NotServing);
    registry.lifecycle().mark_ready();
    assert_eq!(next_status(&mut stream).await, ServingStatus::Serving);
    ok.store(false, Ordering::SeqCst);
    assert_eq!(next_status(&mut stream).await, ServingStatus::NotServing);
    ok.store(true, Ordering::SeqCst);
    assert_eq!(next_status(&mut stream).await, ServingStatus::Serving);
    registry.lifecycle().start_draining();
    assert_eq!(next_status(&mut stream).await, ServingStatus::NotServing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_stops_when_the_client_goes_away() {
    let ok = Arc::new(AtomicBool::new(true));
    let runs = Arc::new(AtomicUsize::new(0));
    let registry = HealthRegistry::builder()
        .check("db", flag_check(&ok, &runs), fresh())
        .build()
        .unwrap();
    registry.lifecycle().mark_ready();
    let service = GrpcHealth::new(registry)
        .watch_interval(Duration::from_millis(5))
        .into_server();
    let (_server, mut client) = serve(service).await;

    let mut stream = client
        .watch(HealthCheckRequest {
            service: "db".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_status(&mut stream).await, ServingStatus::Serving);
    // While watched, the on-demand check keeps being asked.
    let seen = runs.load(Ordering::SeqCst);
    eventually("the watch to re-run the check", || {
        let runs = runs.clone();
        async move { runs.load(Ordering::SeqCst) >= seen + 3 }
    })
    .await;

    drop(stream);
    drop(client);
    // Once the server has dropped the watch, nothing asks any more: the count stands still
    // across a window of many watch intervals.
    eventually("the watch to stop", || {
        let runs = runs.clone();
        async move {
            let before = runs.load(Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
            runs.load(Ordering::SeqCst) == before
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_storm_runs_the_check_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let slow = {
        let runs = runs.clone();
        check_fn(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            async {
                // Slow enough that the probes overlap the run.
                tokio::time::sleep(Duration::from_millis(100)).await;
                Status::Pass
            }
        })
    };
    let registry = HealthRegistry::builder()
        .check(
            "db",
            slow,
            CheckOptions::new()
                .timeout(Duration::from_secs(30))
                .on_demand(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    registry.lifecycle().mark_ready();
    let (_server, client) = serve(pf_health::grpc::health_service(registry)).await;

    let probes: Vec<_> = (0..200)
        .map(|i| {
            let mut client = client.clone();
            let service = if i % 2 == 0 { "" } else { "db" };
            tokio::spawn(async move { check(&mut client, service).await })
        })
        .collect();
    for probe in probes {
        assert_eq!(probe.await.unwrap().unwrap(), ServingStatus::Serving);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
