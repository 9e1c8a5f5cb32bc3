#!/usr/bin/env python3
"""Static checks of deploy/ and docs/ (run by deploy/tests/run.sh; needs python3-yaml).

  check.py alerts      every alert: severity page|ticket|none, summary, description, runbook_url
  check.py runbooks    every runbook_url names an existing file under docs/runbooks/ and a heading in it
  check.py coverage    every alert has a rule test where it fires and one where it stays silent
  check.py dashboards  Grafana dashboard lint (see DASHBOARD RULES below) + provisioning
  check.py compose     deploy/compose.yaml is well-formed and mounts only files that exist
  check.py openslo     docs/slo/*.yaml are OpenSLO v1 and agree with the rules' objectives
  check.py queries     prints every dashboard panel query with variables substituted (JSON lines)

Each prints one line per problem and exits 1 if there is any.
"""
import json
import os
import re
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")


def _repository():
    """Cargo.toml's `repository`: the default runbookURLPattern points into it."""
    with open(os.path.join(ROOT, "Cargo.toml")) as fh:
        m = re.search(r'^repository\s*=\s*"([^"]+)"', fh.read(), re.M)
    return m.group(1).rstrip("/")


RUNBOOK_PREFIX = _repository() + "/blob/main/"
SEVERITIES = {"page", "ticket", "none"}


def load_yaml(path):
    with open(path) as fh:
        return yaml.safe_load(fh)


def rules(kind):
    for path in ("prometheus/recording.yml", "prometheus/alerts.yml"):
        for group in load_yaml(os.path.join(DEPLOY, path))["groups"]:
            for rule in group["rules"]:
                if kind in rule:
                    yield rule


def github_slug(heading):
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def check_alerts():
    problems = []
    for r in rules("alert"):
        name = r["alert"]
        sev = r.get("labels", {}).get("severity")
        if sev not in SEVERITIES:
            problems.append(f"{name}: severity {sev!r} not in {sorted(SEVERITIES)}")
        for a in ("summary", "description", "runbook_url"):
            if not r.get("annotations", {}).get(a, "").strip():
                problems.append(f"{name}: no {a} annotation")
        if name != "Watchdog" and "{{" not in r.get("annotations", {}).get("summary", "") + r.get(
                "annotations", {}).get("description", ""):
            problems.append(f"{name}: neither summary nor description carries a value or label")
    return problems


