#!/usr/bin/env python3
"""The operational contract (observability/mixin/config.libsonnet) against the real binary
and against every query generated from it, for observability/test.sh.

  contract.py CONTRACT_JSON RULES_FILE DASHBOARD_DIR SERVICEMONITOR_YAML WORKDIR

CONTRACT_JSON is `jsonnet observability/mixin/contract.jsonnet`. The check starts the real
static binary ($HELLO_BIN, PORT=0 ADMIN_PORT=0, fault injection on, OTLP endpoint and
Kafka broker on a closed port so the loss counters exist), sends each route class's example
request to the listener that serves it, scrapes /metrics on the admin port, and fails when:
  - a metric the contract declares is not exported, has another type, another label set,
    or (where the contract lists them) other label values; or the binary exports a metric
    family the contract does not declare;
  - an http_route value is in no route class, or a route class's route never appears;
  - the latency SLO's threshold is not a bucket boundary of the request histogram;
  - any rule expression or dashboard query (variables included) names a metric that the
    binary does not export, no recording rule records and neither `external` nor
    `fluentd.metrics` lists (fluentd/test.sh checks those against the fluentd config);
  - the ServiceMonitor does not produce the contract's job in the contract's namespace.
"""
import json
import re
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
import dashboards  # noqa: E402
import live  # noqa: E402  (one way to start the binary: live.start_hello)

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan"}


