#!/usr/bin/env bash
# Load benchmark: the release `hello` (all telemetry on: JSON access log to a
# pipe, metrics, spans; no OTLP endpoint) against a bare-axum baseline built
# from the same crates, side by side in one run, rounds alternating.
# Server pinned to CPU 0, wrk to CPU 1. Reports req/s, latency p50/p99,
# server CPU µs per request, RSS after load, and ratios to the baseline; then
# hello's RSS after 1× and MEMORY_FACTOR× the load in one process, start to
# ready (bench/start_to_ready.py), the binary and image sizes, and the
# targets of bench/README.md, each met or missed.
#
#   bench/run.sh                    # 3 rounds × 10 s per variant, then 100 s for memory
#   ROUNDS=5 DURATION=20 bench/run.sh
#   MEMORY_FACTOR=0 STARTS=3 bench/run.sh   # no long memory run, fewer timed starts
#   VARIANTS="baseline hello" bench/run.sh
#   HELLO_O3_BIN=/path/to/opt-level-3/hello VARIANTS="baseline hello hello-o3" bench/run.sh
#   HELLO_PREV_BIN=/path/to/an/earlier/hello VARIANTS="baseline hello hello-prev" bench/run.sh
#   HELLO_PREV_BIN=... VARIANTS="baseline hello-kafka hello-prev-kafka hello-otlp hello-prev-otlp" bench/run.sh
#                                       # before / after a change, in the same run
#   VARIANTS="baseline hello-kafka hello-kafka+KAFKA_PROP_LINGER_MS=5" bench/run.sh
#                                       # a variant with settings of its own (after `+`)
#   PACED_CONNECTIONS=28 bench/run.sh   # latency below saturation: each connection waits
#                                       # 1 ms after every response (~20k req/s offered)
# Results also go to bench/results/<timestamp>.md (git-ignored).
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$HELLO_ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
# Saturation (closed loop) by default: req/s is the capacity, and p99 there is mostly
# queueing. Paced: the same offered load for every variant, so p99 shows what a
# variant adds to a request rather than how long the queue is.
PACED_CONNECTIONS=${PACED_CONNECTIONS:-}
VARIANTS=${VARIANTS:-"baseline hello hello-otlp hello-kafka hello-nolog"}
# RSS after DURATION and after MEMORY_FACTOR × DURATION of load (0 or 1: skipped).
MEMORY_FACTOR=${MEMORY_FACTOR:-10}
# Starts timed for "start to ready".
STARTS=${STARTS:-10}
command -v wrk >/dev/null || { echo "wrk missing: run scripts/install-tools.sh"; exit 1; }
command -v taskset >/dev/null || { echo "taskset missing (util-linux)"; exit 1; }

./scripts/build-static.sh >/dev/null
# The baseline as a user builds a bare axum service: cargo's default release
# profile (opt-level 3, no LTO, 16 codegen units), not hello's size-tuned one.
BASELINE_TARGET="$HELLO_ROOT/target/bench-baseline"
CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_RELEASE_LTO=false \
CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_STRIP=none \
CARGO_PROFILE_RELEASE_PANIC=unwind CARGO_TARGET_DIR="$BASELINE_TARGET" \
  cargo build --release --locked --features bench-baseline --bin hello-baseline >/dev/null 2>&1
BASELINE_BIN="$BASELINE_TARGET/release/hello-baseline"
CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
WRK_ARGS=()
MODE="closed loop (saturation)"
if [ -n "$PACED_CONNECTIONS" ]; then
  CONNECTIONS=$PACED_CONNECTIONS
  printf 'function delay() return 1 end\n' >"$WORK/paced.lua"
  WRK_ARGS=(-s "$WORK/paced.lua")
  MODE="paced: each connection waits 1 ms after every response"
fi

