#!/usr/bin/env bash
# Reliability matrix, long rows (docs/RELIABILITY.md); not part of the test
# command. Run on a quiet machine:
#   reliability/long.sh bench    # Kafka / OTLP down rows: req/s, p99, RSS vs telemetry off (~11 min)
#   reliability/long.sh soak     # 10 min at half the measured maximum rate (~11 min)
#   SOAK_MINUTES=3 reliability/long.sh soak
#   TARGET=container reliability/long.sh soak   # the image under podman, restricted settings
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$HELLO_ROOT"

bench() {
  # Capacity (closed loop), then latency at the same offered load for every variant
  # (28 connections × 1 ms think time ≈ 20k req/s, under a third of the capacity).
  local variants="hello hello-kafka hello-kafka-down hello-kafka-flap hello-otlp hello-otlp-down hello-otlp-blackhole"
  VARIANTS=$variants bench/run.sh
  VARIANTS=$variants PACED_CONNECTIONS=28 bench/run.sh
}

soak() {
  local minutes=${SOAK_MINUTES:-10} target=${TARGET:-native} port pid work ctr=""
  command -v wrk >/dev/null || { echo "wrk missing: run scripts/install-tools.sh"; exit 1; }
  ./scripts/build-static.sh >/dev/null
  port=$(hello_free_port)
  work=$(mktemp -d)
  trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "$ctr" ] && hello_podman rm -f -t 0 "$ctr" >/dev/null; rm -rf "$work"' EXIT
  if [ "$target" = container ]; then
    ctr="hello-soak-$$"
    hello_podman run -d --name "$ctr" --pull never --network host --cpuset-cpus 0 \
      --read-only --cap-drop ALL --security-opt no-new-privileges --user 65532:65532 \
      --tmpfs /tmp:rw,size=64m,mode=1777 -e PORT="$port" "$HELLO_IMAGE" >/dev/null
    pid=$(hello_podman inspect -f '{{.State.Pid}}' "$ctr")
  else
    # stdout to a pipe drained by cat, as a container runtime reads it
    (PORT=$port TMPDIR=$work taskset -c 0 "$HELLO_BIN" | taskset -c 1 cat >/dev/null) &
    for _ in $(seq 50); do pid=$(pgrep -n -f -- "^$HELLO_BIN\$" || true); [ -n "$pid" ] && break; sleep 0.1; done
  fi
  for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break; sleep 0.1; done

  # 1. the maximum rate on this machine now (server on CPU 0, wrk on CPU 1)
  taskset -c 1 wrk -t1 -c32 -d3s "http://127.0.0.1:$port/" >/dev/null
  max=$(taskset -c 1 wrk -t1 -c32 -d10s "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {printf "%d", $2}')
  target_rate=$((max / 2))
  # wrk has no fixed-rate mode; each connection waits 1 ms after every response,
  # so connections ≈ rate / 1000 × (1 + latency in ms). Latency here is ~0.1 ms.
  conns=$(( (target_rate * 11 / 10 + 999) / 1000 ))
  printf 'function delay() return 1 end\n' >"$work/delay.lua"
  echo "soak ($target): maximum ${max} req/s; target ${target_rate} req/s with ${conns} connections, ${minutes} × 60 s"
  printf 'minute\treq/s\tp50_us\tp99_us\terrors\trss_kib\n' >"$work/soak.tsv"
  for m in $(seq 1 "$minutes"); do
    out=$(taskset -c 1 wrk -t1 -c"$conns" -d60s --latency -s "$work/delay.lua" "http://127.0.0.1:$port/")
    rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%d", $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    errs=$(echo "$out" | awk '/Non-2xx|Socket errors|timeout/ {e = e $0 " "} END {print (e == "" ? "0" : e)}')
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$rps" "$p50" "$p99" "$errs" "$rss" | tee -a "$work/soak.tsv"
  done
  python3 - "$work/soak.tsv" "$max" "$target_rate" <<'PY'
import sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()[1:]]
def us(v):
    n = float(v.rstrip("usm"))
    return n * 1000 if v.endswith("ms") else n * 1e6 if v.endswith("s") and not v.endswith("us") else n
rss = [int(r[5]) for r in rows]
p99 = [us(r[3]) for r in rows]
errors = [r for r in rows if r[4].strip() != "0"]
warm = rss[0]
growth = (rss[-1] - warm) / warm * 100
print(f"\nmaximum {sys.argv[2]} req/s, target {sys.argv[3]} req/s; achieved {min(int(r[1]) for r in rows)}..{max(int(r[1]) for r in rows)} req/s")
print(f"RSS after minute 1 (warm-up) {warm} KiB, at the end {rss[-1]} KiB: growth {growth:+.1f} % (criterion < 5 %)")
print(f"p99 per minute: {min(p99):.0f}..{max(p99):.0f} µs (max/min {max(p99) / min(p99):.2f}×)")
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
