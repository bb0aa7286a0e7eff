"""The chart's checks that need Helm (the helm-python-sdk library: Helm v4 as a shared
library; no helm binary) or compare the chart with the kustomize tree.

usage: chart.py COMMAND [ARGS]
  render OUTDIR   render every VARIANT to OUTDIR/<variant>.yaml (+ .NOTES.txt)
  lint            helm lint --strict with the default values and with every variant
  schema          values.schema.json refuses misspelt keys and bad values, naming them
  rolls           a change of the messages changes the pod template (the pods roll)
  package         the packaged chart (.tgz) renders the same as the directory
  notes OUTDIR    NOTES.txt says how to reach the service and check its health
  compare OUTDIR  each PAIR: the chart's render = the kustomize render, object by
                  object, except the differences listed in allowlist.yaml
Each prints one line per check; exit 1 if any fails. It owns no validation that the
repository already has (schemas, checkov, Pod Security: test.sh runs those on OUTDIR).
"""
import copy
import fnmatch
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

import helm_python as helm

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "hello"
RELEASE, NAMESPACE = "hello", "hello"

# The renders test.sh validates: default values and each toggle.
VARIANTS = {
    "default": {},
    "ingress-off": {"ingress": {"enabled": False}},
    "monitoring-off": {"serviceMonitor": {"enabled": False}, "prometheusRule": {"enabled": False},
                       "dashboards": {"enabled": False}},
    "kafka-on": {"kafkaSink": {"enabled": True}},
    "otlp-on": {"otlp": {"enabled": True}},
    "hpa-off": {"autoscaling": {"enabled": False}},
    "tls-own-secret": {"ingress": {"tls": {"certManager": {"enabled": False}}}},
    "namespace-create": {"namespace": {"create": True}},
    # Another release name and namespace: nothing may still point at namespace hello.
    "other-namespace": {"namespace": {"create": True}},
}
RELEASE_OF = {"other-namespace": ("web", "shop")}

# Chart variant -> the kustomize tree it must equal: prod + components, then the
# monitoring objects (observability/prometheus, grafana) the chart ships too.
PAIRS = {
    "default": [],
    "kafka-on": ["kafka-sink"],
    "otlp-on": ["otlp"],
    "tls-own-secret": ["tls-existing-secret"],
    "namespace-create": [],
}
MONITORING = ["observability/prometheus", "grafana"]
# k8s/tests/deploy_checks.py needs the Namespace object (Pod Security labels): these
# pairs are rendered once more with namespace.create=true, as <variant>+ns.yaml.
WITH_NAMESPACE = list(PAIRS)

failures = 0


def check(ok, what, detail=""):
    global failures
    failures += not ok
    print(f'  {"ok  " if ok else "FAIL"}  {what}' + (f"\n        {detail}" if detail and not ok else ""))
    return ok


def render(values, release=RELEASE, namespace=NAMESPACE):
    """{template path: text} from Helm."""
    with helm.Chart.load(CHART) as c:
        return c.render(values=values, name=release, namespace=namespace, is_install=True)


def manifests(out):
    return "\n---\n".join(t for p, t in sorted(out.items()) if not p.endswith("NOTES.txt") and t.strip())


def objects(text):
    return [d for d in yaml.safe_load_all(text) if d]


