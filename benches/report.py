#!/usr/bin/env python3
"""Writes BENCHMARKS.md from one `scripts/bench` run (python3 standard library only).

usage: report.py <criterion-dir> <since-epoch> <allocations.json> <paired.json> <loopback_db.json> <instructions.json> <meta.json> <out.md> [<server.json> [<why-waiting.json>]]

Reads the median point estimates of every Criterion benchmark written since <since-epoch>
(`<criterion-dir>/**/new/estimates.json` with its `benchmark.json`), the allocation counts of
the `allocations` bench, the interleaved medians of the `paired` bench, the interleaved R_db
medians of the `loopback_db` bench and the callgrind counts of `scripts/instructions` (a missing
file leaves its part out; a contender absent from a run is shown as "not measured").
"""

import json
import os
import sys

criterion_dir, since, alloc_file, paired_file, db_file, instr_file, meta_file, out_file = sys.argv[1:9]
server_file, why_file = (sys.argv[9:11] + ["", ""])[:2]
since = float(since)

# ---- inputs -------------------------------------------------------------------------------
medians = {}  # full_id -> median ns
for root, _dirs, files in os.walk(criterion_dir):
    if os.path.basename(root) != "new" or "estimates.json" not in files:
        continue
    est_path = os.path.join(root, "estimates.json")
    if os.path.getmtime(est_path) < since:
        continue  # left over from an earlier run
    with open(os.path.join(root, "benchmark.json")) as f:
        bench = json.load(f)
    with open(est_path) as f:
        medians[bench["full_id"]] = json.load(f)["median"]["point_estimate"]

def load_optional(path, default):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return default


allocs = load_optional(alloc_file, {})
paired_all = load_optional(paired_file, None)
paired = paired_all["contenders"] if paired_all else {}
differences = (paired_all or {}).get("differences", {})
db_all = load_optional(db_file, None)
db = (db_all or {}).get("contenders", {})
instr = load_optional(instr_file, None)
server = load_optional(server_file, None) if server_file else None
why = load_optional(why_file, None) if why_file else None
with open(meta_file) as f:
    meta = json.load(f)


def m(full_id):
    return medians.get(full_id)


def ns(v):
    if v is None:
        return "n/a"
    if abs(v) >= 100_000:
        return f"{v / 1000:,.0f} µs"
    if abs(v) >= 10_000:
        return f"{v / 1000:,.1f} µs"
    return f"{v:,.0f} ns"


def signed(v):
    if v is None:
        return "n/a"
    return ("+" if v >= 0 else "−") + ns(abs(v))


def pct(v, denom):
    if v is None or not denom:
        return "n/a"
    return f"{100 * v / denom:.2f} %"


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return "n/a"
    return f"{a / b:.1f}×"


def verdict(ok):
    return "**met**" if ok else "**missed**"


R_criterion = m("loopback/bare")
R_wall_criterion = m("loopback_wall/bare")
_lb = (paired_all or {}).get("loopback_bare")
# R: the interleaved median (sampled all through the paired run) when there is one.
R = _lb["cpu"] if _lb else R_criterion
R_wall = _lb["wall"] if _lb else R_wall_criterion
bare = m("in_process/bare")

# contender -> (no-op reference, what it is)
ROWS = [
    ("bare", None, "the route alone"),
    ("noop_layer", None, "1 no-op layer via `Router::layer`"),
    ("noop_layers2", None, "2 no-op layers"),
    ("noop_layers4", None, "4 no-op layers"),
    ("pf_metrics", "noop_layer", "pf `HttpMetricsLayer`"),
    ("axum_prometheus", "noop_layer", "peer: axum-prometheus 0.10 (metrics-exporter-prometheus)"),
    ("otel_tower_metrics", "noop_layer", "peer: opentelemetry-instrumentation-tower 0.19, metrics only, SDK meter"),
    ("pf_id_span", "noop_layers2", "pf `RequestIdLayer` + `RequestSpanLayer`, INFO, no output"),
    ("pf_id_span_otel", "noop_layers2", "`pf_id_span` + tracing-opentelemetry as `init()` builds it (sampled, not exported)"),
    ("pf_id_span_otel_tracked", "noop_layers2", "`pf_id_span_otel` with tracing-opentelemetry's default inactivity tracking"),
    ("tower_http_trace_id", "noop_layers4", "peer: tower-http `TraceLayer` (same fields) + `SetRequestId` + `PropagateRequestId`"),
    ("axum_tracing_otel", "noop_layers2", "peer: axum-tracing-opentelemetry 0.42 (`OtelAxumLayer` at INFO + `OtelInResponseLayer`)"),
    ("pf_stack", "noop_layers4", "pf whole stack: health in front, request ID, span, metrics; no output"),
    ("pf_stack_json", "noop_layers4", "pf whole stack + one JSON access line to `io::sink`"),
    ("pf_stack_one_layer", "noop_layer", "pf whole stack composed with `ServiceBuilder`, one `Router::layer` call; no output"),
    ("pf_stack_one_layer_no_metrics", "noop_layer", "`pf_stack_one_layer` minus `HttpMetricsLayer`"),
    ("pf_fused", "noop_layer", "pf-stack's fused `StackLayer` (the README's quick start: health, request ID, span, metrics in one service); no output"),
    ("pf_fused_json", "noop_layer", "`pf_fused` + one JSON access line to `io::sink`"),
    ("tower_http_trace_id_json", "noop_layers4", "peer: tower-http stack + tracing-subscriber JSON line to `io::sink`"),
]
# tower_http_trace_id is 3 layers: the 4-layer floor under-states its own code by one no-op layer.


