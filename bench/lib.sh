# shellcheck shell=bash
# Shared by bench/run.sh, bench/callgrind.sh, bench/perf.sh, reliability/long.sh
# and reliability/test.sh: which process serves a port, where the mock Kafka
# cluster program is, and the benchmark's sinks.

# pid_listening_on PORT BIN: the pid of the process running BIN that owns the
# listening socket on PORT. Found by the socket, not by the newest process of
# that name: other suites on the same machine may run the same binary, and the
# caller measures and then signals this pid.
pid_listening_on() {
  local port_hex inode pid fd
  port_hex=$(printf '%04X' "$1")
  inode=$(awk -v p=":$port_hex" '$2 ~ (p "$") && $4 == "0A" {print $10; exit}' /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  [ -n "$inode" ] || return 1
  for pid in $(pgrep -f -- "^$2\$"); do
    for fd in /proc/"$pid"/fd/*; do
      if [ "$(readlink "$fd" 2>/dev/null)" = "socket:[$inode]" ]; then
        echo "$pid"
        return 0
      fi
    done
  done
  return 1
}

# mock_kafka_bin: prints the path of the mock Kafka cluster program
# (examples/mock_kafka.rs, a debug build in cargo's target directory:
# $CARGO_TARGET_DIR, else what `cargo metadata` says). scripts/test-rust.sh
# builds it with the tests; it is built here only when missing.
mock_kafka_bin() {
  local manifest="${HELLO_ROOT:?}/Cargo.toml" dir bin
  dir=${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps --manifest-path "$manifest" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')} || return 1
  bin="$dir/debug/examples/mock_kafka"
  if [ ! -x "$bin" ]; then
    cargo build --locked -q --example mock_kafka --manifest-path "$manifest" >&2 || return 1
  fi
  echo "$bin"
}

# await_line FILE KEY: the value printed as KEY=value by a helper started in the background.
await_line() {
  local v=""
  for _ in $(seq 150); do
    v=$(grep -so "$2=[^ ]*" "$1" | head -1 | cut -d= -f2- || true)
    [ -n "$v" ] && { echo "$v"; return 0; }
    sleep 0.2
  done
  echo "helper did not start:" >&2; cat "$1" >&2; return 1
}

# start_sink MODE WORKDIR [PREFIX...]: for MODE kafka or otlp, starts the mock
# Kafka cluster or the OTLP sink in the background (run through PREFIX, e.g.
# `taskset -c 1`) and sets SINK_ENV to the variable that points hello at it;
# for lean, SINK_ENV is empty. Status 2 for another mode.
# shellcheck disable=SC2034 # SINK_ENV is read by the scripts that source this file
start_sink() {
  local mode=$1 work=$2
  shift 2
  SINK_ENV=()
  case $mode in
    lean) ;;
    kafka)
      KAFKA_MOCK_SECONDS=600 "$@" "$(mock_kafka_bin)" >"$work/mock.log" 2>&1 &
      SINK_ENV=("KAFKA_BROKERS=$(await_line "$work/mock.log" KAFKA_MOCK_BOOTSTRAP)") || return 1
      ;;
    otlp)
      "$@" python3 "$HELLO_ROOT/bench/otlp_sink.py" ok >"$work/otlp.log" 2>&1 &
      SINK_ENV=("OTEL_EXPORTER_OTLP_ENDPOINT=$(await_line "$work/otlp.log" OTLP_SINK_ENDPOINT)") || return 1
      ;;
    *) echo "mode: lean, otlp or kafka" >&2; return 2 ;;
  esac
}
