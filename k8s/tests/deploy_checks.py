"""What a first deploy on a real cluster depends on, checked on one rendered
output (base, an overlay, or an overlay + components) through the models in
cluster.py. Prints one line per check; exit 1 if any fails.

usage: deploy_checks.py REPO_ROOT RENDERED.yaml LABEL [COMPONENT...]
COMPONENT: the k8s/components/* rendered in (otlp, kafka-sink, tls-existing-secret).

Peers are the real ones, named once here: the ingress-nginx controller and
Prometheus as their Helm charts label them; the OpenTelemetry Collector and
fluentd's Kafka topic are read from the repository's own manifests.
"""
import math
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.dirname(__file__))
import cluster as C  # noqa: E402
import pss_restricted  # noqa: E402

# ingress-nginx Helm chart (namespace ingress-nginx) and kube-prometheus-stack (namespace monitoring).
CONTROLLER = C.Endpoint("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": "ingress-nginx",
                                          "app.kubernetes.io/component": "controller"})
PROMETHEUS = C.Endpoint("monitoring", {"app.kubernetes.io/name": "prometheus", "prometheus": "kube-prometheus-stack-prometheus"})
GRAFANA = C.Endpoint("monitoring", {"app.kubernetes.io/name": "grafana"})
STRANGER = C.Endpoint("default", {"app": "anything"})
KUBE_DNS = C.Endpoint("kube-system", {"k8s-app": "kube-dns"})
INTERNET = C.Endpoint(ip="203.0.113.7")
# Paths the Ingress must not route (the admin routes, build details, the API).
NOT_PUBLIC = ["/metrics", "/readyz", "/healthz", "/version", "/v1/", "/v1/scratch/x", "/v1/status/500",
              "/v1/delay/100", "/v1/panic", "/metrics/", "//metrics", "/index.html"]

results = []


def check(ok, what, detail=""):
    results.append(bool(ok))
    print(f'        {"ok  " if ok else "FAIL"} {what}' + (f": {detail}" if detail and not ok else ""))


def by_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def named(objs, kind, name):
    return next((o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name), None)


def env_of(c):
    return {e["name"]: e.get("value") for e in c.get("env") or []}


def max_pods(dep, hpa):
    n = (hpa or {}).get("spec", {}).get("maxReplicas") or dep["spec"].get("replicas", 1)
    surge = str(dep["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxSurge", "25%"))
    return n + (math.ceil(n * int(surge[:-1]) / 100) if surge.endswith("%") else int(surge))


