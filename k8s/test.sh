#!/usr/bin/env bash
# Kubernetes suite: renders base, overlays and overlays + components with
# kustomize, checks style, structure, what a first real deploy depends on
# (admin port, Ingress paths, TLS issuance under the namespace's policies, one
# Kafka path, topology), schemas (several Kubernetes versions), checkov and the
# Pod Security "restricted" rules on the rendered output, then runs the dev
# overlay for real with `podman kube play` on the image built from this tree.
# Every check prints one line; any failure makes the exit non-zero.
# No `set -e`: every check runs and reports; setup steps exit explicitly.
set -uo pipefail
# shellcheck source=../scripts/env.sh source-path=SCRIPTDIR
source "$(dirname "$0")/../scripts/env.sh"
# shellcheck source=../scripts/lib/checks.sh source-path=SCRIPTDIR
source "$HELLO_ROOT/scripts/lib/checks.sh"
# K8S_VERSIONS, k8s_validate, k8s_checkov, k8s_deploy_checks, k8s_kube_play (shared with charts/test.sh)
# shellcheck source=../scripts/lib/k8s.sh source-path=SCRIPTDIR
source "$HELLO_ROOT/scripts/lib/k8s.sh"
cd "$HELLO_ROOT" || exit 1
HERE=k8s
# Kinds without a bundled schema: the prometheus-operator ones are validated in
# observability/ (CRD schemas); cert-manager's Issuer has no schema here (see
# README: what deploy_checks.py checks of it instead).
CRD_KINDS_ELSEWHERE='ServiceMonitor|PodMonitor|PrometheusRule|Issuer'
# Every component rendered on top of every overlay, and all of them at once on prod.
COMPONENTS=(otlp kafka-sink tls-existing-secret)

k8s_work dev-play.yaml # $work, and $play: brought down and removed at exit

echo "-- image (built first: its input check compares the binary with the tree as it is now)"
hello_ensure_catatonit || { # podman builds its pod infra image from it
  fail "install catatonit"
  exit 1
}
./scripts/build-image.sh || {
  fail "scripts/build-image.sh"
  exit 1
}

echo "-- style"
check "yamllint -s (repo config) on k8s/" yamllint -s -c .yamllint.yaml "$HERE"

echo "-- render (kubectl kustomize)"
render() { # render DIR NAME: $work/NAME.yaml
  if kubectl kustomize "$1" >"$work/$2.yaml" 2>"$work/$2.err"; then
    ok "$2 renders ($(grep -c '^kind:' "$work/$2.yaml") objects)"
  else
    fail "$2 renders"
    cat "$work/$2.err"
    exit 1
  fi
}
# An overlay + components, composed the way a user's overlay would
# (resources: the overlay; components: the components), from a folder in
# $work that points at the real tree by relative paths.
compose() { # compose NAME OVERLAY COMPONENT...
  local name=$1 overlay=$2 dir="$work/compose/$1"
  shift 2
  mkdir -p "$dir"
  {
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n'
    printf '  - %s\n' "$(realpath --relative-to="$dir" "$HERE/overlays/$overlay")"
    printf 'components:\n'
    for c in "$@"; do printf '  - %s\n' "$(realpath --relative-to="$dir" "$HERE/components/$c")"; done
  } >"$dir/kustomization.yaml"
  render "$dir" "$name"
}
renders=(base dev prod)
declare -A components_of=([base]="" [dev]="" [prod]="")
render "$HERE/base" base
render "$HERE/overlays/dev" dev
render "$HERE/overlays/prod" prod
for o in dev prod; do
  for c in "${COMPONENTS[@]}"; do
    compose "$o+$c" "$o" "$c"
    renders+=("$o+$c")
    components_of[$o+$c]=$c
  done
done
compose "prod+otlp+kafka-sink" prod otlp kafka-sink
renders+=("prod+otlp+kafka-sink")
components_of[prod+otlp+kafka-sink]="otlp kafka-sink"

echo "-- structure (what the kit's design asks of the objects)"
python3 "$HERE/tests/structure.py" "$HERE" "$work/base.yaml" "$work/dev.yaml" "$work/prod.yaml"
result "structure checks"

# A change of the messages must roll the pods: render a copy of the tree with
# other messages and compare the Deployment's pod template.
cp -r "$HERE" "$work/k8s-copy"
printf 'changed\n' >"$work/k8s-copy/overlays/dev/messages.txt"
kubectl kustomize "$work/k8s-copy/overlays/dev" >"$work/dev-changed.yaml"
python3 - "$work/dev.yaml" "$work/dev-changed.yaml" <<'EOF'
import sys, yaml
def template(f):
    return next(d for d in yaml.safe_load_all(open(f)) if d and d["kind"] == "Deployment")["spec"]["template"]
