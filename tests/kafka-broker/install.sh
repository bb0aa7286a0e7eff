#!/usr/bin/env bash
# Installs what tests/kafka-broker/test.sh needs, when missing: tansu, built from
# crates.io into the tool cache outside the work tree (once per machine, about
# ten minutes of compiling on a 2-core machine: README.md), and kafka-python
# with lz4 in .tools/kafka. scripts/test-all.sh starts it in the background at
# the start of a run; two at once are safe: the second waits for the first
# (flock) and then finds everything installed.
set -euo pipefail
# shellcheck source=../../scripts/env.sh
source "$(dirname "$0")/../../scripts/env.sh"
cd "$HELLO_ROOT"
mkdir -p "$HELLO_TOOL_CACHE"
exec 9>"$HELLO_TOOL_CACHE/kafka-broker-install.lock"
flock 9
# dynostore: tansu's in-memory storage.
hello_cargo_tool tansu 0.6.0 --features dynostore
if [ ! -x .tools/kafka/bin/python ] || ! .tools/kafka/bin/python -c 'import kafka, lz4' 2>/dev/null; then
  echo "kafka-broker: pip: kafka-python"
  python3 -m venv .tools/kafka
  .tools/kafka/bin/pip install -q --disable-pip-version-check kafka-python==3.0.12 lz4==4.4.5
fi
