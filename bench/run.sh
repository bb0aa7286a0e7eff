#!/usr/bin/env bash
# Load benchmark: the release `hello` (all telemetry on: JSON access log to a
# pipe, metrics, spans; no OTLP endpoint) against a bare-axum baseline built
# from the same crates, side by side in one run, rounds alternating.
# Server pinned to CPU 0, wrk to CPU 1. Reports req/s, latency p50/p99,
# server CPU µs per request, RSS after load, and ratios to the baseline.
#
#   bench/run.sh                    # 3 rounds × 10 s per variant
#   ROUNDS=5 DURATION=20 bench/run.sh
#   VARIANTS="baseline hello" bench/run.sh
# Results also go to bench/results/<timestamp>.md (git-ignored).
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$HELLO_ROOT"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
VARIANTS=${VARIANTS:-"baseline hello hello-nolog"}
command -v wrk >/dev/null || { echo "wrk missing: run scripts/install-tools.sh"; exit 1; }
command -v taskset >/dev/null || { echo "taskset missing (util-linux)"; exit 1; }

./scripts/build-static.sh >/dev/null
./scripts/build-static.sh --features bench-baseline --bin hello-baseline >/dev/null
BASELINE_BIN="$(dirname "$HELLO_BIN")/hello-baseline"
CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# variant → command line (env + binary); add rows here.
start_variant() {
  local name=$1 port=$2
  case $name in
    baseline) PORT=$port taskset -c 0 "$BASELINE_BIN" ;;
    hello) PORT=$port TMPDIR=$WORK SHUTDOWN_DRAIN_SECONDS=0 taskset -c 0 "$HELLO_BIN" ;;
    # Same binary, access log filtered out: shows what the log line costs.
    hello-nolog) PORT=$port TMPDIR=$WORK SHUTDOWN_DRAIN_SECONDS=0 RUST_LOG=warn taskset -c 0 "$HELLO_BIN" ;;
    *) echo "unknown variant $name" >&2; return 1 ;;
  esac
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# wrk prints latency like 123.45us / 1.23ms / 1.01s: normalise to µs.
to_us() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n*1000; else if (v ~ /s$/) print n*1000000; else print n }'; }

results="$WORK/results.tsv"
for round in $(seq 1 "$ROUNDS"); do
  for v in $VARIANTS; do
    port=$(hello_free_port)
    # The service's stdout goes to a pipe drained by cat, as a container runtime would.
    start_variant "$v" "$port" | taskset -c 1 cat >/dev/null &
    sleep 0.3
    pid=$(pgrep -n -f -- "$(if [ "$v" = baseline ]; then echo "$BASELINE_BIN"; else echo "$HELLO_BIN"; fi)")
    for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/" >/dev/null   # warm-up
    t0=$(cpu_ticks "$pid")
    out=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/")
    t1=$(cpu_ticks "$pid")
    rss=$(rss_kib "$pid")
    kill -TERM "$pid"; wait 2>/dev/null || true
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(to_us "$(echo "$out" | awk '$1=="50%" {print $2}')")
    p99=$(to_us "$(echo "$out" | awk '$1=="99%" {print $2}')")
    errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
    cpu_us=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$round" "$rps" "$p50" "$p99" "$cpu_us" "$rss" >>"$results"
    echo "round $round $v: $rps req/s, p50 ${p50}µs, p99 ${p99}µs, ${cpu_us} µs CPU/req, RSS ${rss} KiB ${errs}"
  done
done

mkdir -p bench/results
report="bench/results/$(date -u +%Y%m%dT%H%M%SZ).md"
python3 - "$results" "$VARIANTS" "$ROUNDS" "$DURATION" "$CONNECTIONS" >"$report" <<'PY'
import statistics, sys, platform
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
variants, rounds, duration, conns = sys.argv[2].split(), sys.argv[3], sys.argv[4], sys.argv[5]
med = {}
for v in variants:
    r = [x for x in rows if x[0] == v]
    med[v] = [statistics.median(float(x[i]) for x in r) for i in range(2, 7)]
base = med.get("baseline")
print(f"Medians of {rounds} rounds × {duration} s, {conns} connections, server on CPU 0, wrk on CPU 1 ({platform.node()}).\n")
print("| variant | req/s | p50 µs | p99 µs | CPU µs/req | RSS after load MiB | req/s vs baseline | CPU/req vs baseline |")
print("|---|---|---|---|---|---|---|---|")
for v in variants:
    rps, p50, p99, cpu, rss = med[v]
    ratio = f"{rps / base[0]:.2f}×" if base else "-"
    cratio = f"{cpu / base[3]:.2f}×" if base else "-"
    print(f"| {v} | {rps:,.0f} | {p50:.0f} | {p99:.0f} | {cpu:.2f} | {rss / 1024:.1f} | {ratio} | {cratio} |")
PY
cat "$report"
echo "(saved to $report)"
