"""The server benchmark's sections of BENCHMARKS.md (imported by report.py): "Server CPU per
request" from the `server` bench's JSON, and "Why a waiting request costs more" from its
per-request counters and from `scripts/why-waiting`'s callgrind counts."""

WHAT = {
    "bare": "the routes alone",
    "pf_metrics": "pf `HttpMetricsLayer` alone (`/metrics` served and excluded)",
    "pf_stack": "the README's composition (health, request ID, span, metrics; one `ServiceBuilder`), INFO, no output",
    "pf_stack_json": "the same + pf-log-enrich's JSON line per request to `/dev/null`",
    "pf_stack_json_nonblocking": "`pf_stack_json` through `Logging::non_blocking` (line queued, written by a background thread of the server)",
    "pf_fused": "the README's quick start: pf-stack's `StackLayer` (health, request ID, span, metrics in one service, one future), INFO, no output",
    "pf_fused_json": "the same + pf-log-enrich's JSON line per request to `/dev/null`",
    "axum_prometheus": "peer: axum-prometheus 0.10",
    "tower_http_trace_id_json": "peer: tower-http `TraceLayer` + request ID + tracing-subscriber JSON line to `/dev/null`",
    "axum_tracing_otel": "peer: axum-tracing-opentelemetry (`OtelAxumLayer` at INFO + `OtelInResponseLayer`)",
}
SHAPE_TITLE = {
    "db_saturating": "DB-bound, saturating (8 connections, closed loop)",
    "db_rate": "DB-bound, fixed moderate rate (800 requests/s over 4 connections)",
    "mem_saturating": "in-memory handler, saturating (8 connections, closed loop)",
}


def us(v):
    if v is None:
        return "n/a"
    return f"{v / 1000:,.1f} µs" if abs(v) >= 1000 else f"{v:,.0f} ns"


def sus(v):
    if v is None:
        return "n/a"
    return ("+" if v >= 0 else "−") + us(abs(v))


