#!/usr/bin/env bash
# jenkins-lib suite: everything about the Jenkins pipeline that can run without
# Jenkins (see README.md "What only a real Jenkins checks").
#  1. agent pod templates: yamllint, PyYAML, Kubernetes Pod schema (--strict)
#  2. resources/hello/ci/smoke-http.sh: shellcheck, then run against a real
#     HTTP server behind a fake `kubectl port-forward` (ready, never ready)
#  3. unit tests in one JVM (Groovy 2.4 + JUnit 4): src/ classes, every vars/
#     step with stubbed pipeline steps, the Jenkinsfile parsed, compiled and run
#     through the declarative stub; closes with "N passed, N failed"
#  4. CodeNarc with codenarc/ruleset.groovy: zero priority 1 and 2 findings
#  5. the pipeline rehearsal (test/Rehearsal.groovy): the Jenkinsfile run on a
#     copy of this repository with every `sh` step executed for real; stand-ins
#     (test/rehearsal/) only for the registry, the cluster API, Slack and what
#     needs them. Needs the image suite's prerequisites ($HELLO_BIN, buildah, podman).
#     REHEARSAL_REV=<commit> rehearses that commit instead of the working tree.
# shellcheck disable=SC2016 # bash -c '...' scripts expand their own $1, $2
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/env.sh disable=SC1091
source "$HERE/../scripts/env.sh"
cd "$HERE" || exit 1

failures=0
check() { # name, command...
  local name=$1
  shift
  if "$@"; then
    echo "ok   $name"
  else
    echo "FAIL $name"
    failures=$((failures + 1))
  fi
}

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Wait, so no server outlives the suite (hello drains on SIGTERM).
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== tools: groovy $(groovy --version 2>/dev/null | sed -n 's/^Groovy Version: \([^ ]*\).*/\1/p'), CodeNarc $(basename /usr/share/java/CodeNarc-*.jar .jar | sed 's/CodeNarc-//')"

# ---- 1. pod templates ---------------------------------------------------------
echo "== agent pod templates and the Jenkins configuration (JCasC)"
check "yamllint resources/ jcasc/" yamllint -s -c "$HELLO_ROOT/.yamllint.yaml" resources jcasc
# Pods with hostUsers: false need Kubernetes >= 1.33 (the field's user namespaces
# on by default); the others must also validate for 1.32, the oldest cluster here.
for pod in resources/hello/ci/pod-*.yaml; do
  versions="1.32.0 1.33.0"
  grep -q '^  hostUsers: false' "$pod" && versions="1.33.0"
  for v in $versions; do
  # The kubernetes plugin names the pod; the schema wants a name, so add one.
  check "$(basename "$pod") is a valid v1 Pod (Kubernetes $v, strict)" bash -c '
    python3 -c "import sys,yaml; d=yaml.safe_load(open(sys.argv[1])); d[\"metadata\"][\"name\"]=\"agent\"; print(yaml.safe_dump(d))" "$1" \
      | kubernetes-validate -k "$3" --strict - >"$2" 2>&1 || { cat "$2"; exit 1; }' _ "$pod" "$work/kv.log" "$v"
  done
done
check "pod templates: Pod Security restricted, each exception justified in the pod (same checker as k8s/)" \
  python3 test/pod_security.py "$HELLO_ROOT/k8s/tests/pss_restricted.py" resources/hello/ci/pod-*.yaml
# Proof the check can fail: the image pod without its justifications.
sed '/pod-security-exceptions/,/^spec:/{/^spec:/!d}' resources/hello/ci/pod-image.yaml >"$work/pod-unjustified.yaml"
check "pod template check fails on an unjustified violation" \
  bash -c '! python3 test/pod_security.py "$1" "$2" >/dev/null' _ "$HELLO_ROOT/k8s/tests/pss_restricted.py" "$work/pod-unjustified.yaml"

# ---- 2. smoke script ----------------------------------------------------------
echo "== resources/hello/ci/smoke-http.sh"
check "shellcheck smoke-http.sh" shellcheck resources/hello/ci/smoke-http.sh

# A fake kubectl: `port-forward ... :admin` prints the line real kubectl prints
# for local port 0 and stays up; the "pod" is a real HTTP server on loopback.
mkdir -p "$work/bin"
cat >"$work/bin/kubectl" <<'EOF'
#!/bin/sh
[ "$3" = port-forward ] && [ "$5" = :admin ] || { echo "fake kubectl: unexpected $*" >&2; exit 2; }
echo "Forwarding from 127.0.0.1:$SMOKE_PORT -> 8081"
exec sleep 60
EOF
chmod +x "$work/bin/kubectl"

start_server() { # port, readyz status
  if [ -x "$HELLO_BIN" ] && [ "$2" = 200 ]; then
    # The real service: /readyz is 200 once it has started.
    # /readyz is on the admin listener (ADMIN_PORT); the public one gets any free port.
    PORT=0 ADMIN_PORT=$1 TMPDIR="$work" SHUTDOWN_DRAIN_SECONDS=0 "$HELLO_BIN" >"$work/hello.log" 2>&1 &
  else
    python3 - "$1" "$2" >"$work/server.log" 2>&1 <<'EOF' &
import http.server, sys
port, status = int(sys.argv[1]), int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(status if self.path == "/readyz" else 404)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
  fi
  pids+=($!)
}

