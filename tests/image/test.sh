#!/usr/bin/env bash
# Image suite: lints the Dockerfile, builds $HELLO_IMAGE with buildah
# from the current tree (offline path), inspects it (size, exact file list,
# config, labels) and runs it with podman the way Kubernetes' restricted
# profile would. Every check prints one line; any failure makes the exit non-zero.
# No `set -e`: every check runs and reports; setup steps exit explicitly.
set -uo pipefail
# shellcheck source=../../scripts/env.sh source-path=SCRIPTDIR
source "$(dirname "$0")/../../scripts/env.sh"
# shellcheck source=../../scripts/lib/checks.sh source-path=SCRIPTDIR
source "$HELLO_ROOT/scripts/lib/checks.sh"
cd "$HELLO_ROOT" || exit 1
HERE=tests/image
SIZE_BUDGET=8000000 # bytes, uncompressed (the issue's 8 MB; the Go original was 9.94 MB)
DRAIN=3             # SHUTDOWN_DRAIN_SECONDS for the run (short, to keep the suite fast)

work=$(mktemp -d)
ctr="hello-image-test-$$"
containers_before=$(hello_buildah containers -q | sort)
cleanup() {
  hello_podman rm -f -t 0 "$ctr" >/dev/null 2>&1 || true
  hello_podman rmi -f localhost/hello-context-test:$$ >/dev/null 2>&1 || true
  # buildah working containers this suite left (buildah 1.28 leaks some)
  comm -13 <(printf '%s\n' "$containers_before") <(hello_buildah containers -q | sort) |
    while read -r id; do hello_buildah rm "$id" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "-- Dockerfile lint and policy"
check "hadolint Dockerfile (default threshold: info findings fail)" hadolint Dockerfile
checkov -f Dockerfile --framework dockerfile --skip-download --compact >"$work/checkov.txt" 2>&1
checkov_rc=$?
counts=$(grep -E '^Passed checks' "$work/checkov.txt")
check "checkov dockerfile checks: $counts" test "$checkov_rc" = 0 -a -n "$counts"
grep -E -B1 -A2 'FAILED for|SKIPPED for' "$work/checkov.txt" | grep -E '^Check|FAILED|Suppress' | sed 's/^\s*/        /'

# checkov's one skip (CKV_DOCKER_7 on `FROM ${BINARY_SOURCE}`) is file-wide in its
# Dockerfile model, so pinning is asserted here: every FROM is scratch, a stage
# of this file, or an image with a tag and a sha256 digest.
check "every FROM is scratch, a stage, or image:tag@sha256:<64 hex>" python3 - Dockerfile <<'EOF'
import re, sys
args, stages, bad = {}, set(), []
for line in open(sys.argv[1]):
    m = re.match(r"\s*ARG\s+(\w+)=(\S+)", line)
    if m and not stages:
        args[m[1]] = m[2]
    m = re.match(r"\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
    if not m:
        continue
    image = re.sub(r"\$\{(\w+)\}", lambda v: args.get(v[1], "?"), m[1])
    if m[1] == "${BINARY_SOURCE}":
        ok = image in stages
    else:
        ok = image == "scratch" or image in stages or re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image)
    if not ok:
        bad.append(image)
    if m[2]:
        stages.add(m[2])
if bad:
    print("        unpinned:", bad)
sys.exit(1 if bad else 0)
EOF

echo "-- build context (.dockerignore allowlist, what the online builder sees)"
# First pattern `*`: everything is excluded unless re-included by a `!` line.
# Checked before the listing build, which would otherwise copy target/ (GBs).
if [ "$(grep -Ev '^\s*(#|$)' .dockerignore | head -1)" != "*" ]; then
  fail ".dockerignore is not an allowlist (first pattern must be *)"
  exit 1
fi
ok ".dockerignore is an allowlist (first pattern *)"
printf 'FROM scratch\nCOPY . /ctx/\n' >"$work/Context.Dockerfile"
hello_buildah bud --quiet -f "$work/Context.Dockerfile" -t "localhost/hello-context-test:$$" . >/dev/null || exit 1
mnt=$(hello_podman image mount "localhost/hello-context-test:$$") || exit 1
(cd "$mnt/ctx" && find . -type f | sed 's|^\./||' | sort) >"$work/context.txt"
hello_podman image unmount "localhost/hello-context-test:$$" >/dev/null
missing=0
for f in Cargo.toml Cargo.lock src/main.rs scripts/build-static.sh scripts/env.sh image/rootfs/etc/passwd image/rootfs/etc/group; do
  grep -qx "$f" "$work/context.txt" || { echo "        missing: $f"; missing=1; }
done
check "context has Cargo.toml, Cargo.lock, src/, scripts/build-static.sh, image/rootfs" test "$missing" = 0
! grep -vE "^(Cargo\.toml|Cargo\.lock|build\.rs|bench/baseline\.rs|src/.*|scripts/(env|build-static)\.sh|image/rootfs/.*)$" "$work/context.txt"
result "context has nothing outside the allowlist (no target/, .git/, .tools/, tests/)"
echo "        $(wc -l <"$work/context.txt") files in the context"

echo "-- build (scripts/build-image.sh: buildah, BINARY_SOURCE=prebuilt, no pull)"
if ! ./scripts/build-image.sh; then
  fail "scripts/build-image.sh"
  exit 1
fi
ok "built $HELLO_IMAGE"
log=.tools/podman/hello-image.build.log # of the build that made the current image
grep -q 'FROM scratch AS prebuilt' "$log" && ! grep -Eq 'AS builder|rust:' "$log"
result "the build ran the prebuilt stage and skipped the rust builder (nothing pulled)"

echo "-- image contents"
size=$(hello_podman image inspect --format '{{.Size}}' "$HELLO_IMAGE")
check "size $size bytes <= budget $SIZE_BUDGET" test "$size" -le "$SIZE_BUDGET"
mnt=$(hello_podman image mount "$HELLO_IMAGE") || exit 1
(cd "$mnt" && find . -mindepth 1 -printf '%M %U:%G /%P\n' | sort -k3) >"$work/files.txt"
(cd "$mnt" && find . -mindepth 1 -type f -printf '        %10s  /%P\n' | sort -k2)
# A release profile override of this package silently turned stripping off
# once (1.3 MB of symbols): the shipped binary carries none.
check "the binary has no symbol table (stripped)" bash -c "! readelf -S -W '$mnt/hello' | grep -q ' .symtab '"
cp "$mnt/etc/passwd" "$work/passwd"
cp "$mnt/etc/group" "$work/group"
hello_podman image unmount "$HELLO_IMAGE" >/dev/null
if diff -u <(grep -v '^#' "$HERE/expected-files.txt") "$work/files.txt" >"$work/files.diff"; then
  ok "file list == $HERE/expected-files.txt (no shell, nothing else)"
else
  fail "file list differs from $HERE/expected-files.txt"
  sed 's/^/        /' "$work/files.diff"
fi
! grep -E "/(sh|bash|dash|ash|busybox)$" "$work/files.txt"
result "no shell or busybox anywhere"
check "passwd: one non-login user 65532:65532, no home, no shell" \
  grep -qx 'hello:x:65532:65532:hello service:/nonexistent:/sbin/nologin' "$work/passwd"
check "passwd/group hold exactly one entry each" test "$(cat "$work/passwd" "$work/group" | wc -l)" -eq 2
check "group: 65532" grep -qx 'hello:x:65532:' "$work/group"

echo "-- image config"
hello_podman image inspect "$HELLO_IMAGE" >"$work/inspect.json"
expected_version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["package"]["version"])')
expected_created=$(date -u -d "@$(git log -1 --format=%ct)" +%Y-%m-%dT%H:%M:%SZ)
expected_revision=$(git rev-parse HEAD)
check "config: user, entrypoint, cmd, port, healthcheck, stop signal, OCI labels" \
  python3 - "$work/inspect.json" "$expected_version" "$expected_revision" "$expected_created" <<'EOF'