def metric_names(expr):
    """Metric names a PromQL expression selects: identifiers outside label matchers,
    ranges and grouping clauses that are not functions, aggregations or keywords."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\{[^}]*\}", "{}", e)
    e = re.sub(r"\[[^\]]*\]", "[]", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = re.findall(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()", e)
    return {n for n in names if n not in KEYWORDS}


def parse_exposition(text):
    """({family: type}, {sample name: [labels dict, ...]}) of a Prometheus text exposition."""
    types, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, fam, typ = line.split(None, 3)
            types[fam] = typ
        elif line and not line.startswith("#"):
            m = re.match(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+\S+", line)
            if m:
                labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
                samples.setdefault(m.group(1), []).append(labels)
    return types, samples


def family_samples(name, typ, samples):
    suffixes = ["_bucket", "_count", "_sum"] if typ == "histogram" else [""]
    return {name + s: samples.get(name + s, []) for s in suffixes}


def scrape_binary(contract, workdir):
    port = live.free_port()   # nothing listens: export and delivery fail and are counted
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
           "OTEL_BSP_SCHEDULE_DELAY": "200", "KAFKA_BROKERS": f"127.0.0.1:{port}", "KAFKA_QUEUE_MAX_EVENTS": "1",
           "KAFKA_PROP_MESSAGE_TIMEOUT_MS": "1000"}
    proc, public, admin = live.start_hello("hello-contract", workdir, env)
    try:
        if not admin:
            return None
        ports = {"http": public, "admin": admin}
        sent = []
        for cls in contract["routeClasses"].values():
            for route, r in cls["routes"].items():
                method, path = r["example"]
                status, _ = live.http(f"http://127.0.0.1:{ports[cls['port']]}{path}", method,
                                      data=b"x" if method == "PUT" else None, timeout=5)
                sent.append(f"{method} {path} -> {status}")
        print(f"  sent one example request per route: {'; '.join(sent)}")
        routes = set(contract["all_routes"])
        deadline, text = time.time() + 20, ""
        while time.time() < deadline:   # counters of failed exports appear within seconds
            _, body = live.http(f"http://127.0.0.1:{admin}/metrics", timeout=5)
            text = body.decode()
            types, samples = parse_exposition(text)
            seen = {s.get("http_route") for s in samples.get(contract["metrics"]["requestDuration"]["name"] + "_count", [])}
            complete = all(set(v) <= {s.get(lbl) for s in samples.get(m["name"], [])}
                           for m in contract["metrics"].values() for lbl, v in m.get("values", {}).items())
            if routes <= seen and complete:
                break
            time.sleep(0.5)
        (Path(workdir) / "contract-scrape.txt").write_text(text)
        return text
    finally:
        proc.stop(timeout=10)


def main(contract_file, rules_file, dash_dir, sm_file, workdir):
    # The extractor itself, so a broken pattern cannot make the query check vacuous.
    probe = 'sum by (a) (rate(foo_total{x="y"}[5m] offset 1h)) / on (b) group_left (c) bar:rec and absent(baz)'
    if metric_names(probe) != {"foo_total", "bar:rec", "baz"}:
        return [f"metric_names({probe!r}) = {sorted(metric_names(probe))}"]
    contract = json.loads(Path(contract_file).read_text())
    contract["all_routes"] = [r for c in contract["routeClasses"].values() for r in c["routes"]]
    errors = []

    # ---- the ServiceMonitor gives the contract's job and namespace
    sm = next(d for d in yaml.safe_load_all(Path(sm_file).read_text()) if d and d.get("kind") == "ServiceMonitor")
    job = sm["spec"]["selector"]["matchLabels"].get(sm["spec"]["jobLabel"])
    if job != contract["job"] or contract["namespace"] not in sm["spec"]["namespaceSelector"]["matchNames"]:
        errors.append(f"ServiceMonitor {sm['metadata']['name']}: job {job!r} in {sm['spec']['namespaceSelector']['matchNames']}, "
                      f"contract: job {contract['job']!r} in {contract['namespace']!r}")
    else:
        print(f"  ServiceMonitor: job={job} in namespace {contract['namespace']}, as the contract says")

    # ---- the binary exports exactly the declared metrics
    text = scrape_binary(contract, workdir)
    if text is None:
        return ["the binary did not start"] + live.failures
    types, samples = parse_exposition(text)
    declared = {m["name"]: m for m in contract["metrics"].values()}
    exported_samples = set(samples)
    for name, m in declared.items():
        if types.get(name) != m["type"]:
            errors.append(f"{name}: contract says {m['type']}, the binary exports {types.get(name) or 'nothing'}")
            continue
        for sname, rows in family_samples(name, m["type"], samples).items():
            if not rows:
                errors.append(f"{sname}: no sample exported")
            keys = {tuple(sorted(set(r) - {"le"})) for r in rows}
            if rows and keys != {tuple(sorted(m["labels"]))}:
                errors.append(f"{sname}: label sets {sorted(keys)}, contract {sorted(m['labels'])}")
        for lbl, values in m.get("values", {}).items():
            got = {r.get(lbl) for r in samples.get(name, [])}
            if got != set(values):
                errors.append(f"{name}: {lbl} values {sorted(got)}, contract {sorted(values)}")
    undeclared = sorted(set(types) - set(declared))
    if undeclared:
        errors.append(f"exported but not in the contract: {undeclared}")
    print(f"  {len(types)} metric families exported; contract declares {len(declared)}; "
          f"undeclared: {undeclared or 'none'}")

    # ---- route classes against http_route
    dur = contract["metrics"]["requestDuration"]["name"]
    seen = {r.get("http_route") for r in samples.get(dur + "_count", [])}
    stray = sorted(seen - set(contract["all_routes"]))
    missing = sorted(set(contract["all_routes"]) - seen)
    if stray:
        errors.append(f"http_route values in no route class: {stray}")
    if missing:
        errors.append(f"routes of the contract the binary never recorded: {missing}")
    print(f"  http_route values exported: {sorted(seen)}")
    le = "%g" % contract["slo"]["latency"]["thresholdSeconds"]
    buckets = {r.get("le") for r in samples.get(dur + "_bucket", [])}
    if le not in buckets:
        errors.append(f"latency SLO threshold le={le} is not a bucket of {dur} ({sorted(buckets)})")
    else:
        print(f"  latency SLO threshold le=\"{le}\" is a bucket of {dur}")

    # ---- every query names a metric that exists
    rules = yaml.safe_load(Path(rules_file).read_text())
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    external = {n: src for src, names in contract["external"].items() for n in names}
    # fluentd's metrics: declared in the contract, checked against the fluentd config by
    # fluentd/test.sh (fluentd cannot run here).
    external.update({m["name"]: "fluentd" for m in contract["fluentd"]["metrics"].values()})
    queries = [(f"rule {r.get('alert') or r.get('record')}", r["expr"]) for g in rules["groups"] for r in g["rules"]]
    queries += [(f"dashboard {q['dashboard']} / {q['panel']} / {q['refId']}", q["expr"]) for q in dashboards.queries(dash_dir)]
    for path, dash in dashboards.load(dash_dir).items():
        for v in dash.get("templating", {}).get("list", []):
            q = v.get("query")
            if v["type"] == "query" and isinstance(q, dict):
                selector = re.fullmatch(r"label_values\((.*),\s*\w+\)", q["query"]).group(1)
                queries.append((f"dashboard {dash['uid']} variable ${v['name']}", dashboards.subst(selector)))
    used = {"hello": set(), "recorded": set(), **{src: set() for src in dict.fromkeys(external.values())}}
    for where, expr in queries:
        for n in metric_names(expr):
            if n in exported_samples:
                used["hello"].add(n)
            elif n in recorded:
                used["recorded"].add(n)
            elif n in external:
                used[external[n]].add(n)
            else:
                errors.append(f"{where}: names {n}, which the binary does not export, no rule records "
                              "and the contract's `external` and `fluentd.metrics` do not list")
    print(f"  {len(queries)} rule expressions and dashboard queries name "
          + ", ".join(f"{len(v)} {k}" for k, v in used.items()) + " metrics")
    both = sorted(set(external) & exported_samples)
    if both:
        errors.append(f"listed as external but exported by hello: {both}")
    return errors + live.failures


if __name__ == "__main__":
    errs = main(*sys.argv[1:])
    for e in errs:
        print(f"  FAIL {e}")
    sys.exit(1 if errs else 0)
