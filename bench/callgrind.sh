#!/usr/bin/env bash
# Instructions per request, user space, all threads (the log writer, the Kafka
# client's and the span exporter's threads included), counted by callgrind:
# the machine-independent figure of bench/README.md. Counting starts after
# start-up and a warm-up, runs for `wrk -t1 -c8 -d8s` on `/` and one second
# after it (the sinks finish their batches), and is divided by the requests
# wrk completed.
#
#   bench/callgrind.sh [BIN] [lean|otlp|kafka]
#   bench/callgrind.sh target/x86_64-unknown-linux-gnu/release/hello kafka
#
# BIN defaults to the shipped static binary. A stripped binary gives the total;
# for where it goes, build with line tables
# (CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_PROFILE_RELEASE_STRIP=false
# scripts/build-static.sh, into another CARGO_TARGET_DIR) and read the output
# file this prints with callgrind_annotate --inclusive=yes.
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$HELLO_ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh

BIN=$(realpath "${1:-$HELLO_BIN}")
MODE=${2:-lean}
for tool in valgrind callgrind_control wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool missing (valgrind: apt install valgrind; wrk: scripts/install-tools.sh)"; exit 1; }
done
[ -x "$BIN" ] || { echo "no binary at $BIN (scripts/build-static.sh builds it)"; exit 1; }

WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT
start_sink "$MODE" "$WORK" || exit $?

port=$(hello_free_port)
admin=$(hello_free_port)
env PORT="$port" ADMIN_PORT="$admin" TMPDIR="$WORK" SHUTDOWN_DRAIN_SECONDS=0 "${SINK_ENV[@]}" \
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out" \
  "$BIN" >/dev/null 2>"$WORK/valgrind.log" &
# The valgrind process itself (not the job's shell), found by its output file.
vg=""
for _ in $(seq 50); do
  vg=$(pgrep -f -- "--callgrind-out-file=$WORK/callgrind.out" | head -1 || true)
  [ -n "$vg" ] && break
  sleep 0.1
done
[ -n "$vg" ] || { echo "valgrind did not start"; cat "$WORK/valgrind.log"; exit 1; }
for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$admin/readyz" && break; sleep 0.2; done
curl -sf -o /dev/null "http://127.0.0.1:$admin/readyz" || { echo "not ready"; cat "$WORK/valgrind.log"; exit 1; }
wrk -t1 -c8 -d2s "http://127.0.0.1:$port/" >/dev/null   # warm-up, not counted
# valgrind puts its control pipes in $TMPDIR, which is the service's here.
TMPDIR="$WORK" callgrind_control -i on "$vg" >/dev/null
requests=$(wrk -t1 -c8 -d8s "http://127.0.0.1:$port/" | awk '/requests in/ {print $1}')
sleep 1
TMPDIR="$WORK" callgrind_control -i off "$vg" >/dev/null
kill -TERM "$vg"
while kill -0 "$vg" 2>/dev/null; do sleep 0.2; done
total=$(awk '/^totals:/ {print $2; exit}' "$WORK/callgrind.out")
printf 'mode=%s requests=%s instructions=%s per_request=%.0f\nbinary=%s\noutput=%s\n' \
  "$MODE" "$requests" "$total" "$(awk -v t="$total" -v r="$requests" 'BEGIN {print t / r}')" "$BIN" "$WORK/callgrind.out"
