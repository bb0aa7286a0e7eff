"""Models of the cluster parts that cannot run here (no API server), each
written from its specification, for deploy_checks.py to run the rendered
objects through:

- NetworkPolicy: which connections the policies admit
  (https://kubernetes.io/docs/concepts/services-networking/network-policies/).
- Ingress path matching, as ingress-nginx applies it to Exact/Prefix paths
  (https://kubernetes.io/docs/concepts/services-networking/ingress/#examples).
- The scheduler's PodTopologySpread filter
  (https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/).
- Pod admission: LimitRange defaults and bounds, ResourceQuota
  (https://kubernetes.io/docs/concepts/policy/resource-quotas/), Pod Security
  (pss_restricted.py).
- cert-manager's HTTP-01 solver Pod and Service, as built by cert-manager's
  pkg/issuer/acme/http/{pod,service}.go (buildDefaultPod, buildService,
  mergePodObjectMetaWithPodTemplate) with the controller's default flags.

This module only models; it asserts nothing.
"""
import copy
import ipaddress
import re

# --- objects ---------------------------------------------------------------


def qty(v):
    """Kubernetes quantity -> float (cores or bytes)."""
    m = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G)?", str(v))
    if not m:
        raise ValueError(f"quantity {v!r}")
    units = {None: 1, "m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    return float(m[1]) * units[m[2]]


def pod_from_template(obj):
    """A Pod as the controller of a Deployment/StatefulSet/... would create it."""
    t = obj["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": obj["metadata"].get("namespace"), "labels": dict(t["metadata"].get("labels") or {}),
                         "annotations": dict(t["metadata"].get("annotations") or {})},
            "spec": copy.deepcopy(t["spec"])}


def label_match(selector, labels):
    """metav1.LabelSelector semantics; {} matches everything."""
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


class Endpoint:
    """A pod (namespace, labels, named container ports) or an address outside the cluster."""

    def __init__(self, namespace=None, labels=None, ports=None, ip=None, ns_labels=None):
        self.namespace, self.labels, self.ip = namespace, labels or {}, ip
        self.ports = ports or {}  # name -> (port, protocol)
        self.ns_labels = dict(ns_labels or {})
        if namespace:
            self.ns_labels.setdefault("kubernetes.io/metadata.name", namespace)

    @classmethod
    def of_pod(cls, pod):
        ports = {p["name"]: (p["containerPort"], p.get("protocol", "TCP"))
                 for c in pod["spec"].get("containers") or [] for p in c.get("ports") or [] if "name" in p}
        return cls(pod["metadata"]["namespace"], pod["metadata"].get("labels"), ports)


# --- NetworkPolicy ---------------------------------------------------------


def _peer_matches(peer, policy_ns, other):
    if "ipBlock" in peer:
        if other.ip is None:
            return False  # modelled: pod traffic is matched by selectors only
        ip = ipaddress.ip_address(other.ip)
        b = peer["ipBlock"]
        return ip in ipaddress.ip_network(b["cidr"]) and not any(ip in ipaddress.ip_network(x) for x in b.get("except") or [])
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not label_match(peer["namespaceSelector"], other.ns_labels):
            return False
    elif other.namespace != policy_ns:
        return False
    return label_match(peer.get("podSelector") or {}, other.labels)


def _port_matches(rule_port, port, protocol, target):
    if rule_port.get("protocol", "TCP") != protocol:
        return False
    p = rule_port.get("port")
    if p is None:
        return True
    if isinstance(p, str):  # a named port of the destination pod
        named = target.ports.get(p)
        return named is not None and named == (port, protocol)
    return p <= port <= rule_port.get("endPort", p)