# variant → command line (env + binary); add rows here. A variant may carry
# settings after `+`: `hello-kafka+KAFKA_PROP_LINGER_MS=5+KAFKA_PROP_COMPRESSION_TYPE=none`
# runs hello-kafka with those variables (start_variant runs in its own
# subshell, so they reach only that server).
start_variant() {
  local name=${1%%+*} port=$2 admin=$3 setting settings
  if [[ $1 == *+* ]]; then
    IFS=+ read -ra settings <<<"${1#*+}"
    for setting in "${settings[@]}"; do
      [[ $setting == [A-Z_]*=* ]] || { echo "variant $1: '$setting' is not NAME=value" >&2; return 1; }
      export "${setting?}"
    done
  fi
  case $name in
    baseline) PORT=$port taskset -c 0 "$BASELINE_BIN" ;;
    hello) PORT=$port ADMIN_PORT=$admin TMPDIR=$WORK SHUTDOWN_DRAIN_SECONDS=0 taskset -c 0 "$HELLO_BIN" ;;
    # Same binary, access log filtered out: shows what the log line costs.
    hello-nolog) PORT=$port ADMIN_PORT=$admin TMPDIR=$WORK SHUTDOWN_DRAIN_SECONDS=0 RUST_LOG=warn taskset -c 0 "$HELLO_BIN" ;;
    # Every log line also produced to Kafka (mock cluster), and to a broker that is down.
    hello-kafka) PORT=$port ADMIN_PORT=$admin TMPDIR=$WORK SHUTDOWN_DRAIN_SECONDS=0 KAFKA_BROKERS=$BOOTSTRAP taskset -c 0 "$HELLO_BIN" ;;
    # The same code at opt-level 3 (set HELLO_O3_BIN to such a build): the profile trade-off.
    hello-o3) PORT=$port ADMIN_PORT=$admin TMPDIR=$WORK SHUTDOWN_DRAIN_SECONDS=0 taskset -c 0 "$HELLO_O3_BIN" ;;
    # An earlier build of hello (set HELLO_PREV_BIN), for before / after ratios.
    hello-prev) PORT=$port ADMIN_PORT=$admin TMPDIR=$WORK SHUTDOWN_DRAIN_SECONDS=0 taskset -c 0 "$HELLO_PREV_BIN" ;;
    # The earlier build with a sink, for before / after ratios of a sink's cost.
    hello-prev-kafka) PORT=$port ADMIN_PORT=$admin TMPDIR=$WORK SHUTDOWN_DRAIN_SECONDS=0 KAFKA_BROKERS=$BOOTSTRAP taskset -c 0 "$HELLO_PREV_BIN" ;;
    hello-prev-otlp) PORT=$port ADMIN_PORT=$admin TMPDIR=$WORK SHUTDOWN_DRAIN_SECONDS=0 OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_OK taskset -c 0 "$HELLO_PREV_BIN" ;;
    hello-kafka-down) PORT=$port ADMIN_PORT=$admin TMPDIR=$WORK SHUTDOWN_DRAIN_SECONDS=0 KAFKA_BROKERS=$DEAD_BROKER taskset -c 0 "$HELLO_BIN" ;;
    # The broker is lost and comes back every 3 s during the run (a second mock cluster).
    hello-kafka-flap) PORT=$port ADMIN_PORT=$admin TMPDIR=$WORK SHUTDOWN_DRAIN_SECONDS=0 KAFKA_BROKERS=$FLAP_BOOTSTRAP taskset -c 0 "$HELLO_BIN" ;;
    # Every span exported over OTLP/HTTP: to a healthy sink, to a closed port, to a black hole.
    hello-otlp) PORT=$port ADMIN_PORT=$admin TMPDIR=$WORK SHUTDOWN_DRAIN_SECONDS=0 OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_OK taskset -c 0 "$HELLO_BIN" ;;
    hello-otlp-down) PORT=$port ADMIN_PORT=$admin TMPDIR=$WORK SHUTDOWN_DRAIN_SECONDS=0 OTEL_EXPORTER_OTLP_ENDPOINT=$DEAD_OTLP taskset -c 0 "$HELLO_BIN" ;;
    hello-otlp-blackhole) PORT=$port ADMIN_PORT=$admin TMPDIR=$WORK SHUTDOWN_DRAIN_SECONDS=0 OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP_HOLE OTEL_EXPORTER_OTLP_TIMEOUT=2000 taskset -c 0 "$HELLO_BIN" ;;
    *) echo "unknown variant $name" >&2; return 1 ;;
  esac
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Ticks the hypervisor gave CPU $1 to someone else (steal, /proc/stat): on a
# shared virtual machine this, not the code, is what makes rounds differ.
steal_ticks() { awk -v c="cpu$1" '$1 == c {print $9}' /proc/stat; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# wrk prints latency like 123.45us / 1.23ms / 1.01s: normalise to µs.
to_us() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n*1000; else if (v ~ /s$/) print n*1000000; else print n }'; }

# The Kafka rows need a Kafka-protocol broker: librdkafka's mock cluster, the
# program examples/mock_kafka.rs (pinned to the load generator's CPU). Started
# here, not in a $(...) subshell, so that the EXIT trap's `jobs -p` stops it.
BOOTSTRAP="" FLAP_BOOTSTRAP="" OTLP_OK="" OTLP_HOLE=""
# (hello-kafka with settings after `+` counts as hello-kafka.)
if [[ " $VARIANTS " == *" hello-kafka"[\ +]* || " $VARIANTS " == *" hello-prev-kafka"[\ +]* || " $VARIANTS " == *" hello-kafka-flap "* ]]; then
  MOCK_KAFKA=$(mock_kafka_bin)