def added_criterion(name, ref="bare"):
    a, b = m(f"in_process/{name}"), m(f"in_process/{ref}")
    return None if a is None or b is None else a - b


def added(name, ref="bare"):
    """Added CPU time per request: the interleaved (paired) median when available."""
    p = paired.get(name)
    if p is not None:
        return p["over_bare"] if ref == "bare" else p.get(f"over_{ref}")
    return added_criterion(name, ref)


def paired_added(name, ref="bare"):
    """Added CPU time per request, interleaved medians only (None when not measured)."""
    p = paired.get(name)
    if p is None:
        return None
    return p.get("over_bare" if ref == "bare" else f"over_{ref}")


def paired_diff(a, b):
    """a − b per request: the median of the same-round differences when the run recorded it,
    else the difference of the two contenders' added medians; None when not measured."""
    d = differences.get(f"{a} - {b}")
    if d is not None:
        return d
    pa, pb = paired_added(a), paired_added(b)
    return None if pa is None or pb is None else pa - pb


def alloc(name):
    v = allocs.get(f"router/{name}")
    return None if v is None else v["allocs"]


def instr_added(name):
    if not instr or name not in instr["per_request"] or "bare" not in instr["per_request"]:
        return None
    return instr["per_request"][name] - instr["per_request"]["bare"]


out = []
w = out.append
w("# Benchmarks")
w("")
w(f"Generated by `scripts/bench` on {meta['date']} — do not edit by hand; rerun the command.")
w("")
w("## Machine and command")
w("")
w(f"- CPU: {meta['cpu']}, {meta['cores']} cores available")
w(f"- {meta['rustc']}, bench profile (`opt-level = 3`, `debug = 1`)")
w(f"- load average before / after the run: {meta['load_before']} / {meta['load_after']}")
if meta.get("loaded"):
    w("- **Measured with other load on the machine** (other builds and tests were running): absolute")
    w("  times are inflated and noisy; same-run differences and ratios are what count, and the")
    w("  instruction counts below are unaffected.")
w(f"- command: `{meta['command']}`")
w("- Criterion: 1 s warm-up, 3 s measurement per benchmark, medians shown; everything below comes")
w("  from one run of the command, contenders side by side in the same process.")
w("- Times are the benchmark thread's **CPU time** (`CLOCK_THREAD_CPUTIME_ID`, user + system;")
w("  `pf_benches::cpu_time::ThreadCpuTime`), so time spent preempted by other processes is not")
w("  counted; the loopback request is also shown in wall time.")
w("")
w("Every in-process contender serves `GET /api/v1/users/{id}` with a small JSON body through an")
w("axum 0.8 router prepared as `axum::serve` prepares it (`with_state(())`), called with `oneshot`")
w("on a current-thread Tokio runtime, body collected. The request carries one header, `host`, as")
w("every HTTP/1.1 request does (until 2026-12-02 it had none, so a layer writing a request header")
w("paid for allocating the header map: two allocations no production request costs). Layers are")
w("applied with `Router::layer`, as")
w("the READMEs show; the no-op rows apply `tower::layer::util::Identity` the same way, so")
w("\"added over no-op\" is the cost of a layer's own code and \"added over bare\" what a user pays.")
w("Contenders with spans run under a `tracing` subscriber with an INFO `EnvFilter` and no output")
w("unless the row says JSON.")
w("")

# ---- per-request table --------------------------------------------------------------------
w("## Per-request cost (in process)")
w("")
w(f"R, the keep-alive HTTP/1.1 loopback request (bare router, hyper client, same runtime thread): **{ns(R)}** CPU time")
w(f"({ns(R_wall)} wall time){', interleaved median' if _lb else ''}; Criterion's medians: {ns(R_criterion)} CPU, {ns(R_wall_criterion)} wall.")
w("\"% of R\" divides the in-process added CPU time by R's CPU time.")
w("")
if paired_all:
    w(f"Two measurements side by side. **Interleaved** (`paired` bench): {paired_all['rounds']:,} rounds, each")
    w(f"contender serving {paired_all['batch']} requests per round in a fresh shuffled order; the added cost is the median of")
    w("the per-round differences, so load drifting over seconds cancels — these are the numbers the")
    w("targets use. **Criterion**: each contender's own median, measured one after the other.")
    w("")
w("| contender | interleaved median | added over bare | added over no-op (ref) | % of R | Criterion median | Criterion added over bare | instructions added | allocations / request | what |")
w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for name, ref, what in ROWS:
    med = m(f"in_process/{name}")
    p = paired.get(name)
    if med is None and p is None:
        continue
    ab = added(name)
    ao = added(name, ref) if ref else None
    a = alloc(name)
    ia = instr_added(name)
    first = name == "bare"
    w(
        f"| `{name}` | {ns(p['median']) if p else 'n/a'} | {'—' if first else signed(ab)} | "
        f"{f'{signed(ao)} ({ref})' if ref else '—'} | {'—' if first else pct(ab, R)} | {ns(med)} | "
        f"{'—' if first else signed(added_criterion(name))} | {'—' if first or ia is None else f'{ia:+,.0f}'} | "
        f"{'n/a' if a is None else f'{a:.0f}'} | {what} |"
    )
w("")
plain = (paired_all or {}).get("plain")
if plain:
    w("The handler as a plain tower service (no router, no boxing), interleaved the same way:")
    w(f"`tower_bare` {ns(plain['tower_bare'])}, behind `HttpMetricsLayer` {ns(plain['tower_pf_metrics'])}:")
    w(f"**{signed(plain['tower_pf_metrics_over_tower_bare'])}** per request, the metrics layer's own code.")
    w("")
