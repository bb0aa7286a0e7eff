#!/usr/bin/env bash
# fluentd suite: what can be checked without fluentd (it cannot be installed
# here, see README "What is tested"):
#   1. YAML style; both overlays render; they differ only where they should
#   2. kubernetes-validate --strict (1.31), CRD schemas for the monitoring CRs
#   3. checkov: 0 failed, and only the justified skips
#   4. fluentd config syntax, plugins the pinned image ships, routing, policies
#   5. PrometheusRule: promtool check + unit tests
#   6. the CRI contract against the real service's stdout (needs $HELLO_BIN)
#      and another container's JSON lines with odd or missing timestamps
#   7. negative controls: broken inputs must make checks 1 and 4-6 fail
# Exits non-zero on any failure; last line: "fluentd: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=scripts/env.sh
source scripts/env.sh

F=fluentd
WORK="$(mktemp -d)"
cleanup() {
  hello_stop 2>/dev/null # the service, if a check left it running (scripts/lib/hello.sh)
  rm -rf "$WORK"
}
trap cleanup EXIT

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "  ok   $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL $*"; }
run() { # run "what" cmd... : one check, output shown indented
  local what="$1"; shift
  local out
  if out="$("$@" 2>&1)"; then ok "$what"; else bad "$what"; fi
  [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/       /' | tail -n 40
  return 0
}
expect_fail() { # a negative control: the command must fail
  local what="$1"; shift
  if "$@" >"$WORK/neg.out" 2>&1; then bad "negative control did not fail: $what"; else ok "negative control fails: $what"; fi
}

echo "== tools"
# Ruby runs the contract check: fluentd's regexes and time parsing are Ruby's.
# ruby-strptime is the same strptime gem (0.2.5) fluentd uses in the image.
if ! command -v ruby >/dev/null 2>&1 || ! ruby -e 'require "strptime"' >/dev/null 2>&1; then
  echo "  installing ruby ruby-strptime (Debian)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 ruby ruby-strptime >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 ruby ruby-strptime >/dev/null; }
fi
run "ruby $(ruby -e 'print RUBY_VERSION' 2>/dev/null) with strptime $(ruby -e 'require "strptime"; print Strptime::VERSION' 2>/dev/null)" \
  ruby -e 'require "strptime"'
PY="$HELLO_ROOT/.tools/py/bin/python"

echo "== 1. style and rendering"
run "shellcheck fluentd/test.sh" shellcheck -x "$F/test.sh"
run "yamllint fluentd/" yamllint -s -c .yamllint.yaml "$F"
for o in active-active active-passive; do
  run "kustomize renders overlays/$o" sh -c "kubectl kustomize $F/overlays/$o > $WORK/$o.yaml"
done
for o in active-active active-passive; do
  "$PY" "$F/tools/fluentconf.py" dump "$WORK/$o.yaml" fluentd-forwarder-config >"$WORK/$o.fwd.json" 2>/dev/null
  "$PY" "$F/tools/fluentconf.py" dump "$WORK/$o.yaml" fluentd-aggregator-config >"$WORK/$o.agg.json" 2>/dev/null
done
topology() { # prints "<servers> <standby servers>" of the forward output
  "$PY" -c '
import json, sys
def walk(e):
    yield e
    for c in e["children"]:
        yield from walk(c)
s = [e for e in walk(json.load(open(sys.argv[1]))) if e["name"] == "server"]
print(len(s), sum(e["params"].get("standby") == "true" for e in s))' "$1"
}
run "active-active: forwarders spread over 2 aggregators, no standby ($(topology "$WORK/active-active.fwd.json"))" \
  test "$(topology "$WORK/active-active.fwd.json")" = "2 0"
run "active-passive: 1 active + 1 standby aggregator ($(topology "$WORK/active-passive.fwd.json"))" \
  test "$(topology "$WORK/active-passive.fwd.json")" = "2 1"
run "the overlays differ only in the forwarder ConfigMap" "$PY" -c '
import sys, yaml
def load(p):
    return {(d["kind"], d["metadata"]["name"].rsplit("-", 1)[0] if d["kind"] == "ConfigMap" else d["metadata"]["name"]): d
            for d in yaml.safe_load_all(open(p)) if d}
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys(), a.keys() ^ b.keys()
diff = sorted(k for k in a if a[k] != b[k] and k != ("ConfigMap", "fluentd-forwarder-config"))
# the DaemonSet differs only by the ConfigMap hash it mounts
ds = ("DaemonSet", "fluentd-forwarder")
diff = [k for k in diff if k != ds]
assert not diff, diff
print(len(a), "objects in each")' "$WORK/active-active.yaml" "$WORK/active-passive.yaml"

# Forwarders start while aggregators are absent: their <server> names are the
# StatefulSet's pod names under its headless Service, which publishes pods
# that are not ready yet (a forwarder also ignores names that do not resolve
# at start-up: checked with the config in 4).
discovery() { # discovery RENDERED.yaml FORWARDER.json
  "$PY" - "$1" "$2" <<'PYEOF'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
sts = next(d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "fluentd-aggregator")
svc = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == sts["spec"]["serviceName"])
errors = []
if svc["spec"].get("clusterIP") != "None":
    errors.append(f"Service {svc['metadata']['name']} is not headless")
if svc["spec"].get("publishNotReadyAddresses") is not True:
    errors.append(f"Service {svc['metadata']['name']}: publishNotReadyAddresses is not true "
                  "(an aggregator that is not ready has no DNS name, forwarders cannot even try it)")
ns = sts["metadata"]["namespace"]
pods = {f"{sts['metadata']['name']}-{i}.{svc['metadata']['name']}.{ns}.svc.cluster.local"
        for i in range(sts["spec"]["replicas"])}
port = next(p["port"] for p in svc["spec"]["ports"] if p["name"] == "forward")
def walk(e):
    yield e
    for c in e["children"]:
        yield from walk(c)
servers = [e["params"] for e in walk(json.load(open(sys.argv[2]))) if e["name"] == "server"]
hosts = {s["host"] for s in servers}
if hosts != pods:
    errors.append(f"<server> hosts {sorted(hosts)} != the StatefulSet's pods {sorted(pods)}")
if any(int(s.get("port", 24224)) != port for s in servers):
    errors.append(f"a <server> port is not the Service's forward port {port}")
for e in errors:
    print(e)
print(f"{len(servers)} servers = {sts['spec']['replicas']} pods of {sts['metadata']['name']} under headless "
      f"Service {svc['metadata']['name']} (publishNotReadyAddresses {svc['spec'].get('publishNotReadyAddresses')})")
sys.exit(1 if errors else 0)
PYEOF
}
for o in active-active active-passive; do
  run "overlays/$o: <server> names are the aggregator pods under a headless Service that publishes not-ready pods" \
    discovery "$WORK/$o.yaml" "$WORK/$o.fwd.json"
