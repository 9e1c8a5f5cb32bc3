#!/usr/bin/env python3
"""Writes slo.test.yml and slo-long.test.yml (into DIR if given, else beside this script): burn-rate detection-time tests of the
three SLO alerts (promtool test rules). Run from anywhere; deploy/tests/run.sh checks
that the committed files are what this script writes.

Model: steady traffic of 1000 requests per minute (or one backend scraped every
minute), 3 h (the detection cases) or 6 h (the others, so that the 6h window is full)
without errors, then a bad-event fraction `f` from minute
CLEAN+1 on. For the availability SLO `up` carries the per-minute share of successful
scrapes (avg_over_time treats 4 failed scrapes of 240 exactly like one sample of
0.9833), so fractional burn rates can be modelled at a 1-minute resolution.

Cases per SLO (burn = f / error budget):
  detect:    f = 100 %: the page fires 2 minutes after the errors start (14.4x over
             1h and 5m, `for: 1m`), not at 1 minute; the ticket 11 minutes after
             (3x over 1d and 2h, `for: 10m`). For the latency SLO (5 % budget) 72 % of
             the last hour must be slow: the page fires at 45 minutes, not at 44.
  fast-miss: burn 0.9 x 14.4 for 2.5 h: no page from the 1h/5m pair (the ticket fires),
             and the 6h/30m pair pages once 6h x 6 / 12.96 = 167 min have passed.
  slow-miss: burn 0.9 x 6 for 1 day: never a page (the ticket fires after ~1.5 h: 1x over 3d and 6h).
  tick-miss: burn 0.9 x 1 for 4 days: never a ticket (slo-long.test.yml).
"""
import os

import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else HERE  # another directory: for the up-to-date check
RATE = 1000  # requests per minute
CLEAN = 180  # minutes of clean traffic before the burn starts
URL = "https://github.com/pf-observability/pf/blob/main/docs/runbooks/"

SLOS = {
    "api-success": dict(alert="SuccessSLOBudgetBurn", budget=0.001, file="success-slo-budget-burn",
                        objective="99.9 % success",
                        what="5xx ratio (0.1 % of requests may fail with a 5xx)"),
    "api-latency": dict(alert="LatencySLOBudgetBurn", budget=0.05, file="latency-slo-budget-burn",
                        objective="P95 <= 500 ms latency",
                        what="share of requests slower than 0.5 s (5 % of requests may take longer than 0.5 s)"),
    "api-availability": dict(alert="AvailabilitySLOBudgetBurn", budget=0.0005, file="availability-slo-budget-burn",
                             objective="99.95 % availability",
                             what="share of failed scrapes (0.05 % of scrapes may fail)"),
}
TEXT = {
    "page": ("fast", "14.4x the budget over 1h and 5m, or 6x over 6h and 30m; the 30-day budget "
                     "would be gone in about 2 days (14.4x) or 5 days (6x)."),
    "ticket": ("slowly", "3x the budget over 1d and 2h, or 1x over 3d and 6h; the 30-day budget "
                         "would be gone in about 10 days (3x) or 30 days (1x)."),
}


def fmt(x):
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    return s or "0"


def counter(clean_rate, burn_rate, minutes, clean):
    """Counter series: clean_rate per minute for `clean` minutes, then burn_rate."""
    start = clean * clean_rate
    return f"0+{fmt(clean_rate)}x{clean} {fmt(start + burn_rate)}+{fmt(burn_rate)}x{minutes - 1}"


def series(slo, f, minutes, clean=CLEAN):
    job = 'job="pf-backend",instance="127.0.0.1:3000"'
    if slo == "api-success":
        return [
            (f'http_requests_total{{{job},method="GET",route="/api/v1/users/{{id}}",status="200"}}',
             counter(RATE, RATE * (1 - f), minutes, clean)),
            (f'http_requests_total{{{job},method="GET",route="/api/v1/users/{{id}}",status="500"}}',
             counter(0, RATE * f, minutes, clean)),
        ]
    if slo == "api-latency":
        return [
            (f'http_request_duration_seconds_bucket{{{job},method="GET",route="/api/v1/users/{{id}}",status="200",le="0.5"}}',
             counter(RATE, RATE * (1 - f), minutes, clean)),
            (f'http_request_duration_seconds_bucket{{{job},method="GET",route="/api/v1/users/{{id}}",status="200",le="+Inf"}}',
             counter(RATE, RATE, minutes, clean)),
            (f'http_request_duration_seconds_count{{{job},method="GET",route="/api/v1/users/{{id}}",status="200"}}',
             counter(RATE, RATE, minutes, clean)),
        ]
    return [(f"up{{{job}}}", f"1x{clean} {fmt(1 - f)}x{minutes - 1}")]


