#!/usr/bin/env bash
# The benchmark's own checks, quick enough for every run (the benchmark itself
# takes minutes on quiet cores and is run by hand): its scripts pass the shell
# linter, and the statistics behind its verdicts (bench/ratios.py) hold, their
# coverage included.
set -euo pipefail
# shellcheck source=../scripts/env.sh
source "$(dirname "$0")/../scripts/env.sh"
cd "$HELLO_ROOT"
echo "-- shellcheck: bench/*.sh"
shellcheck -x bench/run.sh bench/callgrind.sh bench/perf.sh bench/lib.sh bench/test.sh
echo "-- bench/ratios.py: the median's interval and the targets' verdicts"
(cd bench && python3 -m unittest -v test_ratios 2>&1)
