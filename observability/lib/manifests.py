#!/usr/bin/env python3
"""Cross-manifest checks for observability/test.sh (what schemas cannot see).

  manifests.py selector REPO_ROOT RENDERED_YAML...
      The Prometheus selector label is written once: no manifest under fluentd/,
      observability/ or grafana/ sets `release:` itself (only the
      observability/prometheus-selector component does), and every ServiceMonitor,
      PodMonitor and PrometheusRule rendered carries exactly the component's value.
  scrape SERVICEMONITOR_RENDERED K8S_RENDERED
      The hello ServiceMonitor selects exactly one Service of the rendered workload,
      headless, with a port named as the endpoint, whose targetPort is a container port
      of that name on the pods the Service selects.
  collector OTEL_RENDERED CONFIG_YAML
      The collector's own metrics are scraped (a ServiceMonitor on a Service port whose
      target is the container port of service.telemetry.metrics), and the OTLP
      exporter states its TLS: insecure true exactly when the backend placeholder is an
      in-cluster (*.svc.cluster.local) plaintext endpoint.
  metrics-server RENDERED
      Image pinned by tag and digest, tag = app.kubernetes.io/version everywhere, and
      no --kubelet-insecure-tls (kubelet serving certificates are verified; README).
"""
import re
import sys
from pathlib import Path

import yaml

CR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def docs(*files):
    for f in files:
        for d in yaml.safe_load_all(Path(f).read_text()):
            if d:
                yield d


def selector(root, *rendered):
    root = Path(root)
    comp_file = root / "observability/prometheus-selector/selector-label.yaml"
    errors = []
    if comp_file.exists():
        want = yaml.safe_load(comp_file.read_text())["labels"]
    else:
        errors.append(f"{comp_file.relative_to(root)} is missing: the selector label has no single place")
        want = {"release": "kube-prometheus-stack"}
    for folder in ("fluentd", "observability", "grafana"):
        for f in sorted((root / folder).rglob("*.yaml")):
            if "node_modules" in f.parts or "schemas" in f.parts or f.parent.name == "prometheus-selector":
                continue
            for d in yaml.safe_load_all(f.read_text()):
                labels = (d or {}).get("metadata", {}).get("labels", {}) if isinstance(d, dict) else {}
                if any(k in labels for k in want):
                    errors.append(f"{f.relative_to(root)}: sets {sorted(set(want) & set(labels))} itself "
                                  "(the value belongs in observability/prometheus-selector only)")
    n = 0
    for d in docs(*rendered):
        if d.get("kind") in CR_KINDS:
            n += 1
            labels = d["metadata"].get("labels", {})
            for k, v in want.items():
                if labels.get(k) != v:
                    errors.append(f"{d['kind']}/{d['metadata']['name']}: label {k}={labels.get(k)!r}, want {v!r}")
    print(f"  {n} ServiceMonitor/PodMonitor/PrometheusRule objects carry {want} from the component")
    if n == 0:
        errors.append("no prometheus-operator object rendered")
    return errors


def matches(selector_labels, labels):
    return all(labels.get(k) == v for k, v in selector_labels.items())


def scrape(sm_rendered, k8s_rendered):
    errors = []
    sm = next(d for d in docs(sm_rendered) if d["kind"] == "ServiceMonitor" and d["metadata"]["name"] == "hello")
    sel = sm["spec"]["selector"]["matchLabels"]
    ns = sm["spec"]["namespaceSelector"]["matchNames"]
    port = sm["spec"]["endpoints"][0]["port"]
    objs = list(docs(k8s_rendered))
    svcs = [d for d in objs if d["kind"] == "Service" and d["metadata"].get("namespace") in ns
            and matches(sel, d["metadata"].get("labels", {}))]
    if len(svcs) != 1:
        return [f"ServiceMonitor hello selects {len(svcs)} Services ({[s['metadata']['name'] for s in svcs]}), want 1"]
    svc = svcs[0]
    sp = next((p for p in svc["spec"]["ports"] if p.get("name") == port), None)
    if sp is None:
        return [f"Service {svc['metadata']['name']} has no port named {port}"]
    if svc["spec"].get("clusterIP") != "None":
        errors.append(f"Service {svc['metadata']['name']} is not headless")
    pods = [d for d in objs if d["kind"] == "Deployment"
            and matches(svc["spec"]["selector"], d["spec"]["template"]["metadata"].get("labels", {}))]
    cports = {p.get("name"): p["containerPort"] for d in pods for c in d["spec"]["template"]["spec"]["containers"]
              for p in c.get("ports", [])}
    if not pods or sp["targetPort"] not in cports:
        errors.append(f"targetPort {sp['targetPort']} is not a named container port of the selected pods ({cports})")
    print(f"  ServiceMonitor hello -> Service {svc['metadata']['name']} port {port} -> container port "
          f"{sp['targetPort']}={cports.get(sp['targetPort'])}")
    return errors


