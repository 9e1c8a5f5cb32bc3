//! The server benchmark (issue 19): what pf costs the shape a user deploys.
//!
//! Each contender of [`modes::MODES`] runs as its own **server process** (this binary with
//! `--serve <mode>`): a multi-threaded Tokio runtime of two workers, axum serving
//! `/mem/users/{id}` (in memory) and `/db/users/{id}` (one PostgreSQL query + one Redis GET,
//! pool of [`modes::POOL`], each call under a timeout) on a free 127.0.0.1 port. This process
//! is the **load generator** (a client of its own, [`load`]), on one thread of its own.
//!
//! Shapes ([`SHAPES`]): DB-bound at saturation (8 connections, closed loop), DB-bound at a
//! fixed moderate rate (800 requests/s over 4 connections), in memory at saturation. Per round
//! and shape, every contender serves one phase, in a fresh shuffled order; the **server CPU per
//! request** is the server process's CPU time over the phase (its threads' `schedstat` run
//! time, nanoseconds; `/proc/PID/stat` utime + stime beside it) divided by the requests it
//! answered; the added cost is the median of the same-round differences to `bare`, with their
//! interquartile range as the spread.
//!
//! **Foreign load**: per phase, the machine's busy time (`/proc/stat`) minus the server's, this
//! process's and the database servers' (`postgres`, `redis-server`), in cores; `/proc/loadavg`
//! beside it. **Rule**: a round (of one shape) is rejected when any of its phases saw more than
//! `PF_SERVER_FOREIGN_MAX` cores (default 0.25) of foreign work; should fewer than 3 rounds
//! survive, all are kept and the shape is marked loaded.
//!
//! Then each contender runs once more with `--count`: one request at a time, counters read
//! before and after ([`counting`]): allocations and frees, polls below each layer, response
//! body frames, spans created / entered / exited, events.
//!
//! `cargo bench -p pf-benches --bench server` (`PF_SERVER_ROUNDS`, default 8;
//! `PF_SERVER_PHASE_MS`, default 2000; `PF_SERVER_OUT=<file>` writes the JSON `scripts/bench`
//! reports; `PF_SERVER_MODES=bare,pf_fused` and `PF_SERVER_SHAPES=mem_saturating` measure a
//! subset, for a focused re-run: `bare` is always kept, as the others are measured against
//! it). Under `cargo test`: two rounds of 20 requests per phase, asserting only that every
//! contender answered every request and that its CPU time and counters were read.
//! `--callgrind <mode> <mem|db> <requests>` runs one contender in process for callgrind
//! ([`callgrind`]).

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use load::{Load, Until};
use serde_json::{Value, json};
use serve::Server;

mod callgrind;
mod counting;
mod load;
mod modes;
#[allow(dead_code)] // the other benches use the rest of the peers
#[path = "../peers/mod.rs"]
mod peers;
mod procfs;
mod serve;

#[global_allocator]
static ALLOC: counting::CountingAlloc = counting::CountingAlloc;

/// (name, path, load) of every shape the rounds measure.
const SHAPES: &[(&str, &str, Load)] = &[
    (
        "db_saturating",
        "/db/users/42",
        Load::Saturating { conns: 8 },
    ),
    (
        "db_rate",
        "/db/users/42",
        Load::Rate {
            conns: 4,
            per_sec: 800,
        },
    ),
    (
        "mem_saturating",
        "/mem/users/42",
        Load::Saturating { conns: 8 },
    ),
];

/// One contender's phase in one round.
struct Phase {
    round: usize,
    shape: &'static str,
    mode: &'static str,
    requests: u64,
    cpu_ns: u64,
    stat_ticks: u64,
    wall_s: f64,
    foreign_cores: f64,
    loadavg: [f64; 3],
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let mode = args.get(i + 1).expect("--serve <mode>");
        return serve::serve(mode, args.iter().any(|a| a == "--count"));
    }
    if let Some(i) = args.iter().position(|a| a == "--callgrind") {
        return callgrind::run(&args[i + 1..]);
    }
    drive(args.iter().any(|a| a == "--bench"));
}