def cmd_render(outdir):
    outdir = Path(outdir)
    for name, values in VARIANTS.items():
        release, ns = RELEASE_OF.get(name, (RELEASE, NAMESPACE))
        try:
            out = render(values, release, ns)
        except helm.HelmError as e:
            check(False, f"{name}: renders", str(e))
            continue
        (outdir / f"{name}.yaml").write_text(manifests(out))
        (outdir / f"{name}.NOTES.txt").write_text(next((t for p, t in out.items() if p.endswith("NOTES.txt")), ""))
        kinds = [o["kind"] for o in objects(manifests(out))]
        check(True, f"{name}: renders ({len(kinds)} objects; values {values or 'default'}; release {release} in {ns})")
        if name in WITH_NAMESPACE:
            with_ns = copy.deepcopy(values) | {"namespace": {"create": True}}
            (outdir / f"{name}+ns.yaml").write_text(manifests(render(with_ns, release, ns)))
    # Kubernetes expands $(VAR) in an env value only from variables defined EARLIER in the
    # list (else the text stays literal): OTEL_RESOURCE_ATTRIBUTES uses $(NODE_NAME).
    late = []
    for f in sorted(outdir.glob("*.yaml")):
        for o in objects(f.read_text()):
            if o["kind"] != "Deployment":
                continue
            for c in o["spec"]["template"]["spec"]["containers"]:
                seen = set()
                for e in c.get("env") or []:
                    late += [f"{f.stem}: {e['name']} uses $({r}) before it is defined"
                             for r in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", e.get("value") or "") if r not in seen]
                    seen.add(e["name"])
    check(not late, "every $(VAR) in an env value refers to a variable defined before it (else Kubernetes leaves it literal)", late)
    other = objects((outdir / "other-namespace.yaml").read_text())
    elsewhere = sorted(f'{o["kind"]}/{o["metadata"]["name"]}: {o["metadata"].get("namespace")}' for o in other
                       if o["kind"] != "Namespace" and o["metadata"].get("namespace") != "shop"
                       and not o["metadata"]["name"].startswith("grafana-dashboard-"))
    check(not elsewhere, "other-namespace: every object (but the dashboards, in monitoring) is in the release's namespace shop",
          elsewhere)
    text = (outdir / "other-namespace.yaml").read_text()
    stale = sorted(set(re.findall(r'namespace="hello"|namespace: hello\b|hello/hello-security-headers|- hello\n', text)))
    check(not stale, "other-namespace: no rule matcher, label, annotation or scrape selector still names namespace hello", stale)


def cmd_lint():
    runs = {"default": {}} | {k: v for k, v in VARIANTS.items() if v}
    for name, values in runs.items():
        r = helm.lint(str(CHART), values or None, strict=True, namespace=NAMESPACE, kube_version="v1.32.0")
        msgs = [f'{m["severity"]}:{m["path"]}: {m["error"]}' for m in r.get("messages", []) if m["severity"] >= 2]
        infos = [m["error"] for m in r.get("messages", []) if m["severity"] < 2]
        check(not msgs and not r.get("errors"), f"helm lint --strict ({name}): {r.get('total_charts_linted')} chart, "
              f"0 warnings/errors{'; info: ' + '; '.join(infos) if infos else ''}", msgs + r.get("errors", []))


def refused(values, *needles):
    """Values Helm must refuse (what helm install/template do: validate, then render);
    the message names the mistake."""
    try:
        render(values)
    except (helm.HelmValuesError, helm.HelmRenderError) as e:
        msg = str(e)
        return all(n in msg for n in needles), msg
    return False, "accepted"


def cmd_schema():
    with helm.Chart.load(CHART) as c:
        c.validate_schema({})
    check(True, "the default values pass values.schema.json")
    cases = [
        ("a misspelt top-level key (imgae)", {"imgae": {"tag": "1.0"}}, ["imgae"]),
        ("a misspelt nested key (ingress.enabeld)", {"ingress": {"enabeld": False}}, ["enabeld"]),
        ("a misspelt deep key (ingress.tls.certManager.emial)", {"ingress": {"tls": {"certManager": {"emial": "a@b.c"}}}}, ["emial"]),
        ("a string for an integer (autoscaling.maxReplicas: \"ten\")", {"autoscaling": {"maxReplicas": "ten"}}, ["maxReplicas"]),
        ("a tag-style digest (image.digest: latest)", {"image": {"digest": "latest"}}, ["digest"]),
        ("an unknown OTLP protocol (otlp.protocol: http)", {"otlp": {"protocol": "http"}}, ["protocol"]),
        ("a number as a label value (serviceMonitor.labels.release: 1)", {"serviceMonitor": {"labels": {"release": 1}}}, ["release"]),
        ("no greeting (messages: [])", {"messages": []}, ["messages"]),
        ("the Kafka sink writing fluentd's topic (kafkaSink.topic: hello-logs)",
         {"kafkaSink": {"enabled": True, "topic": "hello-logs"}}, ["hello-logs", "fluentd"]),
    ]
    for what, values, needles in cases:
        ok, msg = refused(values, *needles)
        first = msg.strip().splitlines()[-1] if msg.strip() else msg
        check(ok, f"refused: {what}; message: {first[:200]}", msg)


def cmd_rolls():
    def template(values):
        dep = next(o for o in objects(manifests(render(values))) if o["kind"] == "Deployment")
        return dep["spec"]["template"]

    a, b = template({}), template({"messages": ["changed"]})
    check(a != b, "a change of messages changes the pod template (ConfigMap name hash): the pods roll")
    cms = [o for o in objects(manifests(render({}))) if o["kind"] == "ConfigMap" and "MESSAGES" in o.get("data", {})]
    check(len(cms) == 1 and cms[0].get("immutable") is True, "the messages ConfigMap is immutable (a new name per content)")


def cmd_package():
    """helm package: the archive a user installs from a repository renders the same."""
    with tempfile.TemporaryDirectory() as d:
        with helm.Chart.load(CHART) as c:
            tgz = c.save(d)
        with helm.Chart.load(tgz) as c:
            packed = c.render(name=RELEASE, namespace=NAMESPACE, is_install=True)
    check(manifests(packed) == manifests(render({})),
          f"helm package: {Path(tgz).name} renders the same objects as the directory (files/ packaged)")


def cmd_notes(outdir):
    text = (Path(outdir) / "default.NOTES.txt").read_text()
    for needle, what in [("port-forward", "port-forward"), ("8081", "the admin port"), ("/healthz", "/healthz"),
                         ("/readyz", "/readyz"), ("https://hello.example.com/", "the public URL"),
                         ("rollout status", "rollout status")]:
        check(needle in text, f"NOTES.txt (default) mentions {what}")
    off = (Path(outdir) / "ingress-off.NOTES.txt").read_text()
    check("https://" not in off and "svc/hello 8080:80" in off,
          "NOTES.txt (ingress off) gives no public URL, a port-forward to Service hello instead")


# --- compare ---------------------------------------------------------------------------
HASHED = re.compile(r"^message-config-[a-z0-9]{10}$")


def normalise(o):
    """The messages ConfigMap's hash suffix: kustomize and Helm hash differently (both
    change with the content; `rolls` checks the chart's)."""
    if isinstance(o, dict):
        return {k: normalise(v) for k, v in o.items()}
    if isinstance(o, list):
        return [normalise(v) for v in o]
    if isinstance(o, str) and HASHED.match(o):
        return "message-config-<hash>"
    return o


def named_list(v):
    return isinstance(v, list) and v and all(isinstance(x, dict) and "name" in x for x in v)


def diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            p = f"{path}.{k}" if path else str(k)
            out += [p] if (k not in a or k not in b) else diff(a[k], b[k], p)
        return out
    if named_list(a) and named_list(b):
        an, bn = [x["name"] for x in a], [x["name"] for x in b]
        if len(set(an)) == len(an) and len(set(bn)) == len(bn):
            out = [f"{path}(order)"] if an != bn and set(an) == set(bn) else []
            am, bm = {x["name"]: x for x in a}, {x["name"]: x for x in b}
            for n in an + [n for n in bn if n not in am]:
                p = f"{path}[{n}]"
                out += [p] if (n not in am or n not in bm) else diff(am[n], bm[n], p)
            return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b)) for p in diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