fi
if [[ " $VARIANTS " == *" hello-kafka"[\ +]* || " $VARIANTS " == *" hello-prev-kafka"[\ +]* ]]; then
  KAFKA_MOCK_SECONDS=3600 taskset -c 1 "$MOCK_KAFKA" >"$WORK/mock.log" 2>&1 &
  BOOTSTRAP=$(await_line "$WORK/mock.log" KAFKA_MOCK_BOOTSTRAP)
fi
if [[ " $VARIANTS " == *" hello-kafka-flap "* ]]; then
  # The broker goes down and comes back every 3 s.
  KAFKA_MOCK_SECONDS=3600 KAFKA_MOCK_FLAP=3 taskset -c 1 "$MOCK_KAFKA" >"$WORK/flap.log" 2>&1 &
  FLAP_BOOTSTRAP=$(await_line "$WORK/flap.log" KAFKA_MOCK_BOOTSTRAP)
fi
if [[ " $VARIANTS " == *" hello-otlp"[\ +]* || " $VARIANTS " == *" hello-prev-otlp"[\ +]* ]]; then
  taskset -c 1 python3 bench/otlp_sink.py ok >"$WORK/otlp-ok.log" 2>&1 &
  OTLP_OK=$(await_line "$WORK/otlp-ok.log" OTLP_SINK_ENDPOINT)
fi
if [[ " $VARIANTS " == *" hello-otlp-blackhole "* ]]; then
  taskset -c 1 python3 bench/otlp_sink.py blackhole >"$WORK/otlp-hole.log" 2>&1 &
  OTLP_HOLE=$(await_line "$WORK/otlp-hole.log" OTLP_SINK_ENDPOINT)
fi
DEAD_BROKER="127.0.0.1:$(hello_free_port)"   # nothing listens there
DEAD_OTLP="http://127.0.0.1:$(hello_free_port)"

# Delivered Kafka log events so far (0 when the variant has no sink), scraped from
# the admin port (hello serves /metrics there only; nothing listens there for the
# baseline, hence `|| true` under pipefail).
kafka_sent() {
  { curl -s "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } |
    awk '/^hello_log_events_total\{/ && /outcome="sent"/ {s += $2} END {print s + 0}'
}

# launch VARIANT: starts it pinned to CPU 0 on free ports and waits until it is
# ready; sets port, admin, pid (the server) and server_job (its pipeline).
launch() {
  local v=$1 bin ready_url
  port=$(hello_free_port)
  admin=$(hello_free_port)
  # The service's stdout goes to a pipe drained by cat, as a container runtime would.
  start_variant "$v" "$port" "$admin" | taskset -c 1 cat >/dev/null &
  server_job=$!
  sleep 0.3
  case $v in
    baseline) bin=$BASELINE_BIN ;;
    hello-o3) bin=$HELLO_O3_BIN ;;
    hello-prev*) bin=$HELLO_PREV_BIN ;;
    *) bin=$HELLO_BIN ;;
  esac
  pid=""
  for _ in $(seq 100); do
    pid=$(pid_listening_on "$port" "$bin" || true)
    [ -n "$pid" ] && break
    sleep 0.05
  done
  [ -n "$pid" ] || { echo "variant $v did not start"; exit 1; }
  # Ready: hello's /readyz on its admin port; the baseline has only `/`, and an
  # earlier build may predate the admin port.
  case $v in
    baseline | hello-prev*) ready_url="http://127.0.0.1:$port/" ;;
    *) ready_url="http://127.0.0.1:$admin/readyz" ;;
  esac
  for _ in $(seq 50); do curl -sf -o /dev/null "$ready_url" && break; sleep 0.1; done
  curl -sf -o /dev/null "$ready_url" || { echo "variant $v did not become ready ($ready_url)"; exit 1; }
}

