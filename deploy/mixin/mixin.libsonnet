// The pf monitoring mixin (the layout of kubernetes-mixin and node-mixin):
//   prometheusAlerts   { groups: [...] }  alerts.yml
//   prometheusRules    { groups: [...] }  recording.yml
//   grafanaDashboards  { 'name.json': {...} }
// Knobs: config.libsonnet (`_config`). Rendered by deploy/mixin/render.
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