w("The no-op floors are axum's own cost per `Router::layer` call (boxing the route, the future")
w("and the response body). `tower_http_trace_id` is three layers measured against the four-layer floor.")
w("")

# ---- metrics inside the composed stack ----------------------------------------------------
w("### Metrics' marginal cost inside the composed stack")
w("")
w("`pf_stack_one_layer` − `pf_stack_one_layer_no_metrics`: the same `ServiceBuilder` stack in one")
w("`Router::layer` call with and without `HttpMetricsLayer`, so no extra axum boxing is counted —")
w("what adding metrics to an already-instrumented service costs (median of the same-round")
w("differences; target ≤ 0.5 % of R).")
w("")
marginal = paired_diff("pf_stack_one_layer", "pf_stack_one_layer_no_metrics")
if marginal is None:
    w("Not measured in this run (`pf_stack_one_layer_no_metrics` is missing from the `paired` output).")
else:
    a1, a0 = alloc("pf_stack_one_layer"), alloc("pf_stack_one_layer_no_metrics")
    ad = "not measured" if a1 is None or a0 is None else f"{a1 - a0:+.0f}"
    i1, i0 = instr_added("pf_stack_one_layer"), instr_added("pf_stack_one_layer_no_metrics")
    idf = "not measured" if i1 is None or i0 is None else f"{i1 - i0:+,.0f}"
    w("| measure | value |")
    w("|---|---:|")
    w(f"| CPU time per request | **{signed(marginal)}** |")
    w(f"| % of R ({ns(R)}) | **{pct(marginal, R)}** |")
    w(f"| allocations per request | {ad} |")
    w(f"| instructions per request | {idf} |")
w("")

# ---- peers --------------------------------------------------------------------------------
w("## Against the peers (same run)")
w("")
w("Ratio = the peer's added CPU time ÷ pf's added CPU time (higher: pf is cheaper); interleaved")
w("medians, with the ratio of Criterion's medians beside them.")
w("")
w("| pf | peer | pf added over bare | peer added over bare | ratio over bare | ratio over no-op (ref) | Criterion ratio over bare |")
w("|---|---|---:|---:|---:|---:|---:|")
PAIRS = [
    ("pf_metrics", "axum_prometheus", "noop_layer"),
    ("pf_metrics", "otel_tower_metrics", "noop_layer"),
    ("pf_id_span", "tower_http_trace_id", "noop_layers2"),
    ("pf_id_span", "axum_tracing_otel", "noop_layers2"),
    ("pf_stack_json", "tower_http_trace_id_json", "noop_layers4"),
    ("pf_fused_json", "tower_http_trace_id_json", "noop_layers4"),
]
for ours, peer, ref in PAIRS:
    w(
        f"| `{ours}` | `{peer}` | {signed(added(ours))} | {signed(added(peer))} | "
        f"{ratio(added(peer), added(ours))} | {ratio(added(peer, ref), added(ours, ref))} ({ref}) | "
        f"{ratio(added_criterion(peer), added_criterion(ours))} |"
    )
w("")
w("`pf_stack_json` does more than its peer row (metrics and health in front as well as the span and")
w("the JSON line), so that ratio understates the difference in the logging path.")
w("")

# ---- exemplars (issue 9) ------------------------------------------------------------------
def exemplars_section(paired_all):
    """The `exemplars` feature compiled in, switched per registry (`.exemplars(false)`): what it
    costs without and with a sampled trace context, from the interleaved (paired) run."""
    contenders = (paired_all or {}).get("contenders", {})
    differences = (paired_all or {}).get("differences", {})

    def difference(a, b):
        if f"{a} - {b}" in differences:  # median of the same-round differences
            return differences[f"{a} - {b}"]
        if a in contenders and b in contenders:  # difference of the added-over-bare medians
            return contenders[a]["over_bare"] - contenders[b]["over_bare"]
        return None

    def shown(v):
        return "not measured" if v is None else f"{'+' if v >= 0 else '−'}{abs(v):.1f} ns"

    w("## Exemplars (same run)")
    w("")
    w("`HttpMetricsLayer` with pf-metrics' `exemplars` feature compiled in, on registries built with")
    w("`.exemplars(true)` (the default) and `.exemplars(false)` (the request path does not read the")
    w("OpenTelemetry context). The `_traced` contenders run the layer and the route with a sampled")
    w("OpenTelemetry context current (`pf_benches::SampledTraceLayer`, composed with the metrics layer")
    w("in one `Router::layer` call), so each difference is the exemplar's own cost. Interleaved medians.")
    w("Switched off, the recorder still carries an empty trace (two words) that a build without the")
    w("feature does not: that part is not in these rows (callgrind, when the switch was added: about")
    w("50 instructions per request; the thread-local read of a switched-on registry, about 20 more).")
    w("")
    w("| contender | interleaved median | added over bare |")
    w("|---|---:|---:|")
    for name in ["pf_metrics", "pf_metrics_exemplars_off", "pf_metrics_traced", "pf_metrics_traced_exemplars_off"]:
        p = contenders.get(name)
        if p is None:
            w(f"| `{name}` | not measured | not measured |")
        else:
            w(f"| `{name}` | {ns(p['median'])} | {signed(p['over_bare'])} |")
    w("")
    w("| exemplars on − off | added per request | target |")
    w("|---|---:|---|")
    idle = difference("pf_metrics", "pf_metrics_exemplars_off")
    traced = difference("pf_metrics_traced", "pf_metrics_traced_exemplars_off")
    target = "≤ 5 ns: " + ("not measured" if idle is None else verdict(idle <= 5))
    w(f"| no trace context (`pf_metrics` − `pf_metrics_exemplars_off`) | {shown(idle)} | {target} |")
    w(f"| sampled trace context (`pf_metrics_traced` − `pf_metrics_traced_exemplars_off`) | {shown(traced)} | stated |")
    w("")


