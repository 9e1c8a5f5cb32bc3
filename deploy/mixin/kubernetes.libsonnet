// Prometheus Operator and Kubernetes resources, rendered by `render --kubernetes DIR`:
//   prometheus-rule.yaml     PrometheusRule with the recording and alerting groups
//   service-monitor.yaml     ServiceMonitor scraping the admin listener's /metrics with the
//                            bearer token from a Secret
//   grafana-dashboards.yaml  one ConfigMap per dashboard, labelled for the Grafana sidecar
//   demo.yaml                the demo: Deployment (probes, grace period), Service, PodDisruptionBudget
function(m)
  local cfg = m._config;
  local k = cfg.kubernetes;
  local name = cfg.backendJobName;
  local labels = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'pf' };
  local meta(n, extra={}) = { name: n, namespace: k.namespace, labels: labels + extra };
  {
    'prometheus-rule.yaml': [{
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: meta(name + '-rules', k.prometheusSelectorLabels),
      spec: { groups: m.prometheusRules.groups + m.prometheusAlerts.groups },
    }],
    'service-monitor.yaml': [{
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: meta(name, k.prometheusSelectorLabels),
      spec: {
        selector: { matchLabels: labels },
        endpoints: [{
          port: 'admin',
          path: '/metrics',
          interval: k.scrapeInterval,
          authorization: { type: 'Bearer', credentials: k.metricsTokenSecret },
        }],
      },
    }],
    'grafana-dashboards.yaml': [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: meta(cfg.dashboardUIDPrefix + '-dashboard-' + std.strReplace(f, '.json', ''), cfg.grafanaDashboardLabel),
        data: { [f]: std.manifestJsonEx(m.grafanaDashboards[f], '  ') },
      }
      for f in std.objectFields(m.grafanaDashboards)
    ],
    'demo.yaml': [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: meta(name),
        spec: {
          replicas: k.replicas,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels: labels },
            spec: {
              terminationGracePeriodSeconds: k.drainDelaySeconds + k.longestRequestSeconds + 5,
              containers: [{
                name: 'backend',
                image: k.image,
                ports: [
                  { name: 'http', containerPort: k.port, protocol: 'TCP' },
                  { name: 'admin', containerPort: k.adminPort, protocol: 'TCP' },
                ],
                env: [
                  { name: 'PF_DEMO_ADDR', value: '0.0.0.0:%d' % k.port },
                  { name: 'PF_DEMO_ADMIN_ADDR', value: '0.0.0.0:%d' % k.adminPort },
                  { name: 'PF_DEMO_DRAIN_DELAY_MS', value: std.toString(k.drainDelaySeconds * 1000) },
                  { name: 'METRICS_TOKEN', valueFrom: { secretKeyRef: k.metricsTokenSecret } },
                  { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: k.connectionSecret, key: 'DATABASE_URL', optional: true } } },
                  { name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: k.connectionSecret, key: 'REDIS_URL', optional: true } } },
                ],
                // /startupz until the dependencies answered once; /livez: the process serves;
                // /readyz: take traffic (fails while draining).
                startupProbe: { httpGet: { path: '/startupz', port: 'http' }, periodSeconds: 2, failureThreshold: 30, timeoutSeconds: 2 },
                livenessProbe: { httpGet: { path: '/livez', port: 'http' }, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 2 },
                readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, failureThreshold: 1, timeoutSeconds: 2 },
                resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
                securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
              }],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(name),
        spec: {
          selector: labels,
          ports: [
            { name: 'http', port: k.port, targetPort: 'http', protocol: 'TCP' },
            { name: 'admin', port: k.adminPort, targetPort: 'admin', protocol: 'TCP' },
          ],
        },
      },
      {
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: meta(name),
        spec: { minAvailable: 1, selector: { matchLabels: labels } },
      },
    ],
  }
