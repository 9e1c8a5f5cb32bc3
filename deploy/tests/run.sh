#!/usr/bin/env bash
# Checks of deploy/ and docs/runbooks, docs/slo (called by scripts/test):
#   the mixin renders to what is committed (rules, dashboards, Kubernetes resources, which are
#   validated), a second mixin configuration with its own tests, promtool check rules / check
#   config, promtool test rules (every alert both ways, burn-rate detection times), the
#   committed mutation report is current,
#   runbook links, alert annotations, Alertmanager config and routing (amtool),
#   Grafana dashboard lint, OpenSLO files, compose file, shellcheck of the scripts, a real
#   Alertmanager's inhibitions, pf-backup -> node_exporter -> Prometheus -> BackupMissing.
# Needs: promtool (prometheus), amtool (prometheus-alertmanager), jsonnet,
# prometheus-node-exporter, PostgreSQL for the backup check, python3 + python3-yaml
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

# The mixin: the rules and dashboards under deploy/ are its rendering with the default
# config (only the files it generates are compared: other rule files are not its own).
check "mixin: deploy/ is what deploy/mixin/render writes (no drift)" deploy/mixin/render --check --kubernetes deploy/kubernetes
check "Kubernetes / Prometheus Operator resources: CRD and core schemas, consistency" python3 deploy/kubernetes/validate.py
# shellcheck disable=SC2016 # the inner script's variables expand in the inner shell
check "the resource validator rejects an unknown field and a short grace period" bash -c '
  mkdir -p "$1/k8s" && cp deploy/kubernetes/*.yaml "$1/k8s/"
  sed -i "s/    interval: 15s/    intervall: 15s/" "$1/k8s/service-monitor.yaml"
  sed -i "s/terminationGracePeriodSeconds: [0-9]*/terminationGracePeriodSeconds: 1/" "$1/k8s/demo.yaml"
  out=$(python3 deploy/kubernetes/validate.py "$1/k8s") && exit 1
  grep -q "unknown field intervall" <<<"$out" && grep -q "terminationGracePeriodSeconds 1 is not above" <<<"$out"' _ "$work"
check "promtool check rules" promtool check rules "$P/recording.yml" "$P/alerts.yml"
check "promtool check config prometheus.yml" promtool check config "$P/prometheus.yml"
# The rule tests, two at a time (the SLO files take a minute or two each): started here,
# reported below.
slots=${PF_DEPLOY_JOBS:-2}
bg_names=()
bg() { # bg NAME COMMAND...: runs COMMAND in the background; `collect` reports it
  local i=${#bg_names[@]}
  while [ "$(jobs -rp | wc -l)" -ge "$slots" ]; do wait -n || true; done
  bg_names+=("$1")
  shift
  ("$@" >"$work/bg.$i.log" 2>&1; echo $? >"$work/bg.$i.rc") &
}
bg_result() { cat "$work/bg.$1.log"; return "$(cat "$work/bg.$1.rc")"; }
collect() {
  wait
  local i
  for i in "${!bg_names[@]}"; do check "${bg_names[$i]}" bg_result "$i"; done
  bg_names=()
}
for t in "$P"/tests/*.test.yml; do
  bg "promtool test rules $(basename "$t")" promtool test rules "$t"
done
# A second configuration (other job names, a cluster label, a 99.5 % success objective,
# another threshold and runbook site): renders, passes promtool check rules, its own rule
# tests and the SLO tests gen-slo-tests.py writes for it.
alt=$work/alt
mkdir -p "$alt/tests"
cp deploy/mixin/examples/checkout.test.yml "$alt/tests/"
check "mixin: renders with examples/checkout.jsonnet" \
  deploy/mixin/render --config deploy/mixin/examples/checkout.jsonnet --out "$alt"
check "mixin (checkout.jsonnet): promtool check rules" promtool check rules "$alt/prometheus/recording.yml" "$alt/prometheus/alerts.yml"
check "mixin (checkout.jsonnet): SLO tests generated for it" \
  python3 "$P/tests/gen-slo-tests.py" --config deploy/mixin/examples/checkout.jsonnet --rules "$alt" --out "$alt/slo" --slos api-success
bg "mixin (checkout.jsonnet): promtool test rules checkout.test.yml" promtool test rules "$alt/tests/checkout.test.yml"
bg "mixin (checkout.jsonnet): promtool test rules of its success SLO (99.5 %)" promtool test rules "$alt/slo/slo-success.test.yml"
collect
# shellcheck disable=SC2016 # the inner script's variables expand in the inner shell
check "SLO tests and detection-times.md are what gen-slo-tests.py writes" bash -c '
  python3 "$1/tests/gen-slo-tests.py" --out "$2/gen" || exit 1
  for f in "$2"/gen/*; do diff -u "$1/tests/$(basename "$f")" "$f" || exit 1; done' _ "$P" "$work"
check "every alert has severity, summary, description, runbook_url" python3 deploy/tests/check.py alerts
check "every alert fires in a test and stays silent in another" python3 deploy/tests/check.py coverage
check "every runbook_url resolves to a file and heading in docs/runbooks" python3 deploy/tests/check.py runbooks
# The rule tests must be able to fail: deploy/tests/mutate applies one-line mutations to
# every rule and runs the tests (too long for every run: its last result is committed).
check "mutation report is current (deploy/tests/mutate; the rules and tests it ran against)" \
  python3 deploy/tests/mutate --check-report

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
check "Alertmanager (real): each inhibition mutes what it should and nothing else" deploy/tests/inhibitions-e2e
check "Alertmanager inhibits symptoms while BackendServiceDown fires (rule present)" \
  python3 -c '
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
ok = any("alertname = \"BackendServiceDown\"" in r.get("source_matchers", []) and r.get("equal") == ["job"]
         for r in cfg["inhibit_rules"])
sys.exit(0 if ok else 1)' "$AM"

check "Grafana dashboards: lint, known series, provisioning" python3 deploy/tests/check.py dashboards
check "compose.yaml: well-formed, mounts only existing files" python3 deploy/tests/check.py compose
check "docs/slo: OpenSLO documents parse and match the rules" python3 deploy/tests/check.py openslo
if command -v shellcheck >/dev/null 2>&1; then
  check "shellcheck deploy scripts" shellcheck deploy/tests/run.sh deploy/local-stack deploy/tests/backup-metrics-e2e deploy/tests/inhibitions-e2e
fi
check "backup metrics: pf-backup -> node_exporter textfile -> Prometheus: BackupMissing fires, resolves, fires when the file is gone" \
  deploy/tests/backup-metrics-e2e

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