def server_section(w, srv):
    w("## Server CPU per request")
    w("")
    if not srv:
        w("Not measured in this run (no `server` bench output).")
        w("")
        return
    w("The shape a user deploys (`cargo bench -p pf-benches --bench server`, benches/benches/server/):")
    w("each contender is its own server process (the bench binary with `--serve <mode>`): a")
    w("multi-threaded Tokio runtime of 2 workers, axum serving `/mem/users/{id}` (the in-process")
    w("benches' small JSON user) and `/db/users/{id}` (one PostgreSQL query `SELECT $1::int8 + 1`")
    w("through an sqlx pool of 4 and one Redis GET through a `ConnectionManager`, each under a 2 s")
    w("timeout) on a free 127.0.0.1 port, `into_make_service_with_connect_info`. The load comes from")
    w("another process (the bench driver's own keep-alive HTTP/1.1 client on one thread). Server CPU")
    w("per request = the server process's CPU time over a phase (sum of its threads'")
    w("`/proc/PID/task/*/schedstat` run time, ns; `/proc/PID/stat` utime + stime, 10 ms ticks, agrees")
    w("and is kept in the JSON) ÷ the requests it answered, the PostgreSQL and Redis servers' own work")
    w("excluded. Per round and shape every contender serves one phase of")
    w(f"{srv['phase_ms'] / 1000:g} s in a fresh shuffled order; **added** = median over the kept rounds of the")
    w("same-round difference to `bare`, with the interquartile range of those differences.")
    w("")
    w(f"Foreign load: per phase, the machine's busy time (`/proc/stat`) minus the server's, the driver's")
    w(f"and the database servers' (`postgres`, `redis-server`), in cores. **Rule**: a round of a shape is")
    w(f"rejected when any of its phases saw more than {srv['foreign_max']} cores of foreign work; when fewer")
    w("than 3 rounds would survive, all are kept and the shape is marked loaded. 1-minute load average")
    w(f"over the phases: {srv['loadavg1_min']:.2f} – {srv['loadavg1_max']:.2f} (median {srv['loadavg1_median']:.2f}).")
    w("")
    for shape, s in srv["shapes"].items():
        bare = s["bare_ns"]
        w(f"**{SHAPE_TITLE.get(shape, shape)}** — {srv['rounds']} rounds, {s['kept']} kept, "
          f"{s['noisy']} over the foreign-load limit; foreign load median {s['foreign_cores_median']:.2f} cores, "
          f"max {s['foreign_cores_max']:.2f}" + (" — **loaded: every round kept, read with care**" if s["loaded"] else "") + ".")
        w("")
        w("| contender | server CPU / request | added over bare | spread (IQR of same-round differences) | % of bare | requests/s | what |")
        w("|---|---:|---:|---:|---:|---:|---|")
        for mode in srv["modes"]:
            m = s["modes"][mode]
            first = mode == "bare"
            share = f"{100 * m['over_bare'] / bare:+.1f} %"
            w(f"| `{mode}` | {us(m['ns'])} | {'—' if first else sus(m['over_bare'])} | "
              f"{'—' if first else sus(m['p25']) + ' … ' + sus(m['p75'])} | "
              f"{'—' if first else share} | {m['req_per_s']:,.0f} | {WHAT.get(mode, '')} |")
        w("")
    nb = [(shape, s["modes"]["pf_stack_json_nonblocking"]["over_bare"] - s["modes"]["pf_stack_json"]["over_bare"])
          for shape, s in srv["shapes"].items()
          if "pf_stack_json_nonblocking" in s["modes"] and "pf_stack_json" in s["modes"]]
    if nb:
        shown = ", ".join(f"{sus(d)} ({shape})" for shape, d in nb)
        w(f"**The JSON line through `Logging::non_blocking`** against the same line written in place")
        w(f"(`pf_stack_json_nonblocking` − `pf_stack_json`, difference of the added medians): {shown}.")
        w("The writer thread drains the queue every 5 ms (`pf_log_enrich::DRAIN_INTERVAL`), so a line")
        w("costs the request's thread one queue push and no wake-up; what it takes off the request is")
        w("the destination's latency (a pipe or terminal that stalls), not CPU. A first version whose")
        w("thread blocked in `recv` was woken by every line: +11.0 µs of server CPU per in-memory request")
        w("over the in-place write (10-round run on 2026-12-07).")
        w("")
    if not srv.get("bench"):
        w("(This run was the test mode: two rounds of 20 requests per phase, far too few to resolve")
        w("anything; `scripts/bench` runs the real thing.)")
        w("")


def added_counts(counts, mode, handler):
    c, b = counts["modes"][mode][handler], counts["modes"]["bare"][handler]
    return {k: c[k] - b[k] for k in ("allocs", "frees", "bytes", "enters", "exits", "events", "spans")}


