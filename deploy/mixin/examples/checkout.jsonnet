// A second configuration, rendered and tested by deploy/tests/run.sh: proof that the knobs
// work. A team whose service is called "checkout-api", in several clusters, with its own
// exporters' job names, a 99.5 % success objective and its own runbook site writes this
// (and renders it with deploy/mixin/render --config this-file --out DIR).
{
  _config+:: {
    backendSelector: 'job="checkout-api"',
    backendJobName: 'checkout-api',
    postgresExporterSelector: 'job="pg-exporter"',
    redisExporterSelector: 'job="cache-exporter"',
    nodeExporterSelector: 'job="node-exporter"',
    prometheusSelector: 'job="prometheus-k8s"',
    alertmanagerSelector: 'job="alertmanager-main"',
    grafanaSelector: 'job="grafana-k8s"',
    clusterLabel: 'cluster',
    slos+: { 'api-success'+: { objective: 0.995 } },
    thresholds+: { HighErrorRate+: { ratio: 0.05 } },
    runbookURLPattern: 'https://runbooks.example.com/checkout/%(file)s#%(anchor)s',
    dashboardUIDPrefix: 'checkout',
    dashboardTitlePrefix: 'Checkout',
    dashboardTags: ['checkout'],
    dashboardTimezone: 'utc',
  },
}
