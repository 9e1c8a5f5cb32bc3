// pgBackRest (scripts/backup/pf-pgbackrest): the metrics `pf-pgbackrest metrics` writes into
// node_exporter's textfile directory (on a timer, and after every `backup` / `drill`).
// Metrics and schedule: docs/backup.md ("pgBackRest"); tests: tests/pgbackrest.test.yml.
local u = import '../lib/utils.libsonnet';
{
  prometheusAlerts+:: {
    local cfg = $._config,
    local t = cfg.thresholds,
    local p = { by: u.by(cfg, ['stanza']), sel: cfg.nodeExporterSelector },
    groups+: [
      {
        name: 'pf-pgbackrest',
        rules: [
          // Daily diff/incr backups: 26 h leaves one run's margin before paging.
          u.alert(cfg, 'PgBackRestBackupStale',
                  'time() - max by (%(by)s) (pf_pgbackrest_backup_last_completion_timestamp_seconds{%(sel)s}) > %(h)s * 3600' % (p { h: u.num(t.PgBackRestBackupStale.hours) }),
                  'page', 'No pgBackRest backup of stanza {{ $labels.stanza }} for {{ $value | humanizeDuration }}',
                  'The newest pgBackRest backup (full, diff or incr) of stanza {{ $labels.stanza }} finished {{ $value | humanizeDuration }} ago (threshold %s h for a daily schedule). Every restore now has to replay more WAL, and a lost WAL segment would cost everything since that backup.' % u.num(t.PgBackRestBackupStale.hours),
                  'pgbackrest-backup-stale'),
          // Weekly full backups: 8 days leaves one day's margin.
          u.alert(cfg, 'PgBackRestFullBackupStale',
                  'time() - max by (%(by)s) (pf_pgbackrest_backup_last_completion_timestamp_seconds{%(sel)s,type="full"}) > %(d)s * 86400' % (p { d: u.num(t.PgBackRestFullBackupStale.days) }),
                  'ticket', 'No full pgBackRest backup of stanza {{ $labels.stanza }} for {{ $value | humanizeDuration }}',
                  'The newest full pgBackRest backup of stanza {{ $labels.stanza }} finished {{ $value | humanizeDuration }} ago (threshold %s days for a weekly full). Retention cannot expire older backups and WAL, and differential backups keep growing.' % u.num(t.PgBackRestFullBackupStale.days),
                  'pgbackrest-full-backup-stale'),
          // Complete WAL segments wait for the archive and nothing was archived for 15 minutes.
          u.alert(cfg, 'PgBackRestArchivingStalled', |||
            max by (%(by)s) (pf_pgbackrest_wal_archive_lag_segments{%(sel)s}) > 0
            and
            time() - max by (%(by)s) (pf_pgbackrest_wal_archive_last_success_timestamp_seconds{%(sel)s}) > %(m)s * 60
          ||| % (p { m: u.num(t.PgBackRestArchivingStalled.minutes) }),
                  'page', 'WAL archiving of stanza {{ $labels.stanza }} is stalled',
                  'Complete WAL segments of stanza {{ $labels.stanza }} are not in the pgBackRest repository and the last successful archive_command ran more than %s minutes ago. The point-in-time recovery window stops at the last archived segment, and pg_wal grows on the database server until archiving resumes.' % u.num(t.PgBackRestArchivingStalled.minutes),
                  'pgbackrest-archiving-stalled', t.PgBackRestArchivingStalled['for']),
          // pf-pgbackrest metrics runs every 5 minutes; 30 minutes without a run hides the
          // two alerts above.
          u.alert(cfg, 'PgBackRestMetricsStale',
                  'time() - max by (%(by)s) (pf_pgbackrest_metrics_last_success_timestamp_seconds{%(sel)s}) > %(m)s * 60' % (p { m: u.num(t.PgBackRestMetricsStale.minutes) }),
                  'ticket', 'pgBackRest metrics of stanza {{ $labels.stanza }} are {{ $value | humanizeDuration }} old',
                  'pf-pgbackrest metrics last read pgbackrest info and the server for stanza {{ $labels.stanza }} {{ $value | humanizeDuration }} ago (threshold %s minutes). The backup and archiving alerts of this stanza see old values until it runs again.' % u.num(t.PgBackRestMetricsStale.minutes),
                  'pgbackrest-metrics-stale'),
        ],
      },
    ],
  },
}