def key(o):
    return f'{o["kind"]}/{o["metadata"]["name"]}'


def differences(chart_objs, kust_objs):
    """{(Kind/name, path)} where the two sets of objects differ."""
    c = {(key(o), o["metadata"].get("namespace")): o for o in map(normalise, chart_objs)}
    k = {(key(o), o["metadata"].get("namespace")): o for o in map(normalise, kust_objs)}
    out = set()
    for ident in sorted(set(c) | set(k), key=str):
        if ident not in c or ident not in k:
            out.add((ident[0], "(object)"))
        else:
            out.update((ident[0], p) for p in diff(c[ident], k[ident]))
    return out


def allowed(entry, pair, obj, path):
    return ((entry["pairs"] == ["*"] or pair in entry["pairs"]) and fnmatch.fnmatchcase(obj, entry["object"])
            and path == entry["path"])


def kustomize(components, work):
    """prod + components composed the way a user's overlay would, then the monitoring trees."""
    d = Path(work) / ("compose-" + "-".join(components or ["none"]))
    d.mkdir(parents=True, exist_ok=True)
    rel = lambda p: os.path.relpath(ROOT / p, d)  # noqa: E731
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "resources:",
             f"  - {rel('k8s/overlays/prod')}"]
    if components:
        lines += ["components:"] + [f"  - {rel('k8s/components/' + c)}" for c in components]
    (d / "kustomization.yaml").write_text("\n".join(lines) + "\n")
    text = ""
    for target in [d] + [ROOT / m for m in MONITORING]:
        text += subprocess.run(["kubectl", "kustomize", str(target)], check=True, capture_output=True, text=True).stdout
        text += "\n---\n"
    return objects(text)


