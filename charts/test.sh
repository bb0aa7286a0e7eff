#!/usr/bin/env bash
# Helm chart suite: the generated parts are current, helm lint, the values schema refuses
# typos, every toggle renders (Helm v4 as a library, helm-python-sdk) and is validated the
# way k8s/test.sh validates the kustomize output (Kubernetes schemas, CRD schemas, checkov,
# Pod Security restricted, the deploy checks), the default render equals the kustomize
# prod render object by object (charts/tests/allowlist.yaml lists the intended
# differences), and the rendered Deployment + ConfigMap run under `podman kube play`.
# Every check prints one line; any failure makes the exit non-zero.
# No `set -e`: every check runs and reports; setup steps exit explicitly.
set -uo pipefail
# shellcheck source=../scripts/env.sh source-path=SCRIPTDIR
source "$(dirname "$0")/../scripts/env.sh"
# shellcheck source=../scripts/lib/checks.sh source-path=SCRIPTDIR
source "$HELLO_ROOT/scripts/lib/checks.sh"
# K8S_VERSIONS, k8s_validate, k8s_checkov, k8s_deploy_checks, k8s_kube_play: the same as k8s/test.sh's
# shellcheck source=../scripts/lib/k8s.sh source-path=SCRIPTDIR
source "$HELLO_ROOT/scripts/lib/k8s.sh"
cd "$HELLO_ROOT" || exit 1
# Custom resources without a bundled Kubernetes schema: prometheus-operator kinds are
# checked against observability/schemas/crds below; cert-manager's Issuer has none here.
CRD_KINDS='ServiceMonitor|PrometheusRule|Issuer'
# Variant -> the k8s/components it corresponds to, for k8s/tests/deploy_checks.py.
declare -A DEPLOY_COMPONENTS=([default]="" [kafka-on]="kafka-sink" [otlp-on]="otlp" [tls-own-secret]="tls-existing-secret")

k8s_work play.yaml # $work, and $play: brought down and removed at exit
PY="$HELLO_ROOT/.tools/py/bin/python"
if ! "$PY" -c 'import helm_python' 2>/dev/null; then
  fail "helm-python-sdk not installed in .tools/py (run scripts/install-tools.sh)"
  exit 1
fi

echo "-- style and generated files"
shellcheck charts/test.sh
result "shellcheck charts/test.sh"
yamllint -s -c .yamllint.yaml charts/hello/values.yaml charts/hello/Chart.yaml charts/tests/allowlist.yaml
result "yamllint (repo config) on values.yaml, Chart.yaml, allowlist.yaml"
"$PY" charts/generate.py --check
result "charts/generate.py --check: files/ = observability/ + grafana/ byte for byte, README values table = values.yaml, schema keys = values keys"

echo "-- helm lint (Helm $("$PY" -c 'import helm_python as h; print(h.helm_sdk_version())') as a library)"
steps "$PY" charts/tests/chart.py lint

echo "-- values schema"
steps "$PY" charts/tests/chart.py schema

