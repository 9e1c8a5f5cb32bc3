// Multiwindow, multi-burn-rate SLO alerts (SRE workbook ch. 5), one page and one ticket
// per SLO, on the slo:sli_error:ratio_rate<window> series of rules/slo.libsonnet.
local u = import '../lib/utils.libsonnet';
local text = {
  'api-success': { objective: 'success', what: '5xx ratio (%s of requests may fail with a 5xx)' },
  'api-latency': { objective: 'latency', what: 'share of requests slower than %(le)s s (%(budget)s of requests may take longer than %(le)s s)' },
  'api-availability': { objective: 'availability', what: 'share of failed scrapes (%s of scrapes may fail)' },
};
{
  prometheusAlerts+:: {
    local cfg = $._config,
    local budgetDays(factor) = u.num(std.floor(0.5 + u.seconds(cfg.sloPeriod) / 86400 / factor)),
    local sloAlert(slo, s, severity) =
      local br = cfg.sloBurnRates[severity];
      local budget = 1 - s.objective;
      local cond(p) = |||
        (
          slo:sli_error:ratio_rate%(long)s{slo="%(slo)s"} > (%(factor)s * %(budget)s)
          and
          slo:sli_error:ratio_rate%(short)s{slo="%(slo)s"} > (%(factor)s * %(budget)s)
        )
      ||| % { long: p.long, short: p.short, factor: u.num(p.factor), slo: slo, budget: u.num(budget) };
      local what =
        if slo == 'api-latency' then text[slo].what % { le: s.latencyThreshold, budget: u.pct(budget) }
        else text[slo].what % u.pct(budget);
      local objective =
        if slo == 'api-latency' then 'P%s <= %s ms latency' % [u.num(s.objective * 100), u.num(std.parseJson(s.latencyThreshold) * 1000)]
        else '%s %s' % [u.pct(s.objective), text[slo].objective];
      local pairs = br.pairs;
      u.alert(cfg, s.alert, std.join('or\n', [cond(p) for p in pairs]), severity,
              '{{ $labels.job }} is burning the %s error budget %s' % [objective, if severity == 'page' then 'fast' else 'slowly'],
              'The %s burns the budget too fast. Thresholds: %s; the %s budget would be gone in about %s.' % [
                what,
                std.join(', or ', ['%sx the budget over %s and %s' % [u.num(p.factor), p.long, p.short] for p in pairs]),
                cfg.sloPeriod,
                std.join(' or ', ['%s days (%sx)' % [budgetDays(p.factor), u.num(p.factor)] for p in pairs]),
              ],
              s.runbook, br['for']),
    groups+: [
      {
        name: 'pf-slo',
        rules: std.flattenArrays([
          [sloAlert(slo, cfg.slos[slo], 'page'), sloAlert(slo, cfg.slos[slo], 'ticket')]
          for slo in ['api-success', 'api-latency', 'api-availability']
          if std.objectHas(cfg.slos, slo)
        ]),
      },
    ],
  },
}
