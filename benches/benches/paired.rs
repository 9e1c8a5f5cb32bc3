//! Interleaved per-request cost of every in-process contender: round after round, each
//! contender (in a fresh pseudo-random order every round) serves a short batch of requests and
//! its thread CPU time per request is recorded. The order is shuffled rather than rotated: with
//! a fixed cyclic order a contender always runs right after the same neighbour, and the first
//! requests after different code run colder (two identical `pf_metrics` contenders differed by
//! ~28 ns, one placed after `noop_layers4`, the other after another metrics contender; shuffled,
//! they agree within a few ns). Differences are taken within a round, so load from other processes
//! that drifts over seconds cancels out; the medians of those per-round differences are the
//! precise "added over bare / over no-op" numbers in BENCHMARKS.md (Criterion's medians, taken
//! one contender after another, are shown beside them). A few pairs of contenders are also
//! compared directly (the median of their same-round differences, under `differences`): the
//! metrics layer's marginal cost inside the composed stack, the JSON access line, pf's
//! request ID + span against axum-tracing-opentelemetry, and exemplars on against off.
//!
//! `cargo bench -p pf-benches --bench paired` prints a table; with `PF_PAIRED_OUT=<file>` it
//! also writes JSON (used by `scripts/bench`). Under `cargo test` it runs three short rounds.

#[path = "peers/mod.rs"]
mod peers;

use std::fmt::Write as _;
use std::time::Instant;

use axum::body::Bytes;
use http_body_util::Empty;
use pf_benches::cpu_time::thread_cpu_ns;
use pf_benches::{call_collect, plain};

/// Requests per contender per round.
const BATCH: u64 = 32;

/// Loopback requests per round.
const LOOPBACK_BATCH: u64 = 4;

/// Two threads sending requests into the same series, interleaved with one thread, for the
/// bare router and with the metrics layer: per round, each of the four modes runs a batch
/// (rotating order) and records the busiest thread's CPU time per request. Returns the medians
/// of [bare 1 thread, bare 2 threads, pf 1 thread, pf 2 threads].
fn contention(rounds: usize) -> [f64; 4] {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Barrier};

    let apps = [
        pf_benches::serving(pf_benches::user_routes()),
        pf_benches::serving(pf_benches::user_routes().layer(
            pf_metrics::HttpMetricsLayer::new(pf_metrics::MetricsRegistry::new()).axum_body(),
        )),
    ];
    let barrier = Arc::new(Barrier::new(3));
    let mode = Arc::new(AtomicUsize::new(0)); // app index * 2 + (threads - 1); 4 = stop
    let took = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let (apps, barrier, mode, took) =
                (apps.clone(), barrier.clone(), mode.clone(), took.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    for app in &apps {
                        for _ in 0..200 {
                            call_collect(app).await;
                        }
                    }
                });
                loop {
                    barrier.wait();
                    let m = mode.load(SeqCst);
                    if m == 4 {
                        return;
                    }
                    if w == 0 || m % 2 == 1 {
                        let app = &apps[m / 2];
                        let start = thread_cpu_ns();
                        rt.block_on(async {
                            for _ in 0..BATCH {
                                std::hint::black_box(call_collect(app).await);
                            }
                        });
                        took[w].store(thread_cpu_ns() - start, SeqCst);
                    }
                    barrier.wait();
                }
            })
        })
        .collect();
    let mut samples: [Vec<f64>; 4] = Default::default();
    for r in 0..rounds {
        for k in 0..4 {
            let m = (r + k) % 4;
            took[1].store(0, SeqCst);
            mode.store(m, SeqCst);
            barrier.wait(); // start
            barrier.wait(); // done
            let busiest = took[0].load(SeqCst).max(took[1].load(SeqCst));
            samples[m].push(busiest as f64 / BATCH as f64);
        }
    }
    mode.store(4, SeqCst);
    barrier.wait();
    for w in workers {
        w.join().unwrap();
    }
    samples.map(|mut v| median(&mut v))
}

