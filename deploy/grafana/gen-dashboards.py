#!/usr/bin/env python3
"""Writes the four dashboards under dashboards/ (the JSON files are committed; edit this
script and rerun it, deploy/tests/run.sh checks the JSON is what it writes).

Every dashboard: a `datasource` variable, `job` / `instance` variables (plus the exporters'
`pg_job`/`pg_instance` or `redis_job`/`redis_instance`), rates over $__rate_interval, a unit on
every panel. deploy/tests/check.py lints them; the end-to-end test
(examples/demo/tests/ops_e2e.rs) runs every query against a real Prometheus.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "dashboards")
DS = {"type": "prometheus", "uid": "${datasource}"}
B = 'job=~"$job",instance=~"$instance"'
PG = 'job=~"$pg_job",instance=~"$pg_instance"'
RD = 'job=~"$redis_job",instance=~"$redis_instance"'
RI = "[$__rate_interval]"

# Panel descriptions (Grafana's linter wants a title and a description on every panel); a
# description given in the panel() call comes first.
DESCRIPTIONS = {
    "Request rate by route": "Requests per second per matched route template (unmatched paths: __unmatched__).",
    "Requests by status": "Requests per second per response status.",
    "Top routes": "The ten busiest routes.",
    "In-flight requests": "Requests being served right now, per route.",
    "SLO error budget remaining (30 days)": "1 = untouched, 0 = spent (slo:error_budget_remaining:ratio).",
    "SLO error ratio (5m)": "Share of bad events over 5 minutes per SLO (slo:sli_error:ratio_rate5m).",
    "Response size P95": "95th percentile of response body bytes, counted as they pass.",
    "Request size P95": "95th percentile of request body bytes, counted as they pass.",
    "Health checks (current state)": "The state each dependency check reports now (pass, warn, fail, unknown).",
    "Health check duration P95": "How long the dependency checks take (their timeout is 800 ms in the demo).",
    "Lifecycle phase": "starting, ready or draining: only ready instances answer /readyz with 200.",
    "Dropped series (cardinality cap)": "Series refused by the per-metric cap; above 0 means a label explodes.",
    "Operation latency P95": "95th percentile duration of repository operations (database calls).",
    "Operations by outcome": "Repository operations per second by outcome (ok, error, timeout, cancelled).",
    "Error and timeout ratio": "Share of repository operations ending in an error or a timeout (DatabaseOperationErrors above 5 %).",
    "Connections by state": "PostgreSQL sessions by state (pg_stat_activity).",
    "Transactions": "Commits and rollbacks per second per database.",
    "PostgreSQL up": "Whether postgres_exporter can connect (DatabaseConnectionFailures when no).",
    "Redis commands per second": "Commands Redis processes per second.",
    "Memory": "Memory in use.",
    "Keys": "Keys per Redis database.",
    "Connected clients": "Client connections to Redis.",
    "Cache operations by result": "Cache reads (hit, miss, error) and writes (ok, error) per second.",
    "Cache operation latency P95": "95th percentile duration of cache operations.",
    "Redis up": "Whether redis_exporter can reach Redis (RedisConnectionFailures when no).",
    "CPU (cores)": "CPU seconds per second: 1 = one core busy.",
    "File descriptors": "Open file descriptors and the limit (ProcessFileDescriptorsHigh above 80 %).",
    "Threads": "OS threads of the process.",
    "Uptime": "Seconds since the process started; a reset is a restart.",
    "Tokio workers": "Worker threads of the Tokio runtime.",
    "Tokio tasks and global queue": "Alive tasks (a steady climb is a task leak) and the global run queue depth.",
    "Worker parks": "How often workers park (go idle) per second.",
}


def var_ds():
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "refresh": 1, "options": []}


def var_q(name, label, query):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": f"{name}-var"}, "definition": query,
            "includeAll": True, "allValue": ".*", "multi": True, "refresh": 2, "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": []}


def backend_vars(job_metric):
    return [var_ds(),
            var_q("job", "Backend job", f"label_values({job_metric}, job)"),
            var_q("instance", "Backend instance", f'label_values({job_metric}{{job=~"$job"}}, instance)')]


class Dash:
    def __init__(self, uid, title, variables, description):
        self.d = {"uid": uid, "title": title, "description": description, "tags": ["pf"],
                  "timezone": "browser", "schemaVersion": 39, "version": 1, "editable": True,
                  "refresh": "30s", "time": {"from": "now-1h", "to": "now"},
                  "templating": {"list": variables}, "annotations": {"list": []},
                  "links": [{"title": "pf dashboards", "type": "dashboards", "tags": ["pf"], "asDropdown": True}],
                  "panels": []}
        self.x = self.y = 0
        self.id = 0

    def panel(self, title, unit, targets, kind="timeseries", w=12, h=8, description=""):
        self.id += 1
        if self.x + w > 24:
            self.x, self.y = 0, self.y + h
        description = description or DESCRIPTIONS.get(title, "")
        p = {"id": self.id, "type": kind, "title": title, "description": description, "datasource": DS,
             "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
             "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
             "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
             "targets": [{"refId": chr(65 + i), "datasource": DS, "expr": e, "legendFormat": l}
                         for i, (e, l) in enumerate(targets)]}
        if kind == "table":
            p["targets"][0]["format"] = "table"
            p["targets"][0]["instant"] = True
        self.d["panels"].append(p)
        self.x += w

    def write(self, name):
        with open(os.path.join(OUT, name), "w") as fh:
            json.dump(self.d, fh, indent=2)
            fh.write("\n")


def api():
    d = Dash("pf-api-health", "pf API health", backend_vars("http_requests_total"),
             "Request rate, errors, latency per route, in-flight requests and the SLOs of the pf backend.")
    d.panel("Request rate by route", "reqps",
            [(f"sum by (route) (rate(http_requests_total{{{B}}}{RI}))", "{{route}}")])
    d.panel("Requests by status", "reqps",
            [(f"sum by (status) (rate(http_requests_total{{{B}}}{RI}))", "{{status}}")])
    d.panel("5xx error ratio", "percentunit",
            [(f'sum(rate(http_requests_total{{{B},status=~"5.."}}{RI})) / sum(rate(http_requests_total{{{B}}}{RI}))', "5xx ratio")],
            description="HighErrorRate pages above 2 % for 5 minutes.")
    d.panel("P95 latency by route", "s",
            [(f"histogram_quantile(0.95, sum by (route, le) (rate(http_request_duration_seconds_bucket{{{B}}}{RI})))", "{{route}}"),
             (f"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{{B}}}{RI})))", "all routes")],
            description="The latency SLO: P95 <= 500 ms.")
    d.panel("Top routes", "reqps",
            [(f"topk(10, sum by (route) (rate(http_requests_total{{{B}}}{RI})))", "{{route}}")], kind="bargauge")
    d.panel("In-flight requests", "short",
            [(f"sum by (route) (http_requests_in_flight{{{B}}})", "{{route}}")])
    d.panel("SLO error budget remaining (30 days)", "percentunit",
            [('slo:error_budget_remaining:ratio{job=~"$job"}', "{{slo}}")], kind="stat", w=8)
    d.panel("SLO burn rate (1h)", "short",
            [('slo:sli_error:ratio_rate1h{job=~"$job"} / on (job, slo) group_left () slo:error_budget:ratio{job=~"$job"}', "{{slo}}")],
            w=8, description="1 = spending exactly the budget; the page fires at 14.4 (with the 5m window).")
    d.panel("SLO error ratio (5m)", "percentunit",
            [('slo:sli_error:ratio_rate5m{job=~"$job"}', "{{slo}}")], w=8)
    d.panel("Response size P95", "bytes",
            [(f"histogram_quantile(0.95, sum by (route, le) (rate(http_response_size_bytes_bucket{{{B}}}{RI})))", "{{route}}")])
    d.panel("Request size P95", "bytes",
            [(f"histogram_quantile(0.95, sum by (route, le) (rate(http_request_size_bytes_bucket{{{B}}}{RI})))", "{{route}}")])
    d.panel("Health checks (current state)", "short",
            [(f"max by (check, state) (pf_health_check_status{{{B}}}) == 1", "{{check}}: {{state}}")], kind="table")
    d.panel("Health check duration P95", "s",
            [(f"histogram_quantile(0.95, sum by (check, le) (rate(pf_health_check_duration_seconds_bucket{{{B}}}{RI})))", "{{check}}")])
    d.panel("Lifecycle phase", "short",
            [(f"max by (instance, phase) (pf_health_lifecycle_phase{{{B}}}) == 1", "{{instance}}: {{phase}}")], kind="table")
    d.panel("Dropped series (cardinality cap)", "short",
            [(f"sum(increase(pf_metrics_dropped_series_total{{{B}}}{RI}))", "dropped")])
    return d


def database():
    v = backend_vars("pivotal_repository_operation_duration_seconds_count") + [
        var_q("pg_job", "Exporter job", "label_values(pg_up, job)"),
        var_q("pg_instance", "Exporter instance", 'label_values(pg_up{job=~"$pg_job"}, instance)')]
    d = Dash("pf-database", "pf database", v,
             "Repository operations of the pf backend and PostgreSQL as postgres_exporter sees it.")
    d.panel("Operation latency P95", "s",
            [(f"histogram_quantile(0.95, sum by (repository, operation, le) (rate(pivotal_repository_operation_duration_seconds_bucket{{{B}}}{RI})))",
              "{{repository}}.{{operation}}")])
    d.panel("Operations by outcome", "ops",
            [(f"sum by (repository, outcome) (rate(pivotal_repository_operation_duration_seconds_count{{{B}}}{RI}))",
              "{{repository}} {{outcome}}")])
    d.panel("Slow operations (over the threshold)", "ops",
            [(f"sum by (repository, operation) (rate(pivotal_repository_slow_operations_total{{{B}}}{RI}))",
              "{{repository}}.{{operation}}")], description="DatabaseSlowQueries: more than 10 in 5 minutes.")
    d.panel("Error and timeout ratio", "percentunit",
            [(f'sum by (repository) (rate(pivotal_repository_operation_duration_seconds_count{{{B},outcome=~"error|timeout"}}{RI})) / sum by (repository) (rate(pivotal_repository_operation_duration_seconds_count{{{B}}}{RI}))',
              "{{repository}}")])
    d.panel("Connections by state", "short",
            [(f"sum by (state) (pg_stat_activity_count{{{PG}}})", "{{state}}")])
    d.panel("Connection usage", "percentunit",
            [(f"sum(pg_stat_activity_count{{{PG}}}) / max(pg_settings_max_connections{{{PG}}})", "used / max_connections")],
            description="DatabaseHighConnections above 80 %.")
    d.panel("Transactions", "ops",
            [(f"sum by (datname) (rate(pg_stat_database_xact_commit{{{PG}}}{RI}))", "{{datname}} commit"),
             (f"sum by (datname) (rate(pg_stat_database_xact_rollback{{{PG}}}{RI}))", "{{datname}} rollback")])
    d.panel("PostgreSQL up", "bool_yes_no",
            [(f"pg_up{{{PG}}}", "{{instance}}")], kind="stat")
    return d


def redis():
    v = backend_vars("pivotal_cache_operations_total") + [
        var_q("redis_job", "Exporter job", "label_values(redis_up, job)"),
        var_q("redis_instance", "Exporter instance", 'label_values(redis_up{job=~"$redis_job"}, instance)')]
    d = Dash("pf-redis", "pf Redis", v, "The backend's cache operations and Redis as redis_exporter sees it.")
    d.panel("Redis commands per second", "ops",
            [(f"sum by (instance) (rate(redis_commands_processed_total{{{RD}}}{RI}))", "{{instance}}")])
    d.panel("Cache hit rate", "percentunit",
            [('job_cache_type:pivotal_cache_hit_ratio:rate5m{job=~"$job"}', "{{cache_type}} (backend)"),
             (f"sum(rate(redis_keyspace_hits_total{{{RD}}}{RI})) / (sum(rate(redis_keyspace_hits_total{{{RD}}}{RI})) + sum(rate(redis_keyspace_misses_total{{{RD}}}{RI})))",
              "Redis keyspace")], description="RedisLowHitRate below 80 % for 15 minutes.")
    d.panel("Memory", "bytes",
            [(f"redis_memory_used_bytes{{{RD}}}", "used"), (f"redis_memory_max_bytes{{{RD}}}", "maxmemory (0 = unlimited)")])
    d.panel("Keys", "short", [(f"sum by (db) (redis_db_keys{{{RD}}})", "{{db}}")])
    d.panel("Evictions", "ops", [(f"rate(redis_evicted_keys_total{{{RD}}}{RI})", "{{instance}}")],
            description="RedisHighEvictions above 1/s.")
    d.panel("Connected clients", "short", [(f"redis_connected_clients{{{RD}}}", "{{instance}}")])
    d.panel("Cache operations by result", "ops",
            [(f"sum by (cache_type, operation, result) (rate(pivotal_cache_operations_total{{{B}}}{RI}))",
              "{{cache_type}} {{operation}} {{result}}")])
    d.panel("Cache operation latency P95", "s",
            [(f"histogram_quantile(0.95, sum by (cache_type, operation, le) (rate(pivotal_cache_operation_duration_seconds_bucket{{{B}}}{RI})))",
              "{{cache_type}} {{operation}}")])
    d.panel("Redis up", "bool_yes_no", [(f"redis_up{{{RD}}}", "{{instance}}")], kind="stat")
    return d


def process():
    d = Dash("pf-process-runtime", "pf process and runtime", backend_vars("process_start_time_seconds"),
             "CPU, memory, file descriptors and threads of the backend process, and its Tokio runtime.")
    d.panel("CPU (cores)", "short", [(f"rate(process_cpu_seconds_total{{{B}}}{RI})", "{{instance}}")])
    d.panel("Memory", "bytes", [(f"process_resident_memory_bytes{{{B}}}", "{{instance}} resident"),
                                (f"process_virtual_memory_bytes{{{B}}}", "{{instance}} virtual")],
            description="ProcessHighMemory above 1 GiB resident for 10 minutes.")
    d.panel("File descriptors", "short", [(f"process_open_fds{{{B}}}", "{{instance}} open"),
                                          (f"process_max_fds{{{B}}}", "{{instance}} limit")])
    d.panel("Threads", "short", [(f"process_threads{{{B}}}", "{{instance}}")])
    d.panel("Uptime", "s", [(f"time() - process_start_time_seconds{{{B}}}", "{{instance}}")], kind="stat")
    d.panel("Tokio workers", "short", [(f"tokio_runtime_workers{{{B}}}", "{{instance}}")], kind="stat")
    d.panel("Tokio worker busy ratio", "percentunit",
            [('job_instance:tokio_runtime_worker_busy:ratio_rate5m{job=~"$job",instance=~"$instance"}', "{{instance}}")],
            description="TokioWorkersSaturated above 90 % for 15 minutes.")
    d.panel("Tokio tasks and global queue", "short",
            [(f"tokio_runtime_alive_tasks{{{B}}}", "{{instance}} alive tasks"),
             (f"tokio_runtime_global_queue_depth{{{B}}}", "{{instance}} global queue")])
    d.panel("Scheduling lag (event-loop lag counterpart)", "s",
            [(f"histogram_quantile(0.99, sum by (instance, le) (rate(tokio_runtime_scheduling_lag_seconds_bucket{{{B}}}{RI})))", "{{instance}} P99"),
             (f"histogram_quantile(0.5, sum by (instance, le) (rate(tokio_runtime_scheduling_lag_seconds_bucket{{{B}}}{RI})))", "{{instance}} P50")],
            description="HighSchedulingLag: P99 above 100 ms for 5 minutes.")
    d.panel("Worker parks", "ops", [(f"rate(tokio_runtime_worker_park_total{{{B}}}{RI})", "{{instance}}")])
    return d


def main():
    os.makedirs(OUT, exist_ok=True)
    api().write("api-health.json")
    database().write("database.json")
    redis().write("redis.json")
    process().write("process-runtime.json")


if __name__ == "__main__":
    main()