def why_section(w, srv, why):
    w("## Why a waiting request costs more")
    w("")
    counts = (srv or {}).get("counts")
    if counts:
        w("**What a request does, counted** in the server process (`--count`; one request at a time,")
        w(f"{counts['requests']:,} requests after {counts['warm_up']} warm-up requests, per request): allocations and frees")
        w("(a counting global allocator), polls of each layer's inner future (a poll-counting wrapper")
        w("between the layers, allocating nothing), response body frames (a counting body: one box per")
        w("request, the same in every contender), spans entered / exited and events (a counting")
        w("subscriber layer). Every contender has the counters at the whole stack and the handler; the")
        w("pf stack also between its layers.")
        w("")
        w("| contender | handler | allocations | frees | polls: whole stack | below health | below request ID | below span | below metrics | handler | body frames | span enters / exits | events |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for mode, hs in counts["modes"].items():
            for h in ("mem", "db"):
                c = hs[h]
                p = c["polls"]
                pl = " | ".join(f"{x:.2f}" if x else "—" for x in p)
                w(f"| `{mode}` | {h} | {c['allocs']:.1f} | {c['frees']:.1f} | {pl} | {c['body_polls']:.1f} | "
                  f"{c['enters']:.1f} / {c['exits']:.1f} | {c['events']:.1f} |")
        w("")
        if "pf_stack" in counts["modes"]:
            am, ad = added_counts(counts, "pf_stack", "mem"), added_counts(counts, "pf_stack", "db")
            pm, pd = counts["modes"]["pf_stack"]["mem"]["polls"][0], counts["modes"]["pf_stack"]["db"]["polls"][0]
            w(f"The DB-bound request is polled {pd:.2f} times through every layer against {pm:.2f} for the in-memory")
            w(f"one (each wait for the pool, PostgreSQL and Redis ends in a wake-up and a poll down the whole")
            w(f"stack). Over `bare`, the pf stack adds {am['allocs']:+.1f} allocations in memory and {ad['allocs']:+.1f} DB-bound,")
            w(f"{am['enters']:+.1f} span enters in memory and {ad['enters']:+.1f} DB-bound.")
            w("")
    if why:
        runs = why["runs"]
        w(f"**Instructions** (callgrind, `scripts/why-waiting`, {why['requests']} requests per run): each contender")
        w("served and loaded in one process on a current-thread runtime (server, client, sqlx and redis")
        w("on one thread, collection only around the measured requests), so every instruction our side")
        w("executes per request is counted, on the DB-bound and on the in-memory handler.")
        w("")
        w("| run | instructions / request | added over bare | clock reads | malloc | free | realloc | wake-ups | span enters | span exits |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for key, r in runs.items():
            mode, h = key.rsplit(".", 1)
            b = runs.get(f"bare.{h}")
            add = "—" if mode == "bare" or not b else f"{r['instructions'] - b['instructions']:+,.0f}"
            c = r["calls"]
            w(f"| `{key}` | {r['instructions']:,.0f} | {add} | {c['clock reads']:.1f} | {c['malloc']:.1f} | "
              f"{c['free']:.1f} | {c['realloc']:.1f} | {c['wake-ups']:.1f} | {c['span enters']:.1f} | {c['span exits']:.1f} |")
        w("")
        for mode in ("pf_stack", "pf_stack_json"):
            if not all(f"{x}.{h}" in runs for x in (mode, "bare") for h in ("mem", "db")):
                continue

            def added(h, g):
                return runs[f"{mode}.{h}"]["groups"].get(g, 0) - runs[f"bare.{h}"]["groups"].get(g, 0)
            groups = set()
            for h in ("mem", "db"):
                groups |= set(runs[f"{mode}.{h}"]["groups"]) | set(runs[f"bare.{h}"]["groups"])
            tm = runs[f"{mode}.mem"]["instructions"] - runs["bare.mem"]["instructions"]
            td = runs[f"{mode}.db"]["instructions"] - runs["bare.db"]["instructions"]
            rows = sorted(groups, key=lambda g: -abs(added("db", g) - added("mem", g)))
            w(f"`{mode}` over `bare`, instructions per request by crate (self cost; `malloc/free` is glibc's")
            w("allocator, `core`/`alloc`/`std` generic code not attributable to a named crate):")
            w("")
            w("| crate | in memory | DB-bound | DB-bound − in memory | share of the extra |")
            w("|---|---:|---:|---:|---:|")
            extra = td - tm
            for g in rows[:12]:
                d = added("db", g) - added("mem", g)
                share = f"{100 * d / extra:.0f} %" if extra else "n/a"
                w(f"| {g} | {added('mem', g):+,.0f} | {added('db', g):+,.0f} | {d:+,.0f} | {share} |")
            w(f"| **total** | **{tm:+,.0f}** | **{td:+,.0f}** | **{extra:+,.0f}** | 100 % |")
            w("")
        sd = runs.get("pf_stack.db")
        if sd and sd.get("callers"):
            w("Who reads the clock (`pf_stack.db`, calls per request):")
            w("")
            for caller, n in list(sd["callers"].get("clock reads", {}).items())[:6]:
                w(f"- {n:.1f} × `{caller}`")
            w("")
    cause_summary(w, srv, why)


def cause_summary(w, srv, why):
    """Which part of the extra cost of a waiting request each count accounts for, from this
    run's numbers (the server bench's added CPU time, the counters, callgrind)."""
    runs = (why or {}).get("runs", {})
    need = ["bare.mem", "bare.db", "pf_stack.mem", "pf_stack.db"]
    shapes = (srv or {}).get("shapes", {})
    if not all(k in runs for k in need) or "mem_saturating" not in shapes or "db_rate" not in shapes:
        return
    r = {k: runs[k] for k in need}
    im = r["pf_stack.mem"]["instructions"] - r["bare.mem"]["instructions"]
    idb = r["pf_stack.db"]["instructions"] - r["bare.db"]["instructions"]
    dm_ = shapes["mem_saturating"]["modes"]["pf_stack"]
    dd_ = shapes["db_rate"]["modes"]["pf_stack"]
    tm = shapes["mem_saturating"]["modes"]["pf_stack"]["over_bare"]
    td = shapes["db_rate"]["modes"]["pf_stack"]["over_bare"]

    def call(k, name):
        return r[k]["calls"].get(name, 0.0)

    def added_calls(h, name):
        return call(f"pf_stack.{h}", name) - call(f"bare.{h}", name)

    def grp(h, g):
        return r[f"pf_stack.{h}"]["groups"].get(g, 0) - r[f"bare.{h}"]["groups"].get(g, 0)
    tracing_extra = sum(grp("db", g) - grp("mem", g) for g in ("tracing_subscriber", "tracing_core", "tracing", "sharded_slab"))
    pairs = added_calls("db", "span enters") - added_calls("mem", "span enters")
    w("**Which part of the extra cost each accounts for** (`pf_stack` over `bare`; server CPU from")
    w("the table above, DB-bound at the moderate rate against in memory at saturation):")
    w("")
    w(f"- Server CPU added: {sus(tm)} in memory (IQR {sus(dm_['p25'])} … {sus(dm_['p75'])}), {sus(td)} DB-bound at the moderate rate")
    w(f"  (IQR {sus(dd_['p25'])} … {sus(dd_['p75'])}).")
    dm = shapes["mem_saturating"]["modes"]["pf_stack"]
    dd = shapes["db_rate"]["modes"]["pf_stack"]
    resolved = dd["p25"] > dm["p75"]
    if im > 0 and tm > 0:
        w(f"- **Instructions** added: {im:+,.0f} in memory, {idb:+,.0f} DB-bound: the waiting request runs only")
        w(f"  {idb - im:+,.0f} more instrumentation instructions ({100 * (idb - im) / im:+.0f} %).")
        if resolved:
            at_mem_speed = (idb - im) * tm / im
            w(f"  At this run's in-memory cost per added instruction ({tm / im:.2f} ns) they would cost")
            w(f"  {sus(at_mem_speed)}, {100 * at_mem_speed / (td - tm):.0f} % of the extra {sus(td - tm)}; the rest is the same work running slower")
            w(f"  ({td / idb:.2f} ns per added instruction DB-bound against {tm / im:.2f} ns in memory).")
        else:
            w(f"  This run does not resolve the DB-bound added CPU (IQR {sus(dd['p25'])} … {sus(dd['p75'])}) from the in-memory")
            w(f"  one (IQR {sus(dm['p25'])} … {sus(dm['p75'])}): the machine was loaded. On the issue's quieter run (+3.1 µs in")
            w("  memory, +10.7 µs DB-bound at ≈ 870 requests/s: +7.6 µs extra), these extra instructions at")
            ref = (idb - im) * 3100 / im
            w(f"  the in-memory cost per instruction ({3100 / im:.2f} ns) come to {sus(ref)}, {100 * ref / 7600:.0f} % of the extra:")
            w("  the rest is the same work running slower.")
    w(f"- **Span enters / exits** (the bulk of the extra instructions): {added_calls('mem', 'span enters'):+.1f} enter/exit pairs in")
    w(f"  memory, {added_calls('db', 'span enters'):+.1f} DB-bound ({pairs:+.1f}); tracing's crates (subscriber, core, sharded-slab)")
    w(f"  account for {tracing_extra:+,.0f} of the {idb - im:+,.0f} extra instructions"
      + (f", about {tracing_extra / pairs:,.0f} per extra pair" if pairs > 0 else "") + ".")
    who = r["pf_stack.db"].get("callers", {}).get("dispatch enters", {})
    if who:
        parts = "; ".join(f"{n:.2f} × `{c[:110]}`" for c, n in list(who.items())[:4])
        w(f"  Who enters (per DB-bound request): {parts}. The request-ID future's and service's enters are")
        w("  the span layer's (its future and `call`, inlined into the outer layer): one per poll and one")
        w("  per request. The `Instrumented` ones are sqlx's: it wraps its query stream in")
        w("  `in_current_span()` (sqlx-core `try_stream!`), so with any request span current every poll")
        w("  of the query re-enters it (and its drop once more); in `bare` there is no current span and")
        w("  those enters cost nothing.")
    w(f"- **Allocations**: malloc calls added {added_calls('mem', 'malloc'):+.1f} in memory, {added_calls('db', 'malloc'):+.1f} DB-bound:")
    w("  the same per request, not per poll — none of the amplification.")
    w(f"- **Clock reads**: {added_calls('mem', 'clock reads'):+.1f} in memory, {added_calls('db', 'clock reads'):+.1f} DB-bound (`bare` itself reads the clock")
    w(f"  {call('bare.db', 'clock reads'):.0f} times per DB-bound request: tokio's timers) — none of the amplification.")
    w(f"- **Wake-ups**: {added_calls('mem', 'wake-ups'):+.1f} in memory, {added_calls('db', 'wake-ups'):+.1f} DB-bound — the stack adds none.")
    counts = (srv or {}).get("counts", {}).get("modes", {})
    if "pf_stack" in counts:
        pm = counts["pf_stack"]["mem"]["polls"]
        pd = counts["pf_stack"]["db"]["polls"]
        w(f"- **Polls**: every one of the stack's {len([p for p in pd[1:5] if p])} nested futures is polled {pd[0]:.2f} times per DB-bound")
        w(f"  request against {pm[0]:.2f} in memory ({sum(pd[:5]):.1f} layer-future polls against {sum(pm[:5]):.1f}); each poll after a wait")
        w("  runs the layers' code again, and the span enter/exit with it.")
    ev = r["pf_stack.db"].get("events") or {}
    em = r["pf_stack.mem"].get("events") or {}
    bd = r["bare.db"].get("events") or {}
    bm = r["bare.mem"].get("events") or {}
    if ev and em and bd and bm:
        def miss(e):
            return e.get("I1mr", 0) + e.get("D1mr", 0) + e.get("D1mw", 0)
        w(f"- **Cache misses callgrind can see** (its model: this one process, no kernel, no other process):")
        w(f"  the stack adds {miss(em) - miss(bm):+,.0f} L1 misses in memory and {miss(ev) - miss(bd):+,.0f} DB-bound per request — about")
        w("  as many as its added instructions predict. The slowdown happens where callgrind cannot look:")
        w("  while a request waits, PostgreSQL, Redis, the kernel and the other connections run on the")
        w("  same two cores, so each poll after a wait finds the layers' code and data (the subscriber's")
        w("  span stack and slab, each layer's future) evicted. This VM exposes no hardware counters,")
        w("  so that last step is inferred from the numbers above, not measured.")
    w("")
    w("So the fixes that pay on a waiting request are the ones that cut what runs **per poll** (code")
    w("and data touched after each wake-up), not per request: one future instead of four nested")
    w("ones, the span entered once per poll at most and by one layer, nothing else per poll (no")
    w("clock read, no extension lookup, no `Instrumented`). Allocations and clock reads per request")
    w("matter equally on both handlers.")
    w("")
    w("Commands: `cargo bench -p pf-benches --bench server` (counters and server CPU; `PF_SERVER_OUT`")
    w("for the JSON), `scripts/why-waiting` (callgrind; `PF_WHY_OUT` for the JSON).")
    w("")


if __name__ == "__main__":
    # report_server.py <server.json> [<why-waiting.json>]: print the two sections alone
    import json
    import sys

    def load(path):
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, IndexError):
            return None

    lines = []
    srv = load(sys.argv[1])
    why = load(sys.argv[2]) if len(sys.argv) > 2 else None
    server_section(lines.append, srv)
    why_section(lines.append, srv, why)
    print("\n".join(lines))
