# shellcheck shell=bash
# What k8s/test.sh and charts/test.sh check the same way on rendered manifests: the
# Kubernetes versions and the schema validation against each, checkov, the deploy checks
# of a render, and the rendered Deployment run under `podman kube play` with its ports
# checked. Sourced by those suites after scripts/env.sh (the hello_* helpers of
# scripts/lib/hello.sh) and scripts/lib/checks.sh (ok, fail, result, check, indent);
# defines one list and functions, runs nothing.

# Kubernetes minor versions the rendered manifests must validate against (namespace
# PSA labels pin v1.32, the oldest one here).
K8S_VERSIONS=(1.32.0 1.33.0 1.34.0 1.35.0 1.36.0 1.37.0)

# k8s_work PLAY_NAME: a fresh directory in $work, removed at exit, and $play, the
# manifest k8s_kube_play runs: brought down at exit if it was written.
k8s_work() {
  work=$(mktemp -d)
  play="$work/$1"
  trap k8s_cleanup EXIT
}
k8s_cleanup() {
  if [ -f "$play" ]; then hello_kube_down "$play" || true; fi
  rm -rf "$work"
}

# k8s_validate WHAT CRD_KINDS FILE...: `kubernetes-validate --strict` of every FILE
# against each of K8S_VERSIONS, one check line per version ("WHAT valid against V").
# It only warns on a kind it has no schema for: any such kind fails except CRD_KINDS
# (an ERE alternation of the custom resources validated elsewhere).
k8s_validate() {
  local what=$1 kinds=$2 v out rc missing
  shift 2
  for v in "${K8S_VERSIONS[@]}"; do
    out=$(kubernetes-validate -k "$v" --strict --quiet "$@" 2>&1)
    rc=$?
    missing=$(grep "Couldn't find schema" <<<"$out" | grep -Ev "kind ($kinds) " || true)
    if [ "$rc" -eq 0 ] && [ -z "$missing" ]; then
      ok "$what valid against $v"
    else
      fail "schema validation against $v"
      indent <<<"$out"
    fi
  done
}

# k8s_checkov LABEL ARGS...: one checkov scan (ARGS: what and which frameworks), one check
# line with the counts per framework ("checkov LABEL: kubernetes: passed N, failed 0,
# skipped N"): it fails on any failed check, and prints the failed checks and the skipped
# ones with their reasons (skips are annotations on the objects).
k8s_checkov() {
  local label=$1 rc counts
  shift
  checkov "$@" --skip-download --compact >"$work/checkov.txt" 2>&1
  rc=$?
  counts=$(grep -E -A2 'scan results:' "$work/checkov.txt" | grep -E 'scan results|^Passed' |
    sed -E 's/ scan results://' | paste -sd' ' | sed -E 's/ Passed/: passed/g; s/Failed checks/failed/g; s/Skipped checks/skipped/g; s/ checks//g')
  if [ "$rc" -eq 0 ] && [ -n "$counts" ]; then
    ok "checkov $label: $counts"
  else
    fail "checkov $label: $counts"
    grep -E -A3 '^Check: ' "$work/checkov.txt" | grep -B1 -A2 FAILED | indent
  fi
  grep -E -A2 'SKIPPED for resource' "$work/checkov.txt" | grep -E 'SKIPPED|Suppress' | sed 's/^\s*/        /'
}

# k8s_deploy_checks NAME RENDERED LABEL [COMPONENT...]: k8s/tests/deploy_checks.py on a
# render (with the k8s/components it was composed with), one check line
# ("NAME: N deploy checks"), the failing ones printed; their output also in
# $work/deploy-LABEL.txt.
k8s_deploy_checks() {
  local name=$1 rendered=$2 label=$3 out rc
  shift 3
  out="$work/deploy-${label// /-}.txt"
  python3 "$HELLO_ROOT/k8s/tests/deploy_checks.py" "$HELLO_ROOT" "$rendered" "$label" "$@" >"$out" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ]; then ok "$name: $(grep -c '^ *ok ' "$out") deploy checks"; else
    fail "$name: deploy checks"
    grep -v '^ *ok ' "$out"
  fi
}

# k8s_kube_play RENDERED: the rendered Deployment (+ its ConfigMap) patched for podman
# into $play on two free loopback ports and run with `podman kube play`. Sets $base and
# $admin (the public and admin URLs). A check line for the patch and one for the play;
# exits the suite when the pod does not start (no later check could run).
k8s_kube_play() {
  local port admin_port
  { read -r port && read -r admin_port; } < <(hello_free_ports 2)
  base="http://127.0.0.1:$port"
  admin="http://127.0.0.1:$admin_port"
  hello_kube_patch "$1" "$play" "$port" "$admin_port"
  result "patch for podman (k8s/tests/kubeplay_patch.py) changed exactly: replicas/hostNetwork/ports/image/pull policy/PORT/ADMIN_PORT/2 downward-API vars"
  if ! hello_kube_play "$play" "$work/play.txt"; then
    fail "podman kube play"
    cat "$work/play.txt"
    exit 1
  fi
  ok "podman kube play"
}

# k8s_port_checks: the pod k8s_kube_play started serves probes and metrics on the admin
# port (ADMIN_PORT, the manifests' port `admin`) and the API only on the public one.
k8s_port_checks() {
  local p c
  check "/readyz 200 on the admin port (ADMIN_PORT)" hello_wait_status "$admin/readyz" 200 100
  check "/healthz 200 on the admin port" test "$(hello_http_code "$admin/healthz")" = 200
  local metrics
  metrics=$(curl -s -m 2 "$admin/metrics") # (not piped into grep -q: curl would see SIGPIPE)
  grep -q '^hello_build_info{' <<<"$metrics"
  result "/metrics on the admin port serves the exposition (hello_build_info)"
  for p in /metrics /healthz /readyz; do
    c=$(hello_http_code "$base$p")
    check "$p on the public port: 404 ($c)" test "$c" = 404
  done
  c=$(hello_http_code "$admin/")
  check "/ on the admin port: not the greeting ($c)" test "$c" != 200
}