/// Measures one phase of `server` under `load` (CPU read before and after).
fn phase(
    rt: &tokio::runtime::Runtime,
    server: &Server,
    path: &'static str,
    load: Load,
    until: Until,
) -> (u64, u64, u64, f64, f64, [f64; 3]) {
    let pid = server.pid();
    let me = std::process::id();
    let hz = procfs::hz();
    let loadavg = procfs::loadavg();
    let read = || {
        (
            procfs::schedstat_ns(pid).expect("server schedstat"),
            procfs::stat_ticks(pid).expect("server /proc/PID/stat"),
            procfs::stat_ticks(me).expect("own /proc/PID/stat"),
            procfs::db_servers_ticks(),
            procfs::machine_busy_ticks(),
        )
    };
    let before = read();
    let (requests, wall) = load::run(rt, server.app, path, load, until);
    let after = read();
    let ours = (after.1 - before.1) + (after.2 - before.2) + (after.3 - before.3);
    let busy = after.4 - before.4;
    let foreign = busy.saturating_sub(ours) as f64 / hz / wall.as_secs_f64();
    (
        requests,
        after.0 - before.0,
        after.1 - before.1,
        wall.as_secs_f64(),
        foreign,
        loadavg,
    )
}

/// The names in `PF_SERVER_<key>` (comma-separated) that are among `all`, in `all`'s order;
/// every one of `all` when unset. `bare` stays: the others are measured against it.
fn selected<T: Copy>(key: &str, all: &[T], name: impl Fn(&T) -> &str) -> Vec<T> {
    let Ok(wanted) = std::env::var(format!("PF_SERVER_{key}")) else {
        return all.to_vec();
    };
    let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
    for w in &wanted {
        assert!(
            all.iter().any(|a| name(a) == *w),
            "PF_SERVER_{key}: unknown name {w:?}; known: {}",
            all.iter().map(&name).collect::<Vec<_>>().join(",")
        );
    }
    all.iter()
        .copied()
        .filter(|a| name(a) == "bare" || wanted.contains(&name(a)))
        .collect()
}

