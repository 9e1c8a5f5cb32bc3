#!/usr/bin/env python3
"""Writes the burn-rate tests of the SLO alerts (promtool test rules) and their detection-time
table, from the mixin's configuration and the SRE workbook's math.

  gen-slo-tests.py                       write beside this script, for deploy/ (default config)
  gen-slo-tests.py --out DIR             write into DIR (deploy/tests/run.sh diffs the result)
  gen-slo-tests.py --config F.jsonnet --rules DIR --out DIR
                                         for a mixin overlay, rules rendered into DIR/prometheus

Files: slo-<slo>.test.yml (1-minute evaluation), slo-long.test.yml (5-minute evaluation),
slo-rules-<slo>.yml (the SLO's recording group and alerts, filtered out of recording.yml and
alerts.yml: the same rules, a tenth of the evaluation time), detection-times.md.

Model. Every case starts with CLEAN = 3 days of clean traffic (1000 requests a minute, or an
up series of 1 per minute), so the 1d and 3d windows differ. Then segments of
(minutes, requests a minute, bad fraction). The generator evaluates the rules' math per
minute: Prometheus 2.x range selectors are closed ([t-w, t]), so a counter ratio over w is
the bad increments of the last w minutes over all increments (rate()'s extrapolation is the
same factor for numerator and denominator and cancels), and avg_over_time(up[w]) is the mean
of w+1 samples. An alert with `for: F` fires at minute t when its condition held at every
evaluation from t-F to t. From that it computes when each page and ticket starts and stops
firing, and asserts it at those minutes and the minutes just before (detection times are not
written by hand: detection-times.md is this computation).

Cases per SLO (b = burn rate = bad fraction / error budget):
  detect:     100 % bad for 60 minutes (latency: 246, for a ticket), then clean: page and ticket detection times; the
              page clears once the short window (5m) is clean although the long one (1h) is
              still far above 14.4x (asserted: the long window alone never pages); the ticket
              clears once 2h and 6h are clean, with 1d and 3d still high.
  short:      100 % bad just long enough for the 1h/5m pair, too short for 6h/30m: the page
              clears when the 5m window is clean (the 1h one still above).
  no-5xx:     (success) no 5xx series at all: silent, and every recorded ratio is 0
              (promql_expr_test: the `or ... * 0` branch).
  six:        b = 0.93 x 14.4 for 4 h then clean: the 1h/5m pair never trips; the 6h/30m pair
              pages (computed time), and clears 30 minutes after the errors stop.
  one-day:    the traffic drops to a quarter with b = 4 for a day: the 3x/1d&2h ticket fires
              while the 1x/3d&6h pair stays below (the 3d window still holds the busy days); it
              clears when the 2h window is clean.
              With steady traffic the 3x/1d&2h pair implies the 1x/3d&6h pair (a window three
              times as long with a third of the factor); see detection-times.md.
  slow:       b = 0.93 x 6 for a day: never a page, the ticket at the computed time (~13.5 h).
  tick-miss:  b = 0.9 for 4 days: never a ticket (slo-long.test.yml).
  last-pair:  b = 2.1 (between the ticket factors) for 2 days: the 1x/3d&6h pair opens the ticket
              alone, at the computed minute (slo-long.test.yml, asserted an hour before and
              after it: 5-minute evaluation).
  spike:      bursts every long window absorbs (nothing fires), found by search (spike_cases).
  between:    (when no case before tells the first page pair's long window doubled apart: the
              availability SLO) burn 1.4 x 14.4 for 1 h: the 14.4x/1h&5m pair pages at the
              computed minute, where a 2h window or a 28.8x factor would not (gap_cases).
  gap:        (when no case before tells the first ticket pair's short window halved apart:
              the availability SLO) burn 5.1 for 18 h, 6 clean hours, burn 4 for 1 h: the 1d
              and 1h windows above 3x, the 6h one below 1x: no ticket, where a 1d&1h pair would
              open one (gap_cases has the math).
  other-slo:  another SLO's recorded ratios (the same job) at 1: this alert stays silent.
  other-job:  another job's requests all fail beside the backend's clean traffic: nothing
              fires and every recorded ratio holds the backend's series alone, at 0
              (promql_expr_test: an SLI that lost its job matcher has a second series).
  Each case is also asserted at a minute where a wrong recorded ratio (MUTANT_KINDS: a window
  stuck above or at 0, over half or twice its length) would change what fires, if there is one;
  detection-times.md lists the wrong ratios no case tells apart.
"""
import argparse
import json
import os
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
RATE = 100000  # requests per minute: every count below is a whole number (no float drift)
SPARSE = 10  # one sample every SPARSE minutes in the first two clean days (counters only): less to read
CLEAN = 3 * 1440  # minutes of clean traffic before every case
OFFSET = 10 ** 9  # the start value of the counters that begin at 0 otherwise
INSTANCE = "127.0.0.1:3000"
SHORT = {"api-success": "success", "api-latency": "latency", "api-availability": "availability"}


def minutes(d):
    return int(d[:-1]) * {"m": 1, "h": 60, "d": 1440}[d[-1]]


def fmt(x):
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    return s or "0"


