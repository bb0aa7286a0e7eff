#!/usr/bin/env bash
# Where a request's CPU time goes, kernel included, by thread: the real-time
# counterpart of bench/callgrind.sh. The service runs pinned as in bench/run.sh
# (CPU 0; wrk, the sinks and the stdout reader on CPU 1), `perf record -e
# cpu-clock` samples it during `wrk -c32` for SECONDS after a 2 s warm-up, and
# the samples are divided by wrk's completed requests: µs per request for each
# thread, split into the binary, the vDSO (clock reads) and the kernel.
#
#   bench/perf.sh [BIN] [lean|otlp|kafka] [SECONDS]
#   bench/perf.sh target/x86_64-unknown-linux-gnu/release/hello kafka 10
#
# The machine's noise moves these figures by several percent: compare two
# modes or two binaries one after the other, several times. Needs perf (apt
# install linux-perf) and, for kernel samples, root or
# kernel.perf_event_paranoid <= 1. For function names, build with line tables
# (see bench/callgrind.sh) and run `perf report -i` on the file this prints.
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$HELLO_ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh

BIN=$(realpath "${1:-$HELLO_BIN}")
MODE=${2:-lean}
SECONDS_=${3:-10}
for tool in perf taskset wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool missing (perf: apt install linux-perf; wrk: scripts/install-tools.sh)"; exit 1; }
done
[ -x "$BIN" ] || { echo "no binary at $BIN (scripts/build-static.sh builds it)"; exit 1; }

WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT
start_sink "$MODE" "$WORK" taskset -c 1 || exit $?

port=$(hello_free_port)
admin=$(hello_free_port)
# Its log lines go to a reader on the other CPU, as a container runtime's would.
env PORT="$port" ADMIN_PORT="$admin" TMPDIR="$WORK" SHUTDOWN_DRAIN_SECONDS=0 "${SINK_ENV[@]}" \
  taskset -c 0 "$BIN" 2>&1 | taskset -c 1 cat >/dev/null &
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$admin/readyz" && break; sleep 0.1; done
pid=$(pid_listening_on "$port" "$BIN") || { echo "the service did not start"; exit 1; }
taskset -c 1 wrk -t1 -c32 -d2s "http://127.0.0.1:$port/" >/dev/null   # warm-up, not sampled
perf record -q -e cpu-clock -F 4999 -p "$pid" -o "$WORK/perf.data" -- sleep "$SECONDS_" >"$WORK/perf.log" 2>&1 &
recorder=$!
requests=$(taskset -c 1 wrk -t1 -c32 -d"${SECONDS_}s" "http://127.0.0.1:$port/" | awk '/requests in/ {print $1}')
wait "$recorder" || { echo "perf record failed:"; cat "$WORK/perf.log"; exit 1; }
kill -TERM "$pid"

# Samples per thread name and object; a thread name may contain spaces, so the
# fields are separated by tabs.
perf report -i "$WORK/perf.data" --stdio -n --sort comm,dso --field-separator=$'\t' 2>/dev/null |
  grep -v '^#' | grep -v '^$' >"$WORK/report.tsv"
printf 'mode=%s requests=%s seconds=%s binary=%s\n' "$MODE" "$requests" "$SECONDS_" "$BIN"
python3 - "$WORK/report.tsv" "$requests" "$BIN" <<'PY'
import collections, os, sys
report, requests, binary = sys.argv[1], int(sys.argv[2]), os.path.basename(sys.argv[3])
hz = 4999
rows = collections.defaultdict(float)
for line in open(report):
    _, samples, comm, dso = line.rstrip("\n").split("\t")[:4]
    dso = dso.strip()
    where = "kernel" if dso == "[kernel.kallsyms]" else "vDSO" if dso == "[vdso]" else "user" if dso == binary else dso
    rows[(comm.strip(), where)] += int(samples) / hz * 1e6 / requests
print(f"{'thread':<20} {'where':<8} {'µs/request':>10}")
for (comm, where), us in sorted(rows.items(), key=lambda kv: -kv[1]):
    print(f"{comm:<20} {where:<8} {us:>10.3f}")
print(f"{'all':<20} {'':<8} {sum(rows.values()):>10.3f}")
PY
echo "samples: $WORK/perf.data (perf report -i it)"
