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
echo "== agent pod templates"
check "yamllint resources/" yamllint -s -c "$HELLO_ROOT/.yamllint.yaml" resources
for pod in resources/hello/ci/pod-*.yaml; do
  # The kubernetes plugin names the pod; the schema wants a name, so add one.
  check "$(basename "$pod") is a valid v1 Pod (Kubernetes 1.33, strict)" bash -c '
    python3 -c "import sys,yaml; d=yaml.safe_load(open(sys.argv[1])); d[\"metadata\"][\"name\"]=\"agent\"; print(yaml.safe_dump(d))" "$1" \
      | kubernetes-validate -k 1.33.0 --strict - >"$2" 2>&1 || { cat "$2"; exit 1; }' _ "$pod" "$work/kv.log"
done

# ---- 2. smoke script ----------------------------------------------------------
echo "== resources/hello/ci/smoke-http.sh"
check "shellcheck smoke-http.sh" shellcheck resources/hello/ci/smoke-http.sh

# A fake kubectl: `port-forward` prints the line real kubectl prints for port 0
# and stays up; the "pod" is a real HTTP server on loopback.
mkdir -p "$work/bin"
cat >"$work/bin/kubectl" <<'EOF'
#!/bin/sh
[ "$3" = port-forward ] || { echo "fake kubectl: unexpected $*" >&2; exit 2; }
echo "Forwarding from 127.0.0.1:$SMOKE_PORT -> 8080"
exec sleep 60
EOF
chmod +x "$work/bin/kubectl"

start_server() { # port, readyz status
  if [ -x "$HELLO_BIN" ] && [ "$2" = 200 ]; then
    # The real service: /readyz is 200 once it has started.
    PORT=$1 TMPDIR="$work" SHUTDOWN_DRAIN_SECONDS=0 "$HELLO_BIN" >"$work/hello.log" 2>&1 &
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
  env PATH="$work/bin:$PATH" SMOKE_PORT="$port_ok" sh resources/hello/ci/smoke-http.sh hello hello /readyz 10
port_bad=$(hello_free_port)
start_server "$port_bad" 503
check "smoke fails against a server answering 503" \
  bash -c '! env PATH="$1/bin:$PATH" SMOKE_PORT="$2" sh resources/hello/ci/smoke-http.sh hello hello /readyz 3 2>"$1/smoke.err"' _ "$work" "$port_bad"
check "smoke fails when nothing listens" \
  bash -c '! env PATH="$1/bin:$PATH" SMOKE_PORT="$2" sh resources/hello/ci/smoke-http.sh hello hello /readyz 2 2>/dev/null' _ "$work" "$(hello_free_port)"

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

echo "== jenkins-lib: $failures check(s) failed"
[ "$failures" -eq 0 ]