def main():
    root, rendered, label, comps = sys.argv[1], sys.argv[2], sys.argv[3], set(sys.argv[4:])
    objs = [d for d in yaml.safe_load_all(open(rendered)) if d]
    nps = by_kind(objs, "NetworkPolicy")
    dep = named(objs, "Deployment", "hello")
    hpa = named(objs, "HorizontalPodAutoscaler", "hello")
    pod = C.pod_from_template(dep)
    c = pod["spec"]["containers"][0]
    env = env_of(c)
    hello = C.Endpoint.of_pod(pod)
    ns = dep["metadata"]["namespace"]
    print(f"      {label}")

    # --- admin port ---------------------------------------------------------
    ports = {p["name"]: p["containerPort"] for p in c.get("ports") or []}
    check(ports == {"http": 8080, "admin": 8081}, "container ports http 8080 and admin 8081", ports)
    check(env.get("PORT") == str(ports.get("http")) and env.get("ADMIN_PORT") == str(ports.get("admin")),
          "env PORT / ADMIN_PORT match the container ports", f'PORT={env.get("PORT")} ADMIN_PORT={env.get("ADMIN_PORT")}')
    for p, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        g = (c.get(p) or {}).get("httpGet", {})
        check(g.get("path") == path and g.get("port") == "admin", f"{p} {path} on port admin", g)
    svc = named(objs, "Service", "hello")
    check(svc and svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
          "Service hello publishes only 80 -> http", svc and svc["spec"]["ports"])
    adm = named(objs, "Service", "hello-admin")
    check(adm and adm["spec"].get("clusterIP") == "None"
          and adm["spec"]["ports"] == [{"name": "admin", "port": 8081, "targetPort": "admin", "protocol": "TCP"}]
          and adm["spec"].get("selector") == {"app.kubernetes.io/name": "hello"}
          and adm["metadata"]["labels"].get("app.kubernetes.io/name") == "hello"
          and adm["metadata"]["labels"].get("app.kubernetes.io/component") == "metrics",
          "headless Service hello-admin: port admin, labels name=hello component=metrics (ServiceMonitor selector)",
          adm and (adm["metadata"]["labels"], adm["spec"]))
    # The ServiceMonitor (observability/) must pick exactly this Service and scrape its admin port.
    sm = yaml.safe_load(open(os.path.join(root, "observability/prometheus/servicemonitor.yaml")))
    picked = [s["metadata"]["name"] for s in by_kind(objs, "Service")
              if s["metadata"]["namespace"] in sm["spec"]["namespaceSelector"]["matchNames"]
              and C.label_match(sm["spec"]["selector"], s["metadata"].get("labels"))]
    check(picked == ["hello-admin"] and [e["port"] for e in sm["spec"]["endpoints"]] == ["admin"],
          "observability/prometheus/servicemonitor.yaml selects only hello-admin and scrapes port admin",
          f'selects {picked}, ports {[e["port"] for e in sm["spec"]["endpoints"]]}')
    others = [s["metadata"]["name"] for s in by_kind(objs, "Service") if s["metadata"]["name"] != "hello-admin"
              and any(p.get("targetPort") in ("admin", 8081) for p in s["spec"]["ports"])]
    check(not others, "no other Service reaches the admin port", others)
    matrix = [(CONTROLLER, "http", True), (CONTROLLER, "admin", False), (PROMETHEUS, "admin", True),
              (PROMETHEUS, "http", False), (GRAFANA, "admin", False), (STRANGER, "http", False),
              (STRANGER, "admin", False), (C.Endpoint(ns, {"run": "debug"}), "admin", False), (hello, "admin", False)]
    for src, pname, want in matrix:
        got = C.connection_allowed(nps, src, hello, ports.get(pname, 0))
        check(got == want, f'NetworkPolicy: {src.namespace}/{src.labels.get("app.kubernetes.io/name") or src.labels} '
              f'-> hello:{pname} {"allowed" if want else "denied"}', f"got {'allowed' if got else 'denied'}")

    # --- Ingress publishes the greeting only -------------------------------
    ing = named(objs, "Ingress", "hello")
    host = ing["spec"]["rules"][0]["host"]
    root_backend = C.ingress_routes(ing, host, "/")
    check(root_backend == {"service": {"name": "hello", "port": {"name": "http"}}}, "Ingress routes / to hello:http", root_backend)
    routed = [p for p in NOT_PUBLIC if C.ingress_routes(ing, host, p)]
    check(not routed, f"Ingress routes none of {' '.join(NOT_PUBLIC)}", f"routed: {routed}")
    check("defaultBackend" not in ing["spec"], "Ingress has no defaultBackend")

    # --- TLS: the certificate can be issued --------------------------------
    ann = ing["metadata"].get("annotations") or {}
    tls = ing["spec"].get("tls") or []
    check(tls and all(t.get("secretName") for t in tls)
          and {r["host"] for r in ing["spec"]["rules"]} <= {h for t in tls for h in t.get("hosts", [])},
          "Ingress TLS covers every host with a secret")
    quota = by_kind(objs, "ResourceQuota")[0]
    limitranges = by_kind(objs, "LimitRange")
    if "tls-existing-secret" in comps:
        check(not any(k.startswith("cert-manager.io/") for k in ann) and not by_kind(objs, "Issuer")
              and not named(objs, "NetworkPolicy", "allow-acme-http01-solver"),
              "bring-your-own certificate: no cert-manager annotation, Issuer or solver allowance left")
    else:
        issuer_name = ann.get("cert-manager.io/issuer")
        issuer = named(objs, "Issuer", issuer_name) if issuer_name else None
        check(issuer is not None, f"the Ingress's Issuer is in the kit (cert-manager.io/issuer: {issuer_name})",
              f"annotations {sorted(k for k in ann if 'cert-manager' in k)}: a ClusterIssuer's solver is not known here "
              "(cert-manager defaults: NodePort Service)")
        solver = C.http01_solver(issuer)
        check(solver.get("ingressClassName", solver.get("class")) == ing["spec"]["ingressClassName"],
              "the HTTP-01 solver uses the Ingress's controller class", solver)
        spod, ssvc = C.solver_objects(ns, solver)
        spod, lr_errors = C.apply_limitranges(spod, limitranges)
        check(not lr_errors, "solver Pod admitted by the LimitRange", lr_errors)
        nsobj = by_kind(objs, "Namespace")[0]
        level = nsobj["metadata"]["labels"].get("pod-security.kubernetes.io/enforce")
        psa = [f"{name}: {v}" for prof, name, rule in pss_restricted.RULES
               if level == "restricted" or prof == level for v in rule(spod["spec"], spod["metadata"])]
        check(not psa, f"solver Pod admitted by Pod Security ({level})", psa)
        used = {k: 0 for k in quota["spec"]["hard"]}
        app = C.apply_limitranges(pod, limitranges)[0]
        n = max_pods(dep, hpa)
        for k, v in C.pod_usage(app).items():
            used[k] = (v or 0) * n
        q = C.quota_admits_pod(quota, used, spod)
        check(not q, f"solver Pod fits the ResourceQuota next to {n} hello pods (HPA max + surge)", q)
        qs = C.quota_admits_service(quota, by_kind(objs, "Service"), ssvc)
        check(not qs, f'solver Service (type {ssvc["spec"]["type"]}) admitted by the ResourceQuota', qs)
        secrets = len(by_kind(objs, "Secret")) + len(tls) * 2 + (1 if issuer else 0)  # cert + temporary key, account key
        hard = int(quota["spec"]["hard"].get("secrets", 10**9))
        check(secrets <= hard, f"quota secrets {hard} holds the TLS, pending-key and ACME account Secrets ({secrets})")
        sp = C.Endpoint.of_pod(spod)
        check(C.connection_allowed(nps, CONTROLLER, sp, C.SOLVER_PORT),
              "NetworkPolicy: ingress controller -> solver Pod :8089 allowed")
        check(not C.connection_allowed(nps, PROMETHEUS, sp, C.SOLVER_PORT)
              and not C.connection_allowed(nps, STRANGER, sp, C.SOLVER_PORT),
              "NetworkPolicy: nobody else reaches the solver Pod")

    # --- one Kafka write path per line --------------------------------------
    agg = yaml.safe_load(open(os.path.join(root, "fluentd/base/aggregator/statefulset.yaml")))
    fluentd_topic = env_of(agg["spec"]["template"]["spec"]["containers"][0]).get("KAFKA_TOPIC")
    kafka = C.Endpoint("logging", {"app.kubernetes.io/name": "kafka"})
    if "kafka-sink" in comps:
        check(env.get("KAFKA_BROKERS"), "kafka-sink: KAFKA_BROKERS set")
        check(env.get("KAFKA_LOG_TOPIC") and env["KAFKA_LOG_TOPIC"] != fluentd_topic,
              f"kafka-sink: its own topic {env.get('KAFKA_LOG_TOPIC')}, not fluentd's {fluentd_topic} "
              "(unset = the app's default hello-logs)")
        check(C.connection_allowed(nps, hello, kafka, 9092), "kafka-sink: NetworkPolicy allows hello -> logging:9092")
    else:
        kenv = sorted(k for k in env if k.startswith("KAFKA_"))
        check(not kenv, f"one Kafka write path per line: no KAFKA_* in the pod (fluentd ships stdout to {fluentd_topic})", kenv)
        check(not C.connection_allowed(nps, hello, kafka, 9092), "no egress to Kafka without the kafka-sink component")

    # --- OTLP only towards the collector the kit deploys ---------------------
    osvc = yaml.safe_load(open(os.path.join(root, "observability/otel-collector/service.yaml")))
    odep = yaml.safe_load(open(os.path.join(root, "observability/otel-collector/deployment.yaml")))
    grpc = next(p["port"] for p in osvc["spec"]["ports"] if p["name"] == "otlp-grpc")
    want = f'http://{osvc["metadata"]["name"]}.{osvc["metadata"]["namespace"]}.svc.cluster.local:{grpc}'
    collector = C.Endpoint.of_pod(C.pod_from_template(odep))
    collector.namespace = odep["metadata"]["namespace"]
    collector.ns_labels = {"kubernetes.io/metadata.name": collector.namespace}
    otlp_vars = sorted(k for k in env if re.match(r"OTEL_EXPORTER_OTLP_(TRACES_)?ENDPOINT$", k))
    if "otlp" in comps:
        check(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") == want and env.get("OTEL_EXPORTER_OTLP_PROTOCOL") == "grpc",
              f"otlp: endpoint is the kit's collector Service {want} (grpc)", env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
        check(C.connection_allowed(nps, hello, collector, grpc), f"otlp: NetworkPolicy allows hello -> collector pods :{grpc}")
    else:
        check(not otlp_vars, "no OTLP endpoint without the otlp component", otlp_vars)
        check(not C.connection_allowed(nps, hello, collector, grpc), "no egress to the collector without the otlp component")
    check(C.connection_allowed(nps, hello, KUBE_DNS, 53, "UDP"), "NetworkPolicy allows DNS")
    check(not C.connection_allowed(nps, hello, INTERNET, 443), "no egress to the internet")

    # --- topology spread never caps the scale-out ---------------------------
    tsc = pod["spec"].get("topologySpreadConstraints") or []
    check(tsc and all(t.get("nodeTaintsPolicy") == "Honor" and t.get("nodeAffinityPolicy") == "Honor" for t in tsc),
          "topology spread: nodeTaintsPolicy and nodeAffinityPolicy Honor on every constraint",
          [(t["topologyKey"], t.get("nodeTaintsPolicy"), t.get("nodeAffinityPolicy")) for t in tsc])

    def node(name, zone, free_cpu=4, taints=()):
        return {"name": name, "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone,
                                         "kubernetes.io/os": "linux"},
                "taints": list(taints), "free": {"cpu": free_cpu, "memory": 16 * 2**30}}
    cp = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    n = max_pods(dep, hpa)
    for desc, nodes in (
            ("3 workers + a tainted control-plane node", [node("cp", "a", taints=[cp]), node("w1", "a"), node("w2", "b"),
                                                          node("w3", "c")]),
            ("4 workers, one of them full", [node("w1", "a"), node("w2", "b"), node("w3", "c"), node("w4", "c", free_cpu=0)])):
        placed = C.schedule(pod, nodes, n)
        check(placed == n, f"scheduler model: {n} pods (HPA max + surge) all placed on {desc}", f"{placed} placed")

    # --- images: tag + digest ----------------------------------------------
    for o in objs:
        if "template" in o.get("spec", {}):
            for ct in o["spec"]["template"]["spec"].get("containers", []) + o["spec"]["template"]["spec"].get("initContainers", []):
                check(re.fullmatch(r"[^@\s]+:[\w.-]+@sha256:[0-9a-f]{64}", ct["image"]),
                      f'{o["kind"]}/{o["metadata"]["name"]} image by tag + digest', ct["image"])
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