sys.exit(0 if template(sys.argv[1]) != template(sys.argv[2]) else 1)
EOF
result "a change of MESSAGES changes the pod template (ConfigMap name hash): pods roll"

echo "-- deploy checks (admin port, Ingress paths, TLS issuance, Kafka/OTLP paths, topology, images)"
for r in "${renders[@]}"; do
  # shellcheck disable=SC2086 # the component list splits into arguments
  k8s_deploy_checks "$r" "$work/$r.yaml" "$r" ${components_of[$r]}
done
grep '^ *ok ' "$work/deploy-prod.txt" | sed 's/^ */        prod: /'
python3 "$HERE/tests/mutations.py" "$HELLO_ROOT" "$work/prod.yaml"
result "each deploy check fails on a copy of prod with that fault put back"

echo "-- schemas (kubernetes-validate --strict, Kubernetes ${K8S_VERSIONS[*]})"
all_rendered=()
for r in "${renders[@]}"; do all_rendered+=("$work/$r.yaml"); done
k8s_validate "${#renders[@]} renders (base, overlays, overlays + components)" "$CRD_KINDS_ELSEWHERE" "${all_rendered[@]}"

echo "-- checkov (0 failed; skips only as annotations with a reason)"
k8s_checkov "k8s/ (kubernetes, kustomize, secrets)" -d "$HERE" --framework kubernetes kustomize secrets
# The overlays, and prod with every component (one scan: checkov is the slow step).
for o in dev prod prod+otlp+kafka-sink; do
  mkdir -p "$work/rendered-$o"
  cp "$work/$o.yaml" "$work/rendered-$o/$o.yaml"
  k8s_checkov "rendered $o" -d "$work/rendered-$o" --framework kubernetes
done

echo "-- Pod Security Standards, restricted profile (https://kubernetes.io/docs/concepts/security/pod-security-standards/)"
for o in dev prod; do
  python3 "$HERE/tests/pss_restricted.py" "$work/$o.yaml"
  result "overlays/$o: every pod template meets every baseline and restricted rule"
done

echo "-- podman kube play (dev overlay, image built from this tree)"
k8s_kube_play "$work/dev.yaml" # sets $base and $admin
pod=$(hello_podman pod ps --format '{{.Name}}' --filter name=hello)
ctr=$(hello_podman ps --filter "pod=$pod" --format '{{.Names}}' | grep -v -- '-infra$' | head -1)
echo "        pod $pod, container $ctr"
k8s_port_checks
python3 - "$work/dev.yaml" "$base" <<'EOF'
import sys, urllib.request, yaml
cm = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "ConfigMap" and "MESSAGES" in d.get("data", {}))
want = {m for m in cm["data"]["MESSAGES"].splitlines() if m.strip()}
got = {urllib.request.urlopen(sys.argv[2] + "/", timeout=2).read().decode().strip() for _ in range(2 * len(want))}
print(f"        ConfigMap MESSAGES {sorted(want)}, answers {sorted(got)}")
sys.exit(0 if got == want else 1)
EOF
result "/ answers with the ConfigMap's MESSAGES (each message, rotating)"
pid=$(hello_podman inspect --format '{{.State.Pid}}' "$ctr")
grep -Eq "^Uid:\s+65532\s+65532\s+65532\s+65532$" "/proc/$pid/status"
result "the process runs as uid 65532"
# (touch fails by design: its status is not piped into grep under pipefail)
! touch "/proc/$pid/root/write-probe" 2>"$work/touch.err" && grep -q "Read-only file system" "$work/touch.err"
result "a write to / fails (read-only root filesystem)"
c=$(curl -s -m 2 -o /dev/null -w '%{http_code}' -X PUT --data-binary kube-play-probe "$base/v1/scratch/kube-play-probe")
[ "${c:0:1}" = 2 ] && [ "$(curl -s -m 2 "$base/v1/scratch/kube-play-probe")" = kube-play-probe ]
result "a write to /tmp through PUT /v1/scratch succeeds ($c) and reads back"
grep -rlqx kube-play-probe "/proc/$pid/root/tmp"
result "the scratch file is on the /tmp emptyDir volume"
hello_kube_down "$play"
[ -z "$(hello_podman pod ps -q --filter "name=$pod")" ] && [ -z "$(hello_podman ps -aq --filter "pod=$pod")" ]
result "podman kube down removed the pod and its containers"

summary k8s
