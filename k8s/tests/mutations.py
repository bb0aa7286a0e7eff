"""Proves deploy_checks.py can fail: each mutation below puts back one way
the manifests used to break (or could break) on a real cluster, on a copy of
a rendered overlay, and expects deploy_checks.py to exit 1 with a FAIL line
naming that check.

usage: mutations.py REPO_ROOT RENDERED.yaml
"""
import copy
import os
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))


def get(objs, kind, name=None):
    return next(o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name))


def container(objs):
    return get(objs, "Deployment", "hello")["spec"]["template"]["spec"]["containers"][0]


def add_env(objs, name, value):
    container(objs)["env"].append({"name": name, "value": value})


def set_probe_port(objs, port):
    container(objs)["livenessProbe"]["httpGet"]["port"] = port


def old_spread(objs):
    for t in get(objs, "Deployment", "hello")["spec"]["template"]["spec"]["topologySpreadConstraints"]:
        t.pop("nodeTaintsPolicy", None)
        t.pop("nodeAffinityPolicy", None)
        if t["topologyKey"] == "kubernetes.io/hostname":
            t["whenUnsatisfiable"] = "DoNotSchedule"


def solver(objs):
    return get(objs, "Issuer")["spec"]["acme"]["solvers"][0]["http01"]["ingress"]


MUTATIONS = [
    ("Ingress path / as Prefix", "Ingress routes none of",
     lambda o: get(o, "Ingress")["spec"]["rules"][0]["http"]["paths"][0].update(pathType="Prefix")),
    ("Ingress defaultBackend", "no defaultBackend",
     lambda o: get(o, "Ingress")["spec"].update(defaultBackend={"service": {"name": "hello", "port": {"name": "http"}}})),
    ("liveness probe on the public port", "livenessProbe /healthz on port admin", lambda o: set_probe_port(o, "http")),
    ("Service hello also publishes admin", "Service hello publishes only",
     lambda o: get(o, "Service", "hello")["spec"]["ports"].append({"name": "admin", "port": 8081, "targetPort": "admin", "protocol": "TCP"})),
    ("Prometheus allowed on http", "prometheus -> hello:admin allowed",
     lambda o: get(o, "NetworkPolicy", "allow-from-monitoring")["spec"]["ingress"][0]["ports"][0].update(port="http")),
    ("admin port open to every namespace", "default/{'app': 'anything'} -> hello:admin denied",
     lambda o: get(o, "NetworkPolicy", "allow-from-monitoring")["spec"]["ingress"][0].pop("from")),
    ("solver Service left at cert-manager's NodePort default", "solver Service (type NodePort) admitted",
     lambda o: solver(o).pop("serviceType")),
    ("no network allowance for the solver", "ingress controller -> solver Pod :8089 allowed",
     lambda o: o.remove(get(o, "NetworkPolicy", "allow-acme-http01-solver"))),
    ("solver pod template drops the seccomp profile", "solver Pod admitted by Pod Security",
     lambda o: solver(o).update(podTemplate={"spec": {"securityContext": {"runAsNonRoot": True}}})),
    ("quota without room for the solver pod", "solver Pod fits the ResourceQuota",
     lambda o: get(o, "ResourceQuota")["spec"]["hard"].update(pods="13")),
    ("app Kafka sink on in the base", "one Kafka write path per line",
     lambda o: add_env(o, "KAFKA_BROKERS", "kafka.logging.svc.cluster.local:9092")),
    ("OTLP endpoint in the base", "no OTLP endpoint without the otlp component",
     lambda o: add_env(o, "OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector.observability.svc.cluster.local:4317")),
    ("hostname spread DoNotSchedule, taints ignored", "scheduler model", old_spread),
    ("image by tag only", "image by tag + digest",
     lambda o: container(o).update(image="registry.example.com/platform/hello:0.1.0")),
]


def main():
    root, rendered = sys.argv[1:3]
    objs = [d for d in yaml.safe_load_all(open(rendered)) if d]
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for desc, expect, mutate in MUTATIONS:
            o = copy.deepcopy(objs)
            mutate(o)
            f = os.path.join(tmp, "m.yaml")
            with open(f, "w") as out:
                yaml.safe_dump_all(o, out, sort_keys=False)
            r = subprocess.run([sys.executable, os.path.join(HERE, "deploy_checks.py"), root, f, desc],
                               capture_output=True, text=True)
            fails = [line.strip() for line in r.stdout.splitlines() if line.strip().startswith("FAIL")]
            caught = r.returncode == 1 and any(expect in line for line in fails)
            print(f'        {"ok  " if caught else "FAIL"} {desc}: '
                  + (f"caught ({len(fails)} FAIL)" if caught else f"not caught by '{expect}': {fails}"))
            missed += not caught
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
