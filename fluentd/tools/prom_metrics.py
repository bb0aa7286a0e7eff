#!/usr/bin/env python3
"""The fluentd part of the operational contract against the rendered fluentd manifests and
config (fluentd cannot run here, so its /metrics cannot be scraped: what it exports is
read from the config it would run and the plugin's documented families).

  prom_metrics.py CONTRACT_JSON RENDERED.yaml RULES_FILE DASHBOARD_DIR

CONTRACT_JSON is `jsonnet observability/mixin/contract.jsonnet` (its `fluentd` section),
RENDERED.yaml a rendered overlay, RULES_FILE the fluentd rule groups as a Prometheus rules
file, DASHBOARD_DIR grafana/dashboards. Fails when:
  - a workload that mounts a fluentd config is not in the contract's namespace or its pods
    are not named with the contract's podPrefix (the alerts would not select them);
  - a config has no `<source> @type prometheus`, its port is not the container port
    `metrics`, or no PodMonitor/ServiceMonitor scrapes that port of the workload's pods;
  - a metric of the contract is not exported: `source: <type>` needs that <source> in a
    config and the family listed under it in ../plugin-metrics.txt (fluent-plugin-prometheus
    2.2); `source: config` needs a <metric> of that name in a config;
  - a config declares a <metric> the contract does not list;
  - a rule names a metric that is neither a contract fluentd metric nor Prometheus' `up`,
    or a dashboard query names a fluentd_* metric the contract does not list.
"""
import json
import os
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "observability" / "lib"))
import fluentconf  # noqa: E402
from contract import metric_names  # noqa: E402
import dashboards  # noqa: E402

PLUGIN_METRICS = HERE.parent / "plugin-metrics.txt"
DEFAULT_PORT = "24231"   # in_prometheus's default


def plugin_families(path=PLUGIN_METRICS):
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].split()
        if line:
            out.setdefault(line[0], set()).add(line[1])
    return out


def subset(sel, labels):
    return all(labels.get(k) == v for k, v in (sel or {}).items())


def scraped_by(docs, wl, port_name, port):
    """Names of the PodMonitors/ServiceMonitors that scrape port `port` of wl's pods."""
    ns, pod_labels = wl["metadata"]["namespace"], wl["spec"]["template"]["metadata"].get("labels", {})
    found = []
    for d in docs:
        if d["metadata"].get("namespace") != ns:
            continue
        if d["kind"] == "PodMonitor" and subset(d["spec"]["selector"].get("matchLabels"), pod_labels):
            if any(e.get("port") == port_name for e in d["spec"].get("podMetricsEndpoints", [])):
                found.append(f"PodMonitor {d['metadata']['name']}")
        if d["kind"] == "ServiceMonitor":
            for svc in docs:
                if svc["kind"] != "Service" or svc["metadata"].get("namespace") != ns:
                    continue
                if not (subset(d["spec"]["selector"].get("matchLabels"), svc["metadata"].get("labels", {}))
                        and subset(svc["spec"].get("selector"), pod_labels)):
                    continue
                targets = {p["name"]: str(p.get("targetPort", p["port"])) for p in svc["spec"].get("ports", [])}
                if any(targets.get(e.get("port")) in (port_name, port) for e in d["spec"].get("endpoints", [])):
                    found.append(f"ServiceMonitor {d['metadata']['name']} (Service {svc['metadata']['name']})")
    return found