def check_runbooks():
    problems = []
    for r in rules("alert"):
        url = r["annotations"]["runbook_url"]
        if not url.startswith(RUNBOOK_PREFIX + "docs/runbooks/"):
            problems.append(f"{r['alert']}: runbook_url {url} is not under {RUNBOOK_PREFIX}docs/runbooks/")
            continue
        path, _, anchor = url[len(RUNBOOK_PREFIX):].partition("#")
        full = os.path.join(ROOT, path)
        if not os.path.isfile(full):
            problems.append(f"{r['alert']}: {path} does not exist")
            continue
        with open(full) as fh:
            slugs = {github_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", fh.read(), re.M)}
        if not anchor or anchor not in slugs:
            problems.append(f"{r['alert']}: {path} has no heading #{anchor}")
    return problems + check_runbook_links() + check_runbook_promql() + runbook_expression_rows()


def runbook_expression_rows(fix=False):
    """A runbook page for one alert rule shows that rule's expression (whitespace joined) in its
    `| expression |` row; pages that summarise several rules (a `<placeholder>`, `;`) are skipped."""
    problems = []
    by_name = {}
    for r in rules("alert"):
        by_name.setdefault(r["alert"], []).append(r)
    base = os.path.join(ROOT, "docs", "runbooks")
    for f in sorted(os.listdir(base)):
        path = os.path.join(base, f)
        text = open(path).read()
        m = re.match(r"# (\w+)\n", text)
        row = re.search(r"^\| expression \| `(.*)` \|$", text, re.M)
        if not m or not row or len(by_name.get(m.group(1), [])) != 1 or re.search(r"[<;]|` ", row.group(1)):
            continue
        want = " ".join(by_name[m.group(1)][0]["expr"].split())
        want = want.replace("( ", "(").replace(" )", ")")
        if row.group(1) != want:
            if fix:
                text = text[:row.start(1)] + want + text[row.end(1):]
                open(path, "w").write(text)
            else:
                problems.append(f"docs/runbooks/{f}: expression row `{row.group(1)}` is not the rule's `{want}`")
    return problems


def check_runbook_promql():
    """Every line of a ```promql block in docs/runbooks is one query that parses (promtool
    check rules on a rule per line); a trailing # comment is allowed."""
    import subprocess
    import tempfile
    problems, rules_ = [], []
    base = os.path.join(ROOT, "docs", "runbooks")
    for f in sorted(os.listdir(base)):
        if not f.endswith(".md"):
            continue
        for block in re.findall(r"```promql\n(.*?)```", open(os.path.join(base, f)).read(), re.S):
            for line in block.splitlines():
                q = line.split(" #", 1)[0].strip()
                if not q:
                    continue
                if ";" in q:
                    problems.append(f"docs/runbooks/{f}: several queries on one line: {q}")
                    continue
                rules_.append((f, q))
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as fh:
        yaml.safe_dump({"groups": [{"name": f"q{i}", "rules": [{"record": "runbook:query", "expr": q}]}
                                   for i, (f, q) in enumerate(rules_)]}, fh)
        fh.flush()
        r = subprocess.run(["promtool", "check", "rules", fh.name], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            problems.append(f"runbook PromQL does not parse ({len(rules_)} queries): {r.stdout[-2000:]}{r.stderr[-2000:]}")
    return problems


def check_runbook_links():
    """Relative links between the pages of docs/runbooks and docs/slo resolve (file and heading)."""
    problems = []
    for sub in ("docs/runbooks", "docs/slo"):
        base = os.path.join(ROOT, sub)
        for f in sorted(os.listdir(base)):
            if not f.endswith(".md"):
                continue
            text = open(os.path.join(base, f)).read()
            for target in re.findall(r"\]\(([^)\s]+)\)", text):
                if re.match(r"^[a-z]+:", target):
                    continue
                path, _, anchor = target.partition("#")
                full = os.path.normpath(os.path.join(base, path)) if path else os.path.join(base, f)
                if not os.path.exists(full):
                    problems.append(f"{sub}/{f}: link {target}: {path} does not exist")
                    continue
                if anchor and full.endswith(".md"):
                    slugs = {github_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", open(full).read(), re.M)}
                    if anchor not in slugs:
                        problems.append(f"{sub}/{f}: link {target}: no heading #{anchor}")
    return problems


def check_coverage():
    """Every alert name appears in a test with a non-empty exp_alerts (fires) and in
    one with an empty exp_alerts (silent), Watchdog excepted (it must always fire)."""
    fired, silent = {}, {}
    tests_dir = os.path.join(DEPLOY, "prometheus", "tests")
    for f in sorted(os.listdir(tests_dir)):
        if not f.endswith(".test.yml"):
            continue
        for test in load_yaml(os.path.join(tests_dir, f))["tests"]:
            for at in test.get("alert_rule_test", []):
                exp = at.get("exp_alerts") or []
                target = fired if exp else silent
                target.setdefault(at["alertname"], []).append(f"{f}: {test.get('name')}")
                for e in exp:
                    sev = e.get("exp_labels", {}).get("severity")
                    fired.setdefault((at["alertname"], sev), []).append(f)
                    if not e.get("exp_annotations"):
                        fired.setdefault(("no-annotations", at["alertname"]), []).append(f)
    problems = []
    for r in rules("alert"):
        name, sev = r["alert"], r["labels"]["severity"]
        if (name, sev) not in fired:
            problems.append(f"{name} (severity {sev}): no test where it fires")
        if name != "Watchdog" and name not in silent:
            problems.append(f"{name}: no test where it stays silent")
    for key in fired:
        if isinstance(key, tuple) and key[0] == "no-annotations":
            problems.append(f"{key[1]}: a firing case without exp_annotations")
    return problems


# ---- DASHBOARD RULES ---------------------------------------------------------------------
# From Grafana's dashboard linter (grafana/dashboard-linter), adapted:
#   template-datasource-rule   a `datasource` variable of type datasource (prometheus)
#   panel-datasource-rule      every panel and target uses ${datasource}
#   template-job-rule          a `job` variable; template-instance-rule: an `instance` variable
#   target-job-rule            every selector of a raw metric filters job=~"$job" (or the
#                              dashboard's other job variables, e.g. $pg_job)
#   target-instance-rule       every selector of a raw metric filters instance=~"$instance"
#                              (or $pg_instance / $redis_instance); recorded series (name with
#                              ':') are aggregated per job and need only the job filter
#   target-rate-interval-rule  rate/irate/increase ranges are [$__rate_interval]
#   panel-units-rule           every data panel sets fieldConfig.defaults.unit
#   panel-title-description    every panel has a title and a description
#   uniqueness                 no duplicate dashboard uid or title; no duplicate panel id
#   known series               every metric a query names is emitted by pf, the exporters
#                              or a recording rule (deploy/tests/known-series.txt + recording.yml)
PROMQL_FUNCS_OR_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan", "le",
}
DATA_PANELS = {"timeseries", "stat", "gauge", "bargauge", "table", "piechart", "heatmap"}


def dashboards():
    d = os.path.join(DEPLOY, "grafana", "dashboards")
    for f in sorted(os.listdir(d)):
        if f.endswith(".json"):
            with open(os.path.join(d, f)) as fh:
                yield f, json.load(fh)


def panels(dash):
    for p in dash.get("panels", []):
        yield p
        for sub in p.get("panels", []):
            yield sub


def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w$.:])([a-zA-Z_:][\w:]*)\s*(\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in PROMQL_FUNCS_OR_WORDS:
            continue
        names.add(word)
    return names


def selectors(expr):
    """(metric name, matcher text) for each vector selector with a metric name."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: m.group(0).replace("{", "(").replace("}", ")"), expr)
    for m in re.finditer(r"([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}", e):
        yield m.group(1), m.group(2)


def known_series():
    known = set()
    with open(os.path.join(os.path.dirname(__file__), "known-series.txt")) as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            if line:
                known.add(line)
    known |= {r["record"] for r in rules("record")}
    return known


def check_dashboards():
    problems = []
    known = known_series()
    uids, titles = {}, {}
    count = 0
    for f, dash in dashboards():
        count += 1
        for key, seen in (("uid", uids), ("title", titles)):
            v = dash.get(key)
            if not v:
                problems.append(f"{f}: no {key}")
            elif v in seen:
                problems.append(f"{f}: {key} {v!r} also in {seen[v]}")
            else:
                seen[v] = f
        tvars = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
        ds = tvars.get("datasource")
        if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            problems.append(f"{f}: no `datasource` variable of type datasource for prometheus")
        for v in ("job", "instance"):
            if v not in tvars:
                problems.append(f"{f}: no `{v}` variable")
        job_vars = {n for n in tvars if n == "job" or n.endswith("_job")}
        inst_vars = {n for n in tvars if n == "instance" or n.endswith("_instance")}
        for name, v in tvars.items():
            if v.get("type") == "query":
                vds = v.get("datasource", {})
                if not isinstance(vds, dict) or vds.get("uid") != "${datasource}":
                    problems.append(f"{f}: variable {name} does not use ${{datasource}}")
        ids = set()
        for p in panels(dash):
            title = p.get("title", "?")
            if p.get("type") == "row":
                continue
            if not p.get("title") or not p.get("description"):
                problems.append(f"{f}: panel {title!r} needs a title and a description")
            if p.get("id") in ids:
                problems.append(f"{f}: duplicate panel id {p.get('id')}")
            ids.add(p.get("id"))
            pds = p.get("datasource")
            if not isinstance(pds, dict) or pds.get("uid") != "${datasource}":
                problems.append(f"{f}: panel {title!r} does not use ${{datasource}}")
            if p.get("type") in DATA_PANELS:
                unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
                if not unit:
                    problems.append(f"{f}: panel {title!r} sets no unit")
            targets = p.get("targets", [])
            if p.get("type") in DATA_PANELS and not targets:
                problems.append(f"{f}: panel {title!r} has no query")
            for t in targets:
                expr = t.get("expr", "")
                tds = t.get("datasource")
                if tds is not None and (not isinstance(tds, dict) or tds.get("uid") != "${datasource}"):
                    problems.append(f"{f}: panel {title!r} target {t.get('refId')} does not use ${{datasource}}")
                for rng in re.findall(r"\b(?:rate|irate|increase)\s*\([^\[]*\[([^\]]*)\]", expr):
                    if rng != "$__rate_interval":
                        problems.append(f"{f}: panel {title!r}: range [{rng}] in a rate; use [$__rate_interval]")
                for name in sorted(metric_names(expr)):
                    if name not in known:
                        problems.append(f"{f}: panel {title!r} queries {name}, which nothing here emits")
                for name, matchers in selectors(expr):
                    if not any(re.search(rf'\bjob\s*=~?\s*"\${j}"', matchers) for j in job_vars):
                        problems.append(f"{f}: panel {title!r}: {name}{{{matchers}}} has no job=~\"$job\" filter")
                    if ":" not in name and not any(
                            re.search(rf'\binstance\s*=~?\s*"\${i}"', matchers) for i in inst_vars):
                        problems.append(f"{f}: panel {title!r}: {name}{{{matchers}}} has no instance filter")
                bare = metric_names(expr) - {n for n, _ in selectors(expr)}
                for name in sorted(bare):
                    problems.append(f"{f}: panel {title!r}: {name} without a label filter")
    if count != 4:
        problems.append(f"expected 4 dashboards, found {count}")
    prov = os.path.join(DEPLOY, "grafana", "provisioning")
    dsp = load_yaml(os.path.join(prov, "datasources", "prometheus.yml"))
    if not any(d.get("type") == "prometheus" for d in dsp.get("datasources", [])):
        problems.append("provisioning/datasources/prometheus.yml: no prometheus datasource")
    dbp = load_yaml(os.path.join(prov, "dashboards", "dashboards.yml"))
    if not dbp.get("providers"):
        problems.append("provisioning/dashboards/dashboards.yml: no provider")
    return problems


def panel_queries():
    """Every panel query with the dashboard variables substituted the way Grafana
    does for the "All" choice (regex .*) and $__rate_interval = 1m."""
    for f, dash in dashboards():
        for p in panels(dash):
            for t in p.get("targets", []):
                expr = t.get("expr", "")
                expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s")
                expr = expr.replace("$__range", "5m")
                expr = re.sub(r"\$\{?(\w+)\}?", ".*", expr)
                yield {"dashboard": f, "panel": p.get("title"), "refId": t.get("refId"), "expr": expr}


def check_compose():
    problems = []
    path = os.path.join(DEPLOY, "compose.yaml")
    doc = load_yaml(path)
    services = doc.get("services") or {}
    want = {"backend", "postgres", "redis", "postgres-exporter", "redis-exporter", "prometheus",
            "alertmanager", "grafana", "otel-collector", "node-exporter"}
    for s in sorted(want - set(services)):
        problems.append(f"compose.yaml: no service {s}")
    named = set((doc.get("volumes") or {}).keys())
    for name, svc in services.items():
        if "image" not in svc and "build" not in svc:
            problems.append(f"compose.yaml: service {name} has neither image nor build")
        if "build" in svc:
            b = svc["build"]
            ctx = b if isinstance(b, str) else b.get("context", ".")
            ctx_path = os.path.normpath(os.path.join(DEPLOY, ctx))
            if not os.path.isdir(ctx_path):
                problems.append(f"compose.yaml: {name}: build context {ctx} does not exist")
            elif isinstance(b, dict) and b.get("dockerfile"):
                if not os.path.isfile(os.path.join(ctx_path, b["dockerfile"])):
                    problems.append(f"compose.yaml: {name}: dockerfile {b['dockerfile']} does not exist")
        for dep in svc.get("depends_on") or []:
            if dep not in services:
                problems.append(f"compose.yaml: {name} depends on unknown service {dep}")
        for vol in svc.get("volumes") or []:
            src = vol.split(":")[0] if isinstance(vol, str) else vol.get("source")
            if src.startswith((".", "/")):
                full = os.path.normpath(os.path.join(DEPLOY, src))
                if not os.path.exists(full):
                    problems.append(f"compose.yaml: {name} mounts {src}, which does not exist")
            elif src not in named:
                problems.append(f"compose.yaml: {name} mounts undeclared volume {src}")
        image = svc.get("image", "")
        if image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
            problems.append(f"compose.yaml: {name}: image {image} is not pinned to a version")
        for port in svc.get("ports") or []:
            if not str(port).startswith("127.0.0.1:"):
                problems.append(f"compose.yaml: {name}: port {port} is not published on 127.0.0.1 only")
        for cfg in svc.get("configs") or []:
            problems.append(f"compose.yaml: {name}: configs are not used here ({cfg})")
    # Prometheus gets every rule file its configuration names, beside it.
    prom = load_yaml(os.path.join(DEPLOY, "prometheus", "prometheus.yml"))
    mounted = {str(v).split(":")[1] for v in services.get("prometheus", {}).get("volumes") or []}
    for rf in prom.get("rule_files") or []:
        if f"/etc/prometheus/{rf}" not in mounted:
            problems.append(f"compose.yaml: prometheus does not mount rule file {rf} at /etc/prometheus/{rf}")
    return problems


def check_openslo():
    """docs/slo/*.yaml: OpenSLO v1 documents; each SLO's target equals the rules' objective."""
    problems = []
    objectives = {}
    for r in rules("record"):
        if r["record"] == "slo:objective:ratio":
            objectives[r["labels"]["slo"]] = float(r["expr"].strip()[len("vector("):-1])
    slo_dir = os.path.join(ROOT, "docs", "slo")
    seen = set()
    for f in sorted(os.listdir(slo_dir)):
        if not f.endswith((".yaml", ".yml")):
            continue
        with open(os.path.join(slo_dir, f)) as fh:
            for doc in yaml.safe_load_all(fh):
                if doc.get("apiVersion") != "openslo/v1":
                    problems.append(f"{f}: apiVersion {doc.get('apiVersion')!r}, expected openslo/v1")
                if doc.get("kind") != "SLO":
                    continue
                name = doc["metadata"]["name"]
                seen.add(name)
                target = doc["spec"]["objectives"][0]["target"]
                if name not in objectives:
                    problems.append(f"{f}: SLO {name} has no slo:objective:ratio rule")
                elif abs(objectives[name] - target) > 1e-12:
                    problems.append(f"{f}: SLO {name} target {target} but the rule says {objectives[name]}")
    for name in sorted(set(objectives) - seen):
        problems.append(f"rule objective {name} has no OpenSLO definition in docs/slo/")
    return problems


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "fix-runbook-expressions":
        runbook_expression_rows(fix=True)
        return 0
    if what == "queries":
        for q in panel_queries():
            print(json.dumps(q))
        return 0
    fn = {"alerts": check_alerts, "runbooks": check_runbooks, "coverage": check_coverage,
          "dashboards": check_dashboards, "compose": check_compose, "openslo": check_openslo}.get(what)
    if fn is None:
        print(__doc__, file=sys.stderr)
        return 2
    problems = fn()
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
