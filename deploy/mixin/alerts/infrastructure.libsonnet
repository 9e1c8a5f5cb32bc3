// The monitoring stack itself (targets down, rule evaluation, notifications, reloads,
// sample limits), the SLI inputs vanishing, and the backups.
local u = import '../lib/utils.libsonnet';
{
  prometheusAlerts+:: {
    local cfg = $._config,
    local t = cfg.thresholds,
    local byI = u.by(cfg, ['instance']),
    groups+: [
      {
        name: 'pf-infrastructure',
        rules: [
          u.alert(cfg, 'ExporterDown',
                  'up{%(postgresExporterSelector)s} == 0 or up{%(redisExporterSelector)s} == 0' % cfg,
                  'ticket', '{{ $labels.job }} at {{ $labels.instance }} is down',
                  'Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }} for %s: the database and cache alerts that depend on it cannot fire.' % u.human(t.ExporterDown['for']),
                  'exporter-down', t.ExporterDown['for']),
          u.alert(cfg, 'NodeExporterDown',
                  'up{%(nodeExporterSelector)s} == 0 or absent(up{%(nodeExporterSelector)s})' % cfg,
                  'ticket', 'node_exporter {{ $labels.instance }} is down',
                  'Prometheus cannot scrape node_exporter at {{ with $labels.instance }}{{ . }}{{ else }}any instance (no target left){{ end }} for %s: the host panels and the backup metrics (textfile collector) are gone, BackupMissing fires on their absence.' % u.human(t.NodeExporterDown['for']),
                  'node-exporter-down', t.NodeExporterDown['for']),
          // A Prometheus cannot report its own death: this fires where another Prometheus
          // scrapes this one (HA pair); the Watchdog covers the single-server case.
          u.alert(cfg, 'PrometheusDown',
                  'up{%(prometheusSelector)s} == 0 or absent(up{%(prometheusSelector)s})' % cfg,
                  'page', 'Prometheus {{ $labels.instance }} is down',
                  'Prometheus at {{ with $labels.instance }}{{ . }}{{ else }}(no target left){{ end }} cannot be scraped for %s: no alert rule is evaluated there.' % u.human(t.PrometheusDown['for']),
                  'prometheus-down', t.PrometheusDown['for']),
          u.alert(cfg, 'AlertmanagerDown',
                  'up{%(alertmanagerSelector)s} == 0 or absent(up{%(alertmanagerSelector)s})' % cfg,
                  'page', 'Alertmanager {{ $labels.instance }} is down',
                  'Alertmanager at {{ with $labels.instance }}{{ . }}{{ else }}(no target left){{ end }} cannot be scraped for %s: alerts fire in Prometheus but nobody is notified.' % u.human(t.AlertmanagerDown['for']),
                  'alertmanager-down', t.AlertmanagerDown['for']),
          u.alert(cfg, 'GrafanaDown',
                  'up{%(grafanaSelector)s} == 0' % cfg,
                  'ticket', 'Grafana {{ $labels.instance }} is down',
                  'Grafana at {{ $labels.instance }} cannot be scraped for %s: dashboards are unavailable, alerting is not affected.' % u.human(t.GrafanaDown['for']),
                  'grafana-down', t.GrafanaDown['for']),
          // Always fires. Alertmanager forwards it to a dead man's switch that pages
          // when it stops arriving.
          u.alert(cfg, 'Watchdog', 'vector(1)', 'none',
                  'Watchdog: the alerting pipeline works',
                  'This alert always fires. If the dead man\'s switch stops receiving it, Prometheus, Alertmanager or the notification path is broken.',
                  'watchdog'),
        ],
      },
      {
        // The subset of the Prometheus and Alertmanager mixins' alerts that applies here.
        name: 'pf-meta-monitoring',
        rules: [
          u.alert(cfg, 'PrometheusRuleEvaluationFailures',
                  'increase(prometheus_rule_evaluation_failures_total{%(prometheusSelector)s}[5m]) > 0' % cfg,
                  'page', 'Prometheus {{ $labels.instance }} fails to evaluate rules of {{ $labels.rule_group }}',
                  'Prometheus at {{ $labels.instance }} failed {{ $value | humanize }} rule evaluations of group {{ $labels.rule_group }} in the last 5 minutes, for %s: the alerts of that group may not fire.' % u.human(t.PrometheusRuleEvaluationFailures['for']),
                  'prometheus-rule-evaluation-failures', t.PrometheusRuleEvaluationFailures['for']),
          u.alert(cfg, 'PrometheusConfigReloadFailed',
                  'max_over_time(prometheus_config_last_reload_successful{%(prometheusSelector)s}[5m]) == 0' % cfg,
                  'ticket', 'Prometheus {{ $labels.instance }} could not reload its configuration',
                  'The last configuration reload of Prometheus at {{ $labels.instance }} failed, for %s: it keeps running the previous configuration and rules, and the next restart fails.' % u.human(t.PrometheusConfigReloadFailed['for']),
                  'prometheus-config-reload-failed', t.PrometheusConfigReloadFailed['for']),
          u.alert(cfg, 'PrometheusScrapeSampleLimitHit',
                  'increase(prometheus_target_scrapes_exceeded_sample_limit_total{%(prometheusSelector)s}[5m]) > 0' % cfg,
                  'ticket', 'Prometheus {{ $labels.instance }} drops scrapes over their sample limit',
                  'Prometheus at {{ $labels.instance }} rejected {{ $value | humanize }} scrapes in the last 5 minutes because a target exposed more samples than its sample_limit, for %s: every series of those targets is missing (their up is 0).' % u.human(t.PrometheusScrapeSampleLimitHit['for']),
                  'prometheus-scrape-sample-limit-hit', t.PrometheusScrapeSampleLimitHit['for']),
          u.alert(cfg, 'AlertmanagerNotificationsFailing', |||
            sum by (%(by)s) (rate(alertmanager_notifications_failed_total{%(sel)s}[5m]))
            /
            sum by (%(by)s) (rate(alertmanager_notifications_total{%(sel)s}[5m]))
            > %(thr)s
          ||| % { by: u.by(cfg, ['instance', 'integration']), sel: cfg.alertmanagerSelector, thr: u.num(t.AlertmanagerNotificationsFailing.ratio) },
                  'page', 'Alertmanager {{ $labels.instance }} fails to send {{ $value | humanizePercentage }} of {{ $labels.integration }} notifications',
                  '{{ $value | humanizePercentage }} of the {{ $labels.integration }} notifications of Alertmanager at {{ $labels.instance }} failed over the last 5 minutes (threshold %s, for %s): alerts fire but people are not told.' % [u.pct(t.AlertmanagerNotificationsFailing.ratio), u.human(t.AlertmanagerNotificationsFailing['for'])],
                  'alertmanager-notifications-failing', t.AlertmanagerNotificationsFailing['for']),
          u.alert(cfg, 'AlertmanagerConfigReloadFailed',
                  'max_over_time(alertmanager_config_last_reload_successful{%(alertmanagerSelector)s}[5m]) == 0' % cfg,
                  'ticket', 'Alertmanager {{ $labels.instance }} could not reload its configuration',
                  'The last configuration reload of Alertmanager at {{ $labels.instance }} failed, for %s: it keeps routing with the previous configuration.' % u.human(t.AlertmanagerConfigReloadFailed['for']),
                  'alertmanager-config-reload-failed', t.AlertmanagerConfigReloadFailed['for']),
        ],
      },
      {
        // Pyrra-style: the SLO alerts cannot fire on series that are not there.
        name: 'pf-sli-inputs',
        rules: [
          u.alert(cfg, 'SLISeriesMissing', 'absent(http_requests_total{%(backendSelector)s})' % cfg,
                  'ticket', 'The success SLI of {{ $labels.job }} has no input series',
                  'No http_requests_total series of {{ $labels.job }} for %s: the success SLO and its burn-rate alerts see nothing (metrics layer removed, metric renamed, or the job relabelled).' % u.human(t.SLISeriesMissing['for']),
                  'sli-series-missing', t.SLISeriesMissing['for'], { slo: 'api-success' }),
          u.alert(cfg, 'SLISeriesMissing',
                  'absent(http_request_duration_seconds_bucket{%(sel)s,le="%(le)s"})' % { sel: cfg.backendSelector, le: cfg.slos['api-latency'].latencyThreshold },
                  'ticket', 'The latency SLI of {{ $labels.job }} has no input series',
                  'No http_request_duration_seconds_bucket{le="%s"} series of {{ $labels.job }} for %s: the latency SLO counts requests under that bucket bound, and without it (bucket layout changed, metric renamed) its burn-rate alerts see nothing.' % [cfg.slos['api-latency'].latencyThreshold, u.human(t.SLISeriesMissing['for'])],
                  'sli-series-missing', t.SLISeriesMissing['for'], { slo: 'api-latency' }),
        ],
      },
      {
        // scripts/backup: pf-backup / pf-drill --metrics-file, read by node_exporter's
        // textfile collector. A backup counts only after a restore drill proved it.
        name: 'pf-backup',
        rules: [
          // The second branch: the textfile vanished, node_exporter lost its textfile
          // collector, or no backup ever succeeded; the age check cannot fire on a series
          // that is not there.
          u.alert(cfg, 'BackupMissing', |||
            time() - max by (%(by)s) (pf_backup_last_success_timestamp_seconds{%(sel)s}) > %(h)s * 3600
            or
            absent_over_time(pf_backup_last_success_timestamp_seconds{%(sel)s}[%(w)s])
          ||| % { by: u.by(cfg, ['database']), sel: cfg.nodeExporterSelector, h: u.num(t.BackupMissing.hours), w: t.BackupMissing.absentWindow },
                  'page', '{{ with $labels.database }}No successful backup of {{ . }} for {{ $value | humanizeDuration }}{{ else }}No backup metrics at all{{ end }}',
                  '{{ with $labels.database }}The last successful pf-backup of {{ . }} finished {{ $value | humanizeDuration }} ago (threshold %s h).{{ else }}No pf_backup_last_success_timestamp_seconds series for %s: the textfile is gone, node_exporter does not collect it, or no backup ever succeeded.{{ end }} Until a backup succeeds, the logical recovery point keeps moving back.' % [u.num(t.BackupMissing.hours), u.human(t.BackupMissing.absentWindow)],
                  'backup-missing'),
          u.alert(cfg, 'BackupFailing',
                  'max by (%(by)s) (pf_backup_last_exit_code{%(sel)s}) != 0' % { by: u.by(cfg, ['database']), sel: cfg.nodeExporterSelector },
                  'ticket', 'The last backup of {{ $labels.database }} failed with exit code {{ $value }}',
                  'pf-backup of {{ $labels.database }} last exited with code {{ $value }} (see the exit code table in docs/backup.md: 4 connect, 6 dump, 9 lock wait timeout, 14 overall timeout, 15 cannot write into the backup directory).',
                  'backup-missing'),
          u.alert(cfg, 'BackupDrillMissing',
                  'time() - max by (%(by)s) (pf_backup_drill_last_success_timestamp_seconds{%(sel)s}) > %(d)s * 86400' % { by: u.by(cfg, ['database']), sel: cfg.nodeExporterSelector, d: u.num(t.BackupDrillMissing.days) },
                  'ticket', 'No successful restore drill of {{ $labels.database }} for {{ $value | humanizeDuration }}',
                  'The last pf-drill that restored and validated a backup of {{ $labels.database }} succeeded {{ $value | humanizeDuration }} ago (threshold %s days): the backups since then are unproven.' % u.num(t.BackupDrillMissing.days),
                  'backup-drill-missing'),
        ],
      },
    ],
  },
}
