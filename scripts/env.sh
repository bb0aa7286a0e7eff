# shellcheck shell=bash
# Sourced by every test script: puts the project's tools on PATH and gives one
# way to call podman/buildah on these machines (vfs storage under .tools/, runc,
# host netns: without them podman fails here with setrlimit and cgroup errors).
HELLO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export HELLO_ROOT
# Tools that are costly to fetch or build (cargo-auditable, cargo-deny,
# cargo-cyclonedx, rust-audit-info, trivy) live outside the work tree: installed
# once per machine by scripts/install-tools.sh, reused by every clone.
export HELLO_TOOL_CACHE="${HELLO_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hello-tools}"
export HELLO_CARGO_TOOLS="$HELLO_TOOL_CACHE/cargo"
export PATH="$HELLO_ROOT/.tools/py/bin:$HELLO_ROOT/.tools/checkov/bin:$HELLO_CARGO_TOOLS/bin:$HELLO_TOOL_CACHE/bin:$PATH"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
export CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE
# The static release binary shared by the image, end-to-end tests and bench.
export HELLO_TARGET=x86_64-unknown-linux-gnu
export HELLO_BIN="$HELLO_ROOT/target/$HELLO_TARGET/release/hello"
export HELLO_IMAGE="${HELLO_IMAGE:-localhost/hello:ci}"

mkdir -p "$HELLO_ROOT/.tools"
if [ ! -f "$HELLO_ROOT/.tools/containers.conf" ]; then
  printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=1000:1000"]\nnetns = "host"\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' \
    >"$HELLO_ROOT/.tools/containers.conf"
fi
export CONTAINERS_CONF="$HELLO_ROOT/.tools/containers.conf"
HELLO_STORAGE=(--storage-driver vfs --root "$HELLO_ROOT/.tools/podman/root" --runroot "$HELLO_ROOT/.tools/podman/run")
hello_podman() { podman "${HELLO_STORAGE[@]}" "$@"; }
hello_buildah() { buildah "${HELLO_STORAGE[@]}" "$@"; }

# A free TCP port on loopback (the kernel picks it; tests never hard-code ports).
hello_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# The shared test helpers (start/stop the binary, the hardened container, kube
# play, waiting for a URL). Absent from the image's build context, which holds
# only this file and build-static.sh of scripts/.
if [ -f "$HELLO_ROOT/scripts/lib/hello.sh" ]; then
  # shellcheck source=lib/hello.sh
  source "$HELLO_ROOT/scripts/lib/hello.sh"
fi