def collector(rendered, config):
    errors = []
    objs = list(docs(rendered))
    cfg = yaml.safe_load(Path(config).read_text())
    mport = int(cfg["service"]["telemetry"]["metrics"]["address"].rsplit(":", 1)[1])
    sms = [d for d in objs if d["kind"] in ("ServiceMonitor", "PodMonitor")]
    dep = next(d for d in objs if d["kind"] == "Deployment")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    cports = {p["name"]: p["containerPort"] for p in c["ports"]}
    scraped = False
    for sm in sms:
        for ep in sm["spec"].get("endpoints", []):
            for svc in (d for d in objs if d["kind"] == "Service"
                        and matches(sm["spec"]["selector"]["matchLabels"], d["metadata"].get("labels", {}))):
                sp = next((p for p in svc["spec"]["ports"] if p.get("name") == ep.get("port")), None)
                if sp and cports.get(sp["targetPort"]) == mport:
                    scraped = True
    if not scraped:
        errors.append(f"no ServiceMonitor scrapes the collector's own metrics (container port {mport})")
    exp = cfg["exporters"]["otlp"]
    tls = exp.get("tls")
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    var = re.fullmatch(r"\$\{env:(\w+)\}", exp["endpoint"])
    endpoint = env.get(var.group(1)) if var else exp["endpoint"]
    in_cluster = bool(re.match(r"^(http://)?[\w.-]+\.svc(\.cluster\.local)?:\d+$", endpoint or ""))
    if not isinstance(tls, dict) or "insecure" not in tls:
        errors.append("exporters.otlp.tls.insecure is not set: the exporter would use TLS by default")
    elif tls["insecure"] is not in_cluster:
        errors.append(f"exporters.otlp.tls.insecure={tls['insecure']} but the backend {endpoint!r} is "
                      f"{'an in-cluster plaintext' if in_cluster else 'an external (TLS)'} endpoint")
    print(f"  collector metrics :{mport} scraped: {scraped}; OTLP exporter -> {endpoint} tls {tls}")
    return errors


def metrics_server(rendered):
    errors = []
    dep = next(d for d in docs(rendered) if d["kind"] == "Deployment")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    m = re.fullmatch(r"[\w./-]+:(v[\d.]+)@sha256:[0-9a-f]{64}", c["image"])
    if not m:
        errors.append(f"image {c['image']} is not pinned by tag and digest")
    versions = {d["metadata"].get("labels", {}).get("app.kubernetes.io/version") for d in docs(rendered)} - {None}
    if not m or versions != {m.group(1)}:
        errors.append(f"app.kubernetes.io/version labels {sorted(versions)} != image tag {m and m.group(1)}")
    if any(a.startswith("--kubelet-insecure-tls") for a in c.get("args", [])):
        errors.append("--kubelet-insecure-tls: kubelet serving certificates must be verified (README)")
    print(f"  {c['image']}, args {c.get('args')}")
    return errors


def main(argv):
    cmd, args = argv[1], argv[2:]
    errors = {"selector": selector, "scrape": scrape, "collector": collector,
              "metrics-server": metrics_server}[cmd](*args)
    for e in errors:
        print(f"  FAIL {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