port_ok=$(hello_free_port)
start_server "$port_ok" 200
check "smoke passes against a ready server ($([ -x "$HELLO_BIN" ] && echo 'real hello binary' || echo 'python stand-in'))" \
  env PATH="$work/bin:$PATH" SMOKE_PORT="$port_ok" sh resources/hello/ci/smoke-http.sh hello hello admin /readyz 10
port_bad=$(hello_free_port)
start_server "$port_bad" 503
check "smoke fails against a server answering 503" \
  bash -c '! env PATH="$1/bin:$PATH" SMOKE_PORT="$2" sh resources/hello/ci/smoke-http.sh hello hello admin /readyz 3 2>"$1/smoke.err"' _ "$work" "$port_bad"
check "smoke fails when nothing listens" \
  bash -c '! env PATH="$1/bin:$PATH" SMOKE_PORT="$2" sh resources/hello/ci/smoke-http.sh hello hello admin /readyz 2 2>/dev/null' _ "$work" "$(hello_free_port)"

# ---- 3. unit tests, one JVM -----------------------------------------------------
echo "== unit tests (vars/, src/, Jenkinsfile through the declarative stub)"
check "unit tests" groovy -Djlib.root="$HERE" -cp /usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar test/RunAll.groovy

# ---- 4. CodeNarc ------------------------------------------------------------------
echo "== CodeNarc (gate: P1=0 P2=0)"
codenarc() { # basedir, ruleset, report
  java -cp '/usr/share/groovy/lib/*:/usr/share/java/log4j-1.2.jar' org.codenarc.CodeNarc \
    -basedir="$1" -includes='**/*.groovy' -rulesetfiles="file:$2" -report="text:$3" >/dev/null 2>&1
}
gate() { # report
  local summary
  summary=$(grep '^Summary:' "$1")
  echo "     $summary"
  grep -E 'P=[12] ' "$1" | sed 's/^ */     /'
  [[ $summary =~ TotalFiles=[1-9] ]] && [[ $summary =~ P1=0\ P2=0 ]]
}
codenarc "$HERE" codenarc/ruleset.groovy "$work/codenarc-lib.txt"
check "CodeNarc vars/ src/ test/" gate "$work/codenarc-lib.txt"
# CodeNarc only reads *.groovy: lint the Jenkinsfile under that name.
mkdir -p "$work/jenkinsfile"
cp "$HELLO_ROOT/Jenkinsfile" "$work/jenkinsfile/Jenkinsfile.groovy"
codenarc "$work/jenkinsfile" codenarc/jenkinsfile-ruleset.groovy "$work/codenarc-jenkinsfile.txt"
check "CodeNarc Jenkinsfile" gate "$work/codenarc-jenkinsfile.txt"

# ---- 5. pipeline rehearsal ------------------------------------------------------------
echo "== pipeline rehearsal (Jenkinsfile on a copy of the repository, sh steps executed)"
check "shellcheck test/rehearsal/ stand-ins" shellcheck -x test/rehearsal/buildah test/rehearsal/trivy \
  test/rehearsal/cosign test/rehearsal/kubectl test/rehearsal/kustomize
rehearse() {
  local copy="$work/repo" rev=${REHEARSAL_REV:-}
  rm -rf "$copy" "$work/rehearsal"
  git clone -q --shared "$HELLO_ROOT" "$copy" || return 1
  if [ -n "$rev" ]; then
    git -C "$copy" checkout -q --detach "$rev" || return 1
  else
    # The working tree as it is: changed and new (not ignored) files over HEAD.
    (cd "$HELLO_ROOT" && git ls-files -z -m -o --exclude-standard) | while IFS= read -r -d '' f; do
      if [ -e "$HELLO_ROOT/$f" ]; then
        mkdir -p "$copy/$(dirname "$f")" && cp -p "$HELLO_ROOT/$f" "$copy/$f"
      else
        rm -f "$copy/$f"
      fi
    done
  fi
  # The files the Dockerfile's prebuilt stage takes (what scripts/build-image.sh stages).
  mkdir -p "$work/context/rootfs/tmp" && chmod 1777 "$work/context/rootfs/tmp"
  cp "$HELLO_BIN" "$work/context/hello" && cp /etc/ssl/certs/ca-certificates.crt "$work/context/"
  REHEARSAL_DIR="$work/rehearsal" REHEARSAL_CONTEXT="$work/context" \
    groovy -Djlib.root="$copy/jenkins-lib" "$HERE/test/Rehearsal.groovy" "$copy" "$HERE/test/rehearsal" "$HERE/test"
  local rc=$?
  # The stand-in cluster's container, if a rollout started one.
  if [ -f "$work/rehearsal/cluster/running" ]; then
    read -r name _ <"$work/rehearsal/cluster/running"
    hello_podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  fi
  [ "$rc" = 0 ] || return 1
  # What the rehearsal must have produced, in the copy's workspace.
  grep -q "image: $(awk 'NR==1 {print $1}' "$work/rehearsal/registry/index" | sed 's/:[^:]*$//')@sha256:" "$copy/build/manifests/prod.yaml" &&
    test -s "$copy/sbom.cdx.json" && grep -q '^sign ' "$work/rehearsal/signatures"
}
if [ ! -x "$HELLO_BIN" ]; then
  echo "FAIL pipeline rehearsal: $HELLO_BIN is missing (scripts/build-static.sh)"
  failures=$((failures + 1))
else
  check "pipeline rehearsal: every stage succeeds, prod manifests pin the pushed digest, SBOM made, image signed" rehearse
fi

echo "== jenkins-lib: $failures check(s) failed"
[ "$failures" -eq 0 ]