use pf_benches::median;

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let rounds: usize = if bench_mode { 10_000 } else { 3 };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let contenders = peers::all_contenders();
    let n = contenders.len();

    // Warm-up: series, caches, branch predictors.
    for c in &contenders {
        tracing::dispatcher::with_default(&c.dispatch, || {
            rt.block_on(async {
                for _ in 0..200 {
                    std::hint::black_box(call_collect(&c.app).await);
                }
            })
        });
    }

    // The handler as a plain tower service, alone and behind the metrics layer.
    let mut tower_bare = plain::handler::<Empty<Bytes>>();
    let mut tower_metrics = plain::with_metrics(pf_metrics::MetricsRegistry::new());
    rt.block_on(async {
        for _ in 0..200 {
            plain::call_collect_plain(&mut tower_bare).await;
            plain::call_collect_plain(&mut tower_metrics).await;
        }
    });
    let mut plain_rounds: Vec<[f64; 2]> = Vec::with_capacity(rounds);

    // R: the bare router behind axum::serve over one keep-alive loopback connection, client
    // and server on this runtime thread (as in the `loopback` Criterion group).
    let mut loopback = rt.block_on(pf_benches::LoopbackClient::start(pf_benches::user_routes()));
    rt.block_on(async {
        for _ in 0..200 {
            std::hint::black_box(loopback.get_user().await);
        }
    });
    let mut r_rounds: Vec<[f64; 2]> = Vec::with_capacity(rounds);

    // per_round[r][i]: CPU ns per request of contender i in round r
    let mut per_round = vec![vec![0.0f64; n]; rounds];
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15; // fixed seed: the same orders in every run
    for row in per_round.iter_mut() {
        let pair = rt.block_on(async {
            let start = thread_cpu_ns();
            for _ in 0..BATCH {
                plain::call_collect_plain(&mut tower_bare).await;
            }
            let mid = thread_cpu_ns();
            for _ in 0..BATCH {
                plain::call_collect_plain(&mut tower_metrics).await;
            }
            let end = thread_cpu_ns();
            [
                (mid - start) as f64 / BATCH as f64,
                (end - mid) as f64 / BATCH as f64,
            ]
        });
        plain_rounds.push(pair);
        let lb = rt.block_on(async {
            let (cpu, wall) = (thread_cpu_ns(), Instant::now());
            for _ in 0..LOOPBACK_BATCH {
                std::hint::black_box(loopback.get_user().await);
            }
            let n = LOOPBACK_BATCH as f64;
            [
                (thread_cpu_ns() - cpu) as f64 / n,
                wall.elapsed().as_nanos() as f64 / n,
            ]
        });
        r_rounds.push(lb);
        // A fresh order every round: each contender follows a random other one, so running
        // after different code costs every contender alike.
        pf_benches::shuffle(&mut order, &mut rng);
        for &i in &order {
            let c = &contenders[i];
            row[i] = tracing::dispatcher::with_default(&c.dispatch, || {
                rt.block_on(async {
                    let start = thread_cpu_ns();
                    for _ in 0..BATCH {
                        std::hint::black_box(call_collect(&c.app).await);
                    }
                    (thread_cpu_ns() - start) as f64 / BATCH as f64
                })
            });
        }
    }

    let index = |name: &str| {
        contenders
            .iter()
            .position(|c| c.name == name)
            .expect("contender")
    };
    let diff = |i: usize, j: usize| {
        let mut d: Vec<f64> = per_round.iter().map(|row| row[i] - row[j]).collect();
        median(&mut d)
    };
    let (bare, noop1, noop2, noop4) = (
        index("bare"),
        index("noop_layer"),
        index("noop_layers2"),
        index("noop_layers4"),
    );

    println!(
        "{:<32}{:>12}{:>16}{:>16}{:>16}{:>16}",
        "contender", "median ns", "over bare", "over noop1", "over noop2", "over noop4"
    );
    let mut json =
        format!("{{\n  \"rounds\": {rounds},\n  \"batch\": {BATCH},\n  \"contenders\": {{\n");
    for (i, c) in contenders.iter().enumerate() {
        let mut own: Vec<f64> = per_round.iter().map(|row| row[i]).collect();
        let med = median(&mut own);
        let (ob, o1, o2, o4) = (
            diff(i, bare),
            diff(i, noop1),
            diff(i, noop2),
            diff(i, noop4),
        );
        println!(
            "{:<32}{med:>12.0}{ob:>16.0}{o1:>16.0}{o2:>16.0}{o4:>16.0}",
            c.name
        );
        let comma = if i + 1 < n { "," } else { "" };
        writeln!(
            json,
            "    \"{}\": {{\"median\": {med:.1}, \"over_bare\": {ob:.1}, \"over_noop_layer\": {o1:.1}, \
             \"over_noop_layers2\": {o2:.1}, \"over_noop_layers4\": {o4:.1}}}{comma}",
            c.name
        )
        .unwrap();
    }
    // Same-round differences between two contenders, for the targets that compare them directly.
    const DIFFERENCES: &[(&str, &str)] = &[
        // metrics' marginal cost inside the composed stack
        ("pf_stack_one_layer", "pf_stack_one_layer_no_metrics"),
        // the JSON access line
        ("pf_stack_json", "pf_stack"),
        // the fused layer against the same stack in one Router::layer, and its JSON line
        ("pf_fused", "pf_stack_one_layer"),
        ("pf_fused_json", "pf_fused"),
        // pf's request ID + span against axum-tracing-opentelemetry's
        ("pf_id_span", "axum_tracing_otel"),
        // exemplars on − off, without and with a sampled trace context (issue 9)
        ("pf_metrics", "pf_metrics_exemplars_off"),
        ("pf_metrics_traced", "pf_metrics_traced_exemplars_off"),
    ];
    json.push_str("  },\n  \"differences\": {\n");
    for (k, (a, b)) in DIFFERENCES.iter().enumerate() {
        let d = diff(index(a), index(b));
        println!("{a} − {b}: {d:+.0} ns (median of the same-round differences)");
        let comma = if k + 1 < DIFFERENCES.len() { "," } else { "" };
        writeln!(json, "    \"{a} - {b}\": {d:.1}{comma}").unwrap();
    }
    let mut tb: Vec<f64> = plain_rounds.iter().map(|p| p[0]).collect();
    let mut tm: Vec<f64> = plain_rounds.iter().map(|p| p[1]).collect();
    let mut td: Vec<f64> = plain_rounds.iter().map(|p| p[1] - p[0]).collect();
    let (tb, tm, td) = (median(&mut tb), median(&mut tm), median(&mut td));
    println!("{:<32}{tb:>12.0}", "tower_bare");
    println!(
        "{:<32}{tm:>12.0}{td:>16.0}  (over tower_bare)",
        "tower_pf_metrics"
    );
    let [b1, b2, p1, p2] = contention(if bench_mode { 3_000 } else { 3 });
    println!(
        "contention (busiest thread, CPU ns per request): bare {b1:.0} / {b2:.0}, pf_metrics {p1:.0} / {p2:.0}"
    );
    let mut rc: Vec<f64> = r_rounds.iter().map(|r| r[0]).collect();
    let mut rw: Vec<f64> = r_rounds.iter().map(|r| r[1]).collect();
    let (rc, rw) = (median(&mut rc), median(&mut rw));
    println!(
        "{:<32}{rc:>12.0}  (CPU; {rw:.0} ns wall)",
        "loopback_bare (R)"
    );
    write!(
        json,
        "  }},\n  \"plain\": {{\"tower_bare\": {tb:.1}, \"tower_pf_metrics\": {tm:.1}, \
         \"tower_pf_metrics_over_tower_bare\": {td:.1}}},\n  \
         \"loopback_bare\": {{\"cpu\": {rc:.1}, \"wall\": {rw:.1}}},\n  \
         \"contention\": {{\"bare/1\": {b1:.1}, \"bare/2\": {b2:.1}, \"pf_metrics/1\": {p1:.1}, \
         \"pf_metrics/2\": {p2:.1}}}\n}}\n"
    )
    .unwrap();
    if let Some(path) = std::env::var_os("PF_PAIRED_OUT") {
        std::fs::write(path, json).expect("write PF_PAIRED_OUT");
    }
}
