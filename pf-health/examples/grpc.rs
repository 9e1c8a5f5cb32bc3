//! The health registry answering gRPC `grpc.health.v1` on a tonic server.
//!
//! ```sh
//! cargo run -p pf-health --example grpc --features grpc            # a short tour, then exit
//! cargo run -p pf-health --example grpc --features grpc -- --serve # serve until Ctrl-C
//! grpcurl -plaintext -d '{"service":""}' 127.0.0.1:50051 grpc.health.v1.Health/Check
//! ```
//!
//! The tour starts the server on a free port, asks it about readiness (`""`), a check, a
//! group and an unknown name, watches readiness while a dependency fails and recovers, and
//! drains. `--serve` listens on `PF_GRPC_ADDR` (default `127.0.0.1:50051`) until Ctrl-C or
//! SIGTERM, then drains: readiness turns `NOT_SERVING` for 2 s before the listener closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pf_health::grpc::GrpcHealth;
use pf_health::{CheckOptions, CheckResult, HealthRegistry, Status, check_fn};
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A stand-in for a database: the tour makes it fail for a moment.
    let db_up = Arc::new(AtomicBool::new(true));
    let db = {
        let db_up = db_up.clone();
        check_fn(move || {
            let up = db_up.load(Ordering::SeqCst);
            async move {
                if up {
                    CheckResult::pass()
                } else {
                    CheckResult::fail("connection refused")
                }
            }
        })
    };
    let registry = HealthRegistry::builder()
        .check(
            "db",
            db,
            CheckOptions::new()
                .group("storage")
                .timeout(Duration::from_millis(500))
                .periodic(Duration::from_millis(200)),
        )
        .check(
            "search",
            check_fn(|| async { Status::Pass }),
            CheckOptions::new()
                .critical(false)
                .on_demand(Duration::from_secs(1)),
        )
        .build()?;

    let health = GrpcHealth::new(registry.clone())
        .watch_interval(Duration::from_secs(1))
        .readiness_service("example.v1.Greeter")
        .into_server();

    let serve_forever = std::env::args().any(|a| a == "--serve");
    let addr = if serve_forever {
        std::env::var("PF_GRPC_ADDR").unwrap_or_else(|_| "127.0.0.1:50051".into())
    } else {
        "127.0.0.1:0".into()
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let addr = listener.local_addr()?;
    println!("grpc.health.v1 on {addr}");

    registry.lifecycle().mark_ready();
    // Completes on Ctrl-C / SIGTERM or when something else starts draining (the tour does).
    let delay = if serve_forever {
        Duration::from_secs(2)
    } else {
        Duration::from_millis(300)
    };
    let shutdown = registry
        .lifecycle()
        .drain_on(pf_health::shutdown_signal(), delay);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown),
    );
    if serve_forever {
        server.await??;
        return Ok(());
    }

    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = HealthClient::new(channel);

    for service in ["", "example.v1.Greeter", "db", "storage", "search", "nope"] {
        let request = HealthCheckRequest {
            service: service.into(),
        };
        match client.check(request).await {
            Ok(response) => println!("Check {service:?}: {}", name(response.into_inner().status)),
            Err(status) => println!("Check {service:?}: error {:?}", status.code()),
        }
    }

    let mut watch = client
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await?
        .into_inner();
    let mut step = 0;
    while let Some(message) = watch.message().await? {
        println!("Watch \"\": {}", name(message.status));
        step += 1;
        match step {
            1 => {
                println!("  (the database goes down)");
                db_up.store(false, Ordering::SeqCst);
            }
            2 => {
                println!("  (the database is back)");
                db_up.store(true, Ordering::SeqCst);
            }
            3 => {
                println!("  (shutting down: draining)");
                registry.lifecycle().start_draining();
            }
            _ => break,
        }
    }
    drop(watch);
    server.await??;
    println!("server stopped");
    Ok(())
}

fn name(status: i32) -> &'static str {
    ServingStatus::try_from(status)
        .map(|s| s.as_str_name())
        .unwrap_or("?")
}
