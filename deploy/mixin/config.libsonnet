// The knobs of the pf monitoring mixin. Override any of them:
//
//   (import 'pf-mixin/mixin.libsonnet') + {
//     _config+:: { backendSelector: 'job="checkout"', backendJobName: 'checkout' },
//   }
//
// Defaults match deploy/prometheus/prometheus.yml (the demo's job names); the files under
// deploy/ are rendered from these defaults (deploy/mixin/render).
{
  _config+:: {
    // ---- which series belong to what (label selectors, without braces) ----------------
    backendSelector: 'job="pf-backend"',
    // The backend's job label value: the SLO objective series carry it.
    backendJobName: 'pf-backend',
    postgresExporterSelector: 'job="postgres-exporter"',
    redisExporterSelector: 'job="redis-exporter"',
    // node_exporter with its textfile collector: host panels and the backup metrics.
    nodeExporterSelector: 'job="node"',
    prometheusSelector: 'job="prometheus"',
    alertmanagerSelector: 'job="alertmanager"',
    grafanaSelector: 'job="grafana"',
    // The readiness-critical health checks (a regex of check names).
    criticalChecks: 'postgres',

    // ---- aggregation: many services, namespaces and clusters ------------------------------
    // As kubernetes-mixin's clusterLabel: '' leaves it out. Every `sum by` and every
    // inhibition keeps these labels, so one Prometheus (or Thanos / Mimir) can hold many.
    clusterLabel: '',
    namespaceLabel: '',
    jobLabel: 'job',

    // ---- SLOs: objective per SLO, the multiwindow multi-burn-rate pairs ------------------
    slos: {
      'api-success': { objective: 0.999, alert: 'SuccessSLOBudgetBurn', runbook: 'success-slo-budget-burn' },
      'api-latency': { objective: 0.95, alert: 'LatencySLOBudgetBurn', runbook: 'latency-slo-budget-burn', latencyThreshold: '0.5' },
      'api-availability': { objective: 0.9995, alert: 'AvailabilitySLOBudgetBurn', runbook: 'availability-slo-budget-burn' },
    },
    // SRE workbook ch. 5 (30-day budget): page at 2 % / 5 % of the budget, ticket at 10 %.
    sloBurnRates: {
      page: { 'for': '1m', pairs: [{ long: '1h', short: '5m', factor: 14.4 }, { long: '6h', short: '30m', factor: 6 }] },
      ticket: { 'for': '10m', pairs: [{ long: '1d', short: '2h', factor: 3 }, { long: '3d', short: '6h', factor: 1 }] },
    },
    sloPeriod: '30d',

    // ---- every threshold and `for:` ---------------------------------------------------
    thresholds: {
      BackendServiceDown: { 'for': '2m' },
      HighErrorRate: { ratio: 0.02, 'for': '5m' },
      SlowRequests: { quantile: 0.95, seconds: 0.5, 'for': '5m' },
      ReadinessFailing: { 'for': '5m' },
      HealthCheckFailing: { 'for': '5m' },
      DatabaseSlowQueries: { count: 10, 'for': '5m' },
      DatabaseHighConnections: { ratio: 0.8, 'for': '5m' },
      DatabaseConnectionFailures: { 'for': '1m' },
      DatabaseOperationErrors: { ratio: 0.05, 'for': '5m' },
      RedisHighEvictions: { perSecond: 1, 'for': '5m' },
      RedisConnectionFailures: { 'for': '1m' },
      RedisLowHitRate: { ratio: 0.8, minReadsPerSecond: 0.1, 'for': '15m' },
      RedisHighMemory: { ratio: 0.9, 'for': '5m' },
      ProcessHighMemory: { bytes: 1073741824, 'for': '10m' },
      ProcessFileDescriptorsHigh: { ratio: 0.8, 'for': '10m' },
      HighSchedulingLag: { quantile: 0.99, seconds: 0.1, 'for': '5m' },
      TokioWorkersSaturated: { ratio: 0.9, 'for': '15m' },
      TelemetryExportFailing: { perSecond: 0, 'for': '10m' },
      SLISeriesMissing: { 'for': '15m' },
      ExporterDown: { 'for': '5m' },
      NodeExporterDown: { 'for': '5m' },
      PrometheusDown: { 'for': '5m' },
      AlertmanagerDown: { 'for': '5m' },
      GrafanaDown: { 'for': '5m' },
      PrometheusRuleEvaluationFailures: { 'for': '15m' },
      PrometheusConfigReloadFailed: { 'for': '10m' },
      PrometheusScrapeSampleLimitHit: { 'for': '15m' },
      AlertmanagerNotificationsFailing: { ratio: 0.01, 'for': '5m' },
      AlertmanagerConfigReloadFailed: { 'for': '10m' },
      // hours: the age that pages (daily schedule + one run's margin); absentWindow: how long
      // no backup metric at all may be seen before it pages.
      BackupMissing: { hours: 26, absentWindow: '2h' },
      BackupDrillMissing: { days: 8 },
      // pgBackRest (alerts/pgbackrest.libsonnet): the age of the newest backup (daily diff/incr)
      // and full (weekly), WAL archiving stalled, the metrics themselves stale.
      PgBackRestBackupStale: { hours: 26 },
      PgBackRestFullBackupStale: { days: 8 },
      PgBackRestArchivingStalled: { minutes: 15, 'for': '5m' },
      PgBackRestMetricsStale: { minutes: 30 },
    },

    // ---- links -----------------------------------------------------------------------------
    // %(file)s is the runbook page under docs/runbooks/ (no .md), %(anchor)s the alert's heading.
    // Default: the docs of this repository (Cargo.toml's `repository`). Point it at your own
    // runbook site, e.g. 'https://runbooks.example.com/pf/%(file)s#%(anchor)s'.
    runbookURLPattern: 'https://github.com/pf-observability/pf/blob/main/docs/runbooks/%(file)s.md#%(anchor)s',

    // ---- dashboards -------------------------------------------------------------------------
    dashboardDatasource: 'prometheus',  // the data source type the `datasource` variable lists
    dashboardTags: ['pf'],
    dashboardRefresh: '30s',
    dashboardTimezone: 'browser',
    dashboardUIDPrefix: 'pf',
    dashboardTitlePrefix: 'pf',
    // Grafana sidecar (Kubernetes): the label that makes it load a ConfigMap.
    grafanaDashboardLabel: { grafana_dashboard: '1' },

    // ---- Kubernetes / Prometheus Operator output (render --kubernetes DIR) --------------------
    kubernetes: {
      namespace: 'pf',
      // The Service is named backendJobName: the Prometheus Operator sets job=<service name>.
      image: 'ghcr.io/pf-observability/pf-demo:latest',
      replicas: 2,
      port: 3000,  // the public listener: API and probes
      adminPort: 9100,  // the admin listener: /metrics (bearer token)
      // Secret holding the /metrics bearer token (create it; no secret is rendered).
      metricsTokenSecret: { name: 'pf-demo-metrics', key: 'token' },
      // Secret with DATABASE_URL and REDIS_URL (optional: in-memory without).
      connectionSecret: 'pf-demo-connections',
      // Shutdown: readiness fails for drainDelaySeconds, then in-flight requests finish (the
      // longest takes longestRequestSeconds); the grace period covers both plus a margin.
      drainDelaySeconds: 5,
      longestRequestSeconds: 30,
      scrapeInterval: '15s',
      // Labels the Prometheus resource's ruleSelector / serviceMonitorSelector match.
      prometheusSelectorLabels: { release: 'prometheus' },
    },
  },
}