class Timeline:
    """Per-minute traffic: total[m] and bad[m] are the increments from minute m-1 to m
    (minute 0 has none); `up` mode uses ok[m] = 1 - bad fraction as the sample at m."""

    def __init__(self, segments, slo="api-success", sparse=True, clean=CLEAN):
        self.sparse = sparse and slo != "api-availability"
        self.total, self.bad = [0.0], [0.0]
        self._ratios = {}
        self.clean = clean
        for n, rate, frac in ([(clean, RATE, 0.0)] if clean else []) + segments:
            for _ in range(n):
                self.total.append(rate)
                self.bad.append(rate * frac)
        self.n = len(self.total)
        self.ct, self.cb = [0.0], [0.0]  # prefix sums
        for i in range(1, self.n):
            self.ct.append(self.ct[-1] + self.total[i])
            self.cb.append(self.cb[-1] + self.bad[i])
        self.frac = [0.0] + [self.bad[i] / self.total[i] if self.total[i] else 0.0 for i in range(1, self.n)]
        self.cf = [0.0]
        for i in range(1, self.n):
            self.cf.append(self.cf[-1] + self.frac[i])

    def sampled(self, m):
        """Is there a sample at minute m (every SPARSE minutes in the clean days, then each)?"""
        return not self.sparse or m >= CLEAN - 1440 or m % SPARSE == 0

    def first_sample(self, lo):
        return lo if self.sampled(lo) else lo + (SPARSE - lo % SPARSE)

    def ratio(self, slo, t, w):
        """The ratio as Prometheus computes it over the samples in [t-w, t]: counters from the
        first sample in the window (rate()'s extrapolation factor is the same for every
        series, so it cancels), `up` as the mean of the samples."""
        lo = self.first_sample(max(t - w, 0))
        if slo == "api-availability":  # never sparse: every minute has a sample
            return (self.cf[t] - (self.cf[lo - 1] if lo else 0.0)) / (t - lo + 1)
        tot = self.ct[t] - self.ct[lo]
        return (self.cb[t] - self.cb[lo]) / tot if tot else 0.0

    def ratios(self, slo, w):
        """ratio(slo, t, w) for every minute t from the end of the clean days (cached; earlier
        minutes are None: the clean traffic fires nothing)."""
        if (slo, w) not in self._ratios:
            start = max(self.clean - 1, 0)
            self._ratios[(slo, w)] = [None] * start + [self.ratio(slo, t, w) for t in range(start, self.n)]
        return self._ratios[(slo, w)]

    def values(self, vals):
        return compress([v if self.sampled(m) else None for m, v in enumerate(vals)])

    def series(self, slo, labels):
        if slo == "api-availability":
            return [(f"up{{{labels}}}", self.values([1.0] + [1 - f for f in self.frac[1:]]))]
        # The bad counter starts at OFFSET, not 0: rate() does not extrapolate a counter
        # below zero, which would cut the bad series' window and not the good one's.
        good = cumulate([t - b for t, b in zip(self.total, self.bad)])
        bad = [OFFSET + v for v in cumulate(self.bad)]
        total = cumulate(self.total)
        route = 'method="GET",route="/api/v1/users/{id}",status="200"'
        if slo == "api-success":
            return [(f"http_requests_total{{{labels},{route}}}", self.values(good)),
                    (f'http_requests_total{{{labels},method="GET",route="/api/v1/users/{{id}}",status="500"}}',
                     self.values(bad))]
        le = CFG["slos"]["api-latency"]["latencyThreshold"]
        # The le bucket counts the fast requests: it starts at OFFSET like the others.
        good = [OFFSET + v for v in good]
        total = [OFFSET + v for v in total]
        return [(f'http_request_duration_seconds_bucket{{{labels},{route},le="{le}"}}', self.values(good)),
                (f'http_request_duration_seconds_bucket{{{labels},{route},le="+Inf"}}', self.values(total)),
                (f"http_request_duration_seconds_count{{{labels},{route}}}", self.values(total))]


def cumulate(incs):
    out, acc = [], 0.0
    for v in incs:
        acc += v
        out.append(acc)
    return out


def compress(vals):
    """promtool's expanding notation: runs of a constant step become 'a+sxn', runs of
    missing samples (None) '_xn'."""
    out, i = [], 0
    while i < len(vals):
        if vals[i] is None:
            j = i
            while j + 1 < len(vals) and vals[j + 1] is None:
                j += 1
            out.append("_" if j == i else f"_x{j - i + 1}")
            i = j + 1
            continue
        j = i
        # a run of samples every `gap` positions with a constant step, missing ones between
        nxt = next((k for k in range(i + 1, len(vals)) if vals[k] is not None), None)
        if nxt is not None and nxt == i + 1:
            step = vals[i + 1] - vals[i]
            while j + 1 < len(vals) and vals[j + 1] is not None and abs((vals[j + 1] - vals[j]) - step) < 1e-9:
                j += 1
        if j == i:
            out.append(fmt(vals[i]))
            i += 1
        else:
            step = vals[i + 1] - vals[i]
            out.append(f"{fmt(vals[i])}{'+' if step >= 0 else '-'}{fmt(abs(step))}x{j - i}")
            i = j + 1
    return " ".join(out)


class AtThreshold(Exception):
    pass


def budget_of(slo):
    """The error budget as the rules write it (a decimal literal, e.g. 0.05, not 1 - 0.95)."""
    return float(fmt(1 - CFG["slos"][slo]["objective"]))


