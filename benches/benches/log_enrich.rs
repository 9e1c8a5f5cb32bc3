//! pf-log-enrich's request-ID + span layers against tower-http's `TraceLayer` +
//! `SetRequestId` + `PropagateRequestId` recording the same fields, without output and with
//! one JSON access line per request. The contenders are the shared ones of `pf-benches`
//! (the `metrics` bench runs them all side by side; this is the logging subset).
//!
//! `cargo bench -p pf-benches --bench log_enrich`

// Shared with the other benches; this one uses only some of its functions.
#[allow(dead_code)]
#[path = "peers/mod.rs"]
mod peers;

use criterion::{Criterion, criterion_group, criterion_main};
use pf_benches::{Contender, call_collect, contender};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn bench_group(c: &mut Criterion, group: &str, names: &[&str]) {
    let rt = rt();
    let mut g = c.benchmark_group(group);
    for name in names {
        let Contender {
            name,
            app,
            dispatch,
        } = contender(name)
            .or_else(|| peers::peer(name))
            .unwrap_or_else(|| panic!("unknown contender {name}"));
        tracing::dispatcher::with_default(&dispatch, || {
            g.bench_function(name, |b| b.to_async(&rt).iter(|| call_collect(&app)));
        });
    }
    g.finish();
}

fn log_enrich(c: &mut Criterion) {
    bench_group(
        c,
        "log_enrich/no_output",
        &[
            "bare",
            "noop_layers2",
            "pf_id_span",
            "tower_http_trace_id",
            "axum_tracing_otel",
        ],
    );
    bench_group(
        c,
        "log_enrich/json_line",
        &["pf_stack", "pf_stack_json", "tower_http_trace_id_json"],
    );
}

criterion_group!(benches, log_enrich);
criterion_main!(benches);