done

echo "== 2. schemas"
CRD_DIR="$HELLO_ROOT/observability/schemas/crds"
for o in active-active active-passive; do
  kubernetes-validate -k 1.31.0 --strict - <"$WORK/$o.yaml" >"$WORK/kv.$o.out" 2>&1
  kv_rc=$?
  unexpected="$(grep -E "Couldn't find schema" "$WORK/kv.$o.out" | grep -vE 'kind (PodMonitor|ServiceMonitor|PrometheusRule) ')"
  if [ "$kv_rc" -eq 0 ] && ! grep -qE '^(ERROR|CRITICAL)' "$WORK/kv.$o.out" && [ -z "$unexpected" ]; then
    ok "kubernetes-validate --strict 1.31.0: $o ($(grep -c 'passed for resource' "$WORK/kv.$o.out") resources)"
  else
    bad "kubernetes-validate --strict 1.31.0: $o"; grep -vE '^INFO' "$WORK/kv.$o.out" | sed 's/^/       /'
  fi
done
for kind in PodMonitor ServiceMonitor PrometheusRule; do
  crd="$CRD_DIR/monitoring.coreos.com_$(echo "$kind" | tr '[:upper:]' '[:lower:]')s.yaml"
  "$PY" - "$crd" "$WORK/active-active.yaml" "$kind" "$WORK" <<'EOF'
import json, sys, yaml
crd = yaml.safe_load(open(sys.argv[1]))
schema = next(v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v["name"] == "v1")
# The CRD's Go regex "^(?i)(abort|warn)?$" uses an inline flag that the
# ECMAScript regex dialect of JSON Schema lacks: spell it case by case.
text = json.dumps(schema).replace('"^(?i)(abort|warn)?$"', '"^([aA][bB][oO][rR][tT]|[wW][aA][rR][nN])?$"')
open(f"{sys.argv[4]}/{sys.argv[3]}.schema.json", "w").write(text)
docs = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d and d["kind"] == sys.argv[3]]
json.dump(docs[0], open(f"{sys.argv[4]}/{sys.argv[3]}.json", "w"))
EOF
  run "$kind matches the prometheus-operator v0.93.0 CRD schema" \
    check-jsonschema --schemafile "$WORK/$kind.schema.json" "$WORK/$kind.json"