import json, sys
img = json.load(open(sys.argv[1]))[0]
version, revision, created = sys.argv[2:5]
cfg, labels = img["Config"], img["Config"].get("Labels") or {}
hc = img.get("Healthcheck") or cfg.get("Healthcheck") or {}
want = {
    "User": (cfg.get("User"), "65532:65532"),
    "Entrypoint": (cfg.get("Entrypoint"), ["/hello"]),
    "Cmd": (cfg.get("Cmd"), ["serve"]),
    "ExposedPorts": (sorted(cfg.get("ExposedPorts") or {}), ["8080/tcp", "8081/tcp"]),
    "StopSignal": (cfg.get("StopSignal"), "SIGTERM"),
    "Healthcheck": (hc.get("Test"), ["CMD", "/hello", "healthcheck"]),
    "label version": (labels.get("org.opencontainers.image.version"), version),
    "label created": (labels.get("org.opencontainers.image.created"), created),
}
bad = [f"{k}: got {g!r}, want {w!r}" for k, (g, w) in want.items() if g != w]
rev = labels.get("org.opencontainers.image.revision", "")
if rev not in (revision, revision + "-dirty"):
    bad.append(f"label revision: got {rev!r}, want {revision}[-dirty]")
if not labels.get("org.opencontainers.image.source"):
    bad.append("label source: empty")
