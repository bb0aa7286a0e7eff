# shellcheck shell=bash
# The one shell way to run hello in a test: the binary on ports the kernel picks,
# the image under podman hardened the way Kubernetes' restricted profile runs it,
# a rendered manifest under `podman kube play`, and waiting for a URL. Sourced by
# scripts/env.sh; defines hello_* functions only, runs nothing, prints no check
# lines (scripts/lib/checks.sh does that). scripts/lib/hello_proc.py is the same
# start/stop for Python.

# Distinct free TCP ports on loopback, one per line: all are bound at once, so
# none repeats (the kernel picks them; tests never hard-code ports).
hello_free_ports() { # hello_free_ports [N=1]
  python3 - "${1:-1}" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
EOF
}

hello_http_code() { # hello_http_code [curl args...] URL: the status code, 000 when nothing answers
  curl -s -m 2 -o /dev/null -w '%{http_code}' "$@"
}

hello_wait_status() { # hello_wait_status URL STATUS TRIES [INTERVAL=0.2]: 0 once URL answers STATUS
  local i
  for ((i = 0; i < $3; i++)); do
    [ "$(hello_http_code "$1")" = "$2" ] && return 0
    sleep "${4:-0.2}"
  done
  return 1
}

# ---- the binary ($HELLO_BIN)
# hello_start NAME WORKDIR [VAR=VALUE...]: starts $HELLO_BIN in the background with
# PORT=0 ADMIN_PORT=0 (the kernel picks both), a private TMPDIR under WORKDIR,
# SHUTDOWN_DRAIN_SECONDS=0 and the given variables (which win), stdout in
# WORKDIR/NAME.stdout and stderr in WORKDIR/NAME.stderr. Reads the bound ports from
# the start-up line ("message":"listening", fields port and admin_port) and waits
# until /readyz on the admin port answers 200. Sets HELLO_PID, HELLO_PUBLIC_PORT,
# HELLO_ADMIN_PORT; status 1 (and a reason on stderr) if either step times out (20 s).
# shellcheck disable=SC2034 # HELLO_PUBLIC_PORT, HELLO_ADMIN_PORT: for the caller
hello_start() {
  local name=$1 dir=$2 tmp ports="" i
  shift 2
  tmp=$(mktemp -d "$dir/$name-tmp.XXXXXX") || return 1
  env PORT=0 ADMIN_PORT=0 TMPDIR="$tmp" SHUTDOWN_DRAIN_SECONDS=0 "$@" \
    "${HELLO_BIN:?}" >"$dir/$name.stdout" 2>"$dir/$name.stderr" &
  HELLO_PID=$!
  HELLO_PUBLIC_PORT="" HELLO_ADMIN_PORT=""
  for ((i = 0; i < 200; i++)); do
    ports=$(jq -r 'select(.message == "listening") | "\(.port) \(.admin_port)"' "$dir/$name.stdout" 2>/dev/null | head -1)
    [ -n "$ports" ] && break
    kill -0 "$HELLO_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ports" ]; then
    echo "hello_start $name: no 'listening' line in $dir/$name.stdout" >&2
    return 1
  fi
  read -r HELLO_PUBLIC_PORT HELLO_ADMIN_PORT <<<"$ports"
  if ! hello_wait_status "http://127.0.0.1:$HELLO_ADMIN_PORT/readyz" 200 100; then
    echo "hello_start $name: /readyz on admin port $HELLO_ADMIN_PORT not 200 within 20 s" >&2
    return 1
  fi
}

# hello_stop [TIMEOUT=15]: SIGTERM to $HELLO_PID, SIGKILL after TIMEOUT seconds;
# returns the process's exit status (128 + signal if killed). Idempotent.
hello_stop() {
  local pid=${HELLO_PID:-} rc=0 i
  [ -n "$pid" ] || return 0
  HELLO_PID=""
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < ${1:-15} * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

# ---- the image ($HELLO_IMAGE) under podman
# hello_run_hardened NAME [podman run options...]: a detached container of
# $HELLO_IMAGE on the host network with a read-only root, no capabilities,
# no-new-privileges, uid/gid 65532 and a tmpfs /tmp; never pulls. Prints the id.
hello_run_hardened() {
  local name=$1
  shift
  hello_podman run -d --name "$name" --pull never --network host \
    --read-only --cap-drop ALL --security-opt no-new-privileges --user 65532:65532 --tmpfs /tmp \
    "$@" "$HELLO_IMAGE"
}

# A pinned crate's binaries built from crates.io into the tool cache
# ($HELLO_CARGO_TOOLS, outside the work tree), unless that version is there.
# HELLO_INSTALL_JOBS bounds the parallelism.
hello_cargo_tool() { # hello_cargo_tool CRATE VERSION [cargo install args...]
  local crate=$1 version=$2
  shift 2
  cargo install --list --root "$HELLO_CARGO_TOOLS" 2>/dev/null | grep -qx "$crate v$version:" && return 0
  echo "install-tools: cargo install $crate@$version${*:+ $*}"
  cargo install --quiet --locked --root "$HELLO_CARGO_TOOLS" ${HELLO_INSTALL_JOBS:+-j "$HELLO_INSTALL_JOBS"} "$@" "$crate@$version"
}

# podman builds its pod infra image (kube play) from catatonit; Debian's podman
# only recommends it. Installed once into .tools/catatonit (pinned), not system-wide.
HELLO_CATATONIT_VERSION=0.1.7-1+b2 # Debian 12
hello_ensure_catatonit() { # puts catatonit on PATH, from the Debian archive if missing; status 1 on failure
  command -v catatonit >/dev/null 2>&1 && return 0
  local cdir="$HELLO_ROOT/.tools/catatonit" dl rc=0
  if [ ! -x "$cdir/usr/bin/catatonit" ]; then
    echo "        installing catatonit $HELLO_CATATONIT_VERSION into .tools/catatonit"
    dl=$(mktemp -d) || return 1
    if ! (
      cd "$dl" || exit 1
      apt-get download -qq "catatonit=$HELLO_CATATONIT_VERSION" 2>/dev/null ||
        { apt-get update -qq && apt-get download -qq "catatonit=$HELLO_CATATONIT_VERSION"; }
    ) || ! dpkg-deb -x "$dl"/catatonit_*.deb "$cdir"; then rc=1; fi
    rm -rf "$dl"
    [ "$rc" = 0 ] || return 1
  fi
  export PATH="$cdir/usr/bin:$PATH"
}

# hello_kube_patch RENDERED OUT PORT ADMIN_PORT: the rendered Deployment (+ its
# ConfigMap) made runnable on host loopback by `podman kube play`
# (k8s/tests/kubeplay_patch.py says exactly what it changes; status 1 otherwise).
hello_kube_patch() {
  python3 "$HELLO_ROOT/k8s/tests/kubeplay_patch.py" "$1" "$2" "$HELLO_IMAGE" "$3" "$4"
}

# hello_kube_play FILE LOG: removes leftovers of an interrupted run, then
# `podman kube play FILE` with its output in LOG.
hello_kube_play() {
  hello_kube_down "$1"
  hello_podman kube play "$1" >"$2" 2>&1
}

hello_kube_down() { # hello_kube_down FILE (prints a harmless systemd-timer error: discarded)
  hello_podman kube down "$1" >/dev/null 2>&1
}