done

echo "== 3. checkov"
# Exactly these skips, each justified on its object (see README "Security").
EXPECTED_SKIPS="CKV_K8S_23:DaemonSet.logging.fluentd-forwarder
CKV_K8S_38:DaemonSet.logging.fluentd-forwarder
CKV_K8S_40:DaemonSet.logging.fluentd-forwarder
CKV_K8S_43:DaemonSet.logging.fluentd-forwarder
CKV_K8S_43:StatefulSet.logging.fluentd-aggregator"
for o in active-active active-passive; do
  mkdir -p "$WORK/ck-$o" && cp "$WORK/$o.yaml" "$WORK/ck-$o/rendered.yaml"
  checkov -d "$WORK/ck-$o" --framework kubernetes --skip-download --compact -o json >"$WORK/ck-$o.json" 2>/dev/null
  "$PY" - "$WORK/ck-$o.json" "$EXPECTED_SKIPS" "$o" >"$WORK/ck.out" 2>&1 <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
r = r[0] if isinstance(r, list) else r
s = r["summary"]
skips = sorted(f'{c["check_id"]}:{c["resource"]}' for c in r["results"]["skipped_checks"])
failed = [f'{c["check_id"]} {c["resource"]}' for c in r["results"]["failed_checks"]]
print(f"checkov {sys.argv[3]}: passed {s['passed']}, failed {s['failed']}, skipped {s['skipped']}")
for f in failed:
    print("  failed:", f)
want = sorted(sys.argv[2].split())
if skips != want:
    print("  skips differ from the justified list:", sorted(set(skips) ^ set(want)))
sys.exit(0 if not failed and skips == want and s["passed"] > 0 else 1)
EOF
  rc=$?
  if [ $rc -eq 0 ]; then ok "$(head -1 "$WORK/ck.out")"; else bad "$(head -1 "$WORK/ck.out")"; sed 's/^/       /' "$WORK/ck.out"; fi
done
checkov -d "$F" --framework kustomize --skip-download --compact --quiet >"$WORK/ck-kz.out" 2>&1
kz_rc=$?
run "checkov --framework kustomize fluentd/ ($(grep -E 'Passed checks' "$WORK/ck-kz.out" | tr -d '\n'))" test "$kz_rc" -eq 0

echo "== 4. fluentd config"
run "configs parse, plugins are shipped by the image, routes and policies hold" \
  "$PY" "$F/tools/fluentconf.py" check "$WORK/active-active.yaml" "$WORK/active-passive.yaml"

# The README's `fluentd --dry-run` commands (outside a cluster): they extract
# the ConfigMaps this suite checks, and set every environment variable the
# configs read without a default (an unset KAFKA_BROKERS fails kafka2's
# configure). Name resolution is covered by ignore_network_errors_at_startup.
dryrun_doc() {
  "$PY" - "$F/README.md" "$WORK/active-active.yaml" <<'PYEOF'
import re, sys, yaml
readme = open(sys.argv[1]).read()
block = re.search(r"<!-- dry-run -->\n```bash\n(.*?)```", readme, re.S)
if not block:
    sys.exit("README has no <!-- dry-run --> command block")
cmds = block.group(1)
errors = []
for d in yaml.safe_load_all(open(sys.argv[2])):
    if not d or d["kind"] != "ConfigMap" or "fluent.conf" not in d["data"]:
        continue
    cm = d["metadata"]["name"].rsplit("-", 1)[0]
    line = next((l for l in cmds.splitlines() if "--dry-run" in l and f"/{cm}:" in l), None)
    if not re.search(rf"fluentconf.py extract \S+ {cm} ", cmds) or not line:
        errors.append(f"no extract + dry-run command for {cm}")
        continue
    text = "".join(d["data"].values())
    envs = set(re.findall(r"#\{ENV\['(\w+)'\]\}", text))
    missing = sorted(e for e in envs if f"-e {e}=" not in line)
    if missing:
        errors.append(f"{cm}: the dry-run command does not set {missing}")
    print(f"{cm}: dry-run command sets {sorted(envs) or 'no variables'}")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PYEOF
}
run "README's fluentd --dry-run commands extract both configs and set every variable they read" dryrun_doc

echo "== 5. PrometheusRule"
"$PY" - "$WORK/active-active.yaml" "$WORK/rules.yaml" <<'EOF'
import sys, yaml
groups = [g for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "PrometheusRule"
          for g in d["spec"]["groups"]]
