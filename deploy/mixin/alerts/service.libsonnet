// RB-01 (the backend), RB-02 (the database), RB-03 (Redis and the cache), the process.
local u = import '../lib/utils.libsonnet';
{
  prometheusAlerts+:: {
    local cfg = $._config,
    local t = cfg.thresholds,
    local by = u.by(cfg),
    local byI = u.by(cfg, ['instance']),
    groups+: [
      {
        name: 'pf-service',
        rules: [
          u.alert(cfg, 'BackendServiceDown',
                  // up == 0: Prometheus reaches the target but the scrape fails;
                  // absent(...): the target vanished from service discovery altogether.
                  'up{%(backendSelector)s} == 0 or absent(up{%(backendSelector)s})' % cfg,
                  'page', 'pf backend {{ $labels.instance }} is down',
                  'Prometheus cannot scrape job {{ $labels.job }} at {{ with $labels.instance }}{{ . }}{{ else }}any instance (no target left){{ end }} for more than %s (up = 0 or no up series at all).' % u.human(t.BackendServiceDown['for']),
                  'backend-service-down', t.BackendServiceDown['for']),
          u.alert(cfg, 'HighErrorRate', |||
            sum by (%(by)s) (rate(http_requests_total{%(sel)s,status=~"5.."}[5m]))
            /
            sum by (%(by)s) (rate(http_requests_total{%(sel)s}[5m]))
            > %(thr)s
          ||| % { by: by, sel: cfg.backendSelector, thr: u.num(t.HighErrorRate.ratio) },
                  'page', '{{ $labels.job }} answers {{ $value | humanizePercentage }} of requests with a 5xx',
                  '{{ $value | humanizePercentage }} of the requests to {{ $labels.job }} over the last 5 minutes ended in a 5xx status (threshold %s, for %s).' % [u.pct(t.HighErrorRate.ratio), u.human(t.HighErrorRate['for'])],
                  'high-error-rate', t.HighErrorRate['for']),
          u.alert(cfg, 'SlowRequests', |||
            histogram_quantile(%(q)s,
              sum by (%(by)s) (rate(http_request_duration_seconds_bucket{%(sel)s}[5m]))
            ) > %(thr)s
          ||| % { by: u.by(cfg, ['le']), sel: cfg.backendSelector, q: u.num(t.SlowRequests.quantile), thr: u.num(t.SlowRequests.seconds) },
                  'ticket', '{{ $labels.job }} P%s latency is {{ $value | humanizeDuration }}' % u.num(t.SlowRequests.quantile * 100),
                  'The %sth percentile of request duration of {{ $labels.job }} over the last 5 minutes is {{ $value | humanizeDuration }} (threshold %sms, for %s).' % [u.num(t.SlowRequests.quantile * 100), u.num(t.SlowRequests.seconds * 1000), u.human(t.SlowRequests['for'])],
                  'slow-requests', t.SlowRequests['for']),
          // Not ready: the lifecycle is starting or draining, or a critical check fails.
          u.alert(cfg, 'ReadinessFailing', |||
            max by (%(by)s) (pf_health_lifecycle_phase{%(sel)s,phase=~"starting|draining"}) == 1
            or
            max by (%(by)s) (pf_health_check_status{%(sel)s,check=~"%(crit)s",state="fail"}) == 1
          ||| % { by: byI, sel: cfg.backendSelector, crit: cfg.criticalChecks },
                  'page', 'pf backend {{ $labels.instance }} is not ready',
                  '{{ $labels.instance }} of {{ $labels.job }} has answered /readyz with 503 for %s: its lifecycle phase is not "ready" or a critical health check fails. A load balancer sends it no traffic.' % u.human(t.ReadinessFailing['for']),
                  'readiness-failing', t.ReadinessFailing['for']),
          u.alert(cfg, 'HealthCheckFailing',
                  'pf_health_check_status{%(backendSelector)s,state="fail"} == 1' % cfg,
                  'ticket', 'health check {{ $labels.check }} fails on {{ $labels.instance }}',
                  'The dependency check {{ $labels.check }} of {{ $labels.job }} at {{ $labels.instance }} has reported "fail" for %s. Failures by reason: pf_health_check_failures_total{check="{{ $labels.check }}"}.' % u.human(t.HealthCheckFailing['for']),
                  'health-check-failing', t.HealthCheckFailing['for']),
        ],
      },
      {
        name: 'pf-database',
        rules: [
          u.alert(cfg, 'DatabaseSlowQueries', |||
            sum by (%(by)s) (increase(pivotal_repository_slow_operations_total{%(sel)s}[5m])) > %(thr)s
          ||| % { by: u.by(cfg, ['repository', 'operation']), sel: cfg.backendSelector, thr: u.num(t.DatabaseSlowQueries.count) },
                  'ticket', 'slow {{ $labels.repository }}.{{ $labels.operation }} operations',
                  '{{ $value | humanize }} {{ $labels.repository }}.{{ $labels.operation }} operations took longer than the slow-operation threshold (default 100 ms) in the last 5 minutes (threshold %s, for %s).' % [u.num(t.DatabaseSlowQueries.count), u.human(t.DatabaseSlowQueries['for'])],
                  'database-slow-queries', t.DatabaseSlowQueries['for']),
          u.alert(cfg, 'DatabaseHighConnections', |||
            sum by (%(by)s) (pg_stat_activity_count{%(sel)s})
            /
            max by (%(by)s) (pg_settings_max_connections{%(sel)s})
            > %(thr)s
          ||| % { by: u.by(cfg, ['instance', 'server']), sel: cfg.postgresExporterSelector, thr: u.num(t.DatabaseHighConnections.ratio) },
                  'ticket', 'PostgreSQL {{ $labels.server }} uses {{ $value | humanizePercentage }} of max_connections',
                  '{{ $value | humanizePercentage }} of max_connections of PostgreSQL {{ $labels.server }} are in use (threshold %s, for %s). New connections fail when it reaches 100 %%.' % [u.pct(t.DatabaseHighConnections.ratio), u.human(t.DatabaseHighConnections['for'])],
                  'database-high-connections', t.DatabaseHighConnections['for']),
          u.alert(cfg, 'DatabaseConnectionFailures',
                  'pg_up{%(postgresExporterSelector)s} == 0' % cfg,
                  'page', 'PostgreSQL at {{ $labels.instance }} is unreachable',
                  'postgres_exporter ({{ $labels.instance }}) cannot connect to PostgreSQL (pg_up = 0) for %s. The backend\'s readiness depends on the database.' % u.human(t.DatabaseConnectionFailures['for']),
                  'database-connection-failures', t.DatabaseConnectionFailures['for']),
          u.alert(cfg, 'DatabaseOperationErrors', |||
            sum by (%(by)s) (rate(pivotal_repository_operation_duration_seconds_count{%(sel)s,outcome=~"error|timeout"}[5m]))
            /
            sum by (%(by)s) (rate(pivotal_repository_operation_duration_seconds_count{%(sel)s}[5m]))
            > %(thr)s
          ||| % { by: u.by(cfg, ['repository']), sel: cfg.backendSelector, thr: u.num(t.DatabaseOperationErrors.ratio) },
                  'ticket', '{{ $value | humanizePercentage }} of {{ $labels.repository }} operations fail',
                  '{{ $value | humanizePercentage }} of the {{ $labels.repository }} repository operations of {{ $labels.job }} ended in an error or a timeout over the last 5 minutes (threshold %s, for %s).' % [u.pct(t.DatabaseOperationErrors.ratio), u.human(t.DatabaseOperationErrors['for'])],
                  'database-operation-errors', t.DatabaseOperationErrors['for']),
        ],
      },
      {
        name: 'pf-cache',
        rules: [
          u.alert(cfg, 'RedisHighEvictions',
                  'rate(redis_evicted_keys_total{%(sel)s}[5m]) > %(thr)s' % { sel: cfg.redisExporterSelector, thr: u.num(t.RedisHighEvictions.perSecond) },
                  'ticket', 'Redis {{ $labels.instance }} evicts {{ $value | humanize }} keys/s',
                  'Redis at {{ $labels.instance }} evicts {{ $value | humanize }} keys per second (5-minute rate; threshold %s/s, for %s): maxmemory is reached and cached data is being thrown away.' % [u.num(t.RedisHighEvictions.perSecond), u.human(t.RedisHighEvictions['for'])],
                  'redis-high-evictions', t.RedisHighEvictions['for']),
          u.alert(cfg, 'RedisConnectionFailures',
                  'redis_up{%(redisExporterSelector)s} == 0' % cfg,
                  'ticket', 'Redis at {{ $labels.instance }} is unreachable',
                  'redis_exporter ({{ $labels.instance }}) cannot reach Redis (redis_up = 0) for %s. The backend keeps answering from PostgreSQL (the cache check is not critical), with more load on it.' % u.human(t.RedisConnectionFailures['for']),
                  'redis-connection-failures', t.RedisConnectionFailures['for']),
          // Only with enough reads to mean something.
          u.alert(cfg, 'RedisLowHitRate', |||
            job_cache_type:pivotal_cache_hit_ratio:rate5m{%(sel)s,cache_type="redis"} < %(thr)s
            and on (%(by)s)
            sum by (%(by)s) (rate(pivotal_cache_operations_total{%(sel)s,result=~"hit|miss"}[5m])) > %(min)s
          ||| % { by: u.by(cfg, ['cache_type']), sel: cfg.backendSelector, thr: u.num(t.RedisLowHitRate.ratio), min: u.num(t.RedisLowHitRate.minReadsPerSecond) },
                  'ticket', '{{ $labels.cache_type }} cache hit rate is {{ $value | humanizePercentage }}',
                  'Only {{ $value | humanizePercentage }} of the {{ $labels.cache_type }} cache reads of {{ $labels.job }} hit over the last 5 minutes (threshold %s, for %s).' % [u.pct(t.RedisLowHitRate.ratio), u.human(t.RedisLowHitRate['for'])],
                  'redis-low-hit-rate', t.RedisLowHitRate['for']),
          // maxmemory 0 means "no limit": no ratio then.
          u.alert(cfg, 'RedisHighMemory',
                  'redis_memory_used_bytes{%(sel)s} / (redis_memory_max_bytes{%(sel)s} > 0) > %(thr)s' % { sel: cfg.redisExporterSelector, thr: u.num(t.RedisHighMemory.ratio) },
                  'ticket', 'Redis {{ $labels.instance }} uses {{ $value | humanizePercentage }} of maxmemory',
                  'Redis at {{ $labels.instance }} uses {{ $value | humanizePercentage }} of its maxmemory (threshold %s, for %s); evictions or OOM errors follow depending on maxmemory-policy.' % [u.pct(t.RedisHighMemory.ratio), u.human(t.RedisHighMemory['for'])],
                  'redis-high-memory', t.RedisHighMemory['for']),
        ],
      },
      {
        name: 'pf-process',
        rules: [
          u.alert(cfg, 'ProcessHighMemory',
                  'process_resident_memory_bytes{%(sel)s} > %(thr)s' % { sel: cfg.backendSelector, thr: u.num(t.ProcessHighMemory.bytes) },
                  'ticket', 'pf backend {{ $labels.instance }} uses {{ $value | humanize1024 }}B of memory',
                  'The resident memory of {{ $labels.instance }} is {{ $value | humanize1024 }}B (threshold %s, for %s).' % [u.bytes(t.ProcessHighMemory.bytes), u.human(t.ProcessHighMemory['for'])],
                  'process-high-memory', t.ProcessHighMemory['for']),
          u.alert(cfg, 'ProcessFileDescriptorsHigh',
                  'process_open_fds{%(sel)s} / process_max_fds{%(sel)s} > %(thr)s' % { sel: cfg.backendSelector, thr: u.num(t.ProcessFileDescriptorsHigh.ratio) },
                  'ticket', 'pf backend {{ $labels.instance }} uses {{ $value | humanizePercentage }} of its file descriptors',
                  '{{ $labels.instance }} has {{ $value | humanizePercentage }} of its file descriptor limit open (threshold %s, for %s); at 100 %% accept() and new connections fail.' % [u.pct(t.ProcessFileDescriptorsHigh.ratio), u.human(t.ProcessFileDescriptorsHigh['for'])],
                  'process-file-descriptors-high', t.ProcessFileDescriptorsHigh['for']),
          // The Tokio counterpart of Node's event-loop lag: how late a probe task wakes.
          u.alert(cfg, 'HighSchedulingLag', |||
            histogram_quantile(%(q)s,
              sum by (%(by)s) (rate(tokio_runtime_scheduling_lag_seconds_bucket{%(sel)s}[5m]))
            ) > %(thr)s
          ||| % { by: u.by(cfg, ['instance', 'le']), sel: cfg.backendSelector, q: u.num(t.HighSchedulingLag.quantile), thr: u.num(t.HighSchedulingLag.seconds) },
                  'ticket', 'Tokio scheduling lag P%s on {{ $labels.instance }} is {{ $value | humanizeDuration }}' % u.num(t.HighSchedulingLag.quantile * 100),
                  'Tasks on {{ $labels.instance }} wake {{ $value | humanizeDuration }} late at the %sth percentile over the last 5 minutes (threshold %sms, for %s): something blocks the runtime\'s workers.' % [u.num(t.HighSchedulingLag.quantile * 100), u.num(t.HighSchedulingLag.seconds * 1000), u.human(t.HighSchedulingLag['for'])],
                  'high-scheduling-lag', t.HighSchedulingLag['for']),
          u.alert(cfg, 'TokioWorkersSaturated',
                  'job_instance:tokio_runtime_worker_busy:ratio_rate5m{%(sel)s} > %(thr)s' % { sel: cfg.backendSelector, thr: u.num(t.TokioWorkersSaturated.ratio) },
                  'ticket', 'Tokio workers on {{ $labels.instance }} are {{ $value | humanizePercentage }} busy',
                  'The Tokio worker threads of {{ $labels.instance }} were busy {{ $value | humanizePercentage }} of the time over the last 5 minutes (threshold %s, for %s): the process is CPU bound.' % [u.pct(t.TokioWorkersSaturated.ratio), u.human(t.TokioWorkersSaturated['for'])],
                  'tokio-workers-saturated', t.TokioWorkersSaturated['for']),
        ],
      },
      {
        name: 'pf-telemetry',
        rules: [
          u.alert(cfg, 'TelemetryExportFailing', |||
            sum by (%(by)s) (
              rate({__name__=~"pf_log_export_(spans|log_records)_total",%(sel)s,result=~"failed|dropped"}[5m])
            ) > %(thr)s
          ||| % { by: byI, sel: cfg.backendSelector, thr: u.num(t.TelemetryExportFailing.perSecond) },
                  'ticket', '{{ $labels.instance }} loses {{ $value | humanize }} spans/log records per second',
                  'The OTLP export of {{ $labels.instance }} ({{ $labels.job }}) failed or dropped {{ $value | humanize }} spans and log records per second over the last 5 minutes, for %s: traces and cloud logs are incomplete (stdout logs are not affected).' % u.human(t.TelemetryExportFailing['for']),
                  'telemetry-export-failing', t.TelemetryExportFailing['for']),
        ],
      },
    ],
  },
}