exemplars_section(paired_all)

# ---- loopback -----------------------------------------------------------------------------
w("## End to end over loopback")
w("")
w("Axum serving the router on 127.0.0.1, one hyper HTTP/1.1 keep-alive connection, client and")
w("server on one current-thread runtime. This bench cannot resolve differences under about 1 µs:")
w("the in-process rows above give the precise added cost, R is the denominator.")
w("")
w("| contender | CPU time | added over bare | wall time | added over bare |")
w("|---|---:|---:|---:|---:|")
for name in ["bare", "pf_metrics", "pf_stack", "pf_stack_json"]:
    v, vw = m(f"loopback/{name}"), m(f"loopback_wall/{name}")
    if v is None:
        continue
    d = "—" if name == "bare" else signed(v - R_criterion)
    dw = "—" if name == "bare" or vw is None or R_wall_criterion is None else signed(vw - R_wall_criterion)
    w(f"| `{name}` | {ns(v)} | {d} | {ns(vw)} | {dw} |")
w("")

# ---- R_db ---------------------------------------------------------------------------------
R_db = (db.get("bare") or {}).get("cpu")
R_db_wall = (db.get("bare") or {}).get("wall")
w("## End to end with PostgreSQL and Redis (R_db)")
w("")
w("The same keep-alive loopback set-up, but the handler runs one PostgreSQL query through sqlx")
w("(`SELECT $1::int8 + 1`, one pooled connection) and one Redis GET (redis `ConnectionManager`)")
w("against the local servers, each under a timeout (`cargo bench -p pf-benches --bench loopback_db`).")
w("Client, server and both database clients share one current-thread runtime thread, so its CPU")
w("time covers all of our side; the PostgreSQL and Redis servers are other processes, whose work")
w("shows only in the wall time. Interleaved: per round each contender sends a batch on its own")
w("connection, in a fresh shuffled order; added = median of the same-round differences to `bare`.")
w("")
if not db:
    w("Not measured in this run (no `loopback_db` output).")
