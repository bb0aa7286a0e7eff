#!/usr/bin/env bash
# Kafka sink against an independent broker (tansu) and consumer (kafka-python):
# see check.py for what is checked and README.md for how. Needs $HELLO_BIN
# (scripts/build-static.sh); installs the broker and the consumer when missing
# (install.sh, or waits for the copy scripts/test-all.sh started).
set -euo pipefail
# shellcheck source=../../scripts/env.sh
source "$(dirname "$0")/../../scripts/env.sh"
cd "$HELLO_ROOT"
[ -x "$HELLO_BIN" ] || { echo "kafka-broker: $HELLO_BIN missing: run scripts/build-static.sh"; exit 1; }
shellcheck -x tests/kafka-broker/test.sh tests/kafka-broker/install.sh
tests/kafka-broker/install.sh
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "-- $("$HELLO_CARGO_TOOLS/bin/tansu" --version 2>/dev/null || echo tansu) + kafka-python $(.tools/kafka/bin/python -c 'import kafka; print(kafka.__version__)') against $HELLO_BIN"
TANSU="$HELLO_CARGO_TOOLS/bin/tansu" .tools/kafka/bin/python tests/kafka-broker/check.py "$WORK"
