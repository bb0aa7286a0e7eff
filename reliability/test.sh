#!/usr/bin/env bash
# Reliability matrix, fast rows (docs/RELIABILITY.md): each fault scenario run
# against the static release binary, then again against the image under podman
# with the restricted settings (row 8). Every target gets its own PORT and
# ADMIN_PORT; probes and scrapes go to the admin port. Needs
# scripts/build-static.sh and tests/image/test.sh to have run (test-all.sh
# orders them so).
# The long rows (soak, benchmark ratios) are reliability/long.sh.
set -uo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$HELLO_ROOT" || exit 1

# The scripts of the matrix and of the benchmark it reuses are checked by tools
# first (no other suite covers them).
shellcheck -x reliability/test.sh reliability/long.sh bench/run.sh bench/lib.sh ||
  { echo "FAIL shellcheck"; exit 1; }
python3 -m py_compile reliability/harness.py bench/otlp_sink.py || { echo "FAIL python syntax"; exit 1; }

[ -x "$HELLO_BIN" ] || { echo "missing $HELLO_BIN: run scripts/build-static.sh"; exit 1; }
command -v slowhttptest >/dev/null || { echo "slowhttptest missing: run scripts/install-tools.sh"; exit 1; }
# The mock Kafka cluster (examples/mock_kafka.rs, a debug build: test-rust.sh
# builds it with the tests; built here only when missing).
# shellcheck source=bench/lib.sh
source bench/lib.sh
mock_kafka_bin >/dev/null || { echo "cannot build examples/mock_kafka.rs"; exit 1; }
# 10 000 client connections from one process.
ulimit -n 20000 2>/dev/null || true

targets=(native)
if hello_podman image exists "$HELLO_IMAGE"; then
  targets+=(container)
else
  echo "FAIL image $HELLO_IMAGE missing: run tests/image/test.sh first"; exit 1
fi

failed=0 ran=0
for target in "${targets[@]}"; do
  for scenario in rolling-restart tmp-full hostile otlp-blackhole kafka-down \
    scratch-abuse admin-probes parser-errors drain-close oversized-put shutdown-backlog; do
    ran=$((ran + 1))
    start=$SECONDS
    python3 reliability/harness.py --target "$target" "$scenario" || failed=$((failed + 1))
    echo "($scenario, $target: $((SECONDS - start)) s)"
  done
done
echo "reliability: $ran scenario runs, $failed failed, $SECONDS s"
[ "$failed" -eq 0 ]