for b in bad:
    print("        " + b)
sys.exit(1 if bad else 0)
EOF

echo "-- hardened run (podman: read-only root, no capabilities, no-new-privileges, uid 65532, tmpfs /tmp)"
{ read -r port && read -r admin_port; } < <(hello_free_ports 2)
base="http://127.0.0.1:$port"        # public listener: the API
admin="http://127.0.0.1:$admin_port" # admin listener: probes and metrics
hello_run_hardened "$ctr" -e PORT="$port" -e ADMIN_PORT="$admin_port" -e SHUTDOWN_DRAIN_SECONDS="$DRAIN" \
  >/dev/null 2>"$work/run.err" || {
  fail "podman run"
  cat "$work/run.err"
  exit 1
}
# (podman reports on stderr that it cannot schedule the healthcheck timer
# without systemd; `podman healthcheck run` below runs it on demand.)
check "admin /readyz 200 within 10 s" hello_wait_status "$admin/readyz" 200 50
code() { hello_http_code "$@"; }
[ "$(curl -s -m 2 "$base/")" = "Hello, World!" ]
result "/ answers 200 with the default greeting"
check "admin /healthz 200" test "$(code "$admin/healthz")" = 200
metrics=$(curl -sf -m 2 "$admin/metrics")
grep -q "^hello_build_info" <<<"$metrics"
result "admin /metrics 200 with hello_build_info"
check "public /healthz, /readyz, /metrics are 404 (admin port only)" \
  test "$(code "$base/healthz") $(code "$base/readyz") $(code "$base/metrics")" = "404 404 404"
# /version says what was built: the revision and build date the image's labels
# carry (this tree's HEAD, -dirty with local changes; the commit time) and the
# crate version. `unknown` here means the build arguments did not reach cargo.
curl -sf -m 2 "$base/version" >"$work/version.json"
result "/version 200"
check "/version: revision = image label = git HEAD[-dirty]; build_date, version = labels" \
  python3 - "$work/version.json" "$work/inspect.json" "$expected_revision" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
labels = json.load(open(sys.argv[2]))[0]["Config"].get("Labels") or {}
head = sys.argv[3]
print(f"        /version: {v}")
bad = []
if v.get("revision") not in (head, head + "-dirty"):
    bad.append(f"revision {v.get('revision')!r}, want {head}[-dirty]")
for key, label in (("revision", "revision"), ("build_date", "created"), ("version", "version")):
    if v.get(key) != labels.get("org.opencontainers.image." + label):
        bad.append(f"{key} {v.get(key)!r} != label {label} {labels.get('org.opencontainers.image.' + label)!r}")
for b in bad:
    print("        " + b)
sys.exit(1 if bad else 0)
EOF

