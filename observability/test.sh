#!/usr/bin/env bash
# Observability suite: manifests (render, schema, CRD schemas, checkov), Prometheus rules
# (promtool check + unit tests, one firing and one silent case per alert), Grafana
# dashboards (lint, PromQL parse, @grafana/schema type-check), and the live proof: the
# real hello binary scraped by a real Prometheus on loopback. Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=../scripts/env.sh
source ../scripts/env.sh
ROOT="$HELLO_ROOT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
K8S_VERSIONS=(1.29.0 1.31.0 1.33.0)   # the Kubernetes versions these manifests are validated against
failed=0
run() { # run NAME CMD...: print the check, its output, and ok/FAIL
  local name=$1; shift
  echo "-- $name"
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failed=$((failed + 1)); fi
}

# ---------- style
run "yamllint (repo config)" yamllint -s -c "$ROOT/.yamllint.yaml" . ../grafana
run "shellcheck test.sh" shellcheck -x test.sh
run "jsonnetfmt --test (mixin/)" jsonnetfmt --test mixin/*.jsonnet mixin/*.libsonnet mixin/*/*.libsonnet

# ---------- the mixin: rules and dashboards are generated from one contract
run "generated rules and dashboards are what mixin/ generates now (mixin/generate.py --check)" python3 mixin/generate.py --check
contract_json() { jsonnet mixin/contract.jsonnet >"$WORK/contract.json" && echo "  $(wc -c <"$WORK/contract.json") bytes"; }
run "the contract as data (mixin/contract.jsonnet)" contract_json

