#!/usr/bin/env python3
"""Reads callgrind output files of `server --callgrind` runs and says where the instructions
of a DB-bound request go against an in-memory one (python3 standard library only).

usage: callgrind_groups.py <requests> <out.json> <mode>.<mem|db>=<callgrind.out> ...

Per file: instructions per request (collected total / requests), self instructions per request
grouped by crate (the first pf crate, tracing crate or other known crate named in the
function's demangled name, else its leading path segment; glibc's allocator as `malloc/free`),
and calls per request of a few functions: clock reads (`clock_gettime`), allocator entry
points (`malloc`, `free`, `realloc`, `calloc`), task wake-ups (tokio's `wake_by_val` /
`wake_by_ref`), and span enters / exits in the registry.
"""

import json
import re
import sys

GROUPS = [
    "pf_metrics", "pf_log_enrich", "pf_health", "pf_http_core",
    "tracing_subscriber", "tracing_core", "tracing", "axum_prometheus",
    "metrics_exporter_prometheus", "axum_tracing_opentelemetry", "tracing_opentelemetry",
    "opentelemetry", "tower_http", "axum", "hyper_util", "hyper", "tower", "sqlx", "redis",
    "tokio", "serde_json", "uuid", "http", "bytes", "matchit", "sharded_slab",
]
ALLOC = {"malloc", "free", "realloc", "calloc", "_int_malloc", "_int_free", "_int_realloc",
         "malloc_consolidate", "cfree", "__libc_malloc", "__libc_free", "__libc_realloc",
         "__libc_calloc", "tcache_get", "tcache_put", "_int_free_merge_chunk",
         "_int_free_create_chunk", "_int_free_maybe_consolidate", "unlink_chunk"}
CALLS = {
    "clock reads": lambda n: "clock_gettime" in n,
    "malloc": lambda n: n in ("malloc", "__libc_malloc", "calloc", "__libc_calloc"),
    "free": lambda n: n in ("free", "__libc_free", "cfree"),
    "realloc": lambda n: n in ("realloc", "__libc_realloc"),
    "wake-ups": lambda n: n.startswith("tokio::runtime::task::waker::wake_by"),
    "span enters": lambda n: n.startswith("<tracing_subscriber::registry::sharded::Registry as tracing_core::subscriber::Subscriber>::enter"),
    "dispatch enters": lambda n: n == "tracing_core::dispatcher::Dispatch::enter",
    "span exits": lambda n: n.startswith("<tracing_subscriber::registry::sharded::Registry as tracing_core::subscriber::Subscriber>::exit"),
}


def group(name):
    base = name.split("'")[0]
    if base in ALLOC or base.startswith("_int_") or "malloc" in base and "::" not in base:
        return "malloc/free"
    for g in GROUPS:
        if re.search(r"(^|[^A-Za-z0-9_])" + g + "::", name):
            return g
    if "::" not in name:
        return "libc and other C"
    return re.sub(r"^[<&*\s]+", "", name).split("::")[0]


def parse(path):
    names = {}  # id -> name (fn, cfn share one table)
    self_cost = {}
    calls = {}
    callers = {}  # callee -> {caller: calls}
    events = ["Ir"]
    other = {}  # totals of the events after Ir (cache simulation), when recorded
    total = 0
    fn = None
    after_calls = False
    call_target = None

    def resolve(spec):
        m = re.match(r"\((\d+)\)(?: (.*))?", spec)
        if not m:
            return spec
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), m.group(1))

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if after_calls:
                    after_calls = False
                    continue
                self_cost[fn] = self_cost.get(fn, 0) + cost
                total += cost
                for i, v in enumerate(parts[2:], start=1):
                    if i < len(events):
                        other[events[i]] = other.get(events[i], 0) + int(v)
            elif line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("fn="):
                fn = resolve(line[3:])
            elif line.startswith("cfn="):
                call_target = resolve(line[4:])
            elif line.startswith("calls="):
                n = int(line[6:].split()[0])
                calls[call_target] = calls.get(call_target, 0) + n
                by = callers.setdefault(call_target, {})
                by[fn] = by.get(fn, 0) + n
                after_calls = True
            elif line.startswith("summary:") or line.startswith("totals:"):
                pass
    return total, self_cost, calls, callers, other


def main():
    requests = int(sys.argv[1])
    out = sys.argv[2]
    result = {}
    for arg in sys.argv[3:]:
        key, path = arg.split("=", 1)
        total, self_cost, calls, callers, other = parse(path)
        groups = {}
        for name, cost in self_cost.items():
            g = group(name or "")
            groups[g] = groups.get(g, 0) + cost / requests
        counted = {k: sum(n for name, n in calls.items() if name and pred(name)) / requests
                   for k, pred in CALLS.items()}
        # who calls the counted functions (clock reads, span enters, wake-ups), per request
        who = {}
        for k, pred in CALLS.items():
            if k in ("malloc", "free", "realloc"):
                continue
            by = {}
            for callee, cs in callers.items():
                if callee and pred(callee):
                    for caller, n in cs.items():
                        by[caller] = by.get(caller, 0) + n / requests
            who[k] = dict(sorted(by.items(), key=lambda kv: -kv[1])[:8])
        result[key] = {"instructions": total / requests, "groups": groups, "calls": counted,
                       "callers": who, "events": {k: v / requests for k, v in other.items()}}
    with open(out, "w") as f:
        json.dump({"requests": requests, "runs": result}, f, indent=1)
    modes = sorted({k.rsplit(".", 1)[0] for k in result})
    print(f"{'run':<28}{'instr/request':>14}  calls per request")
    for k, v in result.items():
        c = ", ".join(f"{n} {x:.1f}" for n, x in v["calls"].items())
        print(f"{k:<28}{v['instructions']:>14,.0f}  {c}")
        if v["events"]:
            print(f"{'':<28}{'':>14}  " + ", ".join(f"{n} {x:,.1f}" for n, x in v["events"].items()))
    if "bare.mem" in result and "bare.db" in result:
        for mode in modes:
            if mode == "bare" or f"{mode}.mem" not in result or f"{mode}.db" not in result:
                continue
            print(f"\n{mode} added over bare, instructions per request (self, by crate):")
            keys = set()
            for h in ("mem", "db"):
                keys |= set(result[f"{mode}.{h}"]["groups"]) | set(result[f"bare.{h}"]["groups"])

            def added(h, g):
                return result[f"{mode}.{h}"]["groups"].get(g, 0) - result[f"bare.{h}"]["groups"].get(g, 0)
            rows = sorted(keys, key=lambda g: -abs(added("db", g) - added("mem", g)))
            print(f"  {'group':<30}{'mem':>10}{'db':>10}{'db - mem':>10}")
            for g in rows[:16]:
                print(f"  {g:<30}{added('mem', g):>+10,.0f}{added('db', g):>+10,.0f}{added('db', g) - added('mem', g):>+10,.0f}")
            tm = result[f"{mode}.mem"]["instructions"] - result["bare.mem"]["instructions"]
            td = result[f"{mode}.db"]["instructions"] - result["bare.db"]["instructions"]
            print(f"  {'total':<30}{tm:>+10,.0f}{td:>+10,.0f}{td - tm:>+10,.0f}")


main()