def _allowed(policies, pod, other, port, protocol, direction):
    """direction Ingress: other -> pod:port; Egress: pod -> other:port."""
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [n for n in policies if n["metadata"]["namespace"] == pod.namespace
                 and label_match(n["spec"].get("podSelector") or {}, pod.labels)
                 and direction in (n["spec"].get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in n["spec"] else [])))]
    if not selecting:
        return True  # not isolated in this direction
    target = pod if direction == "Ingress" else other
    for n in selecting:
        for rule in n["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if peers and not any(_peer_matches(p, n["metadata"]["namespace"], other) for p in peers):
                continue
            ports = rule.get("ports")
            if ports and not any(_port_matches(rp, port, protocol, target) for rp in ports):
                continue
            return True
    return False


def connection_allowed(policies, src, dst, port, protocol="TCP"):
    """src -> dst:port under every NetworkPolicy given (both ends' namespaces)."""
    egress_ok = src.namespace is None or _allowed(policies, src, dst, port, protocol, "Egress")
    ingress_ok = dst.namespace is None or _allowed(policies, dst, src, port, protocol, "Ingress")
    return egress_ok and ingress_ok


# --- Ingress ---------------------------------------------------------------


def ingress_routes(ingress, host, path):
    """The backend an Ingress sends host+path to, or None (the controller's 404)."""
    best = None
    for rule in ingress["spec"].get("rules") or []:
        if rule.get("host") not in (None, host):
            continue
        for p in (rule.get("http") or {}).get("paths") or []:
            t, want = p["pathType"], p["path"]
            if t == "Exact":
                ok = path == want
            else:  # Prefix, and ingress-nginx treats ImplementationSpecific as a prefix
                w = [s for s in want.split("/") if s]
                ok = [s for s in path.split("/") if s][:len(w)] == w
            if ok and (best is None or (t == "Exact", len(want)) > (best[0]["pathType"] == "Exact", len(best[0]["path"]))):
                best = (p, rule)
    if best:
        return best[0]["backend"]
    return (ingress["spec"].get("defaultBackend"))


# --- scheduler: PodTopologySpread filter -----------------------------------


def tolerates(pod_spec, taints):
    for t in taints:
        if t.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any((tol.get("operator") == "Exists" and tol.get("key") in (None, t["key"]))
                   or (tol.get("key") == t["key"] and tol.get("value") == t.get("value"))
                   for tol in pod_spec.get("tolerations") or []):
            return False
    return True


def node_affinity_ok(pod_spec, node):
    return all(node["labels"].get(k) == v for k, v in (pod_spec.get("nodeSelector") or {}).items())


def schedule(pod, nodes, count):
    """Place `count` copies of pod one by one; returns how many found a node.
    Filters: taints, node selector, free CPU/memory (requests), and every
    DoNotSchedule topology spread constraint with its nodeAffinityPolicy /
    nodeTaintsPolicy (defaults Honor / Ignore). Among feasible nodes the one
    with the fewest copies wins (what ScheduleAnyway constraints score)."""
    spec = pod["spec"]
    req = {r: sum(qty((c.get("resources") or {}).get("requests", {}).get(r, 0)) for c in spec["containers"])
           for r in ("cpu", "memory")}
    placed = {n["name"]: 0 for n in nodes}
    free = {n["name"]: dict(n["free"]) for n in nodes}

    def eligible_for_spread(c, n):
        if c.get("topologyKey") not in n["labels"]:
            return False
        if c.get("nodeAffinityPolicy", "Honor") == "Honor" and not node_affinity_ok(spec, n):
            return False
        if c.get("nodeTaintsPolicy", "Ignore") == "Honor" and not tolerates(spec, n["taints"]):
            return False
        return True

    def skew_ok(c, cand):
        key = c["topologyKey"]
        doms = {}
        for n in nodes:
            if eligible_for_spread(c, n):
                doms.setdefault(n["labels"][key], 0)
                doms[n["labels"][key]] += placed[n["name"]]
        if cand["labels"].get(key) is None:
            return False
        if not doms:
            return True
        return doms.get(cand["labels"][key], 0) + 1 - min(doms.values()) <= c["maxSkew"]

    for i in range(count):
        feasible = [n for n in nodes
                    if tolerates(spec, n["taints"]) and node_affinity_ok(spec, n)
                    and all(free[n["name"]][r] >= req[r] for r in req)
                    and all(skew_ok(c, n) for c in spec.get("topologySpreadConstraints") or []
                            if c["whenUnsatisfiable"] == "DoNotSchedule")]
        if not feasible:
            return i
        n = min(feasible, key=lambda x: (placed[x["name"]], x["name"]))
        placed[n["name"]] += 1
        for r in req:
            free[n["name"]][r] -= req[r]
    return count


# --- cert-manager HTTP-01 solver -------------------------------------------

SOLVER_PORT = 8089  # acmeSolverListenPort
# cert-manager controller flag defaults (--acme-http01-solver-resource-*).
SOLVER_REQUESTS = {"cpu": "10m", "memory": "64Mi"}
SOLVER_LIMITS = {"cpu": "100m", "memory": "64Mi"}


def http01_solver(issuer):
    """The first HTTP-01 ingress solver of an Issuer/ClusterIssuer, or {} (unknown: defaults)."""
    for s in ((issuer or {}).get("spec", {}).get("acme", {}).get("solvers") or []):
        if "http01" in s:
            return s["http01"].get("ingress") or {}
    return {}


def solver_objects(namespace, solver):
    """The Pod and Service cert-manager creates in the Certificate's namespace."""
    labels = {"acme.cert-manager.io/http-domain": "1", "acme.cert-manager.io/http-token": "1",
              "acme.cert-manager.io/http01-solver": "true"}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"namespace": namespace, "labels": dict(labels),
                        "annotations": {"sidecar.istio.io/inject": "false",
                                        "cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}},
           "spec": {"automountServiceAccountToken": False, "nodeSelector": {"kubernetes.io/os": "linux"},
                    "restartPolicy": "OnFailure", "enableServiceLinks": False,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "acmesolver", "image": "quay.io/jetstack/cert-manager-acmesolver",
                                    "resources": {"requests": dict(SOLVER_REQUESTS), "limits": dict(SOLVER_LIMITS)},
                                    "ports": [{"name": "http", "containerPort": SOLVER_PORT, "protocol": "TCP"}],
                                    "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                                        "capabilities": {"drop": ["ALL"]}}}]}}
    tmpl = solver.get("podTemplate") or {}
    pod["metadata"]["labels"].update((tmpl.get("metadata") or {}).get("labels") or {})
    pod["metadata"]["annotations"].update((tmpl.get("metadata") or {}).get("annotations") or {})
    tspec = tmpl.get("spec") or {}
    pod["spec"]["nodeSelector"].update(tspec.get("nodeSelector") or {})
    pod["spec"]["tolerations"] = list(tspec.get("tolerations") or [])
    for k in ("affinity", "priorityClassName", "serviceAccountName"):
        if tspec.get(k):
            pod["spec"][k] = tspec[k]
    if "securityContext" in tspec:  # replaces the default one as a whole
        pod["spec"]["securityContext"] = dict(tspec["securityContext"])
    if "resources" in tspec:  # newer cert-manager: per-issuer solver resources
        pod["spec"]["containers"][0]["resources"] = copy.deepcopy(tspec["resources"])
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"namespace": namespace, "labels": dict(labels)},
           "spec": {"type": solver.get("serviceType") or "NodePort", "selector": dict(labels),
                    "ports": [{"name": "http", "port": SOLVER_PORT, "targetPort": SOLVER_PORT}]}}
    return pod, svc


# --- admission: LimitRange, ResourceQuota ----------------------------------

COMPUTE = ("cpu", "memory", "ephemeral-storage")


def apply_limitranges(pod, limitranges):
    """LimitRanger: fill defaults into each container, then validate min/max.
    Returns (mutated pod, list of rejections)."""
    pod = copy.deepcopy(pod)
    errors = []
    for lr in limitranges:
        for lim in lr["spec"]["limits"]:
            if lim["type"] != "Container":
                continue
            for c in pod["spec"]["containers"] + (pod["spec"].get("initContainers") or []):
                res = c.setdefault("resources", {})
                lims, reqs = res.setdefault("limits", {}), res.setdefault("requests", {})
                for r in list(lims):  # API defaulting first: a limit without a request is the request
                    reqs.setdefault(r, lims[r])
                for r, v in (lim.get("default") or {}).items():
                    lims.setdefault(r, v)
                for r, v in (lim.get("defaultRequest") or {}).items():
                    reqs.setdefault(r, v)
                for r, v in (lim.get("min") or {}).items():
                    for kind, vals in (("request", reqs), ("limit", lims)):
                        if r in vals and qty(vals[r]) < qty(v):
                            errors.append(f'{c["name"]}: {r} {kind} {vals[r]} below LimitRange min {v}')
                for r, v in (lim.get("max") or {}).items():
                    if r not in lims:
                        errors.append(f'{c["name"]}: no {r} limit, LimitRange max {v} requires one')
                    elif qty(lims[r]) > qty(v):
                        errors.append(f'{c["name"]}: {r} limit {lims[r]} above LimitRange max {v}')
                for r in reqs:
                    if r in lims and qty(reqs[r]) > qty(lims[r]):
                        errors.append(f'{c["name"]}: {r} request {reqs[r]} above its limit {lims[r]}')
    return pod, errors


def pod_usage(pod):
    u = {"pods": 1}
    for kind in ("requests", "limits"):
        for r in COMPUTE:
            vals = [(c.get("resources") or {}).get(kind, {}).get(r) for c in pod["spec"]["containers"]]
            u[f"{kind}.{r}"] = None if any(v is None for v in vals) else sum(qty(v) for v in vals)
    return u


def quota_admits_pod(quota, used, pod):
    """ResourceQuota on Pod create: every quota'd compute resource must be
    set, and used + this pod must stay within hard. Returns rejections."""
    hard = quota["spec"]["hard"]
    u = pod_usage(pod)
    errors = []
    for k, v in hard.items():
        if k == "pods" or re.fullmatch(r"(requests|limits)\.(cpu|memory|ephemeral-storage)", k):
            if u.get(k) is None:
                errors.append(f"must specify {k}")
            elif used.get(k, 0) + u[k] > qty(v):
                errors.append(f"exceeded quota {k}: used {used.get(k, 0):g} + {u[k]:g} > {qty(v):g}")
    return errors


def quota_admits_service(quota, services, svc):
    hard = quota["spec"]["hard"]
    errors = []
    all_svcs = services + [svc]
    counts = {"services": len(all_svcs),
              "services.nodeports": sum(s["spec"].get("type") in ("NodePort", "LoadBalancer") for s in all_svcs),
              "services.loadbalancers": sum(s["spec"].get("type") == "LoadBalancer" for s in all_svcs)}
    for k, n in counts.items():
        if k in hard and n > qty(hard[k]):
            errors.append(f'exceeded quota {k}: {n} > {hard[k]} (solver Service type {svc["spec"]["type"]})')
    return errors
