"""The server benchmark's sections of BENCHMARKS.md (imported by report.py): "Server CPU per
request" from the `server` bench's JSON, and "Why a waiting request costs more" from its
per-request counters and from `scripts/why-waiting`'s callgrind counts."""

WHAT = {
    "bare": "the routes alone",
    "pf_metrics": "pf `HttpMetricsLayer` alone (`/metrics` served and excluded)",
    "pf_stack": "the README's composition (health, request ID, span, metrics; one `ServiceBuilder`), INFO, no output",
    "pf_stack_json": "the same + pf-log-enrich's JSON line per request to `/dev/null`",
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
            w("Who enters the request span on the DB-bound request (`pf_stack.db`, calls per request):")
            w("")
            for caller, n in list(sd["callers"].get("span enters", {}).items())[:6]:
                w(f"- {n:.1f} × `{caller}`")
            w("")
            w("Who reads the clock (`pf_stack.db`, calls per request):")
            w("")
            for caller, n in list(sd["callers"].get("clock reads", {}).items())[:6]:
                w(f"- {n:.1f} × `{caller}`")
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
