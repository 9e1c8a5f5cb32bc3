//! `server --callgrind <mode> <mem|db> <requests>`: contender `<mode>` served and loaded in
//! this one process on a current-thread runtime (server, client, sqlx and redis on one
//! thread: everything our side executes per request), for instruction counting. The measured
//! requests run inside [`server_callgrind_measured`], so
//! `valgrind --tool=callgrind --toggle-collect='*server_callgrind_measured*'` counts them
//! alone (one connection set-up included, the same in every mode); see `scripts/why-waiting`.

use std::net::SocketAddr;

use crate::load::{self, Load, Until};
use crate::modes;

/// Runs the measured requests (the function callgrind's collection is toggled on).
#[inline(never)]
fn server_callgrind_measured(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    path: &'static str,
    n: u64,
) -> u64 {
    let one = Load::Saturating { conns: 1 };
    load::run(rt, addr, path, one, Until::Requests(n)).0
}

/// The `--callgrind` entry point.
pub fn run(args: &[String]) {
    let usage = || -> ! {
        eprintln!(
            "usage: server --callgrind <{}> <mem|db> <requests>",
            modes::MODES.join("|")
        );
        std::process::exit(2)
    };
    let [mode, handler, n] = args else { usage() };
    let path = match handler.as_str() {
        "mem" => "/mem/users/42",
        "db" => "/db/users/42",
        _ => usage(),
    };
    let n: u64 = n.parse().unwrap_or_else(|_| usage());
    let database_url = std::env::var("PF_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let redis_url =
        std::env::var("PF_BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let key = format!("pf-bench:server-callgrind:{}:absent", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let addr = rt.block_on(async {
        let db = modes::connect(&database_url, &redis_url, &key).await;
        let Some((app, dispatch)) = modes::app(mode, db, false) else {
            usage()
        };
        tracing::dispatcher::set_global_default(dispatch).expect("first subscriber");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("address");
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        addr
    });
    // warm-up: connections, prepared statement, series, caches
    let one = Load::Saturating { conns: 1 };
    load::run(&rt, addr, path, one, Until::Requests(50));
    let served = server_callgrind_measured(&rt, addr, path, n);
    assert_eq!(served, n, "requests answered");
    println!("{mode} {handler}: {n} requests");
}
