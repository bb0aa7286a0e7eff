#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is missing, builds each
# Rust profile once (debug for `cargo test`, the static release binary for
# everything that runs the real artefact) and runs every suite.
# Each suite is a script that exits non-zero on failure; all suites run, and the
# last line is the summary.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
./scripts/install-tools.sh || { echo "install-tools failed"; exit 1; }
source scripts/env.sh

# tansu, the independent Kafka broker of the last suite, is compiled from
# crates.io on a fresh machine (about ten minutes of both cores). Started now
# at the lowest priority, it takes the CPU the other suites leave idle (image,
# cluster and fault suites mostly wait); the suite's own installer waits for it.
mkdir -p "$HELLO_TOOL_CACHE"
nice -n 19 tests/kafka-broker/install.sh >"$HELLO_TOOL_CACHE/kafka-broker-install.log" 2>&1 &
broker_install=$!

suites=(
  scripts/check-references.py  # every link and repository path in docs and comments exists
  bench/test.sh                # the benchmark's scripts (shellcheck) and the statistics of its verdicts
  scripts/test-rust.sh         # fmt, clippy, unit + integration tests (real HTTP, OTLP receiver)
  scripts/build-static.sh      # the static release binary the next suites share
  scripts/check-try-it.sh      # the README's "Try it" commands against the binary, outputs compared
  tests/image/test.sh          # Dockerfile: build with buildah, inspect, run hardened with podman
  scripts/supply-chain.sh      # cargo-deny, embedded crate list, CycloneDX SBOM, trivy on the image
  k8s/test.sh                  # kustomize render, schema, checkov, PSS restricted, podman kube play
  observability/test.sh        # rules (promtool), dashboards, live Prometheus against the service
  charts/test.sh               # Helm chart: lint, schema, toggles validated, = the kustomize prod render, podman kube play
  fluentd/test.sh              # manifests, config, CRI contract against the real service's lines
  jenkins-lib/test.sh          # shared-library unit tests, Jenkinsfile stub run, CodeNarc
  reliability/test.sh          # fault matrix fast rows, native and restricted container
  tests/kafka-broker/test.sh   # the Kafka sink against an independent broker (tansu) and consumer
)
passed=0 failed=0 failed_names=()
for s in "${suites[@]}"; do
  if [ ! -x "$s" ]; then echo "== $s: missing"; failed=$((failed + 1)); failed_names+=("$s"); continue; fi
  echo "== $s"
  start=$SECONDS
  if "$s"; then
    passed=$((passed + 1)); echo "== $s: ok ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1)); failed_names+=("$s"); echo "== $s: FAILED ($((SECONDS - start)) s)"
  fi
done
# Done by now unless the broker suite stopped before its install.
wait "$broker_install" 2>/dev/null
[ "$failed" -eq 0 ] || echo "failed suites: ${failed_names[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
