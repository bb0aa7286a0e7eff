# shellcheck shell=bash
# Shared by bench/run.sh, reliability/long.sh and reliability/test.sh: which
# process serves a port, and where the mock Kafka cluster program is.

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