pid=$(hello_podman inspect --format '{{.State.Pid}}' "$ctr")
status=$(cat "/proc/$pid/status")
grep -Eq "^Uid:\s+65532\s+65532\s+65532\s+65532$" <<<"$status" && grep -Eq "^Gid:\s+65532\s+65532\s+65532\s+65532$" <<<"$status"
result "process uid and gid are 65532 (real, effective, saved, fs)"
nocaps=0
for c in CapEff CapPrm CapBnd; do grep -Eq "^$c:\s+0+$" <<<"$status" || nocaps=1; done
test "$nocaps" = 0
result "no capabilities (effective, permitted, bounding)"
grep -Eq "^NoNewPrivs:\s+1$" <<<"$status" && grep -Eq "^Seccomp:\s+2$" <<<"$status"
result "no_new_privs set, seccomp filter on"
mounts=$(cat "/proc/$pid/mountinfo")
awk '$5 == "/" {print $6}' <<<"$mounts" | grep -Eq "^ro(,|$)"
result "root filesystem mounted read-only"
grep -Eq "^\S+ \S+ \S+ \S+ /tmp \S+.* - tmpfs " <<<"$mounts"
result "/tmp is a tmpfs"
# (touch fails by design: its status is not piped into grep under pipefail)
! touch "/proc/$pid/root/write-probe" 2>"$work/touch.err" && grep -q "Read-only file system" "$work/touch.err"
result "a write to / fails with EROFS, even as root from the host side"
c=$(curl -s -m 2 -o /dev/null -w "%{http_code}" -X PUT --data-binary "written-by-image-test" "$base/v1/scratch/image-test")
[ "${c:0:1}" = 2 ]
result "PUT /v1/scratch/image-test succeeds"
[ "$(curl -s -m 2 "$base/v1/scratch/image-test")" = written-by-image-test ]
result "GET /v1/scratch/image-test returns the body"
grep -rlqx written-by-image-test "/proc/$pid/root/tmp"
result "the scratch file is in the container's /tmp tmpfs"

check "hello healthcheck exits 0 inside the container (podman exec)" hello_podman exec "$ctr" /hello healthcheck
check "podman healthcheck run: healthy" hello_podman healthcheck run "$ctr"
healthcheck_fails() { ! hello_podman exec -e ADMIN_PORT=1 "$ctr" /hello healthcheck >/dev/null 2>&1; }
check "hello healthcheck exits non-zero when nothing answers (ADMIN_PORT=1)" healthcheck_fails

echo "-- SIGTERM (podman stop): readiness 503 at once, serves during the drain, exits 0 within drain + 2 s"
t0=$EPOCHREALTIME
hello_podman stop -t 30 "$ctr" >/dev/null 2>&1 &
stopper=$!
# podman delivers SIGTERM within a moment; the drain lasts $DRAIN s
check "admin /readyz 503 while draining" hello_wait_status "$admin/readyz" 503 20 0.1
check "/ still 200 while draining" test "$(code "$base/")" = 200
wait "$stopper" || true
elapsed=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$EPOCHREALTIME")
check "exit code 0" test "$(hello_podman inspect --format '{{.State.ExitCode}}' "$ctr")" = 0
check "stopped after ${elapsed} s: >= drain ${DRAIN} s (drained) and <= drain + 2 s" \
  python3 -c "import sys; e, d = float(sys.argv[1]), float(sys.argv[2]); sys.exit(not (d - 0.5 <= e <= d + 2))" "$elapsed" "$DRAIN"

echo "-- logs (podman logs)"
hello_podman logs "$ctr" >"$work/logs.txt" 2>&1
check "every log line is a JSON object with timestamp, level, target, message; an access line for GET / 200" \
  python3 - "$work/logs.txt" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
bad, access = [], False
def find(obj, key):
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            r = find(v, key)
            if r is not None:
                return r
    return None
for l in lines:
    try:
        o = json.loads(l)
    except ValueError:
        bad.append(l.strip()[:120])
        continue
    if not isinstance(o, dict) or any(k not in o for k in ("timestamp", "level", "target", "message")):
        bad.append(l.strip()[:120])
    if find(o, "url.path") == "/" and str(find(o, "http.response.status_code")) == "200":
        access = True
print(f"        {len(lines)} lines, {len(bad)} not conforming, access line found: {access}")
for b in bad[:5]:
    print("        bad: " + b)
sys.exit(0 if lines and not bad and access else 1)
EOF

summary image "$size bytes"
