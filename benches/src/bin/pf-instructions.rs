//! Sends N in-process requests through one contender, for instruction counting
//! under callgrind: `pf-instructions <contender> <requests>`. The CI gate
//! (`scripts/instructions`) collects only inside `call_collect*` and divides by
//! the number of requests (N plus one warm-up request).
//!
//! Contenders: the routers of `pf_benches::CONTENDERS`, and `tower_bare` /
//! `tower_pf_metrics` (the handler as a plain tower service, alone and behind
//! the metrics layer: the layer's own cost without axum's boxing).

use axum::body::{Bytes, HttpBody};
use axum::http::{Request, Response};
use http_body_util::Empty;
use pf_benches::plain::{self, PLAIN_CONTENDERS, call_collect_plain};
use pf_benches::{CONTENDERS, call_collect, contender};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_default();
    let requests: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    match name.as_str() {
        "tower_bare" => return run_plain(&rt, plain::handler(), requests),
        "tower_pf_metrics" => {
            let registry = pf_metrics::MetricsRegistry::new();
            return run_plain(&rt, plain::with_metrics(registry), requests);
        }
        _ => {}
    }
    let Some(contender) = contender(&name) else {
        let names: Vec<&str> = CONTENDERS.iter().chain(PLAIN_CONTENDERS).copied().collect();
        eprintln!("usage: pf-instructions <{}> <requests>", names.join("|"));
        std::process::exit(2);
    };
    tracing::dispatcher::set_global_default(contender.dispatch).expect("first subscriber");
    let app = contender.app;
    rt.block_on(async {
        // One warm-up request creates series and caches; it is in every run.
        let mut bytes = call_collect(&app).await;
        for _ in 0..requests {
            bytes += call_collect(&app).await;
        }
        std::hint::black_box(bytes);
    });
}

fn run_plain<S, B>(rt: &tokio::runtime::Runtime, mut service: S, requests: u64)
where
    S: tower::Service<
            Request<Empty<Bytes>>,
            Response = Response<B>,
            Error = std::convert::Infallible,
        >,
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    rt.block_on(async {
        let mut bytes = call_collect_plain(&mut service).await;
        for _ in 0..requests {
            bytes += call_collect_plain(&mut service).await;
        }
        std::hint::black_box(bytes);
    });
}
