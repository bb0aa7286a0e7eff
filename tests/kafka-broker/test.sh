#!/usr/bin/env bash
# Kafka sink against an independent broker (tansu) and consumer (kafka-python):
# see check.py for what is checked and README.md for why it is not in the test
# command. Needs $HELLO_BIN (scripts/build-static.sh). Installs, when missing:
# kafka-python in .tools/kafka, and tansu built from crates.io into the tool
# cache outside the work tree (about half an hour of compiling on a busy 2-core
# machine: README.md).
set -euo pipefail
# shellcheck source=../../scripts/env.sh
source "$(dirname "$0")/../../scripts/env.sh"
cd "$HELLO_ROOT"
TANSU_VERSION=0.6.0
[ -x "$HELLO_BIN" ] || { echo "kafka-broker: $HELLO_BIN missing: run scripts/build-static.sh"; exit 1; }
shellcheck -x tests/kafka-broker/test.sh
if ! cargo install --list --root "$HELLO_CARGO_TOOLS" | grep -qx "tansu v$TANSU_VERSION:"; then
  echo "kafka-broker: cargo install tansu@$TANSU_VERSION (memory storage: --features dynostore)"
  cargo install --quiet --locked --root "$HELLO_CARGO_TOOLS" ${HELLO_INSTALL_JOBS:+-j "$HELLO_INSTALL_JOBS"} \
    --features dynostore "tansu@$TANSU_VERSION"
fi
if [ ! -x .tools/kafka/bin/python ] || ! .tools/kafka/bin/python -c 'import kafka, lz4' 2>/dev/null; then
  echo "kafka-broker: pip: kafka-python"
  python3 -m venv .tools/kafka
  .tools/kafka/bin/pip install -q --disable-pip-version-check kafka-python==3.0.12 lz4==4.4.5
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "-- tansu $TANSU_VERSION + kafka-python $(.tools/kafka/bin/python -c 'import kafka; print(kafka.__version__)') against $HELLO_BIN"
TANSU="$HELLO_CARGO_TOOLS/bin/tansu" .tools/kafka/bin/python tests/kafka-broker/check.py "$WORK"