echo "-- render every toggle"
mkdir -p "$work/r"
steps "$PY" charts/tests/chart.py render "$work/r"
steps "$PY" charts/tests/chart.py rolls
steps "$PY" charts/tests/chart.py package
steps "$PY" charts/tests/chart.py notes "$work/r"
renders=("$work"/r/*.yaml)

echo "-- the chart = the kustomize tree (object by object)"
steps "$PY" charts/tests/chart.py compare "$work/r"
# The install command of both READMEs labels the namespace like k8s/base/namespace.yaml.
python3 - k8s/base/namespace.yaml README.md charts/hello/README.md <<'EOF'
import re, sys, yaml
want = {k: v for k, v in yaml.safe_load(open(sys.argv[1]))["metadata"]["labels"].items() if k.startswith("pod-security")}
bad = 0
for f in sys.argv[2:]:
    lines = [l for l in open(f) if "kubectl label namespace" in l]
    got = [dict(re.findall(r"(pod-security\.kubernetes\.io/[a-z-]+)=(\S+)", l)) for l in lines]
    ok = bool(got) and all(g == want for g in got)
    bad += not ok
    print(f"        {f}: {'same' if ok else 'DIFFERENT'} Pod Security labels as k8s/base/namespace.yaml: {got or 'no kubectl label namespace line'}")
sys.exit(1 if bad else 0)
EOF
result "the READMEs' install commands label the namespace with k8s/base/namespace.yaml's Pod Security labels"

echo "-- schemas (kubernetes-validate --strict, Kubernetes ${K8S_VERSIONS[*]})"
k8s_validate "${#renders[@]} renders" "$CRD_KINDS" "${renders[@]}"
python3 observability/lib/crds.py observability/schemas/crds "${renders[@]}" >"$work/crds.txt"
result "ServiceMonitor and PrometheusRules of every render valid against the prometheus-operator CRD schemas ($(grep -c 'valid against' "$work/crds.txt") objects)"
grep -q FAIL "$work/crds.txt" && sed 's/^/      /' "$work/crds.txt"

echo "-- checkov (every render, one scan)"
mkdir -p "$work/checkov"
cp "${renders[@]}" "$work/checkov/"
k8s_checkov "on ${#renders[@]} renders" -d "$work/checkov" --framework kubernetes

echo "-- Pod Security Standards, restricted profile (k8s/tests/pss_restricted.py)"
for r in "${renders[@]}"; do
  python3 k8s/tests/pss_restricted.py "$r" >"$work/pss.txt"
  result "$(basename "$r" .yaml): every pod template meets every baseline and restricted rule"
done

echo "-- deploy checks (k8s/tests/deploy_checks.py: admin port, Ingress paths, TLS issuance, Kafka/OTLP paths, topology)"
for v in "${!DEPLOY_COMPONENTS[@]}"; do
  # shellcheck disable=SC2086 # the component list splits into arguments
  k8s_deploy_checks "$v (+ namespace.create)" "$work/r/$v+ns.yaml" "chart $v" ${DEPLOY_COMPONENTS[$v]}
done

echo "-- podman kube play (the default render's Deployment + ConfigMap, image built from this tree)"
hello_ensure_catatonit || { # podman builds its pod infra image from it
  fail "install catatonit"
  exit 1
}
if ! hello_podman image exists "$HELLO_IMAGE"; then
  [ -x "$HELLO_BIN" ] || ./scripts/build-static.sh || {
    fail "scripts/build-static.sh"
    exit 1
  }
  ./scripts/build-image.sh >"$work/build.txt" 2>&1 || {
    fail "scripts/build-image.sh"
    cat "$work/build.txt"
    exit 1
  }
fi
python3 - "$work/r/default.yaml" "$work/smoke.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
dep = next(d for d in docs if d["kind"] == "Deployment")
cm = dep["spec"]["template"]["spec"]["containers"][0]["env"]
names = {e["valueFrom"]["configMapKeyRef"]["name"] for e in cm if "configMapKeyRef" in e.get("valueFrom", {})}
keep = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] in names] + [dep]
yaml.safe_dump_all(keep, open(sys.argv[2], "w"), sort_keys=False)
EOF
k8s_kube_play "$work/smoke.yaml" # sets $base and $admin
k8s_port_checks
python3 - charts/hello/values.yaml "$base" <<'EOF'
import sys, urllib.request, yaml
want = set(yaml.safe_load(open(sys.argv[1]))["messages"])
got = {urllib.request.urlopen(sys.argv[2] + "/", timeout=2).read().decode().strip() for _ in range(2 * len(want))}
print(f"        values.yaml messages {sorted(want)}, answers {sorted(got)}")
sys.exit(0 if got == want else 1)
EOF
result "/ on the public port answers with the chart's messages (values.yaml -> ConfigMap -> MESSAGES)"
hello_kube_down "$play"
[ -z "$(hello_podman pod ps -q --filter name=hello)" ]
result "podman kube down removed the pod"

summary charts
