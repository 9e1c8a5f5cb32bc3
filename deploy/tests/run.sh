#!/usr/bin/env bash
# Checks of deploy/ and docs/runbooks, docs/slo (called by scripts/test):
#   promtool check rules / check config, promtool test rules (every alert both ways,
#   burn-rate detection times), mutations of the rules that the tests must catch,
#   runbook links, alert annotations, Alertmanager config and routing (amtool),
#   Grafana dashboard lint, OpenSLO files, compose file, shellcheck of the scripts.
# Needs: promtool (prometheus), amtool (prometheus-alertmanager), python3 + python3-yaml
# and the shellcheck tool. Prints one line per check and a final "deploy checks: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

passed=0
failed=0
out=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$out" "$work"' EXIT

check() { # check NAME COMMAND...: runs COMMAND, prints ok/FAIL with its output on failure
  local name=$1
  shift
  if "$@" >"$out" 2>&1; then
    passed=$((passed + 1))
    printf 'ok    %s\n' "$name"
  else
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$out" | head -60
  fi
}

fails() { # fails COMMAND...: succeeds when COMMAND fails
  ! "$@"
}

P=deploy/prometheus
AM=deploy/alertmanager/alertmanager.yml

check "promtool check rules" promtool check rules "$P/recording.yml" "$P/alerts.yml"
check "promtool check config prometheus.yml" promtool check config "$P/prometheus.yml"
# pgBackRest alerts (their own file, from scripts/backup/pf-pgbackrest's metrics)
check "promtool check rules pgbackrest-alerts.yml" promtool check rules "$P/pgbackrest-alerts.yml"
check "promtool test rules pgbackrest.test.yml (pgBackRest alerts)" promtool test rules "$P/tests/pgbackrest.test.yml"
for t in "$P"/tests/*.test.yml; do
  check "promtool test rules $(basename "$t")" promtool test rules "$t"
done
check "SLO tests are what gen-slo-tests.py writes" \
  bash -c "python3 $P/tests/gen-slo-tests.py '$work' && diff -u $P/tests/slo.test.yml '$work/slo.test.yml' && diff -u $P/tests/slo-long.test.yml '$work/slo-long.test.yml'"
check "every alert has severity, summary, description, runbook_url" python3 deploy/tests/check.py alerts
check "every alert fires in a test and stays silent in another" python3 deploy/tests/check.py coverage
check "every runbook_url resolves to a file and heading in docs/runbooks" python3 deploy/tests/check.py runbooks

# The rule tests must be able to fail: each mutation of alerts.yml (a threshold, a
# `for`, a selector) must make alerts.test.yml or slo.test.yml fail.
mutate() { # mutate SED-EXPRESSION TESTFILE: the test fails against the mutated rules
  mkdir -p "$work/m/tests"
  cp "$P/recording.yml" "$work/m/"
  sed "$1" "$P/alerts.yml" >"$work/m/alerts.yml"
  cmp -s "$P/alerts.yml" "$work/m/alerts.yml" && { echo "mutation $1 changed nothing"; return 1; }
  if [ "$2" = slo.test.yml ]; then
    # The success SLO's cases only: a third of the run time, the same rules.
    python3 -c '
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
doc["tests"] = [t for t in doc["tests"] if t["name"].startswith("SuccessSLOBudgetBurn")]
yaml.safe_dump(doc, open(sys.argv[2], "w"), sort_keys=False)' "$P/tests/$2" "$work/m/tests/$2"
  else
    cp "$P/tests/$2" "$work/m/tests/"
  fi
  fails promtool test rules "$work/m/tests/$2"
}
check "mutation: HighErrorRate threshold 2 % -> 1.8 % is caught" mutate 's/^          > 0.02$/          > 0.018/' alerts.test.yml
check "mutation: BackendServiceDown for 2m -> 1m is caught" mutate '0,/for: 2m/s//for: 1m/' alerts.test.yml
check "mutation: BackendServiceDown without absent() is caught" mutate 's/ or absent(up{job="pf-backend"})//' alerts.test.yml
check "mutation: DatabaseHighConnections 80 % -> 79 % is caught" mutate 's/^          > 0.8$/          > 0.79/' alerts.test.yml
check "mutation: RedisHighMemory without the maxmemory guard is caught" mutate 's/(redis_memory_max_bytes > 0)/redis_memory_max_bytes/' alerts.test.yml
check "mutation: ProcessHighMemory > -> >= is caught" mutate 's/> 1073741824/>= 1073741824/' alerts.test.yml
check "mutation: SLO page 14.4x -> 12x is caught" mutate 's/> (14.4 \* /> (12 * /' slo.test.yml
check "mutation: SLO page without the 6h/30m pair is caught" mutate 's/> (6 \* /> (60 * /' slo.test.yml
check "mutation: SLO page for 1m -> 3m is caught" mutate '/alert: .*SLOBudgetBurn/,/for:/s/for: 1m/for: 3m/' slo.test.yml

# Alertmanager: the config parses, and each label set reaches the right receiver.
check "amtool check-config" amtool check-config "$AM"
route() { # route RECEIVER LABEL=VALUE...
  local want=$1
  shift
  amtool config routes test --config.file="$AM" --verify.receivers="$want" "$@"
}
check "route: severity=page -> page" route page alertname=HighErrorRate severity=page job=pf-backend
check "route: SLO page -> page" route page alertname=SuccessSLOBudgetBurn severity=page slo=api-success
check "route: severity=ticket -> ticket" route ticket alertname=SlowRequests severity=ticket
check "route: Watchdog -> watchdog" route watchdog alertname=Watchdog severity=none
check "route: no severity -> ticket (default)" route ticket alertname=Unknown
# shellcheck disable=SC2016 # the inner script's variables expand in the inner shell
check "route: every alert of alerts.yml reaches the receiver of its severity" bash -c '
  set -e
  python3 - "$1" <<"PY" | while read -r name sev want; do
import sys, yaml
for g in yaml.safe_load(open(sys.argv[1]))["groups"]:
    for r in g["rules"]:
        sev = r["labels"]["severity"]
        want = {"page": "page", "ticket": "ticket"}.get(sev, "watchdog")
        print(r["alert"], sev, want)
PY
    amtool config routes test --config.file="$2" --verify.receivers="$want" alertname="$name" severity="$sev" >/dev/null \
      || { echo "$name (severity $sev) does not reach $want"; exit 1; }
  done' _ "$P/alerts.yml" "$AM"
check "Alertmanager inhibits symptoms while BackendServiceDown fires (rule present)" \
  python3 -c '
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
ok = any("alertname = \"BackendServiceDown\"" in r.get("source_matchers", []) and r.get("equal") == ["job"]
         for r in cfg["inhibit_rules"])
sys.exit(0 if ok else 1)' "$AM"

check "dashboards are what gen-dashboards.py writes" \
  bash -c "python3 deploy/grafana/gen-dashboards.py '$work/dash' && diff -r deploy/grafana/dashboards '$work/dash'"
check "Grafana dashboards: lint, known series, provisioning" python3 deploy/tests/check.py dashboards
check "compose.yaml: well-formed, mounts only existing files" python3 deploy/tests/check.py compose
check "docs/slo: OpenSLO documents parse and match the rules" python3 deploy/tests/check.py openslo
if command -v shellcheck >/dev/null 2>&1; then
  check "shellcheck deploy scripts" shellcheck deploy/tests/run.sh deploy/local-stack
fi

# The stack without containers: starts, every target up, then nothing left behind
# (state directory removed, every port it printed free again). Needs the demo binary
# (scripts/test has built it) and the local PostgreSQL and Redis.
demo_bin=${PF_DEMO_BIN:-${CARGO_TARGET_DIR:-target}/debug/pf-demo}
local_stack_check() {
  local log="$work/local-stack.log" state port
  PF_DEMO_BIN="$demo_bin" PF_STACK_PORT_BASE=${PF_STACK_PORT_BASE:-20000} deploy/local-stack --check >"$log" 2>&1 || {
    cat "$log"
    return 1
  }
  cat "$log"
  state=$(sed -n 's/.*(state in \([^;]*\);.*/\1/p' "$log")
  if [ -z "$state" ] || [ -e "$state" ]; then
    echo "state directory ${state:-?} left behind"
    return 1
  fi
  while read -r port; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "port $port still open after the stack stopped"
      return 1
    fi
  done < <(grep -o '127\.0\.0\.1:[0-9]*' "$log" | cut -d: -f2 | sort -u)
}
if [ -x "$demo_bin" ]; then
  check "local-stack: starts from Debian's packages, all targets up, leaves nothing behind" local_stack_check
else
  echo "skip  local-stack (no demo binary at $demo_bin; scripts/test builds it)"
fi

echo "deploy checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
