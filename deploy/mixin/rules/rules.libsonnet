// Recording rules: level:metric:operations names; the SLO series follow Sloth's layout
//   slo:sli_error:ratio_rate<window>{job, slo}   share of bad events over <window>
//   slo:objective:ratio{job, slo}                 the target
//   slo:error_budget:ratio{job, slo}              1 - objective
//   slo:error_budget_remaining:ratio{job, slo}    1 - (period error ratio / budget)
local u = import '../lib/utils.libsonnet';
{
  prometheusRules+:: {
    local cfg = $._config,
    local by = u.by(cfg),
    local sel = cfg.backendSelector,
    // Every window a burn-rate pair uses, shortest first.
    local windows = std.sort(std.set(std.flattenArrays([
      std.flattenArrays([[p.long, p.short] for p in cfg.sloBurnRates[sev].pairs])
      for sev in std.objectFields(cfg.sloBurnRates)
    ])), u.seconds),
    local sli = {
      'api-success'(w): |||
        (sum by (%(by)s) (rate(http_requests_total{%(sel)s,status=~"5.."}[%(w)s])) or sum by (%(by)s) (rate(http_requests_total{%(sel)s}[%(w)s])) * 0)
        / sum by (%(by)s) (rate(http_requests_total{%(sel)s}[%(w)s]))
      ||| % { by: by, sel: sel, w: w },
      'api-latency'(w): |||
        1 - sum by (%(by)s) (rate(http_request_duration_seconds_bucket{%(sel)s,le="%(le)s"}[%(w)s]))
          / sum by (%(by)s) (rate(http_request_duration_seconds_count{%(sel)s}[%(w)s]))
      ||| % { by: by, sel: sel, w: w, le: cfg.slos['api-latency'].latencyThreshold },
      'api-availability'(w): '1 - avg by (%(by)s) (avg_over_time(up{%(sel)s}[%(w)s]))' % { by: by, sel: sel, w: w },
    },
    local slos = [s for s in ['api-success', 'api-latency', 'api-availability'] if std.objectHas(cfg.slos, s)],
    groups+: [
      {
        name: 'pf-recording',
        rules: [
          // Cache hit rate: hits / (hits + misses) of cache reads.
          {
            record: 'job_cache_type:pivotal_cache_hit_ratio:rate5m',
            expr: |||
              sum by (%(by)s) (rate(pivotal_cache_operations_total{%(sel)s,result="hit"}[5m]))
              /
              sum by (%(by)s) (rate(pivotal_cache_operations_total{%(sel)s,result=~"hit|miss"}[5m]))
            ||| % { by: u.by(cfg, ['cache_type']), sel: sel },
          },
          // Tokio: share of worker time spent busy (0..1), the counters summed over workers.
          {
            record: 'job_instance:tokio_runtime_worker_busy:ratio_rate5m',
            expr: |||
              sum by (%(by)s) (rate(tokio_runtime_worker_busy_seconds_total{%(sel)s}[5m]))
              /
              sum by (%(by)s) (tokio_runtime_workers{%(sel)s})
            ||| % { by: u.by(cfg, ['instance']), sel: sel },
          },
          // Request rate and 5xx ratio per job, for dashboards and ad-hoc queries.
          { record: 'job:http_requests:rate5m', expr: 'sum by (%(by)s) (rate(http_requests_total{%(sel)s}[5m]))' % { by: by, sel: sel } },
          {
            record: 'job:http_requests_5xx:ratio_rate5m',
            expr: |||
              (
                sum by (%(by)s) (rate(http_requests_total{%(sel)s,status=~"5.."}[5m]))
                or
                sum by (%(by)s) (rate(http_requests_total{%(sel)s}[5m])) * 0
              )
              /
              sum by (%(by)s) (rate(http_requests_total{%(sel)s}[5m]))
            ||| % { by: by, sel: sel },
          },
        ],
      },
    ] + [
      {
        name: 'slo-' + slo,
        rules: [
          { record: 'slo:sli_error:ratio_rate' + w, labels: { slo: slo }, expr: sli[slo](w) }
          for w in windows
        ],
      }
      for slo in slos
    ] + [
      {
        name: 'slo-budget',
        rules: [
          {
            record: 'slo:objective:ratio',
            labels: { job: cfg.backendJobName, slo: slo },
            expr: 'vector(%s)' % u.num(cfg.slos[slo].objective),
          }
          for slo in slos
        ] + [
          { record: 'slo:error_budget:ratio', expr: '1 - slo:objective:ratio' },
          // The period's error ratio as Sloth computes it: the mean of the 5-minute ratios.
          { record: 'slo:sli_error:ratio_rate' + cfg.sloPeriod, expr: 'avg_over_time(slo:sli_error:ratio_rate5m[%s])' % cfg.sloPeriod },
          // 1 = untouched, 0 = spent, below 0 = overspent.
          {
            record: 'slo:error_budget_remaining:ratio',
            expr: |||
              1 - slo:sli_error:ratio_rate%(p)s
                / on (job, slo) group_left () slo:error_budget:ratio
            ||| % { p: cfg.sloPeriod },
          },
        ],
      },
    ],
  },
}
