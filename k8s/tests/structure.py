"""Asserts what the kit's design asks of the objects, on the rendered base and
overlays (deploy_checks.py covers what a first real deploy depends on).
Prints one line per failed assertion.

usage: structure.py K8S_DIR BASE.yaml DEV.yaml PROD.yaml
"""
import glob
import math
import os
import re
import sys

import yaml

errors = []


def need(cond, msg):
    if not cond:
        errors.append(msg)


def load(f):
    return [d for d in yaml.safe_load_all(open(f)) if d]


def by_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def one(objs, kind, where):
    found = by_kind(objs, kind)
    need(len(found) == 1, f"{where}: expected one {kind}, found {len(found)}")
    return found[0] if found else {}


def qty(v):
    """Kubernetes quantity -> float (cores or bytes)."""
    m = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G)?", str(v))
    units = {None: 1, "m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    return float(m[1]) * units[m[2]]


def env_of(c):
    return {e["name"]: e for e in c.get("env") or []}


def check_common(objs, where):
    labels = ("name", "instance", "version", "component", "part-of")
    for o in objs:
        md = o["metadata"]
        ident = f'{where}: {o["kind"]}/{md["name"]}'
        for k in labels:
            need(f"app.kubernetes.io/{k}" in (md.get("labels") or {}), f"{ident}: label app.kubernetes.io/{k} missing")
        if o["kind"] != "Namespace":
            need(md.get("namespace") == "hello", f"{ident}: namespace is not hello")

    ns = one(objs, "Namespace", where)
    nl = ns.get("metadata", {}).get("labels", {})
    for mode in ("enforce", "audit", "warn"):
        need(nl.get(f"pod-security.kubernetes.io/{mode}") == "restricted", f"{where}: PSA {mode} is not restricted")
        need(re.fullmatch(r"v1\.\d+", nl.get(f"pod-security.kubernetes.io/{mode}-version", "")),
             f"{where}: PSA {mode}-version not pinned")
    sa = one(objs, "ServiceAccount", where)
    need(sa.get("automountServiceAccountToken") is False, f"{where}: ServiceAccount automounts its token")

    dep = one(objs, "Deployment", where)
    spec, tpl = dep["spec"], dep["spec"]["template"]["spec"]
    need(spec["selector"]["matchLabels"] == {"app.kubernetes.io/name": "hello"}, f"{where}: Deployment selector")
    need(spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, f"{where}: maxUnavailable is not 0")
    for f in ("minReadySeconds", "progressDeadlineSeconds", "revisionHistoryLimit"):
        need(f in spec, f"{where}: Deployment {f} missing")
    need(tpl.get("automountServiceAccountToken") is False, f"{where}: pod automounts a token")
    need(tpl.get("serviceAccountName") == "hello", f"{where}: pod service account")
    keys = {t["topologyKey"] for t in tpl.get("topologySpreadConstraints") or []}
    need({"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= keys, f"{where}: topology spread {keys}")
    psc = tpl.get("securityContext", {})
    need(psc.get("runAsUser") == 65532 and psc.get("runAsGroup") == 65532 and psc.get("runAsNonRoot") is True,
         f"{where}: pod uid/gid 65532, runAsNonRoot")
    need(len(tpl["containers"]) == 1, f"{where}: one container")
    c = tpl["containers"][0]
    sc = c.get("securityContext", {})
    need(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
         and sc.get("capabilities", {}).get("drop") == ["ALL"]
         and sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{where}: container securityContext")
    need(c.get("ports") == [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                            {"name": "admin", "containerPort": 8081, "protocol": "TCP"}], f"{where}: ports http 8080, admin 8081")
    for p, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        need(c.get(p, {}).get("httpGet", {}).get("path") == path and c[p]["httpGet"].get("port") == "admin",
             f"{where}: {p} on {path} port admin")
    need("exec" not in ((c.get("lifecycle") or {}).get("preStop") or {}), f"{where}: exec preStop (no shell in image)")
    res = c.get("resources", {})
    for k in ("requests", "limits"):
        need({"cpu", "memory"} <= set(res.get(k, {})), f"{where}: resources.{k} cpu and memory")
    names = [e["name"] for e in c.get("env") or []]
    need(len(names) == len(set(names)), f"{where}: duplicate env names {names}")
    env = env_of(c)
    ref = env.get("MESSAGES", {}).get("valueFrom", {}).get("configMapKeyRef", {})
    cms = {o["metadata"]["name"]: o for o in by_kind(objs, "ConfigMap")}
    need(ref.get("key") == "MESSAGES" and ref.get("name", "").startswith("message-config")
         and "MESSAGES" in cms.get(ref.get("name"), {}).get("data", {}),
         f"{where}: MESSAGES from ConfigMap message-config (rendered: {ref.get('name')})")
    for var, path in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace"),
                      ("NODE_NAME", "spec.nodeName")):
        need(env.get(var, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == path,
             f"{where}: {var} from the downward API {path}")
    drain = int(env.get("SHUTDOWN_DRAIN_SECONDS", {}).get("value", 5))
    longest = int(env.get("REQUEST_TIMEOUT_SECONDS", {}).get("value", 10))
    need(tpl.get("terminationGracePeriodSeconds", 30) > drain + longest,
         f"{where}: terminationGracePeriodSeconds not above drain {drain} + longest request {longest}")
    quota_bytes = int(env.get("SCRATCH_QUOTA_BYTES", {}).get("value", 32 * 2**20))
    tmp = [v for v in tpl.get("volumes") or [] if "emptyDir" in v]
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts") or []}
    need(len(tmp) == 1 and mounts.get(tmp[0]["name"]) == "/tmp"
         and qty(tmp[0]["emptyDir"].get("sizeLimit", "0")) > quota_bytes,
         f"{where}: /tmp emptyDir with a sizeLimit above SCRATCH_QUOTA_BYTES")

    svcs = {s["metadata"]["name"]: s for s in by_kind(objs, "Service")}
    need(set(svcs) == {"hello", "hello-admin"}, f"{where}: Services {sorted(svcs)}")
    svc = svcs.get("hello", {})
    need(svc.get("spec", {}).get("ports") == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
         and svc["spec"].get("selector") == {"app.kubernetes.io/name": "hello"}, f"{where}: Service hello 80 -> http")
    ing = one(objs, "Ingress", where)
    need(ing.get("spec", {}).get("ingressClassName") == "nginx" and ing["spec"].get("tls"), f"{where}: Ingress nginx + TLS")
    ann = ing.get("metadata", {}).get("annotations", {})
    need(any(k.startswith("cert-manager.io/") and k.endswith("issuer") for k in ann), f"{where}: cert-manager issuer")
    for a in ("proxy-body-size", "limit-rps", "limit-connections", "custom-headers"):
        need(f"nginx.ingress.kubernetes.io/{a}" in ann, f"{where}: Ingress annotation {a}")
    hdr = ann.get("nginx.ingress.kubernetes.io/custom-headers", "/").split("/")[1]
    need(hdr in cms, f"{where}: custom-headers ConfigMap {hdr} rendered")
    one(objs, "PodDisruptionBudget", where)
    one(objs, "ResourceQuota", where)
    one(objs, "LimitRange", where)

    nps = by_kind(objs, "NetworkPolicy")
    need(any(n["spec"]["podSelector"] == {} and set(n["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
             and not n["spec"].get("ingress") and not n["spec"].get("egress") for n in nps),
         f"{where}: default-deny NetworkPolicy (ingress and egress)")

    def peers(direction):
        for n in nps:
            for rule in n["spec"].get(direction) or []:
                for peer in rule.get("from" if direction == "ingress" else "to") or []:
                    ns_name = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                    yield ns_name, {p.get("port") for p in rule.get("ports") or []}

    ing_peers, eg_peers = list(peers("ingress")), list(peers("egress"))
    # (namespace, ports) of every allowance: exactly these, nothing broader.
    want_in = {("ingress-nginx", frozenset({"http"})), ("monitoring", frozenset({"admin"})),
               ("ingress-nginx", frozenset({8089}))}
    need({(n, frozenset(p)) for n, p in ing_peers} == want_in, f"{where}: ingress allowances {ing_peers}")
    need({(n, frozenset(p)) for n, p in eg_peers} == {("kube-system", frozenset({53}))},
         f"{where}: egress allowances {eg_peers} (OTLP and Kafka are components)")
    return dep, c, env


def main():
    k8s, base_f, dev_f, prod_f = sys.argv[1:5]
    # One Kubernetes resource per file in the base.
    for f in sorted(glob.glob(os.path.join(k8s, "base", "*.yaml")) + glob.glob(os.path.join(k8s, "components", "*", "*.yaml"))):
        if os.path.basename(f) != "kustomization.yaml":
            need(len(load(f)) == 1, f"{f}: not exactly one resource")

    base = load(base_f)
    check_common(base, "base")
    hpa = one(base, "HorizontalPodAutoscaler", "base")
    need(hpa.get("apiVersion") == "autoscaling/v2", "base: HPA autoscaling/v2")
    need({m["resource"]["name"] for m in hpa.get("spec", {}).get("metrics", [])} == {"cpu", "memory"}, "base: HPA on cpu and memory")
    need(hpa.get("spec", {}).get("behavior", {}).get("scaleDown", {}).get("stabilizationWindowSeconds", 0) > 0,
         "base: HPA scale-down stabilisation")

    dev = load(dev_f)
    dep, c, env = check_common(dev, "dev")
    need(dep["spec"].get("replicas") == 1, "dev: 1 replica")
    need(not by_kind(dev, "HorizontalPodAutoscaler"), "dev: no HPA (fixed single replica)")
    need(env.get("FAULT_INJECTION", {}).get("value") == "true", "dev: FAULT_INJECTION=true")
    need(env.get("RUST_LOG", {}).get("value") == "debug", "dev: RUST_LOG=debug")

    prod = load(prod_f)
    dep, c, env = check_common(prod, "prod")
    need(re.search(r"@sha256:[0-9a-f]{64}$", c["image"]), f"prod: image not pinned by digest: {c['image']}")
    need("checkov.io/skip1" not in (dep["metadata"].get("annotations") or {}), "prod: the digest-check skip is still there")
    need(env.get("FAULT_INJECTION", {}).get("value", "false") == "false", "prod: fault injection on")
    need(env.get("RUST_LOG", {}).get("value") == "info", "prod: RUST_LOG=info")
    hpa = one(prod, "HorizontalPodAutoscaler", "prod")
    hs = hpa.get("spec", {})
    need(hs.get("minReplicas", 0) >= 3 and hs.get("maxReplicas", 0) >= hs.get("minReplicas", 0), "prod: HPA min >= 3")
    need("replicas" not in dep["spec"] or dep["spec"]["replicas"] >= 3, "prod: replicas set below 3")
    # The namespace quota fits the HPA maximum plus a full rolling-update surge.
    quota = one(prod, "ResourceQuota", "prod").get("spec", {}).get("hard", {})
    surge = dep["spec"]["strategy"]["rollingUpdate"].get("maxSurge", "25%")
    max_pods = hs.get("maxReplicas", 0)
    max_pods += math.ceil(max_pods * int(surge[:-1]) / 100) if str(surge).endswith("%") else int(surge)
    need(max_pods <= int(quota.get("pods", 0)), f"prod: quota pods {quota.get('pods')} < {max_pods}")
    for k in ("requests", "limits"):
        for r in ("cpu", "memory"):
            total = max_pods * qty(c["resources"][k][r])
            need(total <= qty(quota.get(f"{k}.{r}", "0")), f"prod: quota {k}.{r} below {max_pods} pods' worth")

    for e in errors:
        print("        " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
