// Small helpers shared by the alerts, rules and dashboards of the mixin.
{
  // The aggregation labels in use, then `extra`: "cluster, job" or "job, instance".
  groupLabels(cfg, extra=[])::
    [l for l in [cfg.clusterLabel, cfg.namespaceLabel] if l != ''] + [cfg.jobLabel] + extra,
  by(cfg, extra=[]):: std.join(', ', self.groupLabels(cfg, extra)),

  // "2 %", "80 %", "0.5 %": a ratio as a percentage, without trailing zeros.
  pct(x):: self.num(x * 100) + ' %',
  num(x)::
    local strip(str) =
      if std.length(str) > 1 && (str[std.length(str) - 1] == '0' && std.length(std.findSubstr('.', str)) > 0)
      then strip(std.substr(str, 0, std.length(str) - 1))
      else if str[std.length(str) - 1] == '.' then std.substr(str, 0, std.length(str) - 1)
      else str;
    strip('%.6f' % x),

  // 1073741824 -> "1GiB", 52428800 -> "50MiB", else the number of bytes.
  bytes(b)::
    if b % 1073741824 == 0 then self.num(b / 1073741824) + 'GiB'
    else if b % 1048576 == 0 then self.num(b / 1048576) + 'MiB'
    else self.num(b) + ' bytes',

  // "5m" -> "5 minutes", "1m" -> "1 minute", "2h" -> "2 hours", "1d" -> "1 day".
  human(d)::
    local n = std.parseInt(std.substr(d, 0, std.length(d) - 1));
    local u = { s: 'second', m: 'minute', h: 'hour', d: 'day' }[std.substr(d, std.length(d) - 1, 1)];
    std.toString(n) + ' ' + u + (if n == 1 then '' else 's'),

  // "5m" -> 300 (seconds).
  seconds(d)::
    local n = std.parseInt(std.substr(d, 0, std.length(d) - 1));
    n * { s: 1, m: 60, h: 3600, d: 86400 }[std.substr(d, std.length(d) - 1, 1)],

  runbook(cfg, file, alert)::
    cfg.runbookURLPattern % { file: file, anchor: std.asciiLower(alert) },

  // An alert rule with the fields every pf alert carries.
  alert(cfg, name, expr, severity, summary, description, runbook, forDur=null, extraLabels={})::
    { alert: name, expr: expr }
    + (if forDur != null then { 'for': forDur } else {})
    + {
      labels: { severity: severity } + extraLabels,
      annotations: {
        summary: summary,
        description: description,
        runbook_url: $.runbook(cfg, runbook, name),
      },
    },
}