def firing(tl, slo, severity, mutant=None, factors=None):
    """Per minute: does the alert of `severity` fire (its condition held for its `for`)?
    A ratio within a millionth of a threshold would make the outcome depend on float rounding:
    the generator refuses such a case (pick other numbers). `mutant` (window, kind): the
    recorded ratio of that window is wrong (see MUTANTS); `factors`: the pairs' burn-rate
    factors are these instead (a wrong number in the alert); no threshold check then."""
    br = CFG["sloBurnRates"][severity]
    budget = budget_of(slo)
    hold = minutes(br["for"]) if br.get("for") else 0

    def series(w):
        if mutant and mutant[0] == w:
            kind = mutant[1]
            if kind == "one":
                return [1.0] * tl.n
            if kind == "zero":
                return [0.0] * tl.n
            return tl.ratios(slo, w // 2 if kind == "half" else w * 2)
        return tl.ratios(slo, w)

    start = max(tl.clean - 1, 0)
    cond = [False] * tl.n
    # the condition if a ratio at its threshold (within a millionth) counted as below / above
    far_cond, near_cond = [False] * tl.n, [False] * tl.n
    for i, p in enumerate(br["pairs"]):
        thr = (factors[i] if factors else p["factor"]) * budget
        lw, sw = series(minutes(p["long"])), series(minutes(p["short"]))
        for t in range(start, tl.n):
            cond[t] = cond[t] or (lw[t] > thr and sw[t] > thr)
            if not mutant and not factors:
                near = [abs(r - thr) < 1e-6 * thr for r in (lw[t], sw[t])]
                far_cond[t] = far_cond[t] or all(r > thr and not n for r, n in zip((lw[t], sw[t]), near))
                near_cond[t] = near_cond[t] or all(r > thr or n for r, n in zip((lw[t], sw[t]), near))
    if not mutant and not factors:
        for t in range(tl.clean, tl.n):
            if far_cond[t] != near_cond[t]:
                raise AtThreshold(f"{slo}: at minute {t - CLEAN} a ratio sits at a {severity} threshold: pick other numbers")
    out, run = [], 0
    for t in range(tl.n):
        run = run + 1 if cond[t] else 0
        out.append(run > hold)
    return out


# The wrong recorded ratios a one-line mutation of a recording rule makes (deploy/tests/mutate),
# per window: "one" (always above every threshold: the 5xx matcher removed, the ratio 1),
# "zero" (never above: the le matcher removed, 1 - x halved), "half" / "double" (the range
# window x0.5 / x2). Every case gets a check at a minute where such a mutant changes what
# fires (when there is one), so the tests see them.
MUTANT_KINDS = ("one", "zero", "half", "double")


def mutants():
    ws = sorted({minutes(p[k]) for sev in ("page", "ticket") for p in CFG["sloBurnRates"][sev]["pairs"]
                 for k in ("long", "short")})
    return [(w, k) for w in ws for k in MUTANT_KINDS]


def dur(w):
    return f"{w // 1440}d" if w % 1440 == 0 else f"{w // 60}h" if w % 60 == 0 else f"{w}m"


def mutant_name(m):
    w, kind = m
    return {"one": f"the {dur(w)} ratio always above", "zero": f"the {dur(w)} ratio at 0",
            "half": f"the {dur(w)} ratio over {dur(w // 2) if w > 5 else '150s'}",
            "double": f"the {dur(w)} ratio over {dur(w * 2)}"}[kind]


def differs(tl, slo, fires, end):
    """{mutant: sorted minutes in [CLEAN, end] where it changes page or ticket}."""
    out = {}
    for m in mutants():
        mf = {sev: firing(tl, slo, sev, m) for sev in ("page", "ticket")}
        d = [t for t in range(max(tl.clean, 1), min(end, tl.n - 1) + 1)
             if any(mf[sev][t] != fires[sev][t] for sev in fires)]
        if d:
            out[m] = d
    return out


def middle_of_longest_run(ts):
    best, cur = [], []
    for t in ts:
        cur = cur + [t] if cur and t == cur[-1] + 1 else [t]
        if len(cur) > len(best):
            best = cur
    return best[len(best) // 2]


def transitions(fire):
    """[(minute, True|False)] where the state changes (from the minute after the clean part)."""
    out = []
    for t in range(CLEAN + 1, len(fire)):
        if fire[t] != fire[t - 1]:
            out.append((t, fire[t]))
    return out


def only_long_high(tl, slo, severity, t):
    """At minute t: some pair's long window is above its factor while its short one is not."""
    budget = budget_of(slo)
    return any(tl.ratio(slo, t, minutes(p["long"])) > p["factor"] * budget
               and not tl.ratio(slo, t, minutes(p["short"])) > p["factor"] * budget
               for p in CFG["sloBurnRates"][severity]["pairs"])


def only_short_high(tl, slo, severity, t):
    """At minute t: some pair's short window is above its factor while its long one is not."""
    budget = budget_of(slo)
    return any(tl.ratio(slo, t, minutes(p["short"])) > p["factor"] * budget
               and not tl.ratio(slo, t, minutes(p["long"])) > p["factor"] * budget
               for p in CFG["sloBurnRates"][severity]["pairs"])


def labels_str():
    extra = f'{CFG["clusterLabel"]}="eu1",' if CFG["clusterLabel"] else ""
    return f'{extra}job="{CFG["backendJobName"]}",instance="{INSTANCE}"'


def expected(slo, severity):
    """exp_labels and exp_annotations of the alert, from the rendered rules (with the job
    label filled in): the text itself is checked by check.py and the alert tests."""
    rule = RULES[(CFG["slos"][slo]["alert"], severity)]
    job = CFG["backendJobName"]
    ann = {k: v.replace("{{ $labels.job }}", job) for k, v in rule["annotations"].items()}
    lab = {"severity": severity, "job": job, "slo": slo}
    if CFG["clusterLabel"]:
        lab[CFG["clusterLabel"]] = "eu1"
    return lab, ann


def case(slo, name, segments, end, extra_checks=()):
    """A test: the timeline, and assertions at every transition of page and ticket (and the
    minute before it), plus extra_checks, plus a minute that tells apart each wrong recorded
    ratio (MUTANT_KINDS) that changes what fires in this case; returns (yaml text, transitions
    per severity, the timeline, the wrong ratios it tells apart)."""
    tl = Timeline(segments, slo)
    fires = {sev: firing(tl, slo, sev) for sev in ("page", "ticket")}
    # The table's times are those of steady sampling (a sample a minute throughout); the test
    # samples the first two clean days sparsely unless that moves a transition.
    dense = Timeline(segments, slo, sparse=False)
    dense_fires = {sev: firing(dense, slo, sev) for sev in ("page", "ticket")}
    if any(transitions(dense_fires[s][:end + 1]) != transitions(fires[s][:end + 1]) for s in fires):
        tl, fires = dense, dense_fires
    trans = {sev: transitions(fires[sev][:end + 1]) for sev in fires}
    points = set(extra_checks) | {end}
    for sev in trans:
        for t, _ in trans[sev]:
            points |= {t - 1, t}
    diff = differs(tl, slo, fires, end)
    why = {}
    for m, ts in sorted(diff.items()):
        if not points & set(ts):
            t = middle_of_longest_run(ts)
            points.add(t)
        else:
            t = min(points & set(ts))
        why.setdefault(t, []).append(mutant_name(m))
    alert = CFG["slos"][slo]["alert"]
    out = [f'  - name: "{alert}: {name}"', "    interval: 1m", "    input_series:"]
    for ser, vals in tl.series(slo, labels_str()):
        out += [f"      - series: '{ser}'", f"        values: '{vals}'"]
    out.append("    alert_rule_test:")
    for t in sorted(p for p in points if CLEAN <= p <= end):
        sevs = [s for s in ("page", "ticket") if fires[s][t]]
        notes = [f"{s} {'firing' if fires[s][t] else 'silent'}" for s in ("page", "ticket")]
        for s in ("page", "ticket"):
            if not fires[s][t] and only_long_high(tl, slo, s, t):
                notes.append(f"{s}: long window above, short below")
            if not fires[s][t] and only_short_high(tl, slo, s, t):
                notes.append(f"{s}: short window above, long below")
        if t in why:
            notes.append("fails with " + ", ".join(why[t]))
        out += [f"      - eval_time: {t}m # {t - CLEAN} min after the clean 3 days: {', '.join(notes)}",
                f"        alertname: {alert}"]
        if not sevs:
            out.append("        exp_alerts: []")
            continue
        out.append("        exp_alerts:")
        for s in sevs:
            lab, ann = expected(slo, s)
            out.append(f"          - exp_labels: {json.dumps(lab)}")
            out.append("            exp_annotations:")
            for k in ("summary", "description", "runbook_url"):
                out.append(f"              {k}: {json.dumps(ann[k])}")
    return "\n".join(out), {s: [(t - CLEAN, on) for t, on in trans[s]] for s in trans}, tl, set(diff)


def record_windows(slo):
    """The windows of the SLO's recording rules, shortest first ("5m", ...)."""
    recs = [r["record"] for g in REC["groups"] if g["name"] == f"slo-{slo}" for r in g["rules"]]
    ws = [r.rsplit("_rate", 1)[1] for r in recs if r.startswith("slo:sli_error:ratio_rate")]
    return sorted((w for w in ws if w != CFG["sloPeriod"]), key=minutes)


def ratio_checks(slo, t, value):
    """promql_expr_test: at minute t every recorded ratio of the SLO is the backend's series
    alone, with this value."""
    lab = [f'{CFG["clusterLabel"]}="eu1"'] if CFG["clusterLabel"] else []
    lab += [f'job="{CFG["backendJobName"]}"', f'slo="{slo}"']
    out = ["    promql_expr_test:"]
    for w in record_windows(slo):
        name = f"slo:sli_error:ratio_rate{w}"
        out += [f"      - expr: '{name}{{slo=\"{slo}\"}}'",
                f"        eval_time: {t}m",
                "        exp_samples:",
                f"          - labels: '{name}{{{','.join(sorted(lab))}}}'",
                f"            value: {fmt(value)}"]
    return "\n".join(out)


def other_job_case(slo):
    """Another job's requests all fail (or its target is down) beside the backend's clean
    traffic: nothing fires and every recorded ratio holds the backend's series alone."""
    alert = CFG["slos"][slo]["alert"]
    end = 90
    other = "other-service"
    labels = labels_str().replace(f'job="{CFG["backendJobName"]}"', f'job="{other}"').replace(INSTANCE, "127.0.0.1:4000")
    out = [f'  - name: "{alert}: the requests of another job ({other}) all fail beside clean backend traffic: nothing fires, every recorded ratio is the backend\'s alone, at 0"',
           "    interval: 1m", "    input_series:"]
    for tl, lab in ((Timeline([(end, RATE, 0.0)], slo, sparse=False, clean=0), labels_str()),
                    (Timeline([(end, RATE, 1.0)], slo, sparse=False, clean=0), labels)):
        for ser, vals in tl.series(slo, lab):
            out += [f"      - series: '{ser}'", f"        values: '{vals}'"]
    out += ["    alert_rule_test:", f"      - eval_time: {end}m", f"        alertname: {alert}", "        exp_alerts: []"]
    return "\n".join(out) + "\n" + ratio_checks(slo, end, 0)


def other_slo_case(slo):
    """Another SLO's recorded ratios at 1 (every window, the same job): this SLO's alert stays
    silent (it reads its own slo label only)."""
    alert = CFG["slos"][slo]["alert"]
    lab = [f'{CFG["clusterLabel"]}="eu1"'] if CFG["clusterLabel"] else []
    lab += [f'job="{CFG["backendJobName"]}"', 'slo="another-slo"']
    out = [f'  - name: "{alert}: another SLO of the same job burns its whole budget (its recorded ratios at 1): nothing fires"',
           "    interval: 1m", "    input_series:"]
    for w in record_windows(slo):
        out += [f"      - series: 'slo:sli_error:ratio_rate{w}{{{','.join(lab)}}}'", "        values: '1x30'"]
    out += ["    alert_rule_test:", "      - eval_time: 30m", f"        alertname: {alert}", "        exp_alerts: []"]
    return "\n".join(out)


def spike_cases(slo, detected):
    """[(yaml text, table row, wrong ratios told apart)]: bursts that no long window lets
    through (neither page nor ticket fires), found by search, each telling apart wrong recorded
    ratios that no case before it does: the burst of factor x budget x `mult` lasting k minutes
    that tells apart most of them, per pair. The first page pair always gets its burst (its 5m
    window above, its 1h window below, for longer than `for`), so every SLO has one."""
    budget = budget_of(slo)
    todo = set(mutants()) - set(detected)
    out = []
    tail = 120
    first = True
    for sev in ("page", "ticket"):
        for p in CFG["sloBurnRates"][sev]["pairs"]:
            if not todo and not first:
                return out
            lw = minutes(p["long"])
            must = (lw, "one") if first else None  # the long window stuck above must matter
            first = False
            best = None
            for mult in (1.25, 1.6, 2.5, 4):
                b = p["factor"] * mult
                if b * budget > 1:
                    continue
                for k in sorted({max(1, min(1440, round(lw * x))) for x in
                                 (0.02, 0.03, 0.05, 0.07, 0.1, 0.14, 0.2, 0.28, 0.4, 0.56, 0.8)}):
                    tl = Timeline([(k, RATE, b * budget), (tail, RATE, 0.0)], slo, sparse=False)
                    try:
                        fires = {s: firing(tl, slo, s) for s in ("page", "ticket")}
                    except AtThreshold:
                        continue
                    if any(any(f[CLEAN:]) for f in fires.values()):
                        continue
                    diff = set(differs(tl, slo, fires, tl.n - 1))
                    new = diff & todo
                    if must and must not in diff:
                        continue
                    if (new or must) and (best is None or len(new) > len(best[0])):
                        best = (new, b, k)
            if not best:
                continue
            _, b, k = best
            text, tr, _, det = case(slo, f"burn {fmt(b)} ({fmt(b * budget * 100)} % bad) for {k} minutes: short windows above, no long window: nothing fires",
                                    [(k, RATE, b * budget), (tail, RATE, 0.0)], CLEAN + k + tail)
            if any(on for s in tr for _, on in tr[s]):
                sys.exit(f"{slo}: a spike case fires")
            todo -= det
            out.append((text, f"| {slo} | burn {fmt(b)} for {k} min, then none | {describe(tr['page'])} | {describe(tr['ticket'])} |", det))
    return out


def gap_cases(slo, detected):
    """[(yaml text, table row, wrong ratios told apart)] for two wrong ratios that the cases
    before may leave alone (the availability SLO's do: one sample a minute, a budget of 0.05 %):

    between: the first page pair's long window over twice its length (1h -> 2h) and, with
    it, that pair's factor doubled (14.4 -> 28.8): a 100 % burst trips the 1h and 2h windows
    at both factors in the first minute, and the slower cases stay below 14.4x. A burn of
    1.4 x the factor (between the factor and twice it) for the long window's length pages at
    the computed minute through that pair; with a 2h window (the ratio then at most half the
    burn's) or the doubled factor it would not page there.

    gap: the first ticket pair's short window over half its length (2h -> 1h). The real
    3x/1d&2h pair never fires alone (the 2h ratio above 3x puts the 6h one above
    3 x 121/361 > 1x, and the 1d above 3x the 3d above 1x: the 1x/3d&6h pair fires too), but
    the 1h ratio above 3x puts the 6h one only above 3 x 61/361 = 0.51x: a 1d&1h pair fires
    alone when the 1d and 1h windows are above 3x and the 6h one stays at or below 1x, for
    the ticket's `for`. So: a burn below the second page factor (0.85 x 6) for most of a day
    (1d - 6h) fills the 1d window, 6 clean hours empty the 6h one, then a burn of 4/3 x the
    ticket factor for an hour (the half window's length) lifts the 1h ratio above 3x while
    the 6h one stays below 1x (and the 2h one below 3x): the ticket stays silent there,
    asserted; a 1d&1h pair would fire."""
    budget = budget_of(slo)
    out = []
    page_pairs = CFG["sloBurnRates"]["page"]["pairs"]
    tp = CFG["sloBurnRates"]["ticket"]["pairs"]
    p0 = page_pairs[0]
    lw = minutes(p0["long"])
    if (lw, "double") not in detected:
        b = 1.4 * p0["factor"]
        text, tr, tl, det = case(slo, f"burn {fmt(b)} ({fmt(b * budget * 100)} % bad, between {fmt(p0['factor'])}x and twice it) for {p0['long']}: the {fmt(p0['factor'])}x/{p0['long']}&{p0['short']} pair pages at the computed minute (not with a {dur(2 * lw)} long window or a {fmt(2 * p0['factor'])}x factor)",
                                 [(lw, RATE, b * budget), (lw, RATE, 0.0)], CLEAN + 2 * lw)
        on = [m for m, s in tr["page"] if s]
        doubled = firing(tl, slo, "page", factors=[q["factor"] * (2 if q is p0 else 1) for q in page_pairs])
        if not on or (lw, "double") not in det or doubled[CLEAN + on[0]]:
            sys.exit(f"{slo}: the between case does not tell apart the {p0['long']} window doubled and the {fmt(p0['factor'])}x factor doubled")
        out.append((text, f"| {slo} | burn {fmt(b)} for {p0['long']}, then none | {describe(tr['page'])} | {describe(tr['ticket'])} |", det))
    sw = minutes(tp[0]["short"])
    if (sw, "half") not in detected:
        six = minutes(tp[1]["short"])
        day = minutes(tp[0]["long"])
        bl, bs = 0.85 * page_pairs[1]["factor"], tp[0]["factor"] * 4 / 3
        segs = [(day - six, RATE, bl * budget), (six, RATE, 0.0), (sw // 2, RATE, bs * budget), (sw, RATE, 0.0)]
        end = CLEAN + sum(n for n, _, _ in segs)
        text, tr, tl, det = case(slo, f"burn {fmt(bl)} for {dur(day - six)}, {dur(six)} clean, burn {fmt(bs)} for {dur(sw // 2)}: the {tp[0]['long']} and {dur(sw // 2)} windows above {fmt(tp[0]['factor'])}x, the {tp[1]['short']} one below {fmt(tp[1]['factor'])}x: no ticket (a {tp[0]['long']}&{dur(sw // 2)} pair would open one)",
                                 segs, end)
        if (sw, "half") not in det:
            sys.exit(f"{slo}: the gap case does not tell apart the {tp[0]['short']} window over half its length")
        out.append((text, f"| {slo} | burn {fmt(bl)} for {dur(day - six)}, {dur(six)} none, burn {fmt(bs)} for {dur(sw // 2)}, then none | {describe(tr['page'])} | {describe(tr['ticket'])} |", det))
    return out


def header(rules_file, slo, interval):
    return f"""# GENERATED by gen-slo-tests.py (deploy/tests/run.sh checks it is current): edit that script.
# Burn-rate tests of the {slo} SLO alerts; the model and the cases are in the script's docstring.
rule_files:
  - {rules_file}
evaluation_interval: {interval}
group_eval_order: # the recording rules first: the alerts see this evaluation's ratios
  - slo-{slo}
  - pf-slo-{SHORT[slo]}
tests:
"""


def filtered_rules(slo):
    """The SLO's recording group and its alerts, as one rule file."""
    groups = [g for g in REC["groups"] if g["name"] == f"slo-{slo}"]
    alerts = [r for g in ALR["groups"] if g["name"] == "pf-slo" for r in g["rules"]
              if r["alert"] == CFG["slos"][slo]["alert"]]
    doc = {"groups": groups + [{"name": f"pf-slo-{SHORT[slo]}", "rules": alerts}]}
    return ("# GENERATED by gen-slo-tests.py from recording.yml and alerts.yml (the "
            f"{slo} SLO's rules only).\n" + yaml.safe_dump(doc, sort_keys=False, width=100000))


def describe(trans):
    if not trans:
        return "never"
    return ", ".join(f"{'on' if on else 'off'} at {m} min" for m, on in trans)


def main():
    global CFG, RULES, REC, ALR
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--config")
    ap.add_argument("--rules", default=os.path.join(ROOT, "deploy"))
    ap.add_argument("--slos", help="comma-separated subset (mutation runs)")
    a = ap.parse_args()
    cmd = [os.path.join(ROOT, "deploy", "mixin", "render"), "--print-config"]
    if a.config:
        cmd += ["--config", a.config]
    CFG = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout)
    REC = yaml.safe_load(open(os.path.join(a.rules, "prometheus", "recording.yml")))
    ALR = yaml.safe_load(open(os.path.join(a.rules, "prometheus", "alerts.yml")))
    RULES = {(r["alert"], r["labels"]["severity"]): r for g in ALR["groups"] for r in g["rules"] if "alert" in r}
    os.makedirs(a.out, exist_ok=True)
    table = ["# SLO alert detection times", "",
             "GENERATED by gen-slo-tests.py from the burn-rate math of the rules (and asserted, minute by",
             "minute, by the slo-*.test.yml tests it writes). Minutes after the errors start, after 3 days",
             "of clean traffic; \"on\" = starts firing, \"off\" = resolves.", "",
             "| SLO | case | page | ticket |", "|---|---|---|---|"]
    page_pairs = CFG["sloBurnRates"]["page"]["pairs"]
    slos = [s for s in ("api-success", "api-latency", "api-availability") if s in CFG["slos"]]
    if a.slos:
        slos = [s for s in slos if s in a.slos.split(",")]
    long_cases = []
    not_told = []
    for slo in slos:
        budget = budget_of(slo)
        short = SHORT[slo]
        rules_file = f"slo-rules-{short}.yml"
        with open(os.path.join(a.out, rules_file), "w") as fh:
            fh.write(filtered_rules(slo))
        cases = []
        detected = set()  # the wrong recorded ratios (MUTANT_KINDS) the cases tell apart
        # detect: 100 % bad long enough for a ticket too (3x of a day's budget), then clean
        # for 7 hours.
        burst = max(60, int(3 * budget * 1440) + 31)
        for bad in (1.0, 0.99):  # 100 % unless a ratio would sit exactly at a threshold
            try:
                text, tr, _tl, det = case(slo, f"{fmt(bad * 100)} % bad for {burst} minutes: detection, and both clear once their short windows are clean",
                                     [(burst, RATE, bad), (420, RATE, 0.0)], CLEAN + burst + 420)
                break
            except AtThreshold:
                continue
        for sev in ("page", "ticket"):
            off = [m for m, on in tr[sev] if not on]
            if not off or not only_long_high(_tl, slo, sev, CLEAN + off[0]):
                sys.exit(f"{slo}: the {sev} does not clear with its long window still high")
        cases.append(text)
        detected |= det
        table.append(f"| {slo} | {fmt(bad * 100)} % bad for {burst} min, then none | {describe(tr['page'])} | {describe(tr['ticket'])} |")
        # short: a burst just long enough for the first page pair, too short for the second:
        # the page clears once the first pair's short window (5m) is clean.
        p1, p2 = page_pairs[0], page_pairs[1]
        for d in range(1, 600):
            probe = Timeline([(d, RATE, 1.0), (60, RATE, 0.0)], slo, sparse=False)
            if any(firing(probe, slo, "page")) and not any(
                    probe.ratio(slo, t, minutes(p2["long"])) > p2["factor"] * budget
                    for t in range(CLEAN, probe.n)):
                break
        else:
            sys.exit(f"{slo}: no burst pages through the first pair alone")
        text, tr, _, det = case(slo, f"100 % bad for {d} minutes pages through the {p1['long']}/{p1['short']} pair alone and clears once its {p1['short']} window is clean",
                           [(d, RATE, 1.0), (60, RATE, 0.0)], CLEAN + d + 60)
        cases.append(text)
        detected |= det
        table.append(f"| {slo} | 100 % bad for {d} min, then none | {describe(tr['page'])} | {describe(tr['ticket'])} |")
        # six: b = 0.93 x the first page factor: only the second page pair can page.
        b6 = 0.93 * page_pairs[0]["factor"]
        text, tr, _, det = case(slo, f"burn {fmt(b6)} ({fmt(b6 * budget * 100)} % bad) for 4 h: only the {page_pairs[1]['long']}/{page_pairs[1]['short']} pair pages",
                           [(240, RATE, b6 * budget), (120, RATE, 0.0)], CLEAN + 360)
        if not any(on for _, on in tr["page"]):
            sys.exit(f"{slo}: the six case does not page: the model needs other numbers")
        cases.append(text)
        detected |= det
        table.append(f"| {slo} | burn {fmt(b6)} for 4 h, then none | {describe(tr['page'])} | {describe(tr['ticket'])} |")
        # one-day: traffic falls to a fifth, b = 4: the 3x/1d pair alone.
        if slo != "api-availability":
            text, tr, tl, det = case(slo, f"traffic at a quarter, burn 4.4 ({fmt(4.4 * budget * 100)} % bad) for a day: the 3x/1d&2h ticket fires, the 1x/3d&6h pair stays below; it clears with the 2h window",
                                [(1440, RATE / 4, 4.4 * budget), (180, RATE / 4, 0.0)], CLEAN + 1620)
            ticket_pairs = CFG["sloBurnRates"]["ticket"]["pairs"]
            on = [m for m, s in tr["ticket"] if s]
            if not on:
                sys.exit(f"{slo}: the one-day case opens no ticket")
            t = CLEAN + on[0]
            p2 = ticket_pairs[1]
            if tl.ratio(slo, t, minutes(p2["long"])) > p2["factor"] * budget:
                sys.exit(f"{slo}: in the one-day case the {p2['long']} pair is above too")
            cases.append(text)
            detected |= det
            table.append(f"| {slo} | traffic at 1/4, burn 4.4 for a day, then none | {describe(tr['page'])} | {describe(tr['ticket'])} |")
        # slow: b = 0.93 x the second page factor for a day.
        b2 = 0.93 * page_pairs[1]["factor"]
        text, tr, _, det = case(slo, f"burn {fmt(b2)} ({fmt(b2 * budget * 100)} % bad) for a day never pages; the ticket fires",
                           [(1440, RATE, b2 * budget)], CLEAN + 1440)
        if any(on for _, on in tr["page"]):
            sys.exit(f"{slo}: the slow case pages")
        cases.append(text)
        detected |= det
        table.append(f"| {slo} | burn {fmt(b2)} for a day | {describe(tr['page'])} | {describe(tr['ticket'])} |")
        # spike: bursts every long window absorbs (nothing fires), for the wrong ratios the
        # cases above do not tell apart (a long window stuck above, or over half its length).
        for text, row, det in spike_cases(slo, detected):
            cases.append(text)
            detected |= det
            table.append(row)
        # between and gap: for the wrong ratios the cases above still do not tell apart, where
        # a case can (the availability SLO: see gap_cases).
        for text, row, det in gap_cases(slo, detected):
            cases.append(text)
            detected |= det
            table.append(row)
        # other-job: another job's requests all fail beside the backend's clean traffic: every
        # recorded ratio of the SLO holds the backend's series alone, at 0.
        cases.append(other_job_case(slo))
        # other-slo: another SLO's recorded ratios at 1 do not fire this SLO's alert.
        cases.append(other_slo_case(slo))
        if slo == "api-success":
            # Without any 5xx series the ratio is 0 (the `or ... * 0` branch), not "no data".
            alert = CFG["slos"][slo]["alert"]
            cases.append(f"""  - name: "{alert}: no 5xx series at all: the ratio is 0 and nothing fires"
    interval: 1m
    input_series:
      - series: 'http_requests_total{{{labels_str()},method="GET",route="/",status="200"}}'
        values: '0+{RATE}x120'
    alert_rule_test:
      - eval_time: 120m
        alertname: {alert}
        exp_alerts: []
""" + ratio_checks(slo, 120, 0))
        with open(os.path.join(a.out, f"slo-{short}.test.yml"), "w") as fh:
            fh.write(header(rules_file, slo, "1m") + "\n".join(cases) + "\n")
        # tick-miss (5-minute evaluation; checked at whole days).
        tl = miss_tl = Timeline([(5760, RATE, 0.9 * budget)], slo)
        tick = firing(tl, slo, "ticket")
        if any(tick):
            sys.exit(f"{slo}: burn 0.9 opens a ticket in the model")
        alert = CFG["slos"][slo]["alert"]
        out = [f'  - name: "{alert}: burn 0.9 ({fmt(0.9 * budget * 100)} % bad) for 4 days never opens a ticket"',
               "    interval: 1m", "    input_series:"]
        for ser, vals in tl.series(slo, labels_str()):
            out += [f"      - series: '{ser}'", f"        values: '{vals}'"]
        out.append("    alert_rule_test:")
        for d in (1, 2, 3, 4):
            out += [f"      - eval_time: {CLEAN + d * 1440}m # day {d} of the burn", f"        alertname: {alert}",
                    "        exp_alerts: []"]
        long_cases.append((slo, rules_file, "\n".join(out)))
        table.append(f"| {slo} | burn 0.9 for 4 days | never | never |")
        # last-pair: a burn between the two ticket factors for 2 days: the last ticket pair
        # (1x/3d&6h) fires alone, once the 3d window has taken in enough of the burn
        # (5-minute evaluation; checked an hour before and after the computed minute).
        tp = CFG["sloBurnRates"]["ticket"]["pairs"]
        bl = (tp[0]["factor"] + tp[-1]["factor"]) / 2 * 1.05  # off the round numbers: no ratio at a threshold
        tl = Timeline([(2880, RATE, bl * budget)], slo)
        tick, page = firing(tl, slo, "ticket"), firing(tl, slo, "page")
        on = next((t for t in range(CLEAN, tl.n) if tick[t]), None)
        if on is None or any(page) or on + 60 > tl.n - 1 or not all(tick[on:]):
            sys.exit(f"{slo}: the last-pair case does not open one steady ticket without a page")
        p0 = tp[0]
        if any(tl.ratio(slo, on + 60, minutes(p0[k])) > p0["factor"] * budget for k in ("long",)):
            sys.exit(f"{slo}: in the last-pair case the {p0['long']} pair is above too")
        lab, ann = expected(slo, "ticket")
        out = [f'  - name: "{alert}: burn {fmt(bl)} ({fmt(bl * budget * 100)} % bad) for 2 days: the {tp[-1]["factor"]}x/{tp[-1]["long"]}&{tp[-1]["short"]} ticket pair fires alone, at minute {on - CLEAN} of the burn"',
               "    interval: 1m", "    input_series:"]
        for ser, vals in tl.series(slo, labels_str()):
            out += [f"      - series: '{ser}'", f"        values: '{vals}'"]
        before, after = (on - 60) // 5 * 5, (on + 64) // 5 * 5  # whole evaluations (5m)
        out += ["    alert_rule_test:",
                f"      - eval_time: {before}m # {before - CLEAN} min into the burn: silent",
                f"        alertname: {alert}", "        exp_alerts: []"]
        for t in (after, tl.n - 1):
            out += [f"      - eval_time: {t}m # {t - CLEAN} min into the burn: the ticket (the {tp[0]['long']} window below {fmt(tp[0]['factor'])}x)",
                    f"        alertname: {alert}", "        exp_alerts:",
                    f"          - exp_labels: {json.dumps(lab)}", "            exp_annotations:"]
            for k in ("summary", "description", "runbook_url"):
                out.append(f"              {k}: {json.dumps(ann[k])}")
        long_cases.append((slo, rules_file, "\n".join(out)))
        table.append(f"| {slo} | burn {fmt(bl)} for 2 days | never | on at {on - CLEAN} min ({tp[-1]['long']}/{tp[-1]['short']} pair alone) |")
        # The wrong ratios the long cases tell apart at their checks (the model evaluates each
        # minute; these checks sit an hour or more from any transition of the real rules).
        for ltl, checks in ((tl, (before, after, tl.n - 1)), (miss_tl, tuple(CLEAN + d * 1440 for d in (1, 2, 3, 4)))):
            lf = {sev: firing(ltl, slo, sev) for sev in ("page", "ticket")}
            for m, ts in differs(ltl, slo, lf, ltl.n - 1).items():
                if set(ts) & set(checks):
                    detected.add(m)
        missed = [m for m in mutants() if m not in detected]
        if missed:
            not_told.append(f"{slo}: " + "; ".join(mutant_name(m) for m in missed))
    if not a.slos:
        with open(os.path.join(a.out, "slo-long.test.yml"), "w") as fh:
            fh.write(f"""# GENERATED by gen-slo-tests.py (deploy/tests/run.sh checks it is current): edit that script.
# Burn rate 0.9 for 4 days never opens a ticket; a burn between the ticket factors for 2 days
# opens it through the last pair alone (5-minute evaluation).
rule_files:
""" + "".join(f"  - {rf}\n" for rf in dict.fromkeys(rf for _, rf, _ in long_cases)) + """evaluation_interval: 5m
group_eval_order:
""" + "".join(f"  - slo-{s}\n  - pf-slo-{SHORT[s]}\n" for s in dict.fromkeys(s for s, _, _ in long_cases)) + "tests:\n" + "\n".join(c for _, _, c in long_cases) + "\n")
        table += ["", "Steady traffic: the 3x/1d&2h ticket pair implies the 1x/3d&6h pair (a window three times as",
                  "long with a third of the factor: 3d ratio >= 1d ratio / 3), so with a step from clean traffic",
                  "both trip at the same minute; the 1d pair fires alone only when the last day carried less",
                  "traffic than the two before (the one-day case). For the availability SLO (one sample a",
                  "minute, equal weights) the implication always holds: its 3x/1d&2h pair can never fire alone.",
                  "A 1h short window in that pair would not be implied (its ratio above 3x puts the 6h one only",
                  "above 3 x 61/361 = 0.51x): the availability gap case (a day's burn, 6 clean hours, an hour at",
                  "4x) keeps the 1d and 1h windows above 3x and the 6h one below 1x, where such a pair would fire.",
                  "", "Wrong recorded ratios (a window stuck above every threshold, at 0, over half or twice its",
                  "length: what one-line mutations of the recording rules make) that change what fires in a",
                  "case are each asserted at a minute where they would (the test comments name them). Those",
                  "no case tells apart: " + (" | ".join(not_told) if not_told else "none.")]
        with open(os.path.join(a.out, "detection-times.md"), "w") as fh:
            fh.write("\n".join(table) + "\n")


if __name__ == "__main__":
    try:
        main()
    except AtThreshold as e:
        sys.exit(str(e))