def cmd_compare(outdir):
    allowlist = yaml.safe_load((ROOT / "charts" / "tests" / "allowlist.yaml").read_text())
    used = set()
    with tempfile.TemporaryDirectory() as work:
        for pair, components in PAIRS.items():
            chart_objs = objects((Path(outdir) / f"{pair}.yaml").read_text())
            kust_objs = kustomize(components, work)
            diffs = differences(chart_objs, kust_objs)
            unlisted, per_entry = [], {}
            for obj, path in sorted(diffs):
                hits = [i for i, e in enumerate(allowlist) if allowed(e, pair, obj, path)]
                used.update(hits)
                for i in hits:
                    per_entry.setdefault(i, []).append(obj)
                if not hits:
                    unlisted.append(f"{obj} {path}")
            for i, objs in sorted(per_entry.items()):
                shown = objs[0] if len(objs) == 1 else f"{len(objs)} objects"
                print(f"        {pair}: allowed: {allowlist[i]['path']} on {shown}")
            what = f"{pair}: helm template = kustomize prod{''.join(' + ' + c for c in components)} + " \
                   f"{' + '.join(MONITORING)} ({len(kust_objs)} objects), except {len(diffs) - len(unlisted)} allowed differences"
            check(not unlisted, what, "differences not in charts/tests/allowlist.yaml:\n        " + "\n        ".join(unlisted))
            if pair == "default":
                # The comparison can fail: one changed field in a copy of the chart's objects.
                broken = copy.deepcopy(chart_objs)
                dep = next(o for o in broken if o["kind"] == "Deployment")
                dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = "http"
                found = differences(broken, kust_objs) - diffs
                check(found == {("Deployment/hello", "spec.template.spec.containers[hello].readinessProbe.httpGet.port")},
                      "self-test: a readiness probe moved to port http in a copy of the chart is reported", found)
    stale = [f'{e["object"]} {e["path"]} ({", ".join(e["pairs"])})' for i, e in enumerate(allowlist) if i not in used]
    check(not stale, f"every allowlist entry ({len(allowlist)}) still matches a difference", "stale: " + "; ".join(stale))
    missing = [i for i, e in enumerate(allowlist) if not str(e.get("reason", "")).strip()]
    check(not missing, "every allowlist entry gives a reason", missing)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    helm.disable_logging()
    {"render": cmd_render, "lint": cmd_lint, "schema": cmd_schema, "rolls": cmd_rolls,
     "notes": cmd_notes, "package": cmd_package, "compare": cmd_compare}[cmd](*args)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