yaml.safe_dump({"groups": groups}, open(sys.argv[2], "w"), sort_keys=False)
EOF
cp "$F/monitoring/prometheusrule.test.yaml" "$WORK/"
run "every alert: severity, summary, description, runbook_url to a section of fluentd/RUNBOOK.md" \
  "$PY" observability/lib/promrules.py extract "$WORK/active-active.yaml" "$WORK/rules-meta.yaml" "$F/RUNBOOK.md" "$F/monitoring"
run "promtool check rules" promtool check rules "$WORK/rules.yaml"
run "promtool test rules (prometheusrule.test.yaml)" promtool test rules "$WORK/prometheusrule.test.yaml"

echo "== 6. CRI contract against the real service"
run "the CRI writer splits lines where containerd does" python3 "$F/tools/cri_wrap.py" --self-test
contract() { # contract FORWARDER.json AGGREGATOR.json [CRI variant]
  local v="${3:-small}"
  ruby "$F/tools/cri_contract.rb" "$1" "$2" "$WORK/cri-$v.log" "$WORK/hello.stdout" "$WORK/time-samples.txt" \
    "$(cat "$WORK/cri-$v.maxlen")" "$WORK/cri-other.log" "$F/tools/other-container-lines.jsonl" \
    "$([ "$v" = small ] && echo require-partial)"
}
have_capture=false
if [ ! -x "$HELLO_BIN" ]; then
  bad "the service binary is missing: $HELLO_BIN (scripts/build-static.sh builds it)"
else
  # The kernel picks both ports; the start-up line says which. stdout in
  # $WORK/hello.stdout, stderr in $WORK/hello.stderr.
  hello_start hello "$WORK" FAULT_INJECTION=true RUST_LOG=info SHUTDOWN_DRAIN_SECONDS=1 ||
    bad "the service started and became ready"
  base="http://127.0.0.1:$HELLO_PUBLIC_PORT"
  echo "  hello on port $HELLO_PUBLIC_PORT, admin port $HELLO_ADMIN_PORT"
  tp="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
  c() { curl -s -m 5 -o /dev/null -w '%{http_code} ' "$@"; }
  printf '  requests:'
  c "$base/"
  c -H 'Accept: application/json' "$base/"
  c "$base/version"
  c -H "traceparent: $tp" "$base/v1/status/500"
  c -X PUT --data-binary 'scratch data' "$base/v1/scratch/contract-key"
  c "$base/v1/scratch/contract-key"
  c "$base/no/such/route"
  # The longest lines the service writes (it truncates long values).
  c -A "contract-test/$(head -c 7000 /dev/zero | tr '\0' 'u')" "$base/"
  c "$base/$(head -c 7000 /dev/zero | tr '\0' 'p')"
  echo
  sleep 0.5
  hello_rc=0
  hello_stop || hello_rc=$?
  run "the service exited 0 on SIGTERM" test "$hello_rc" -eq 0
  echo "  captured $(wc -l <"$WORK/hello.stdout") stdout lines, longest $(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$WORK/hello.stdout") bytes"
  # The service writes nothing but JSON to stdout; plain text on stderr is what
  # other containers write, and must pass through unparsed.
  printf 'plain text on stderr\npanic: not JSON either\n' >"$WORK/stderr.txt"
  # Two runtimes: containerd's default 16 KiB line limit, and one configured
  # with max_container_log_line_size = 256, so the service's real lines
  # (it truncates long values: none reach 16 KiB) are split into P records.
  echo 16384 >"$WORK/cri-default.maxlen"
  echo 256 >"$WORK/cri-small.maxlen"
  for v in default small; do
    python3 "$F/tools/cri_wrap.py" "$WORK/cri-$v.log" stdout="$WORK/hello.stdout" stderr="$WORK/stderr.txt" \
      --max-len "$(cat "$WORK/cri-$v.maxlen")"
  done
  python3 "$F/tools/cri_wrap.py" --time-samples >"$WORK/time-samples.txt"
  # Another container on the node: JSON lines with odd or missing timestamps.
  python3 "$F/tools/cri_wrap.py" "$WORK/cri-other.log" stdout="$F/tools/other-container-lines.jsonl"
  have_capture=true
  for o in active-active active-passive; do
    run "contract with overlays/$o, runtime line limit 256 B" contract "$WORK/$o.fwd.json" "$WORK/$o.agg.json" small
  done
  run "contract with overlays/active-active, containerd default 16 KiB limit" \
    contract "$WORK/active-active.fwd.json" "$WORK/active-active.agg.json" default
fi