fn drive(bench: bool) {
    let modes = selected("MODES", modes::MODES, |m| m);
    let shapes = selected("SHAPES", SHAPES, |s| s.0);
    let rounds: usize = env_or("PF_SERVER_ROUNDS", if bench { 8 } else { 2 });
    let phase_ms: u64 = env_or("PF_SERVER_PHASE_MS", 2000);
    let foreign_max: f64 = env_or("PF_SERVER_FOREIGN_MAX", 0.25);
    let test_requests = 20;
    let until = if bench {
        Until::Elapsed(Duration::from_millis(phase_ms))
    } else {
        Until::Requests(test_requests)
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    // never set: the handler's GET reads nothing and the bench leaves nothing behind
    let key = format!("pf-bench:server:{}:{nanos}:absent", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let started = Instant::now();
    let servers: Vec<Server> = modes
        .iter()
        .map(|m| Server::start(m, false, &key))
        .collect();
    // warm-up: connections, series, caches
    for s in &servers {
        for (_, path, load) in &shapes {
            let w = if bench {
                Until::Elapsed(Duration::from_millis(500))
            } else {
                Until::Requests(5)
            };
            load::run(&rt, s.app, path, *load, w);
        }
    }
    let mut phases = Vec::new();
    let (mut order, mut rng): (Vec<usize>, u64) =
        ((0..servers.len()).collect(), 0x9E37_79B9_7F4A_7C15);
    for round in 0..rounds {
        for &(shape, path, load) in &shapes {
            pf_benches::shuffle(&mut order, &mut rng);
            for &i in &order {
                let s = &servers[i];
                let (requests, cpu_ns, stat_ticks, wall_s, foreign_cores, loadavg) =
                    phase(&rt, s, path, load, until);
                if !bench {
                    assert_eq!(requests, test_requests, "{}: requests answered", s.mode);
                    assert!(cpu_ns > 0, "{}: no server CPU time read", s.mode);
                }
                phases.push(Phase {
                    round,
                    shape,
                    mode: s.mode,
                    requests,
                    cpu_ns,
                    stat_ticks,
                    wall_s,
                    foreign_cores,
                    loadavg,
                });
            }
        }
        eprintln!(
            "server bench: round {}/{rounds} done ({:.0} s)",
            round + 1,
            started.elapsed().as_secs_f64()
        );
    }
    drop(servers);

    let counts = count_all(&rt, &key, bench, &modes);
    let report = summarize(
        &phases,
        &modes,
        &shapes,
        rounds,
        foreign_max,
        phase_ms,
        bench,
        counts,
    );
    print_report(&report);
    if let Some(path) = std::env::var_os("PF_SERVER_OUT") {
        std::fs::write(path, serde_json::to_string_pretty(&report).unwrap())
            .expect("write PF_SERVER_OUT");
    }
}

/// Per-request counters of every contender on both handlers, one request at a time.
fn count_all(
    rt: &tokio::runtime::Runtime,
    key: &str,
    bench: bool,
    modes: &[&'static str],
) -> Value {
    let (warm, n) = if bench { (200, 2000) } else { (5, 20) };
    let mut all = serde_json::Map::new();
    for &mode in modes {
        let server = Server::start(mode, true, key);
        let mut per_handler = serde_json::Map::new();
        for (handler, path) in [("mem", "/mem/users/42"), ("db", "/db/users/42")] {
            let one = Load::Saturating { conns: 1 };
            load::run(rt, server.app, path, one, Until::Requests(warm));
            let before = server.counters();
            let (served, _) = load::run(rt, server.app, path, one, Until::Requests(n));
            let after = server.counters();
            assert_eq!(served, n, "{mode}: counted requests answered");
            let per = |k: &str| {
                (after[k].as_u64().unwrap() - before[k].as_u64().unwrap()) as f64 / n as f64
            };
            let polls: Vec<f64> = (0..counting::POLLS.len())
                .map(|i| {
                    (after["polls"][i].as_u64().unwrap() - before["polls"][i].as_u64().unwrap())
                        as f64
                        / n as f64
                })
                .collect();
            assert!(per("allocs") > 0.0, "{mode}: no allocation counted");
            assert!(polls[0] >= 1.0, "{mode}: the stack was not polled");
            let keys = [
                "allocs",
                "frees",
                "bytes",
                "body_polls",
                "spans",
                "enters",
                "exits",
                "closes",
                "events",
                "records",
            ];
            let mut m: serde_json::Map<String, Value> = keys
                .iter()
                .map(|k| (k.to_string(), json!(per(k))))
                .collect();
            m.insert("polls".into(), json!(polls));
            per_handler.insert(handler.into(), Value::Object(m));
        }
        all.insert(mode.to_string(), Value::Object(per_handler));
    }
    json!({"requests": n, "warm_up": warm, "poll_points": modes::POLL_POINTS, "modes": all})
}

/// The `q` quantile of `v` (linear between order statistics).
fn quantile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let x = q * (v.len() - 1) as f64;
    let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (x - lo as f64)
}

#[allow(clippy::too_many_arguments)] // the run's settings, each reported
fn summarize(
    phases: &[Phase],
    modes: &[&'static str],
    shape_list: &[(&'static str, &'static str, Load)],
    rounds: usize,
    foreign_max: f64,
    phase_ms: u64,
    bench: bool,
    counts: Value,
) -> Value {
    let hz = procfs::hz();
    let mut shapes = serde_json::Map::new();
    for &(shape, path, load) in shape_list {
        let of = |r: usize| {
            phases
                .iter()
                .filter(move |p| p.shape == shape && p.round == r)
        };
        let noisy: Vec<usize> = (0..rounds)
            .filter(|&r| of(r).any(|p| p.foreign_cores > foreign_max))
            .collect();
        let mut kept: Vec<usize> = (0..rounds).filter(|r| !noisy.contains(r)).collect();
        let loaded = kept.len() < 3.min(rounds);
        if loaded {
            kept = (0..rounds).collect();
        }
        let per_req = |r: usize, mode: &str| {
            let p = of(r).find(|p| p.mode == mode).expect("phase");
            (
                p.cpu_ns as f64 / p.requests as f64,
                p.stat_ticks as f64 * 1e9 / hz / p.requests as f64,
            )
        };
        let bare: Vec<f64> = kept.iter().map(|&r| per_req(r, "bare").0).collect();
        let bare_ns = quantile(&bare, 0.5);
        let mut modes_out = serde_json::Map::new();
        for &mode in modes {
            let own: Vec<f64> = kept.iter().map(|&r| per_req(r, mode).0).collect();
            let own_stat: Vec<f64> = kept.iter().map(|&r| per_req(r, mode).1).collect();
            let diff: Vec<f64> = kept
                .iter()
                .map(|&r| per_req(r, mode).0 - per_req(r, "bare").0)
                .collect();
            let rps: Vec<f64> = kept
                .iter()
                .map(|&r| {
                    let p = of(r).find(|p| p.mode == mode).unwrap();
                    p.requests as f64 / p.wall_s
                })
                .collect();
            let over = quantile(&diff, 0.5);
            modes_out.insert(
                mode.to_string(),
                json!({
                    "ns": quantile(&own, 0.5),
                    "ns_stat": quantile(&own_stat, 0.5),
                    "over_bare": over,
                    "p25": quantile(&diff, 0.25),
                    "p75": quantile(&diff, 0.75),
                    "pct": 100.0 * over / bare_ns,
                    "req_per_s": quantile(&rps, 0.5),
                }),
            );
        }
        let foreign: Vec<f64> = phases
            .iter()
            .filter(|p| p.shape == shape)
            .map(|p| p.foreign_cores)
            .collect();
        shapes.insert(
            shape.to_string(),
            json!({
                "path": path,
                "load": format!("{load:?}"),
                "kept": kept.len(),
                "rejected": if loaded { 0 } else { noisy.len() },
                "noisy": noisy.len(),
                "loaded": loaded,
                "bare_ns": bare_ns,
                "foreign_cores_median": quantile(&foreign, 0.5),
                "foreign_cores_max": quantile(&foreign, 1.0),
                "modes": modes_out,
            }),
        );
    }
    let load1: Vec<f64> = phases.iter().map(|p| p.loadavg[0]).collect();
    let raw: Vec<Value> = phases
        .iter()
        .map(|p| {
            json!([
                p.round,
                p.shape,
                p.mode,
                p.requests,
                p.cpu_ns,
                p.stat_ticks,
                p.wall_s,
                p.foreign_cores,
                p.loadavg
            ])
        })
        .collect();
    json!({
        "bench": bench,
        "rounds": rounds,
        "phase_ms": phase_ms,
        "foreign_max": foreign_max,
        "modes": modes,
        "loadavg1_min": quantile(&load1, 0.0),
        "loadavg1_median": quantile(&load1, 0.5),
        "loadavg1_max": quantile(&load1, 1.0),
        "shapes": shapes,
        "counts": counts,
        "phases_columns": ["round", "shape", "mode", "requests", "cpu_ns", "stat_ticks",
                           "wall_s", "foreign_cores", "loadavg"],
        "phases": raw,
    })
}

fn print_report(r: &Value) {
    let mut out = String::new();
    for (shape, s) in r["shapes"].as_object().unwrap() {
        writeln!(
            out,
            "{shape}: {} rounds kept, {} noisy (foreign > {} cores), foreign median {:.2} cores",
            s["kept"],
            s["noisy"],
            r["foreign_max"],
            s["foreign_cores_median"].as_f64().unwrap()
        )
        .unwrap();
        for mode in r["modes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
        {
            let m = &s["modes"][mode];
            writeln!(
                out,
                "  {mode:<26}{:>10.0} ns/req {:>+9.0} ns ({:>+6.1} %) IQR {:>+8.0} .. {:>+8.0}  {:>7.0} req/s",
                m["ns"].as_f64().unwrap(),
                m["over_bare"].as_f64().unwrap(),
                m["pct"].as_f64().unwrap(),
                m["p25"].as_f64().unwrap(),
                m["p75"].as_f64().unwrap(),
                m["req_per_s"].as_f64().unwrap(),
            )
            .unwrap();
        }
    }
    writeln!(
        out,
        "per request, one at a time (allocs frees polls[outer..handler] enters exits):"
    )
    .unwrap();
    for (mode, h) in r["counts"]["modes"].as_object().unwrap() {
        for handler in ["mem", "db"] {
            let c = &h[handler];
            writeln!(
                out,
                "  {mode:<26}{handler:<4} allocs {:>6.1} frees {:>6.1} polls {:?} body {:.1} spans {:.1} enters {:.1} exits {:.1} events {:.1}",
                c["allocs"].as_f64().unwrap(),
                c["frees"].as_f64().unwrap(),
                c["polls"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect::<Vec<_>>(),
                c["body_polls"].as_f64().unwrap(),
                c["spans"].as_f64().unwrap(),
                c["enters"].as_f64().unwrap(),
                c["exits"].as_f64().unwrap(),
                c["events"].as_f64().unwrap(),
            )
            .unwrap();
        }
    }
    print!("{out}");
}
