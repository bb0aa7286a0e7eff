#!/usr/bin/env python3
"""Dashboard checks for observability/test.sh (Grafana cannot run here, so dashboards are
checked as data).

  lint DASHBOARD_DIR RUNBOOK_MD
      uid = file name (stable, unique), panel ids unique, the ${datasource}, namespace and
      pod variables exist and every panel/target uses ${datasource}, every runbook link
      points at an existing RUNBOOK.md section.
  promql DASHBOARD_DIR OUT_RULES_FILE
      Every target expr (and every label_values() selector) with Grafana variables
      substituted, as recording rules, so `promtool check rules` parses them all.
  typescript DASHBOARD_DIR OUT_TS_FILE
      A TypeScript module asserting `<dashboard JSON> satisfies Dashboard` for each file.
  queries DASHBOARD_DIR
      JSON list of {dashboard, panel, refId, expr} with variables substituted (live test).
"""
import json
import re
import sys
from pathlib import Path

import yaml

# What each variable becomes outside Grafana: one namespace, all pods/routes, and a rate
# window of 4 scrape intervals of the live test (Grafana's $__rate_interval rule).
SUBST = {"namespace": "hello", "pod": ".*", "route": ".*", "logging_namespace": "logging",
         "__rate_interval": "1m", "__interval": "15s", "__range": "1h"}


def subst(expr):
    def rep(m):
        name = m.group(1) or m.group(2)
        if name not in SUBST:
            raise ValueError(f"unknown variable ${name} in {expr}")
        return SUBST[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", rep, expr)


def load(d):
    return {p: json.loads(p.read_text()) for p in sorted(Path(d).glob("*.json"))}


def panels(dash):
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])   # collapsed rows keep their panels inside


def slug(h):
    return re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")


RETENTION_DAYS = 10  # kube-prometheus-stack's default prometheus.prometheusSpec.retention


def lint(d, runbook):
    errors, uids = [], set()
    anchors = {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", Path(runbook).read_text(), re.M)}
    for path, dash in load(d).items():
        uid = dash.get("uid")
        if uid != path.stem:
            errors.append(f"{path.name}: uid {uid!r} must equal the file name (stable links)")
        if uid in uids:
            errors.append(f"{path.name}: duplicate uid {uid}")
        uids.add(uid)
        var_names = [v["name"] for v in dash.get("templating", {}).get("list", [])]
        for need in ("datasource", "namespace", "pod"):
            if need not in var_names:
                errors.append(f"{path.name}: variable ${need} missing")
        ids = [p["id"] for p in panels(dash)]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            errors.append(f"{path.name}: duplicate panel ids {sorted(dup)}")
        links = list(dash.get("links", []))
        for p in panels(dash):
            links += p.get("links", [])
            if p["type"] == "row":
                continue
            if p.get("datasource", {}).get("uid") != "${datasource}":
                errors.append(f"{path.name}: panel {p['title']!r} does not use ${{datasource}}")
            for t in p.get("targets", []):
                if t.get("datasource", {}).get("uid") != "${datasource}":
                    errors.append(f"{path.name}: {p['title']!r}/{t['refId']} does not use ${{datasource}}")
            if not p.get("targets"):
                errors.append(f"{path.name}: panel {p['title']!r} has no query")
            # A range longer than kube-prometheus-stack's default retention (10d) silently
            # covers less than it says: the panel must say so.
            for t in p.get("targets", []):
                long = [r for r in re.findall(r"\[(\d+)d\]", t.get("expr", "")) if int(r) > RETENTION_DAYS]
                if long and "retention" not in p.get("description", "").lower():
                    errors.append(f"{path.name}: {p['title']!r} queries [{long[0]}d], beyond the default "
                                  f"{RETENTION_DAYS}d retention, and its description does not say so")
        for link in links:
            url = link.get("url", "")
            if "RUNBOOK.md" in url and "#" in url and url.split("#", 1)[1] not in anchors:
                errors.append(f"{path.name}: link {url} has no section in {runbook}")
        print(f"  {path.name}: uid {uid}, {len(ids)} panels, ids unique: {not dup}, {sum(1 for l in links if 'RUNBOOK.md' in l.get('url', ''))} runbook links")
    return errors


def queries(d):
    out = []
    for path, dash in load(d).items():
        for p in panels(dash):
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append({"dashboard": dash["uid"], "panel": p["title"], "refId": t["refId"], "expr": subst(t["expr"])})
    return out


def promql(d, out):
    rules = [{"record": f"dashboard_query_{i}", "expr": q["expr"]} for i, q in enumerate(queries(d))]
    n_targets = len(rules)
    for path, dash in load(d).items():
        for v in dash.get("templating", {}).get("list", []):
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else None
            if v["type"] == "query" and q:
                m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q)
                if not m:
                    return [f"{path.name}: variable {v['name']}: unsupported query {q}"]
                rules.append({"record": f"dashboard_variable_{path.stem.replace('-', '_')}_{v['name']}", "expr": subst(m.group(1))})
    Path(out).write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, width=10000))
    print(f"  {n_targets} panel queries and {len(rules) - n_targets} variable selectors written for promtool")
    return []


def typescript(d, out):
    lines = ["// Generated by observability/lib/dashboards.py: each dashboard must satisfy the Dashboard type.",
             "import type { Dashboard } from '@grafana/schema';",
             "// JSON cannot name a TypeScript string enum member (ThresholdsMode.Absolute), only its",
             "// value (\"absolute\"): compare string enums by their values, everything else as declared.",
             "type JsonOf<T> = T extends string ? `${T}` : T extends readonly (infer U)[] ? JsonOf<U>[]",
             "  : T extends object ? { [K in keyof T]: JsonOf<T[K]> } : T;"]
    for i, (path, dash) in enumerate(load(d).items()):
        lines.append(f"// {path.name}\nexport const dashboard{i} = {json.dumps(dash, indent=2)} satisfies JsonOf<Dashboard>;")
    Path(out).write_text("\n".join(lines) + "\n")
    return []


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "queries":
        print(json.dumps(queries(*args), indent=1))
        return 0
    errors = {"lint": lint, "promql": promql, "typescript": typescript}[cmd](*args)
    for e in errors:
        print(f"  FAIL {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