else:
    w(f"R_db (bare): **{ns(R_db)}** CPU time, {ns(R_db_wall)} wall time; {db_all['rounds']:,} rounds of {db_all['batch']} requests per contender.")
    w("")
    w("| contender | CPU time | added | % of R_db | wall time | added | % of R_db wall |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for name, v in db.items():
        first = name == "bare"
        w(
            f"| `{name}` | {ns(v['cpu'])} | {'—' if first else signed(v['over_bare_cpu'])} | "
            f"{'—' if first else pct(v['over_bare_cpu'], R_db)} | {ns(v['wall'])} | "
            f"{'—' if first else signed(v['over_bare_wall'])} | {'—' if first else pct(v['over_bare_wall'], R_db_wall)} |"
        )
    w("")
    w("`noop_layers4`: four no-op layers applied with `Router::layer`, axum's floor for the")
    w("four-layer stack; `pf_stack`: the whole pf stack as `pf_stack` above (no output);")
    w("`pf_stack_json`: the same with pf-log-enrich's JSON formatter writing one access line per")
    w("request to `io::sink`; `pf_stack_one_layer_json`: the README's composition (one")
    w("`ServiceBuilder`, one `Router::layer` call) with the same JSON line. Contenders run in a")
    w("fresh shuffled order every round. `pf_stack_no_subscriber` is `pf_stack` with tracing switched")
    w("off (`Dispatch::none()`); `request_id_only`, `span_only` and `metrics_only` are each pf layer")
    w("alone in one `Router::layer` call.")
    w("")
    # (R_db contender, the in-process contender with the same layers)
    for name, same in (("noop_layers4", "noop_layers4"), ("pf_stack", "pf_stack"),
                       ("pf_stack_json", "pf_stack_json"), ("metrics_only", "pf_metrics")):
        here, there = (db.get(name) or {}).get("over_bare_cpu"), added(same)
        if here is not None and there:
            w(f"`{name}` adds {signed(here)} here against {signed(there)} in process (`{same}`, {here / there:.1f}×).")
            w("")
    w("The same layers cost several times more on this request than in process, and not because of")
    w("the subscriber: with tracing switched off the stack costs nearly as much. What differs is the")
    w("waiting: each request is polled several times (it waits for PostgreSQL, then for Redis), every")
    w("poll runs through each layer's future, and while the thread sleeps the database servers run on")
    w("the same two cores, so each layer's code and data meet cold caches, again after every wait.")
    w("The no-op row shows that axum's layering alone is subject to it; the per-layer rows show that")
    w("it grows with the code a layer runs (the span layer most). This is not visible in process")
    w("(warm caches) nor in instruction counts; a machine with more cores than busy processes")
    w("would show less of it. (A trial with glibc's fastbins off and trimming disabled gave the")
    w("same shares, so it is not the allocator.)")
w("")

# ---- the server benchmark (issue 19) -------------------------------------------------------
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report_server  # noqa: E402

report_server.server_section(w, server)
report_server.why_section(w, server, why)

# ---- allocations --------------------------------------------------------------------------
w("## Allocations per request")
w("")
w("Counted by a global allocator over 2,000 requests after 100 warm-up requests")
w("(`cargo bench -p pf-benches --bench allocations`). With axum's `Router::layer` every layer's")
w("route, future and response body are boxed by axum; around a plain tower service")
w("(`HttpMetricsLayer::new(..).layer(service_fn(..))`, body drained frame by frame) the")
w("metrics layer's own steady state shows.")
w("")
w("| contender | allocations / request | bytes / request |")
w("|---|---:|---:|")
for key, v in allocs.items():
    w(f"| `{key}` | {v['allocs']:.2f} | {v['bytes']:.0f} |")
w("")

# ---- exposition ---------------------------------------------------------------------------
w("## Exposition")
w("")
w("Encoding N request series into a reused `String`. Each series: request counter, duration")
w("histogram (14 buckets) and response-size histogram (10 buckets) per (method, route, status),")
w("request-size histogram and in-flight gauge per (method, route). prometheus-client 0.26 holds the")
w("same families and observations and encodes with its text (OpenMetrics) encoder.")
w("")
w("| series | pf, Prometheus text | pf, OpenMetrics | prometheus-client | prometheus-client ÷ pf OpenMetrics |")
w("|---:|---:|---:|---:|---:|")
for n in ["100", "1000", "10000"]:
    a, b, c = m(f"exposition/pf_prometheus/{n}"), m(f"exposition/pf_openmetrics/{n}"), m(f"exposition/prometheus_client/{n}")
    w(f"| {int(n):,} | {ns(a)} | {ns(b)} | {ns(c)} | {ratio(c, b)} |")
w("")

# ---- contention ---------------------------------------------------------------------------
w("## Contention")
w("")
w("Threads sending requests through one router into the same series at once; CPU time per")
w("request of the busiest thread (cache lines moving between cores stall the threads, and stalls")
w("are CPU time). The bare pair shows what the machine itself does with two threads.")
w("")
cont = (paired_all or {}).get("contention")
w("| contender | measured | 1 thread | 2 threads | 2 ÷ 1 |")
w("|---|---|---:|---:|---:|")
for name in ["bare", "pf_metrics"]:
    if cont:
        one, two = cont.get(f"{name}/1"), cont.get(f"{name}/2")
        w(f"| `{name}` | interleaved | {ns(one)} | {ns(two)} | {ratio(two, one)} |")
    one, two = m(f"contention/{name}/1"), m(f"contention/{name}/2")
    w(f"| `{name}` | Criterion | {ns(one)} | {ns(two)} | {ratio(two, one)} |")
if cont:
    w("")
    w("Interleaved: two worker threads with their own runtimes; per round the four modes (bare or")
    w("pf, one or two threads) each run a batch of 32 requests in rotating order, started together")
    w("at a barrier; medians over the rounds. Criterion: each mode measured on its own.")
w("")

# ---- repository and cache helpers ---------------------------------------------------------
ob, orp, oc = m("operations/bare_await"), m("operations/repository_time"), m("operations/cache_lookup")
if ob and orp and oc:
    w("## Repository and cache helpers")
    w("")
    w("One timed call around an already-complete future (`RepositoryMetrics::time`,")
    w("`CacheMetrics::lookup`) against awaiting the same future bare, once the operation's series")
    w("exists: two clock reads, a hash of the operation name, a lock-free lookup and a few adds on")
    w("the calling thread's shard. Allocations per call: 0 (`pf-metrics/tests/allocations.rs`).")
    w("")
    w("| contender | time / call | added |")
    w("|---|---:|---:|")
    w(f"| `bare_await` | {ns(ob)} | |")
    w(f"| `repository_time` | {ns(orp)} | {signed(orp - ob)} |")
    w(f"| `cache_lookup` | {ns(oc)} | {signed(oc - ob)} |")
    w("")

# ---- instructions -------------------------------------------------------------------------
if instr:
    per = instr["per_request"]
    budgets = instr["budgets"]
    w("## Instruction counts (the CI gate)")
    w("")
    w(f"callgrind, collection only inside `call_collect`, {instr['requests'] + 1:,} requests")
    w("(`scripts/instructions`; budgets in `benches/instruction-budget.toml`). Deterministic to")
    w("well under 0.1 % between runs, unaffected by load.")
    w("")
    w("| contender | instructions / request | added | over | budget (added) |")
    w("|---|---:|---:|---|---:|")
    for name, v in per.items():
        b = budgets.get(name)
        base = b["over"] if b else ("tower_bare" if name.startswith("tower_") else "bare")
        shown = "—" if b is None else f"{b['budget']:,}"
        over = "not measured" if base not in per else f"{v - per[base]:+,.0f}"
        w(f"| `{name}` | {v:,.0f} | {over} | `{base}` | {shown} |")
    w("")
    polls = instr.get("per_poll") or {}
    if polls and "bare" in polls:
        w("### Per poll")
        w("")
        w("The same requests with a handler that yields to the runtime before it answers")
        w("(`PF_BENCH_YIELDS`, `[per_poll]` in the budget file): each yield is one more poll of the")
        w("request's future through every layer, as a request waiting on a database is polled again")
        w("when its reply arrives. Instructions per extra poll, and what a contender adds per poll")
        w("over the bare router's own poll.")
        w("")
        w("| contender | instructions / poll | added per poll over bare |")
        w("|---|---:|---:|")
        for name, v in polls.items():
            w(f"| `{name}` | {v:,.0f} | {v - polls['bare']:+,.0f} |")
        w("")

# ---- targets ------------------------------------------------------------------------------
w("## Targets")
w("")
rows = []
pm = added("pf_metrics")
if pm is not None and R:
    rows.append(("`HttpMetricsLayer` ≤ 0.5 % of R", f"{signed(pm)} = {pct(pm, R)} of {ns(R)} CPU ({pct(pm, R_wall)} of {ns(R_wall)} wall)", 100 * pm / R <= 0.5))
pmo = added("pf_metrics", "noop_layer")
if pmo is not None:
    ia, io = instr_added("pf_metrics"), instr_added("noop_layer")
    extra = "" if ia is None or io is None else f" ({ia - io:+,.0f} instructions)"
    plain = (paired_all or {}).get("plain")
    if plain:
        ti = ""
        if instr and {"tower_pf_metrics", "tower_bare"} <= instr["per_request"].keys():
            ti = f" ({instr['per_request']['tower_pf_metrics'] - instr['per_request']['tower_bare']:+,.0f} instructions)"
        extra += f"; around a plain tower service: {signed(plain['tower_pf_metrics_over_tower_bare'])}{ti}"
    rows.append(("`HttpMetricsLayer` ≤ 100 ns over the no-op layer", "via `Router::layer`: " + signed(pmo) + extra, pmo <= 100))
for peer in ["axum_prometheus", "otel_tower_metrics"]:
    pa = added(peer)
    if pa is not None and pm:
        rows.append((f"≥ 10× cheaper than `{peer}`", f"{ratio(pa, pm)} ({signed(pa)} vs {signed(pm)})", pm > 0 and pa / pm >= 10))
ps = added("pf_stack")
if ps is not None and R:
    one = added("pf_stack_one_layer")
    note = "" if one is None else f"; composed in one `Router::layer` call: {signed(one)} = {pct(one, R)}"
    rows.append(("whole stack, no output ≤ 1.5 % of R", f"{signed(ps)} = {pct(ps, R)} ({pct(ps, R_wall)} of wall R){note}", 100 * ps / R <= 1.5))
pj = added("pf_stack_json")
if pj is not None and R:
    rows.append(("whole stack + one JSON line ≤ 6 % of R", f"{signed(pj)} = {pct(pj, R)} ({pct(pj, R_wall)} of wall R)", 100 * pj / R <= 6))
e_pf, e_pc = m("exposition/pf_openmetrics/10000"), m("exposition/prometheus_client/10000")
if e_pf and e_pc:
    rows.append(("10,000 series encoded faster than prometheus-client", f"{ns(e_pf)} vs {ns(e_pc)} ({ratio(e_pc, e_pf)})", e_pf < e_pc))
tb, tm = allocs.get("tower/bare"), allocs.get("tower/pf_metrics")
if tb and tm:
    d = tm["allocs"] - tb["allocs"]
    ra = (alloc("pf_metrics") or 0) - (alloc("noop_layer") or 0)
    rows.append((
        "zero allocations per request in the metrics layer's steady state",
        f"plain tower service: {d:+.2f}; via `Router::layer`: {ra:+.0f} over the no-op layer (axum boxes the wrapped body)",
        abs(d) < 0.005,
    ))
if ob and orp:
    rows.append(("repository helper ≤ 60 ns per call, 0 allocations", f"{signed(orp - ob)} (cache lookup {signed(oc - ob)}), 0 allocations", orp - ob <= 60))
c1, c2 = m("contention/pf_metrics/1"), m("contention/pf_metrics/2")
b1, b2 = m("contention/bare/1"), m("contention/bare/2")
if cont:
    c1, c2, b1, b2 = (cont.get(k) for k in ["pf_metrics/1", "pf_metrics/2", "bare/1", "bare/2"])
if c1 and c2 and b1 and b2:
    rows.append(("two threads on one series ≤ 1.5× one thread", f"{ratio(c2, c1)} (bare router: {ratio(b2, b1)})", c2 / c1 <= 1.5))
w("| target | measured | |")
w("|---|---|---|")
for target, measured, ok in rows:
    w(f"| {target} | {measured} | {verdict(ok)} |")
w("")

# ---- issue 12 -----------------------------------------------------------------------------
w("## Issue 12 targets (same run)")
w("")
w("Interleaved medians of this run only (the `paired` and `loopback_db` benches; allocations from")
w("the `allocations` bench); a number missing from the run is shown as \"not measured\".")
w("")
NM = "not measured"
R_int = _lb["cpu"] if _lb else None


def of_r(v):
    return f"{pct(v, R_int)} of R ({ns(R_int)})"


issue12 = []
one = paired_added("pf_stack_one_layer")
if one is None or R_int is None:
    issue12.append(("`pf_stack_one_layer` added over bare ≤ 800 ns and ≤ 3.5 % of R", NM, None))
else:
    issue12.append(("`pf_stack_one_layer` added over bare ≤ 800 ns and ≤ 3.5 % of R",
                    f"{signed(one)} = {of_r(one)}", one <= 800 and 100 * one / R_int <= 3.5))
a_one, a_bare = alloc("pf_stack_one_layer"), alloc("bare")
if a_one is None or a_bare is None:
    issue12.append(("`pf_stack_one_layer` allocations ≤ bare + 6", NM, None))
else:
    issue12.append(("`pf_stack_one_layer` allocations ≤ bare + 6",
                    f"{a_one:.0f} vs bare {a_bare:.0f} ({a_one - a_bare:+.0f})", a_one - a_bare <= 6 + 0.005))
ids, ato = paired_added("pf_id_span"), paired_added("axum_tracing_otel")
d = paired_diff("pf_id_span", "axum_tracing_otel")
if ids is None or ato is None or d is None:
    issue12.append(("`pf_id_span` added ≤ `axum_tracing_otel` added", NM, None))
else:
    issue12.append(("`pf_id_span` added ≤ `axum_tracing_otel` added",
                    f"{signed(ids)} vs {signed(ato)} ({'same-round' if f'pf_id_span - axum_tracing_otel' in differences else 'difference of the medians'}: {signed(d)})", d <= 0))
jl = paired_diff("pf_stack_json", "pf_stack")
if jl is None:
    issue12.append(("JSON access line (`pf_stack_json` − `pf_stack`) ≤ 600 ns", NM, None))
else:
    issue12.append(("JSON access line (`pf_stack_json` − `pf_stack`) ≤ 600 ns", signed(jl), jl <= 600))
psj = paired_added("pf_stack_json")
if psj is None or R_int is None:
    issue12.append(("`pf_stack_json` added ≤ 6 % of R", NM, None))
else:
    issue12.append(("`pf_stack_json` added ≤ 6 % of R", f"{signed(psj)} = {of_r(psj)}", 100 * psj / R_int <= 6))
pmn = paired_added("pf_metrics", "noop_layer")
a_pm, a_noop = alloc("pf_metrics"), alloc("noop_layer")
if pmn is None or a_pm is None or a_noop is None:
    shown = NM if pmn is None else f"{signed(pmn)}; allocations not measured"
    issue12.append(("`pf_metrics` added over `noop_layer` ≤ 120 ns, allocations equal to `noop_layer`'s", shown, None))
else:
    issue12.append((
        "`pf_metrics` added over `noop_layer` ≤ 120 ns, allocations equal to `noop_layer`'s",
        f"{signed(pmn)}; allocations {a_pm:.0f} vs {a_noop:.0f} ({a_pm - a_noop:+.0f})",
        pmn <= 120 and abs(a_pm - a_noop) < 0.005,
    ))
if marginal is None or R_int is None:
    issue12.append(("metrics' marginal cost in the composed stack (`pf_stack_one_layer` − `pf_stack_one_layer_no_metrics`) ≤ 0.5 % of R", NM, None))
else:
    issue12.append((
        "metrics' marginal cost in the composed stack (`pf_stack_one_layer` − `pf_stack_one_layer_no_metrics`) ≤ 0.5 % of R",
        f"{signed(marginal)} = {of_r(marginal)}", 100 * marginal / R_int <= 0.5,
    ))
sj = db.get("pf_stack_json")
if sj is None or not R_db:
    issue12.append(("whole stack + JSON line on R_db ≤ 0.5 %", NM, None))
else:
    issue12.append((
        "whole stack + JSON line on R_db ≤ 0.5 %",
        f"{signed(sj['over_bare_cpu'])} = {pct(sj['over_bare_cpu'], R_db)} of R_db ({ns(R_db)} CPU); "
        f"wall: {signed(sj['over_bare_wall'])} = {pct(sj['over_bare_wall'], R_db_wall)} of {ns(R_db_wall)}",
        100 * sj["over_bare_cpu"] / R_db <= 0.5,
    ))
w("| target | measured | |")
w("|---|---|---|")
for target, measured, ok in issue12:
    w(f"| {target} | {measured} | {NM if ok is None else verdict(ok)} |")
w("")
w("R_db's verdict uses CPU time, as every \"% of R\" does; the database servers' own work is not")
w("in R_db's CPU time (it is in the wall time shown beside it), so the CPU ratio is the stricter one.")
w("")
w("Targets are shown by these numbers, never asserted in tests; only instruction counts gate CI.")
w("")

# ---- issue 16 / 19 ------------------------------------------------------------------------
w("## Issue 16 targets (same run)")
w("")
w("The targets of issue 19 (first set by issue 16), from this run only: the server benchmark's")
w("added server CPU per request (median of same-round differences to `bare`, with their IQR),")
w("the `paired` bench in process, and the instruction gate. \"The stack\" is the README's quick")
w("start, pf-stack's fused `StackLayer` (`pf_fused`); the separate layers' composition")
w("(`pf_stack`) is shown beside it.")
w("")
issue16 = []
shapes16 = (server or {}).get("shapes", {})
# What fusing saves: the same parts as four layers in one Router::layer call against one.
f_i, o_i = instr_added("pf_fused"), instr_added("pf_stack_one_layer")
f_p, o_p = paired_added("pf_fused"), paired_added("pf_stack_one_layer")
f_a, o_a = alloc("pf_fused"), alloc("pf_stack_one_layer")
polls16 = (instr or {}).get("per_poll") or {}
if None not in (f_i, o_i):
    w("**What fusing saves** (`pf_fused`, pf-stack's `StackLayer`, against `pf_stack_one_layer`,")
    w("the same health, request ID, span and metrics as four layers in one `Router::layer` call):")
    w(f"instructions per request {f_i:+,.0f} against {o_i:+,.0f} over bare ({f_i - o_i:+,.0f})"
      + ("" if None in (f_p, o_p) else f"; in process {signed(f_p)} against {signed(o_p)} ({signed(f_p - o_p)})")
      + ("" if None in (f_a, o_a) else f"; allocations per request {f_a:.0f} against {o_a:.0f}")
      + (f"; per extra poll {polls16['pf_fused'] - polls16['bare']:+,.0f} against {polls16['pf_stack_one_layer'] - polls16['bare']:+,.0f} instructions"
         if {"pf_fused", "pf_stack_one_layer", "bare"} <= polls16.keys() else "") + ".")
    w("One service, one future and at most one body wrapper instead of four, three and two; the")
    w("route extracted once; the clock read once at each end (the metrics' reading gives the span")
    w("its duration); the request ID stored once, with the request's context.")
    w("")


def srv_mode(shape, mode):
    sh = shapes16.get(shape)
    if not sh or mode not in sh.get("modes", {}):
        return None
    return sh["bare_ns"], sh["modes"][mode]


def srv_row(target, shape, mode, limit_pct=None, limit_ns=None, beside=None):
    got = srv_mode(shape, mode)
    if got is None:
        issue16.append((target, NM, None))
        return
    bare, m = got
    add = m["over_bare"]
    shown = f"{signed(add)} (IQR {signed(m['p25'])} … {signed(m['p75'])}) = {100 * add / bare:+.2f} % of bare's {ns(bare)}"
    if beside:
        other = srv_mode(shape, beside)
        if other:
            shown += f"; `{beside}`: {signed(other[1]['over_bare'])} = {100 * other[1]['over_bare'] / bare:+.2f} %"
    ok = (limit_pct is None or 100 * add / bare <= limit_pct) and (limit_ns is None or add <= limit_ns)
    issue16.append((target, shown, ok))


srv_row("server, DB-bound at the moderate rate: stack ≤ 2 % of bare", "db_rate", "pf_fused", limit_pct=2, beside="pf_stack")
srv_row("server, DB-bound at the moderate rate: stack + JSON line ≤ 4 % of bare", "db_rate", "pf_fused_json", limit_pct=4, beside="pf_stack_json")
srv_row("server, DB-bound at the moderate rate: metrics alone ≤ 0.5 % of bare", "db_rate", "pf_metrics", limit_pct=0.5)
srv_row("server, in memory: stack ≤ +1 µs", "mem_saturating", "pf_fused", limit_ns=1000, beside="pf_stack")
srv_row("server, in memory: stack + JSON line ≤ +2 µs", "mem_saturating", "pf_fused_json", limit_ns=2000, beside="pf_stack_json")
fz = paired_added("pf_fused")
if fz is None:
    issue16.append(("in process: the fused stack ≤ 800 ns over bare", NM, None))
else:
    one16 = paired_added("pf_stack_one_layer")
    extra = "" if one16 is None else f" (the same layers composed: {signed(one16)})"
    issue16.append(("in process: the fused stack ≤ 800 ns over bare", signed(fz) + extra, fz <= 800))
jz = paired_diff("pf_fused_json", "pf_fused")
issue16.append(("in process: the JSON line (`pf_fused_json` − `pf_fused`) ≤ 600 ns", NM if jz is None else signed(jz), None if jz is None else jz <= 600))
d16 = paired_diff("pf_id_span", "axum_tracing_otel")
issue16.append(("in process: id + span ≤ axum-tracing-opentelemetry's added cost",
                NM if d16 is None else f"`pf_id_span` − `axum_tracing_otel`: {signed(d16)}", None if d16 is None else d16 <= 0))
peer_rows = []
for peer, mine in (("axum_prometheus", "pf_metrics"), ("tower_http_trace_id_json", "pf_fused_json"), ("axum_tracing_otel", "pf_id_span")):
    a, b = paired_added(peer), paired_added(mine)
    if a is not None and b is not None and b > 0:
        peer_rows.append(f"`{peer}` {signed(a)} vs `{mine}` {signed(b)} ({a / b:.1f}×)")
issue16.append(("the peers' ratios (in process, this run; reported, compared by hand with earlier runs)",
                "; ".join(peer_rows) if peer_rows else NM, None))
gate = bool(instr) and instr_added("pf_fused") is not None and instr_added("pf_fused_json") is not None
issue16.append(("the instruction gate covers the fused layer",
                f"`pf_fused` {instr_added('pf_fused'):+,.0f} and `pf_fused_json` {instr_added('pf_fused_json'):+,.0f} instructions per request over bare" if gate else NM,
                bool(gate) if instr else None))
w("| target | measured | |")
w("|---|---|---|")
for target, measured, ok in issue16:
    w(f"| {target} | {measured} | {NM if ok is None else verdict(ok)} |")
w("")
w("## Reproduce and profile")
w("")
w("```sh")
w("export CARGO_TARGET_DIR=$PWD/target                 # the default; any directory works")
w("scripts/bench                                   # everything above (BENCHMARKS.md)")
w("scripts/bench --bench metrics                   # one Criterion target + allocations + paired + loopback_db")
w("scripts/bench --report-only                     # rewrite BENCHMARKS.md from the last run")
w("scripts/instructions                            # the CI gate alone (PF_INSTRUCTIONS_RUNS=2: determinism check)")
w("cargo bench -p pf-benches --bench paired        # interleaved table only")
w("cargo bench -p pf-benches --bench allocations   # allocation table only")
w("cargo bench -p pf-benches --bench loopback_db   # R_db only (needs the local PostgreSQL and Redis)")
w("cargo bench -p pf-benches --bench server        # server CPU per request (PF_SERVER_ROUNDS, PF_SERVER_PHASE_MS)")
w("scripts/why-waiting                             # callgrind: DB-bound vs in-memory request, by crate")
w("# where the instructions go, for one contender:")
w("cargo build --profile bench -p pf-benches --bin pf-instructions")
w("valgrind --tool=callgrind --toggle-collect='*call_collect*' --callgrind-out-file=cg.out \\")
w("  $CARGO_TARGET_DIR/release/pf-instructions pf_stack 1000")
w("callgrind_annotate --auto=no cg.out | head -40")
w("```")
w("")

# ---- everything ---------------------------------------------------------------------------
w("## All medians of this run")
w("")
w("Every Criterion benchmark the command ran (including the `log_enrich` and `health` benches).")
w("")
w("| benchmark | median |")
w("|---|---:|")
for k in sorted(medians):
    w(f"| `{k}` | {ns(medians[k])} |")
w("")

with open(out_file, "w") as f:
    f.write("\n".join(out))
print(f"wrote {out_file} ({len(medians)} benchmarks)")
