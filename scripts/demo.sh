#!/usr/bin/env bash
# A local demo of the observability stack in one command, no cluster needed:
#   - hello from $HELLO_BIN (scripts/build-static.sh builds it when missing) with
#     FAULT_INJECTION=true, on 8080/8081 when free;
#   - a real Prometheus (Debian's, installed by scripts/install-tools.sh) on 9090
#     when free, loading the repository's own recording and alerting rules (every
#     PrometheusRule kustomize renders from observability/, merged the way
#     observability/test.sh merges them) and scraping hello's admin port with the
#     job the ServiceMonitor defines;
#   - a traffic generator (the observability suite's), healthy for 30 s;
#   - a fault drill: injected 5xx and panics until the shipped, unmodified
#     HelloErrorBudgetBurnFast alert goes pending and then fires (about 2.5 min).
# Every step is printed as it happens, with the URLs to open. Ctrl-C stops
# everything it started and removes its temporary files.
# Options (environment): see the header of scripts/demo.py.
# Checked by hand (minutes long, so not in the test command): with
# DEMO_EXIT_AFTER_FIRING=1 under `timeout 600`, the alert went pending 4 s and
# fired 124 s into the drill (2 min 36 s in all); Ctrl-C sent to the demo's
# process group at 45 s ended it in 0.4 s with no process or temporary file left.
set -euo pipefail
# shellcheck source=env.sh
source "$(dirname "$0")/env.sh"
cd "$HELLO_ROOT"
for tool in prometheus kubectl; do
  command -v "$tool" >/dev/null || { echo "demo: $tool missing: run scripts/install-tools.sh (as root)"; exit 1; }
done
[ -x "$HELLO_BIN" ] || scripts/build-static.sh
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hello-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

kubectl kustomize observability/prometheus >"$WORK/prometheus.yaml"
kubectl kustomize observability/otel-collector >"$WORK/otel-collector.yaml"
python3 observability/lib/promrules.py extract "$WORK/prometheus.yaml,$WORK/otel-collector.yaml" "$WORK/rules.yaml" \
  observability/RUNBOOK.md observability/prometheus/rules,observability/otel-collector >/dev/null
# The driver runs in its own session, so Ctrl-C reaches only this shell, which
# asks the driver to stop (SIGTERM): it stops hello and Prometheus in order and
# says so (a terminal's SIGINT would hit them all at once, mid-request). Then the
# EXIT trap removes the temporary files.
setsid python3 scripts/demo.py "$WORK" "$WORK/rules.yaml" "$WORK/prometheus.yaml" &
driver=$!
trap 'kill -TERM "$driver" 2>/dev/null || true' INT TERM
rc=0
wait "$driver" || rc=$?
while kill -0 "$driver" 2>/dev/null; do wait "$driver" || rc=$?; done   # a trapped signal ends `wait` early
exit "$rc"
