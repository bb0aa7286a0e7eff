#!/usr/bin/env bash
# Reliability matrix, long rows (docs/RELIABILITY.md); not part of the test
# command. Run on a quiet machine:
#   reliability/long.sh bench    # Kafka / OTLP down rows: req/s, p99, RSS vs telemetry off (~11 min)
#   reliability/long.sh soak     # 10 min at half the measured maximum rate (~11 min)
#   SOAK_MINUTES=3 reliability/long.sh soak   # at least 3: the first 2 are warm-up
#   TARGET=container reliability/long.sh soak   # the image under podman, restricted settings
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$HELLO_ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh

bench() {
  # Capacity (closed loop), then latency at the same offered load for every variant
  # (28 connections × 1 ms think time ≈ 20k req/s, under a third of the capacity).
  local variants="hello hello-kafka hello-kafka-down hello-kafka-flap hello-otlp hello-otlp-down hello-otlp-blackhole"
  VARIANTS=$variants bench/run.sh
  VARIANTS=$variants PACED_CONNECTIONS=28 bench/run.sh
}

soak() {
  local minutes=${SOAK_MINUTES:-10} target=${TARGET:-native} port admin
  # Globals: the EXIT trap runs after this function has returned.
  work="" ctr="" pid=""
  # 2 minutes of warm-up, then at least one to compare with.
  if ! [[ $minutes =~ ^[0-9]+$ ]] || [ "$minutes" -lt 3 ]; then
    echo "SOAK_MINUTES=$minutes: a whole number of minutes, at least 3 (2 are warm-up)"; exit 2
  fi
  command -v wrk >/dev/null || { echo "wrk missing: run scripts/install-tools.sh"; exit 1; }
  ./scripts/build-static.sh >/dev/null
  port=$(hello_free_port)
  admin=$(hello_free_port)   # probes and /metrics: never on the public port
  work=$(mktemp -d)
  trap 'kill $(jobs -p) 2>/dev/null || true; if [ -n "$ctr" ]; then hello_podman rm -f -t 0 "$ctr" >/dev/null; elif [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
  if [ "$target" = container ]; then
    ctr="hello-soak-$$"
    hello_podman run -d --name "$ctr" --pull never --network host --cpuset-cpus 0 \
      --read-only --cap-drop ALL --security-opt no-new-privileges --user 65532:65532 \
      --tmpfs /tmp:rw,size=64m,mode=1777 -e PORT="$port" -e ADMIN_PORT="$admin" "$HELLO_IMAGE" >/dev/null
    pid=$(hello_podman inspect -f '{{.State.Pid}}' "$ctr")
  else
    # stdout to a pipe drained by cat, as a container runtime reads it
    (PORT=$port ADMIN_PORT=$admin TMPDIR=$work taskset -c 0 "$HELLO_BIN" | taskset -c 1 cat >/dev/null) &
    for _ in $(seq 50); do pid=$(pid_listening_on "$port" "$HELLO_BIN" || true); [ -n "$pid" ] && break; sleep 0.1; done
    [ -n "$pid" ] || { echo "soak: the service did not start"; exit 1; }
  fi
  for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$admin/readyz" && break; sleep 0.1; done
  curl -sf -o /dev/null "http://127.0.0.1:$admin/readyz" || { echo "soak: the service did not become ready"; exit 1; }

  # 1. the maximum rate on this machine now (server on CPU 0, wrk on CPU 1)
  taskset -c 1 wrk -t1 -c32 -d3s "http://127.0.0.1:$port/" >/dev/null
  max=$(taskset -c 1 wrk -t1 -c32 -d10s "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {printf "%d", $2}')
  target_rate=$((max / 2))
  # wrk has no fixed-rate mode; each connection waits 1 ms after every response,
  # which fixes the offered rate at connections × (what one connection does).
  # What one connection does depends on the latency at that load: probe, then
  # correct once at the estimated connection count.
  printf 'function delay() return 1 end\n' >"$work/delay.lua"
  paced() { taskset -c 1 wrk -t1 -c"$1" -d5s -s "$work/delay.lua" "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {printf "%d", $2}'; }
  probe=$(paced 8)
  conns=$(( (target_rate * 8 + probe - 1) / probe ))
  got=$(paced "$conns")
  conns=$(( (target_rate * conns + got - 1) / got ))
  echo "soak ($target): maximum ${max} req/s; target ${target_rate} req/s with ${conns} connections, ${minutes} × 60 s"

  # RSS every second, in the background, for the whole run.
  (while kill -0 "$pid" 2>/dev/null; do
     awk -v t="$(date +%s)" '/^VmRSS/ {print t, $2}' "/proc/$pid/status"; sleep 1
   done >"$work/rss.txt") &
  printf 'minute\treq/s\tp50\tp99\terrors\trss_kib\n' >"$work/soak.tsv"
  for m in $(seq 1 "$minutes"); do
    out=$(taskset -c 1 wrk -t1 -c"$conns" -d60s --latency -s "$work/delay.lua" "http://127.0.0.1:$port/")
    rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%d", $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    errs=$(echo "$out" | awk '/Non-2xx|Socket errors|timeout/ {e = e $0 " "} END {print (e == "" ? "0" : e)}')
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    date +%s >>"$work/minute-ends.txt"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$rps" "$p50" "$p99" "$errs" "$rss" | tee -a "$work/soak.tsv"
  done
  python3 - "$work" "$max" "$target_rate" <<'PY'
import statistics, sys
work, maximum, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [l.split("\t") for l in open(f"{work}/soak.tsv").read().splitlines()[1:]]
ends = [int(x) for x in open(f"{work}/minute-ends.txt").read().split()]
samples = [tuple(map(int, l.split())) for l in open(f"{work}/rss.txt").read().splitlines() if l.strip()]
def us(v):
    n = float(v.rstrip("usm"))
    return n * 1000 if v.endswith("ms") else n if v.endswith("us") else n * 1e6
def in_minute(i):   # RSS samples taken during minute i (1-based)
    lo = ends[i - 2] if i > 1 else ends[0] - 60
    return [r for t, r in samples if lo < t <= ends[i - 1]]
# Warm-up = the first 2 minutes (allocator arenas and connection buffers reach
# their working size). Growth compares the highest RSS of minute 2 with the
# highest of the last minute: maxima, because RSS moves ±3 % within a minute as
# the allocator returns and takes pages.
base, last = max(in_minute(2)), max(in_minute(len(rows)))
growth = (last - base) / base * 100
p99 = [us(r[3]) for r in rows]
rates = [int(r[1]) for r in rows]
errors = [r for r in rows if r[4].strip() != "0"]
print(f"\nmaximum {maximum} req/s, target {target} req/s; achieved {min(rates)}..{max(rates)} req/s "
      f"({min(rates) / maximum * 100:.0f}..{max(rates) / maximum * 100:.0f} % of the maximum), "
      f"{sum(rates) * 60:,} requests")
print(f"RSS (sampled each second, {len(samples)} samples): highest in minute 2 (after warm-up) {base} KiB, "
      f"highest in minute {len(rows)} {last} KiB: growth {growth:+.1f} % (criterion < 5 %); "
      f"range over the run {min(r for _, r in samples)}..{max(r for _, r in samples)} KiB")
print(f"p99 per minute: {min(p99):.0f}..{max(p99):.0f} µs (median {statistics.median(p99):.0f} µs, max/min {max(p99) / min(p99):.2f}×)")
print(f"minutes with errors: {len(errors)}")
ok = growth < 5 and not errors
print("soak:", "criteria met" if ok else "CRITERIA NOT MET")
sys.exit(0 if ok else 1)
PY
}

case ${1:-} in
  bench) bench ;;
  soak) soak ;;
  *) echo "usage: $0 bench|soak"; exit 2 ;;
esac