def main(contract_file, rendered, rules_file, dash_dir):
    c = json.loads(Path(contract_file).read_text())
    f = c["fluentd"]
    declared = {m["name"]: (key, m["source"]) for key, m in f["metrics"].items()}
    families = plugin_families()
    docs = [d for d in yaml.safe_load_all(Path(rendered).read_text()) if d]
    configs = dict(fluentconf.configmaps(rendered))
    errors = []

    # ---- each fluentd workload: where the contract says, exporting and scraped
    exported = {}   # metric -> [role, ...]
    own = {}        # <metric> names the configs declare -> [role, ...]
    roles = 0
    for wl in (d for d in docs if d["kind"] in ("DaemonSet", "StatefulSet", "Deployment")):
        vols = wl["spec"]["template"]["spec"].get("volumes", [])
        cms = [v["configMap"]["name"] for v in vols if "configMap" in v and v["configMap"]["name"] in configs]
        if not cms:
            continue
        roles += 1
        role, ns = wl["metadata"]["name"], wl["metadata"].get("namespace")
        if ns != f["namespace"]:
            errors.append(f"{wl['kind']} {role}: namespace {ns!r}, the contract's fluentd.namespace is {f['namespace']!r}")
        if not role.startswith(f["podPrefix"]):
            errors.append(f"{wl['kind']} {role}: its pods are not named {f['podPrefix']}... (fluentd.podPrefix): "
                          "the alerts would not select them")
        root = fluentconf.parse(configs[cms[0]])
        sources = [e for e in fluentconf.walk(root) if e.name == "source"]
        endpoint = [s for s in sources if s.get("@type") == "prometheus"]
        if not endpoint:
            errors.append(f"{role}: its config has no <source> @type prometheus: it exports no metric")
            continue
        port = endpoint[0].get("port", DEFAULT_PORT)
        cports = {str(p["containerPort"]): p.get("name") for ctr in wl["spec"]["template"]["spec"]["containers"]
                  for p in ctr.get("ports", [])}
        if cports.get(port) != "metrics":
            errors.append(f"{role}: in_prometheus listens on {port}, which is not the container port named metrics ({cports})")
        monitors = scraped_by(docs, wl, "metrics", port)
        if not monitors:
            errors.append(f"{role}: no PodMonitor or ServiceMonitor scrapes port metrics ({port}) of its pods")
        types = sorted({s.get("@type") for s in sources if s.get("@type") in families})
        for t in types:
            for name in families[t]:
                exported.setdefault(name, []).append(role)
        mine = sorted({m.get("name") for e in fluentconf.walk(root) if e.get("@type") == "prometheus" and e.name != "source"
                       for m in e.children if m.name == "metric"})
        for name in mine:
            own.setdefault(name, []).append(role)
            exported.setdefault(name, []).append(role)
        print(f"  {role} ({ns}): in_prometheus :{port}, scraped by {', '.join(monitors) or 'nothing'}; "
              f"monitor inputs {', '.join(types) or 'none'}; own <metric>s {', '.join(mine) or 'none'}")
    if roles == 0:
        errors.append(f"{rendered}: no workload mounts a fluentd config")

    # ---- the contract's metrics are exported, from where it says
    for name, (key, source) in sorted(declared.items()):
        if source == "config":
            ok = name in own
        else:
            ok = name in families.get(source, set()) and name in exported
            if name not in families.get(source, set()):
                errors.append(f"fluentd.metrics.{key}: {name} is not a family of {source} in {PLUGIN_METRICS.name}")
        if not ok:
            errors.append(f"fluentd.metrics.{key}: {name} ({source}) is not exported by the rendered fluentd config")
        else:
            print(f"  {name}: exported by {', '.join(exported[name])} ({source})")
    for name in sorted(set(own) - set(declared)):
        errors.append(f"the config declares <metric> {name} ({', '.join(own[name])}), the contract's fluentd.metrics does not")

    # ---- every query names a declared metric
    rules = yaml.safe_load(Path(rules_file).read_text())
    allowed = set(declared) | set(c["external"]["prometheus"])
    n_rules, used = 0, set()
    for g in rules["groups"]:
        for r in g["rules"]:
            n_rules += 1
            for n in metric_names(r["expr"]):
                used.add(n)
                if n not in allowed:
                    errors.append(f"rule {r.get('alert') or r.get('record')}: names {n}, which is neither in the "
                                  "contract's fluentd.metrics nor Prometheus' own")
    n_dash = 0
    for q in dashboards.queries(dash_dir):
        names = {n for n in metric_names(q["expr"]) if n.startswith("fluentd_")}
        n_dash += bool(names)
        used |= names
        for n in sorted(names - set(declared)):
            errors.append(f"dashboard {q['dashboard']} / {q['panel']} / {q['refId']}: names {n}, "
                          "which the contract's fluentd.metrics does not list")
    print(f"  {n_rules} rule expressions and {n_dash} dashboard queries name {len(used)} metrics: "
          f"{', '.join(sorted(used))}")
    return errors


if __name__ == "__main__":
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    errs = main(*sys.argv[1:])
    for e in errs:
        print(f"  FAIL {e}")
    sys.exit(1 if errs else 0)