# ---------- manifests
render() {
  mkdir -p "$WORK/render"
  for c in prometheus metrics-server otel-collector; do kubectl kustomize "$c" >"$WORK/render/$c.yaml" || return 1; done
  kubectl kustomize ../grafana >"$WORK/render/grafana.yaml" || return 1
  grep -c '^kind:' "$WORK"/render/*.yaml | sed 's/^/  /; s/:/: resources: /'
}
run "kustomize render (prometheus, metrics-server, otel-collector, grafana)" render

validate() {
  local v f out rc=0
  for v in "${K8S_VERSIONS[@]}"; do
    for f in "$WORK"/render/*.yaml; do
      out=$(kubernetes-validate -k "$v" --strict - <"$f" 2>&1) || { echo "$out" | grep -v '^INFO'; rc=1; }
      # It only warns on unknown kinds: the only kinds allowed without a schema are the
      # prometheus-operator CRDs, which validate_crds checks.
      if echo "$out" | grep -i "couldn't find schema" | grep -viE 'servicemonitor|prometheusrule|podmonitor'; then rc=1; fi
    done
    echo "  Kubernetes $v: $(cat "$WORK"/render/*.yaml | grep -c '^kind:') resources checked"
  done
  return $rc
}
run "kubernetes-validate --strict (${K8S_VERSIONS[*]})" validate
run "CRD schemas (ServiceMonitor, PrometheusRule) from observability/schemas/crds" \
  python3 lib/crds.py "$ROOT/observability/schemas/crds" "$WORK"/render/*.yaml

checkov_scan() {
  local d out rc=0
  for d in . ../grafana; do
    out=$(checkov -d "$d" --framework kubernetes kustomize secrets --skip-download --compact --quiet 2>&1) || rc=1
    echo "  $d:"
    # grafana/ holds only generated ConfigMaps, for which checkov has no checks (empty output).
    echo "$out" | grep -E 'scan results|Passed checks|Check:|FAILED|File:' | sed 's/^/    /' || echo "    no applicable checks"
    if echo "$out" | grep -qE 'Failed checks: [1-9]'; then rc=1; fi
  done
  return $rc
}
run "checkov: 0 failed (observability/, grafana/)" checkov_scan
run "OpenTelemetry Collector config structure" python3 lib/otelconfig.py otel-collector/config.yaml
run "collector: own metrics (:8888) scraped by a ServiceMonitor; OTLP exporter TLS matches the backend placeholder" \
  python3 lib/manifests.py collector "$WORK/render/otel-collector.yaml" otel-collector/config.yaml
run "metrics-server: tag + digest, version labels agree, kubelet certificates verified" \
  python3 lib/manifests.py metrics-server "$WORK/render/metrics-server.yaml"
selector_label() {
  kubectl kustomize ../fluentd/overlays/active-active >"$WORK/render-fluentd.yaml" || return 1
  python3 lib/manifests.py selector "$ROOT" "$WORK"/render/*.yaml "$WORK/render-fluentd.yaml"
}
run "Prometheus selector label: one component sets it, every ServiceMonitor/PodMonitor/PrometheusRule has it" selector_label
scrape_target() {
  kubectl kustomize ../k8s/overlays/prod >"$WORK/render-k8s.yaml" || return 1
  python3 lib/manifests.py scrape "$WORK/render/prometheus.yaml" "$WORK/render-k8s.yaml"
}
run "ServiceMonitor hello selects the workload's headless admin Service and its admin container port" scrape_target

# ---------- Prometheus rules
run "rules: extract every PrometheusRule, metadata and runbook sections" \
  python3 lib/promrules.py extract "$WORK/render/prometheus.yaml,$WORK/render/otel-collector.yaml" "$WORK/rules.yaml" \
    RUNBOOK.md prometheus/rules,otel-collector
run "burn-rate alerts quote the windows their expressions use" python3 lib/promrules.py windows "$WORK/rules.yaml"
run "promtool check rules" promtool check rules "$WORK/rules.yaml"
promtool_test() {
  mkdir -p "$WORK/unit" && cp "$WORK/rules.yaml" "$WORK/unit/" && \
    python3 lib/promrules.py render-tests "$WORK/contract.json" "$WORK/unit" prometheus/tests/*.test.yaml && \
    promtool test rules "$WORK"/unit/*.test.yaml
}
run "promtool test rules (prometheus/tests/*.test.yaml, job/namespace/workload/runbook from the contract)" promtool_test
# The same tests against rules generated from a changed contract: they pass only if no
# test (and no rule) spells the job, namespace, workload or runbook base itself.
follow_contract() {
  local alt='{job: "web", namespace: "shop", workload: "storefront", runbookBase: "https://git.example.com/acme/hello/-/blob/main", fluentd+: {namespace: "logs"}}'
  local a="$WORK/alt" rules
  mkdir -p "$a/unit" && python3 mixin/generate.py --out "$a" --override "$alt" >/dev/null || return 1
  jsonnet --tla-code "override=$alt" mixin/contract.jsonnet >"$a/contract.json" || return 1
  rules=$(printf '%s,' "$a"/observability/prometheus/rules/*.yaml)"$a/observability/otel-collector/prometheusrule.yaml"
  python3 lib/promrules.py extract "$rules" "$a/unit/rules.yaml" RUNBOOK.md "$a/observability/prometheus/rules,$a/observability/otel-collector" || return 1
  if grep -qE 'job="hello"|namespace="hello"|your-org|"logging"' "$a/unit/rules.yaml" "$a"/grafana/dashboards/*.json; then
    echo "  a generated file still names the shipped job, namespace, fluentd namespace or runbook base"; return 1
  fi
  echo "  rules and dashboards generated with $alt: $(grep -c 'job="web"' "$a/unit/rules.yaml") lines select job=\"web\""
  python3 lib/promrules.py render-tests "$a/contract.json" "$a/unit" prometheus/tests/*.test.yaml && \
    promtool test rules "$a"/unit/*.test.yaml | grep -c SUCCESS | sed 's/^/  promtool: SUCCESS for each of /; s/$/ test files/'
  [ "${PIPESTATUS[0]}" -eq 0 ]
}
run "promtool tests follow the contract (pass against rules and dashboards generated with another job, namespace, workload, fluentd namespace, runbook base)" follow_contract
run "every alert has a firing and a silent test" python3 lib/promrules.py coverage "$WORK/rules.yaml" prometheus/tests/*.test.yaml
contract() {
  if [ ! -x "$HELLO_BIN" ]; then echo "  $HELLO_BIN missing: build it with scripts/build-static.sh"; return 1; fi
  mkdir -p "$WORK/contract"
  python3 lib/contract.py "$WORK/contract.json" "$WORK/rules.yaml" ../grafana/dashboards "$WORK/render/prometheus.yaml" "$WORK/contract"
}
run "contract: the real binary exports what mixin/config.libsonnet declares; every rule and dashboard query names an exported, recorded or listed external metric" contract

# ---------- dashboards
run "dashboards: uids stable and unique, panel ids unique, variables, runbook links" \
  python3 lib/dashboards.py lint ../grafana/dashboards RUNBOOK.md
dash_promql() {
  python3 lib/dashboards.py promql ../grafana/dashboards "$WORK/dashboard-queries.yaml" && \
    promtool check rules "$WORK/dashboard-queries.yaml"
}
run "dashboards: every PromQL expression parses (promtool)" dash_promql
typecheck() {
  # Pinned in ../grafana/package.json + package-lock.json; installed only when missing.
  if [ ! -x ../grafana/node_modules/.bin/tsc ] || [ ! -d ../grafana/node_modules/@grafana/schema ]; then
    (cd ../grafana && npm ci --no-audit --no-fund --loglevel=error) || return 1
  fi
  mkdir -p "$WORK/ts" && ln -sfn "$PWD/../grafana/node_modules" "$WORK/ts/node_modules"
  python3 lib/dashboards.py typescript ../grafana/dashboards "$WORK/ts/dashboards.ts" || return 1
  echo "  @grafana/schema $(node -p 'require("../grafana/node_modules/@grafana/schema/package.json").version'), typescript $(../grafana/node_modules/.bin/tsc --version)"
  (cd "$WORK/ts" && "$PWD/node_modules/.bin/tsc" --strict --noEmit --target es2022 --module esnext --moduleResolution bundler dashboards.ts)
}
run "dashboards: type-check against @grafana/schema (satisfies Dashboard)" typecheck

# ---------- live proof
live() {
  if [ ! -x "$HELLO_BIN" ]; then echo "  $HELLO_BIN missing: build it with scripts/build-static.sh"; return 1; fi
  python3 lib/promrules.py fast-variant "$WORK/rules.yaml" HelloErrorBudgetBurnFast 5s "$WORK/fast.yaml" || return 1
  mkdir -p "$WORK/live"
  python3 lib/live.py "$WORK/live" "$WORK/rules.yaml" "$WORK/fast.yaml" "$WORK/render/prometheus.yaml" ../grafana/dashboards
}
run "live: real Prometheus scraping the real hello (rules, alerts, dashboard queries)" live

echo "observability: $failed check(s) failed"
[ "$failed" -eq 0 ]