echo "== 7. negative controls (each broken input must fail its check)"
mutate() { # mutate IN OUT OLD NEW: replace text in the rendered fluentd ConfigMaps
  "$PY" - "$@" <<'EOF'
import sys, yaml
src, dst, old, new = sys.argv[1:]
docs = [d for d in yaml.safe_load_all(open(src)) if d]
n = 0
for d in docs:
    if d["kind"] == "ConfigMap":
        for k, v in d["data"].items():
            n += v.count(old)
            d["data"][k] = v.replace(old, new)
assert n, f"mutation target not found: {old!r}"
yaml.safe_dump_all(docs, open(dst, "w"), sort_keys=False)
EOF
}
R="$WORK/active-active.yaml"
m="$WORK/mut.yaml"
mutate "$R" "$m" "@type kafka2" "@type kafka3" && expect_fail "an output plugin the image does not ship" "$PY" "$F/tools/fluentconf.py" check "$m"
mutate "$R" "$m" "    require_ack_response true" "    require_ack_response false" && expect_fail "forward without acks" "$PY" "$F/tools/fluentconf.py" check "$m"
mutate "$R" "$m" "  </filter>" "  </match>" && expect_fail "a section closed by the wrong tag" "$PY" "$F/tools/fluentconf.py" check "$m"
mutate "$R" "$m" "@label @KUBERNETES" "@label @KUBERNETEZ" && expect_fail "a reference to an undefined label" "$PY" "$F/tools/fluentconf.py" check "$m"
mutate "$R" "$m" "    ignore_network_errors_at_startup true" "" && expect_fail "forward output that exits while an aggregator does not resolve" "$PY" "$F/tools/fluentconf.py" check "$m"
mutate "$R" "$m" "<label @ERROR>" "<label @ERRORS>" && expect_fail "records reported to @ERROR with no <label @ERROR>" "$PY" "$F/tools/fluentconf.py" check "$m"
mutate "$R" "$m" "    reserve_time true" "    reserve_time false" && expect_fail "a JSON parser filter that can drop a line for its time" "$PY" "$F/tools/fluentconf.py" check "$m"
"$PY" - "$R" "$m" <<'PYEOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "Service" and d["metadata"]["name"] == "fluentd-aggregator":
        del d["spec"]["publishNotReadyAddresses"]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"), sort_keys=False)
PYEOF
expect_fail "an aggregator Service that hides pods that are not ready" discovery "$m" "$WORK/active-active.fwd.json"
sed 's/> 600/> 6000/' "$WORK/rules.yaml" >"$WORK/neg-rules.yaml" && sed 's/rules.yaml/neg-rules.yaml/' "$WORK/prometheusrule.test.yaml" >"$WORK/neg-test.yaml"
expect_fail "a changed alert threshold" promtool test rules "$WORK/neg-test.yaml"
if $have_capture; then
  neg_contract() { # neg_contract WHAT OLD NEW
    mutate "$R" "$m" "$2" "$3" &&
      "$PY" "$F/tools/fluentconf.py" dump "$m" fluentd-forwarder-config >"$WORK/neg.fwd.json" &&
      expect_fail "$1" contract "$WORK/neg.fwd.json" "$WORK/active-active.agg.json"
  }
  neg_contract "concat joins partial records with a newline" 'separator ""' 'separator "\n"'
  neg_contract "CRI time format without a zone-aware fallback" "time_format_fallbacks %Y-%m-%dT%H:%M:%S%z" "time_format_fallbacks %Y-%m-%dT%H:%M:%S.%N%z"
  neg_contract "the CRI regex names the message group differently" "(?<log>.*)" "(?<msg>.*)"
  neg_contract "reserve_time true in the time step (CRI time instead of the app's)" "reserve_time false" "reserve_time true"
  neg_contract "the time expression accepts ten fraction digits" '(?:\.\d{1,9})?' '(?:\.\d{1,10})?'
  neg_contract "the JSON step reads timestamp itself (drops epoch numbers)" "time_key fluentd_json_time_unused" "time_key timestamp"
  neg_contract "records with the CRI time are not reported (not counted)" "    emit_invalid_record_to_error true" "    emit_invalid_record_to_error false"
  neg_contract "the app time format in microseconds" "time_format %Y-%m-%dT%H:%M:%S.%N%z
      time_format_fallbacks" "time_format %Y-%m-%dT%H:%M:%S.%6N%z
      time_format_fallbacks"
  neg_contract "concat deletes the stream field" "partial_cri_stream_key cri_stream_unused" "partial_cri_stream_key stream"
else
  bad "contract negative controls not run (no capture of the service)"
fi

echo "fluentd: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
