// The four Grafana dashboards. Every dashboard: a `datasource` variable, `job` / `instance`
// variables limited to the backend (plus the exporters' pg_job/pg_instance or
// redis_job/redis_instance), rates over $__rate_interval, a unit on every panel, and on
// every panel that has an alert a threshold line at the alert's level and a link to its
// runbook. deploy/tests/check.py lints them; examples/demo/tests/ops_e2e.rs runs every
// query against a real Prometheus.
local u = import '../lib/utils.libsonnet';
{
  grafanaDashboards+:: {
    local cfg = $._config,
    local t = cfg.thresholds,
    local DS = { type: 'prometheus', uid: '${datasource}' },
    local clusterSel = if cfg.clusterLabel != '' then '%s=~"$cluster",' % cfg.clusterLabel else '',
    local B = clusterSel + 'job=~"$job",instance=~"$instance"',
    local PG = clusterSel + 'job=~"$pg_job",instance=~"$pg_instance"',
    local RD = clusterSel + 'job=~"$redis_job",instance=~"$redis_instance"',
    local N = clusterSel + 'job=~"$node_job",instance=~"$node_instance"',
    local J = clusterSel + 'job=~"$job"',
    local RI = '[$__rate_interval]',

    local varDs = {
      name: 'datasource', label: 'Data source', type: 'datasource', query: cfg.dashboardDatasource,
      current: {}, hide: 0, refresh: 1, options: [],
    },
    local varQ(name, label, query) = {
      name: name, label: label, type: 'query', datasource: DS,
      query: { query: query, refId: name + '-var' }, definition: query,
      includeAll: true, allValue: '.*', multi: true, refresh: 2, sort: 1,
      current: { selected: true, text: ['All'], value: ['$__all'] }, options: [],
    },
    local clusterVars(metric) =
      if cfg.clusterLabel != '' then [varQ('cluster', 'Cluster', 'label_values(%s, %s)' % [metric, cfg.clusterLabel])] else [],
    // $job lists only the backend's jobs (the backend selector), not every job that
    // exposes process_* series.
    local backendVars(metric) = [varDs] + clusterVars('%s{%s}' % [metric, cfg.backendSelector]) + [
      varQ('job', 'Backend job', 'label_values(%s{%s%s}, job)' % [metric, clusterSel, cfg.backendSelector]),
      varQ('instance', 'Backend instance', 'label_values(%s{%s}, instance)' % [metric, J]),
    ],

    // A panel; `alert` names the alert whose threshold it shows: a red line at `threshold`
    // and a link to the alert's runbook.
    local panel(title, unit, targets, kind='timeseries', w=12, h=8, description='', alert=null, threshold=null, runbook=null) = {
      type: kind, title: title, description: description, datasource: DS, w:: w, h:: h,
      fieldConfig: {
        defaults: { unit: unit } + (
          if threshold != null then {
            thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'red', value: threshold }] },
          } + (if kind == 'timeseries' then { custom: { thresholdsStyle: { mode: 'line' } } } else {})
          else {}
        ),
        overrides: [],
      },
      options: if kind == 'timeseries' then { legend: { displayMode: 'list', placement: 'bottom' } } else {},
      targets: [
        { refId: std.char(65 + i), datasource: DS, expr: targets[i][0], legendFormat: targets[i][1] }
        + (if kind == 'table' && i == 0 then { format: 'table', instant: true } else {})
        for i in std.range(0, std.length(targets) - 1)
      ],
    } + (if alert != null then { links: [{ title: 'Runbook: ' + alert, url: u.runbook(cfg, runbook, alert), targetBlank: true }] } else {}),

    // Lays the panels out left to right, 24 columns wide, and numbers them.
    local layout(panels) = std.foldl(function(acc, p)
      local wrap = acc.x + p.w > 24;
      local x = if wrap then 0 else acc.x;
      local y = if wrap then acc.y + p.h else acc.y;
      acc {
        x: x + p.w, y: y,
        out+: [p { id: std.length(acc.out) + 1, gridPos: { x: x, y: y, w: p.w, h: p.h } }],
      }, panels, { x: 0, y: 0, out: [] }).out,

    local dash(uid, title, variables, description, panels) = {
      uid: cfg.dashboardUIDPrefix + '-' + uid, title: cfg.dashboardTitlePrefix + ' ' + title, description: description,
      tags: cfg.dashboardTags, timezone: cfg.dashboardTimezone, schemaVersion: 39, version: 1, editable: true,
      refresh: cfg.dashboardRefresh, time: { from: 'now-1h', to: 'now' },
      templating: { list: variables }, annotations: { list: [] },
      links: [{ title: cfg.dashboardTitlePrefix + ' dashboards', type: 'dashboards', tags: cfg.dashboardTags, asDropdown: true }],
      panels: layout(panels),
    },

    'api-health.json': dash('api-health', 'API health', backendVars('http_requests_total'),
                            'Request rate, errors, latency per route, in-flight requests and the SLOs of the pf backend.', [
      panel('Request rate by route', 'reqps', [['sum by (route) (rate(http_requests_total{%s}%s))' % [B, RI], '{{route}}']],
            description='Requests per second per matched route template (unmatched paths: __unmatched__).'),
      panel('Requests by status', 'reqps', [['sum by (status) (rate(http_requests_total{%s}%s))' % [B, RI], '{{status}}']],
            description='Requests per second per response status.'),
      // `or vector(0)`: 0 on a healthy backend instead of "No data" (no 5xx series yet).
      panel('5xx error ratio', 'percentunit',
            [['(sum(rate(http_requests_total{%s,status=~"5.."}%s)) or vector(0)) / sum(rate(http_requests_total{%s}%s))' % [B, RI, B, RI], '5xx ratio']],
            description='HighErrorRate pages above %s for %s.' % [u.pct(t.HighErrorRate.ratio), u.human(t.HighErrorRate['for'])],
            alert='HighErrorRate', threshold=t.HighErrorRate.ratio, runbook='high-error-rate'),
      panel('P%s latency by route' % u.num(t.SlowRequests.quantile * 100), 's',
            [['histogram_quantile(%s, sum by (route, le) (rate(http_request_duration_seconds_bucket{%s}%s)))' % [t.SlowRequests.quantile, B, RI], '{{route}}'],
             ['histogram_quantile(%s, sum by (le) (rate(http_request_duration_seconds_bucket{%s}%s)))' % [t.SlowRequests.quantile, B, RI], 'all routes']],
            description='SlowRequests above %s ms for %s.' % [u.num(t.SlowRequests.seconds * 1000), u.human(t.SlowRequests['for'])],
            alert='SlowRequests', threshold=t.SlowRequests.seconds, runbook='slow-requests'),
      panel('Top routes', 'reqps', [['topk(10, sum by (route) (rate(http_requests_total{%s}%s)))' % [B, RI], '{{route}}']], kind='bargauge',
            description='The ten busiest routes.'),
      panel('In-flight requests', 'short', [['sum by (route) (http_requests_in_flight{%s})' % B, '{{route}}']],
            description='Requests being served right now, per route.'),
      panel('SLO error budget remaining (%s)' % cfg.sloPeriod, 'percentunit', [['slo:error_budget_remaining:ratio{%s}' % J, '{{slo}}']], kind='stat', w=8,
            description='1 = untouched, 0 = spent (slo:error_budget_remaining:ratio).', threshold=0),
      panel('SLO burn rate (1h)', 'short',
            [['slo:sli_error:ratio_rate1h{%s} / on (job, slo) group_left () slo:error_budget:ratio{%s}' % [J, J], '{{slo}}']], w=8,
            description='1 = spending exactly the budget; the page fires at %s (with the 5m window).' % u.num(cfg.sloBurnRates.page.pairs[0].factor),
            alert='SuccessSLOBudgetBurn', threshold=cfg.sloBurnRates.page.pairs[0].factor, runbook='success-slo-budget-burn'),
      panel('SLO error ratio (5m)', 'percentunit', [['slo:sli_error:ratio_rate5m{%s}' % J, '{{slo}}']], w=8,
            description='Share of bad events over 5 minutes per SLO (slo:sli_error:ratio_rate5m).'),
      panel('Response size P95', 'bytes',
            [['histogram_quantile(0.95, sum by (route, le) (rate(http_response_size_bytes_bucket{%s}%s)))' % [B, RI], '{{route}}']],
            description='95th percentile of response body bytes, counted as they pass.'),
      panel('Request size P95', 'bytes',
            [['histogram_quantile(0.95, sum by (route, le) (rate(http_request_size_bytes_bucket{%s}%s)))' % [B, RI], '{{route}}']],
            description='95th percentile of request body bytes, counted as they pass.'),
      panel('Health checks (current state)', 'short', [['max by (check, state) (pf_health_check_status{%s}) == 1' % B, '{{check}}: {{state}}']], kind='table',
            description='The state each dependency check reports now (pass, warn, fail, unknown).'),
      panel('Health check duration P95', 's',
            [['histogram_quantile(0.95, sum by (check, le) (rate(pf_health_check_duration_seconds_bucket{%s}%s)))' % [B, RI], '{{check}}']],
            description='How long the dependency checks take (their timeout is 800 ms in the demo).'),
      panel('Lifecycle phase', 'short', [['max by (instance, phase) (pf_health_lifecycle_phase{%s}) == 1' % B, '{{instance}}: {{phase}}']], kind='table',
            description='starting, ready or draining: only ready instances answer /readyz with 200.'),
      panel('Dropped series (cardinality cap)', 'short', [['sum(increase(pf_metrics_dropped_series_total{%s}%s))' % [B, RI], 'dropped']],
            description='Series refused by the per-metric cap; above 0 means a label explodes.'),
    ]),

    'database.json': dash('database', 'database',
                          backendVars('pivotal_repository_operation_duration_seconds_count') + [
                            varQ('pg_job', 'Exporter job', 'label_values(pg_up{%s}, job)' % cfg.postgresExporterSelector),
                            varQ('pg_instance', 'Exporter instance', 'label_values(pg_up{%sjob=~"$pg_job"}, instance)' % clusterSel),
                          ],
                          'Repository operations of the pf backend and PostgreSQL as postgres_exporter sees it.', [
      panel('Operation latency P95', 's',
            [['histogram_quantile(0.95, sum by (repository, operation, le) (rate(pivotal_repository_operation_duration_seconds_bucket{%s}%s)))' % [B, RI], '{{repository}}.{{operation}}']],
            description='95th percentile duration of repository operations (database calls).'),
      panel('Operations by outcome', 'ops',
            [['sum by (repository, outcome) (rate(pivotal_repository_operation_duration_seconds_count{%s}%s))' % [B, RI], '{{repository}} {{outcome}}']],
            description='Repository operations per second by outcome (ok, error, timeout, cancelled).'),
      panel('Slow operations in 5 minutes', 'short',
            // per 5 minutes (the alert's unit): the rate times 300
            [['sum by (repository, operation) (rate(pivotal_repository_slow_operations_total{%s}%s)) * 300' % [B, RI], '{{repository}}.{{operation}}']],
            description='DatabaseSlowQueries: more than %s in 5 minutes for %s.' % [u.num(t.DatabaseSlowQueries.count), u.human(t.DatabaseSlowQueries['for'])],
            alert='DatabaseSlowQueries', threshold=t.DatabaseSlowQueries.count, runbook='database-slow-queries'),
      panel('Error and timeout ratio', 'percentunit',
            [['sum by (repository) (rate(pivotal_repository_operation_duration_seconds_count{%s,outcome=~"error|timeout"}%s)) / sum by (repository) (rate(pivotal_repository_operation_duration_seconds_count{%s}%s))' % [B, RI, B, RI], '{{repository}}']],
            description='Share of repository operations ending in an error or a timeout (DatabaseOperationErrors above %s).' % u.pct(t.DatabaseOperationErrors.ratio),
            alert='DatabaseOperationErrors', threshold=t.DatabaseOperationErrors.ratio, runbook='database-operation-errors'),
      panel('Connections by state', 'short', [['sum by (state) (pg_stat_activity_count{%s})' % PG, '{{state}}']],
            description='PostgreSQL sessions by state (pg_stat_activity).'),
      panel('Connection usage', 'percentunit',
            [['sum(pg_stat_activity_count{%s}) / max(pg_settings_max_connections{%s})' % [PG, PG], 'used / max_connections']],
            description='DatabaseHighConnections above %s.' % u.pct(t.DatabaseHighConnections.ratio),
            alert='DatabaseHighConnections', threshold=t.DatabaseHighConnections.ratio, runbook='database-high-connections'),
      panel('Transactions', 'ops',
            [['sum by (datname) (rate(pg_stat_database_xact_commit{%s}%s))' % [PG, RI], '{{datname}} commit'],
             ['sum by (datname) (rate(pg_stat_database_xact_rollback{%s}%s))' % [PG, RI], '{{datname}} rollback']],
            description='Commits and rollbacks per second per database.'),
      panel('PostgreSQL up', 'bool_yes_no', [['pg_up{%s}' % PG, '{{instance}}']], kind='stat',
            description='Whether postgres_exporter can connect (DatabaseConnectionFailures when no).',
            alert='DatabaseConnectionFailures', threshold=1, runbook='database-connection-failures'),
    ]),

    'redis.json': dash('redis', 'Redis',
                       backendVars('pivotal_cache_operations_total') + [
                         varQ('redis_job', 'Exporter job', 'label_values(redis_up{%s}, job)' % cfg.redisExporterSelector),
                         varQ('redis_instance', 'Exporter instance', 'label_values(redis_up{%sjob=~"$redis_job"}, instance)' % clusterSel),
                       ],
                       "The backend's cache operations and Redis as redis_exporter sees it.", [
      panel('Redis commands per second', 'ops', [['sum by (instance) (rate(redis_commands_processed_total{%s}%s))' % [RD, RI], '{{instance}}']],
            description='Commands Redis processes per second.'),
      panel('Cache hit rate', 'percentunit',
            [['job_cache_type:pivotal_cache_hit_ratio:rate5m{%s}' % J, '{{cache_type}} (backend)'],
             ['sum(rate(redis_keyspace_hits_total{%s}%s)) / (sum(rate(redis_keyspace_hits_total{%s}%s)) + sum(rate(redis_keyspace_misses_total{%s}%s)))' % [RD, RI, RD, RI, RD, RI], 'Redis keyspace']],
            description='RedisLowHitRate below %s for %s.' % [u.pct(t.RedisLowHitRate.ratio), u.human(t.RedisLowHitRate['for'])],
            alert='RedisLowHitRate', threshold=t.RedisLowHitRate.ratio, runbook='redis-low-hit-rate'),
      panel('Memory used of maxmemory', 'percentunit',
            // 0 without a maxmemory limit (the alert cannot fire then), not "No data".
            [['redis_memory_used_bytes{%s} / (redis_memory_max_bytes{%s} > 0) or redis_memory_used_bytes{%s} * 0' % [RD, RD, RD], '{{instance}}']],
            description='RedisHighMemory above %s; 0 when maxmemory is 0 (no limit).' % u.pct(t.RedisHighMemory.ratio),
            alert='RedisHighMemory', threshold=t.RedisHighMemory.ratio, runbook='redis-high-memory'),
      panel('Memory', 'bytes', [['redis_memory_used_bytes{%s}' % RD, 'used'], ['redis_memory_max_bytes{%s}' % RD, 'maxmemory (0 = unlimited)']],
            description='Memory in use.'),
      panel('Keys', 'short', [['sum by (db) (redis_db_keys{%s})' % RD, '{{db}}']], description='Keys per Redis database.'),
      panel('Evictions', 'ops', [['rate(redis_evicted_keys_total{%s}%s)' % [RD, RI], '{{instance}}']],
            description='RedisHighEvictions above %s/s.' % u.num(t.RedisHighEvictions.perSecond),
            alert='RedisHighEvictions', threshold=t.RedisHighEvictions.perSecond, runbook='redis-high-evictions'),
      panel('Connected clients', 'short', [['redis_connected_clients{%s}' % RD, '{{instance}}']], description='Client connections to Redis.'),
      panel('Cache operations by result', 'ops',
            [['sum by (cache_type, operation, result) (rate(pivotal_cache_operations_total{%s}%s))' % [B, RI], '{{cache_type}} {{operation}} {{result}}']],
            description='Cache reads (hit, miss, error) and writes (ok, error) per second.'),
      panel('Cache operation latency P95', 's',
            [['histogram_quantile(0.95, sum by (cache_type, operation, le) (rate(pivotal_cache_operation_duration_seconds_bucket{%s}%s)))' % [B, RI], '{{cache_type}} {{operation}}']],
            description='95th percentile duration of cache operations.'),
      panel('Redis up', 'bool_yes_no', [['redis_up{%s}' % RD, '{{instance}}']], kind='stat',
            description='Whether redis_exporter can reach Redis (RedisConnectionFailures when no).',
            alert='RedisConnectionFailures', threshold=1, runbook='redis-connection-failures'),
    ]),

    'process-runtime.json': dash('process-runtime', 'process and runtime',
                                 backendVars('tokio_runtime_workers') + [
                                   varQ('node_job', 'Host job (node_exporter)', 'label_values(node_uname_info{%s}, job)' % cfg.nodeExporterSelector),
                                   varQ('node_instance', 'Host', 'label_values(node_uname_info{%sjob=~"$node_job"}, instance)' % clusterSel),
                                 ],
                                 'CPU, memory, file descriptors and threads of the backend process, its Tokio runtime, and the host as node_exporter sees it (CPU, memory, disk).', [
      panel('CPU (cores)', 'short', [['rate(process_cpu_seconds_total{%s}%s)' % [B, RI], '{{instance}}']],
            description='CPU seconds per second: 1 = one core busy.'),
      panel('Memory', 'bytes', [['process_resident_memory_bytes{%s}' % B, '{{instance}} resident'], ['process_virtual_memory_bytes{%s}' % B, '{{instance}} virtual']],
            description='ProcessHighMemory above %s resident for %s.' % [u.bytes(t.ProcessHighMemory.bytes), u.human(t.ProcessHighMemory['for'])],
            alert='ProcessHighMemory', threshold=t.ProcessHighMemory.bytes, runbook='process-high-memory'),
      panel('File descriptors used', 'percentunit', [['process_open_fds{%s} / process_max_fds{%s}' % [B, B], '{{instance}}']],
            description='Open file descriptors of the limit (ProcessFileDescriptorsHigh above %s).' % u.pct(t.ProcessFileDescriptorsHigh.ratio),
            alert='ProcessFileDescriptorsHigh', threshold=t.ProcessFileDescriptorsHigh.ratio, runbook='process-file-descriptors-high'),
      panel('Threads', 'short', [['process_threads{%s}' % B, '{{instance}}']], description='OS threads of the process.'),
      panel('Uptime', 's', [['time() - process_start_time_seconds{%s}' % B, '{{instance}}']], kind='stat',
            description='Seconds since the process started; a reset is a restart.'),
      panel('Tokio workers', 'short', [['tokio_runtime_workers{%s}' % B, '{{instance}}']], kind='stat',
            description='Worker threads of the Tokio runtime.'),
      panel('Tokio worker busy ratio', 'percentunit',
            [['job_instance:tokio_runtime_worker_busy:ratio_rate5m{%s}' % B, '{{instance}}']],
            description='TokioWorkersSaturated above %s for %s.' % [u.pct(t.TokioWorkersSaturated.ratio), u.human(t.TokioWorkersSaturated['for'])],
            alert='TokioWorkersSaturated', threshold=t.TokioWorkersSaturated.ratio, runbook='tokio-workers-saturated'),
      panel('Tokio tasks and global queue', 'short',
            [['tokio_runtime_alive_tasks{%s}' % B, '{{instance}} alive tasks'], ['tokio_runtime_global_queue_depth{%s}' % B, '{{instance}} global queue']],
            description='Alive tasks (a steady climb is a task leak) and the global run queue depth.'),
      panel('Scheduling lag (event-loop lag counterpart)', 's',
            [['histogram_quantile(%s, sum by (instance, le) (rate(tokio_runtime_scheduling_lag_seconds_bucket{%s}%s)))' % [t.HighSchedulingLag.quantile, B, RI], '{{instance}} P%s' % u.num(t.HighSchedulingLag.quantile * 100)],
             ['histogram_quantile(0.5, sum by (instance, le) (rate(tokio_runtime_scheduling_lag_seconds_bucket{%s}%s)))' % [B, RI], '{{instance}} P50']],
            description='HighSchedulingLag: P%s above %s ms for %s.' % [u.num(t.HighSchedulingLag.quantile * 100), u.num(t.HighSchedulingLag.seconds * 1000), u.human(t.HighSchedulingLag['for'])],
            alert='HighSchedulingLag', threshold=t.HighSchedulingLag.seconds, runbook='high-scheduling-lag'),
      panel('Worker parks', 'ops', [['rate(tokio_runtime_worker_park_total{%s}%s)' % [B, RI], '{{instance}}']],
            description='How often workers park (go idle) per second.'),
      // The host: node_exporter (nodeExporterSelector), the one whose textfile collector
      // also serves the backup metrics.
      panel('Host CPU busy', 'percentunit',
            [['1 - avg by (instance) (rate(node_cpu_seconds_total{%s,mode="idle"}%s))' % [N, RI], '{{instance}}']], w=8,
            description='Share of CPU time not idle, over all cores of the host (node_exporter).'),
      panel('Host memory used', 'percentunit',
            [['1 - node_memory_MemAvailable_bytes{%s} / node_memory_MemTotal_bytes{%s}' % [N, N], '{{instance}}']], w=8,
            description='Memory in use of the total: MemAvailable counts the page cache the kernel can reclaim as free.'),
      panel('Host disk used', 'percentunit',
            [['1 - node_filesystem_avail_bytes{%s,fstype!~"tmpfs|ramfs"} / node_filesystem_size_bytes{%s,fstype!~"tmpfs|ramfs"}' % [N, N], '{{instance}} {{mountpoint}}']], w=8,
            description='Space in use per filesystem, as unprivileged users see it (avail, not free); tmpfs left out. A full disk stops the backups and PostgreSQL.'),
    ]),
  },
}