def alert(slo, severity):
    s = SLOS[slo]
    return {"severity": severity, "job": "pf-backend", "slo": slo}


def case(name, slo, f, minutes, checks, clean=CLEAN):
    """checks: list of (minutes after the burn started, [severities expected firing])."""
    s = SLOS[slo]
    out = [f"  - name: \"{s['alert']}: {name}\"", "    interval: 1m", "    input_series:"]
    for ser, vals in series(slo, f, minutes, clean):
        out += [f"      - series: '{ser}'", f"        values: '{vals}'"]
    out.append("    alert_rule_test:")
    for after, sevs in checks:
        out += [f"      - eval_time: {clean + after}m # {after} min after the burn started",
                f"        alertname: {s['alert']}"]
        if not sevs:
            out.append("        exp_alerts: []")
            continue
        out.append("        exp_alerts:")
        for sev in sevs:
            speed, thresholds = TEXT[sev]
            out += [f"          - exp_labels: {{severity: {sev}, job: pf-backend, slo: {slo}}}",
                    "            exp_annotations:",
                    f"              summary: 'pf-backend is burning the {s['objective']} error budget {speed}'",
                    f"              description: 'The {s['what']} burns the budget too fast. Thresholds: {thresholds}'",
                    f"              runbook_url: '{URL}{s['file']}.md#{s['alert'].lower()}'"]
    return "\n".join(out)


def header(interval):
    return f"""# GENERATED by gen-slo-tests.py (deploy/tests/run.sh checks it is current): edit that script.
# Burn-rate detection-time tests of the SLO alerts; see the script's docstring for the model.
# promtool evaluates the groups in a random order unless group_eval_order is given.
rule_files:
  - ../recording.yml
  - ../alerts.yml
evaluation_interval: {interval}
group_eval_order: # recording rules first: the alerts see this evaluation's ratios
  - pf-recording
  - slo-api-success
  - slo-api-latency
  - slo-api-availability
  - slo-budget
  - pf-service
  - pf-database
  - pf-cache
  - pf-process
  - pf-telemetry
  - pf-infrastructure
  - pf-slo
tests:
"""


def main():
    short, long_ = [], []
    for slo, s in SLOS.items():
        b = s["budget"]
        if slo == "api-latency":
            # 14.4 x 5 % = 72 % of the last hour must be slow: 44 minutes, then `for: 1m`.
            short.append(case("100 % slow requests page after 45 minutes (not 44)", slo, 1.0, 60,
                              [(0, []), (30, ["ticket"]), (44, ["ticket"]), (45, ["page", "ticket"])]))
        else:
            short.append(case("100 % bad events page after 2 minutes (not 1), ticket after 11 (not 10)", slo, 1.0, 30,
                              [(0, []), (1, []), (2, ["page"]), (10, ["page"]), (11, ["page", "ticket"])]))
        short.append(case(f"0.9 x 14.4 burn ({fmt(0.9 * 14.4 * b * 100)} % bad): no page from 1h/5m; the 6h/30m pair pages after ~167 min",
                          slo, 0.9 * 14.4 * b, 200,
                          [(5, []), (60, ["ticket"]), (100, ["ticket"]), (160, ["ticket"]), (175, ["page", "ticket"])],
                          clean=360))
        short.append(case(f"0.9 x 6 burn ({fmt(0.9 * 6 * b * 100)} % bad) for a day never pages (the ticket fires)",
                          slo, 0.9 * 6 * b, 1440,
                          [(60, []), (360, ["ticket"]), (720, ["ticket"]), (1440, ["ticket"])], clean=360))
        long_.append(case(f"0.9 x 1 burn ({fmt(0.9 * b * 100)} % bad) for 4 days never opens a ticket",
                          slo, 0.9 * b, 5760,
                          [(1440, []), (2880, []), (4320, []), (5760, [])], clean=360))
    with open(os.path.join(OUT, "slo.test.yml"), "w") as fh:
        fh.write(header("1m") + "\n".join(short) + "\n")
    with open(os.path.join(OUT, "slo-long.test.yml"), "w") as fh:
        fh.write(header("5m") + "\n".join(long_) + "\n")


if __name__ == "__main__":
    main()