results="$WORK/results.tsv"
for round in $(seq 1 "$ROUNDS"); do
  for v in $VARIANTS; do
    launch "$v"
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/" >/dev/null   # warm-up
    k0=$(kafka_sent "$admin")
    t0=$(cpu_ticks "$pid")
    st0=$(steal_ticks 0) st1=$(steal_ticks 1)
    out=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${WRK_ARGS[@]}" "http://127.0.0.1:$port/")
    t1=$(cpu_ticks "$pid")
    st0=$(( $(steal_ticks 0) - st0 )) st1=$(( $(steal_ticks 1) - st1 ))
    sleep 0.2   # let the last deliveries report
    k1=$(kafka_sent "$admin")
    rss=$(rss_kib "$pid")
    kill -TERM "$pid"; wait "$server_job" 2>/dev/null || true
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(to_us "$(echo "$out" | awk '$1=="50%" {print $2}')")
    p99=$(to_us "$(echo "$out" | awk '$1=="99%" {print $2}')")
    errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
    cpu_us=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')
    # Share of its pinned core the server used: near 100 % means the server,
    # not the load generator, set the rate.
    core=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v s="$DURATION" 'BEGIN { printf "%.0f", d / hz / s * 100 }')
    steal=$(awk -v a="$st0" -v b="$st1" -v hz="$CLK_TCK" -v s="$DURATION" 'BEGIN { printf "%.0f\t%.0f", a / hz / s * 100, b / hz / s * 100 }')
    kafka_eps=$(awk -v a="$k0" -v b="$k1" -v d="$DURATION" 'BEGIN { printf "%.0f", (b - a) / d }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$round" "$rps" "$p50" "$p99" "$cpu_us" "$rss" "$kafka_eps" "$core" "$steal" >>"$results"
    echo "round $round $v: $rps req/s, p50 ${p50}µs, p99 ${p99}µs, ${cpu_us} µs CPU/req, server core ${core} %, RSS ${rss} KiB, Kafka ${kafka_eps} events/s, steal ${steal/$'\t'/ % \/ } % ${errs}"
  done
done

# Memory: one hello process under the same load for DURATION, then for
# MEMORY_FACTOR × DURATION in all; RSS after each (flat = the longer run did not grow it).
mem_1x="" mem_nx=""
if [ "$MEMORY_FACTOR" -gt 1 ] && [[ " $VARIANTS " == *" hello "* ]]; then
  launch hello
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "${WRK_ARGS[@]}" "http://127.0.0.1:$port/" >/dev/null
  mem_1x=$(rss_kib "$pid")
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$((DURATION * (MEMORY_FACTOR - 1)))s" "${WRK_ARGS[@]}" "http://127.0.0.1:$port/" >/dev/null
  mem_nx=$(rss_kib "$pid")
  kill -TERM "$pid"; wait "$server_job" 2>/dev/null || true
  echo "memory: RSS ${mem_1x} KiB after ${DURATION} s of load, ${mem_nx} KiB after $((DURATION * MEMORY_FACTOR)) s"
fi
# Start to ready (no exporters), and the sizes.
start_ms=""
if [ "$STARTS" -gt 0 ]; then   # STARTS=0: not measured
  start_ms=$(python3 bench/start_to_ready.py "$HELLO_BIN" "$STARTS" | awk -F= '/^START_TO_READY_MS=/ {print $2}')
fi
bin_bytes=$(stat -c %s "$HELLO_BIN")
image_bytes="" image_rev=""
if hello_podman image exists "$HELLO_IMAGE" 2>/dev/null; then
  image_bytes=$(hello_podman image inspect --format '{{.Size}}' "$HELLO_IMAGE")
  image_rev=$(hello_podman image inspect --format '{{index .Labels "org.opencontainers.image.revision"}}' "$HELLO_IMAGE")
fi

mkdir -p bench/results
report="bench/results/$(date -u +%Y%m%dT%H%M%SZ).md"
python3 - "$results" "$VARIANTS" "$ROUNDS" "$DURATION" "$CONNECTIONS" "$MODE" \
  "$MEMORY_FACTOR" "$mem_1x" "$mem_nx" "$start_ms" "$bin_bytes" "$image_bytes" "$image_rev" \
  "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$HELLO_ROOT/bench" >"$report" <<'PY'
import statistics, sys, platform
sys.path.insert(0, sys.argv[15])
from ratios import LEVEL, median_interval, verdict as target_verdict
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
variants, rounds, duration, conns, mode = sys.argv[2].split(), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
factor, mem_1x, mem_nx, start_ms, bin_bytes, image_bytes, image_rev, head = sys.argv[7:15]
print(f"Command: `VARIANTS=\"{' '.join(variants)}\" ROUNDS={rounds} DURATION={duration} CONNECTIONS={conns} MEMORY_FACTOR={factor} bench/run.sh` at {head}.\n")
med = {}
for v in variants:
    r = [x for x in rows if x[0] == v]
    med[v] = [statistics.median(float(x[i]) for x in r) for i in range(2, 11)]
base = med.get("baseline")
# Each round's req/s against the baseline's in the same round (run next to it):
# the spread shows how much the machine moved between rounds.
paired = {}
if base:
    brps = {x[1]: float(x[2]) for x in rows if x[0] == "baseline"}
    for v in variants:
        paired[v] = sorted(float(x[2]) / brps[x[1]] for x in rows if x[0] == v and x[1] in brps)
def interval_text(values):
    iv = median_interval(values)
    return f"[{iv[0]:.2f}–{iv[1]:.2f}]" if iv else "[too few rounds]"
print(f"Medians of {rounds} rounds × {duration} s, {conns} connections, {mode}, server on CPU 0, wrk on CPU 1 ({platform.node()}).\n")
print(f"| variant | req/s | p50 µs | p99 µs | CPU µs/req | server core % | steal % CPU 0 / 1 | RSS after load MiB | Kafka events/s | req/s vs baseline | per round: median [{LEVEL:.0%} interval] (range) | CPU/req vs baseline |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for v in variants:
    rps, p50, p99, cpu, rss, keps, core, st0, st1 = med[v]
    ratio = f"{rps / base[0]:.2f}×" if base else "-"
    cratio = f"{cpu / base[3]:.2f}×" if base else "-"
    pr = paired.get(v) or []
    pratio = f"{statistics.median(pr):.2f}× {interval_text(pr)} ({pr[0]:.2f}–{pr[-1]:.2f})" if pr else "-"
    print(f"| {v} | {rps:,.0f} | {p50:.0f} | {p99:.0f} | {cpu:.2f} | {core:.0f} | {st0:.0f} / {st1:.0f} | {rss / 1024:.1f} | {keps:,.0f} | {ratio} | {pratio} | {cratio} |")
stolen = [x for x in rows if float(x[9]) >= 5 or float(x[10]) >= 5]
if stolen:
    print(f"\n{len(stolen)} of {len(rows)} measurements lost 5 % or more of a core to steal (the hypervisor ran something else): this run's ratios carry that noise; rerun on a quieter machine, or with more ROUNDS.")
unsaturated = [v for v in variants if med[v][6] < 90]
if unsaturated:
    print(f"\nNot saturated (server core below 90 %: the load generator or the machine set the rate, req/s ratios are not capacity): {', '.join(unsaturated)}")
if "hello" in med:
    h = med["hello"]
    print("\n| variant vs hello (Kafka and OTLP off) | req/s | p99 | RSS |")
    print("|---|---|---|---|")
    for v in variants:
        if v.startswith(("hello-kafka", "hello-otlp")):
            print(f"| {v} | {med[v][0] / h[0]:.2f}× | {med[v][2] / h[2]:.2f}× | {med[v][4] / 1024:.1f} MiB |")

# The targets (bench/README.md), each met or missed, from this run. A ratio is
# decided by its rounds (bench/ratios.py): met or missed only when the
# interval of the rounds' median is on one side of the goal.
def verdict(ok):
    return "met" if ok else "**missed**"
print("\n| target | measured | goal | |")
print("|---|---|---|---|")
for v, goal in (("hello", 0.85), ("hello-otlp", 0.75), ("hello-kafka", 0.80)):
    if base and paired.get(v):
        pr = paired[v]
        said = target_verdict(pr, goal)
        shown = said if said != "missed" else "**missed**"
        print(f"| `{v}` req/s vs baseline | {med[v][0] / base[0]:.2f}×; per round {statistics.median(pr):.2f}× {interval_text(pr)} | ≥ {goal:.2f}× | {shown} |")
if mem_1x and mem_nx:
    a, b = int(mem_1x) / 1024, int(mem_nx) / 1024
    print(f"| RSS after the load, after {factor}× the load | {a:.1f} MiB, {b:.1f} MiB | ≤ 10 MiB, flat (≤ +10 %) | {verdict(max(a, b) <= 10 and b <= a * 1.1)} |")
if start_ms:
    print(f"| start to ready (`/readyz` 200), no exporters | {float(start_ms):.1f} ms | ≤ 30 ms | {verdict(float(start_ms) <= 30)} |")
print(f"| static binary | {int(bin_bytes):,} bytes | | |")
if image_bytes:
    print(f"| image (`$HELLO_IMAGE`, revision {image_rev[:12]}) | {int(image_bytes):,} bytes | ≤ 8,000,000 bytes | {verdict(int(image_bytes) <= 8_000_000)} |")
else:
    print("| image | not built here (`scripts/build-image.sh`) | ≤ 8,000,000 bytes | |")
PY
cat "$report"
echo "(saved to $report)"
