# shellcheck shell=bash
# Shared by bench/run.sh and reliability/long.sh: which process serves a port.

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
