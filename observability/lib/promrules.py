#!/usr/bin/env python3
"""Rule checks that promtool cannot do, for observability/test.sh.

  extract RENDERED_YAML[,RENDERED_YAML...] OUT_RULES_FILE RUNBOOK_MD RULE_DIR[,RULE_DIR...]
      Merge spec.groups of every PrometheusRule in the rendered kustomizations into one
      Prometheus rules file, and check: every PrometheusRule in a RULE_DIR file is
      rendered, group names are unique, every alert has severity/summary/description/
      runbook_url and its runbook_url names RUNBOOK_MD and an anchor that is a heading of it.
  windows RULES_FILE
      Every burn-rate alert (an expression comparing two `..._ratio_rate<window>`
      recording rules) quotes the windows its expression uses: the summary names both
      ("(1h and 5m windows)"), and the description quotes `$value`, the left-hand
      (long-window) side of `and`, as "over the last <long window>" before any other
      window, and no window the expression does not use.
  coverage RULES_FILE TEST_FILE...
      Every alert has at least one promtool test case where it fires and one where it
      must stay silent (exp_alerts empty).
  render-tests CONTRACT_JSON OUT_DIR TEST_FILE...
      Write each promtool test file to OUT_DIR with ${job}, ${namespace}, ${workload} and
      ${runbook} (and, for fluentd's tests, ${fluentd_namespace}, ${fluentd_pod_prefix} and
      ${fluentd_runbook}) replaced by the contract's values (observability/mixin/contract.jsonnet),
      so the hand-written tests follow the same definition the rules are generated from.
      Fails on any other ${...} token, and on a contract value written out literally in a
      selector or runbook_url (it would not follow a change of the contract).
  fast-variant RULES_FILE ALERT FOR OUT_FILE
      Copy ALERT from the rules file (same expr, same labels) with a shorter `for`,
      renamed ALERT + "LiveTest", as a group of its own: the live test uses it so it need
      not wait the real `for`, and it can never drift from the real rule.
"""
import re
import sys
from pathlib import Path

import yaml

SEVERITIES = {"critical", "warning", "info"}


def slug(heading):
    """GitHub's anchor for a Markdown heading."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def extract(rendered, out, runbook, rule_dir):
    errors = []
    docs = [d for r in rendered.split(",") for d in yaml.safe_load_all(Path(r).read_text()) if d]
    rules = [d for d in docs if d.get("kind") == "PrometheusRule"]
    rendered_names = {d["metadata"]["name"] for d in rules}
    for f in sorted(f for d in rule_dir.split(",") for f in Path(d).glob("*.yaml")):
        for d in yaml.safe_load_all(f.read_text()):
            if d and d.get("kind") == "PrometheusRule" and d["metadata"]["name"] not in rendered_names:
                errors.append(f"{f}: PrometheusRule {d['metadata']['name']} is not in the kustomization")
    anchors = {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", Path(runbook).read_text(), re.M)}
    # The URL must name this runbook file (repository path), not just any RUNBOOK.md.
    repo_root = Path(__file__).resolve().parents[2]
    try:
        runbook_path = Path(runbook).resolve().relative_to(repo_root).as_posix()
    except ValueError:  # a copy outside the checkout: its folder and name
        runbook_path = "/".join(Path(runbook).resolve().parts[-2:])
    groups, seen = [], set()
    for d in rules:
        for g in d["spec"]["groups"]:
            if g["name"] in seen:
                errors.append(f"duplicate group name {g['name']}")
            seen.add(g["name"])
            groups.append(g)
            for r in g["rules"]:
                if "alert" not in r:
                    continue
                a = r["alert"]
                sev = r.get("labels", {}).get("severity")
                if sev not in SEVERITIES:
                    errors.append(f"{a}: severity {sev!r} not in {sorted(SEVERITIES)}")
                ann = r.get("annotations", {})
                for k in ("summary", "description", "runbook_url"):
                    if not ann.get(k):
                        errors.append(f"{a}: annotation {k} missing")
                url = ann.get("runbook_url", "")
                anchor = url.split("#", 1)[1] if "#" in url else ""
                if f"/{runbook_path}#" not in url or anchor not in anchors:
                    errors.append(f"{a}: runbook_url {url!r} has no matching section in {runbook_path}")
    Path(out).write_text(yaml.safe_dump({"groups": groups}, sort_keys=False, width=1000))
    n_alerts = sum(1 for g in groups for r in g["rules"] if "alert" in r)
    n_rec = sum(1 for g in groups for r in g["rules"] if "record" in r)
    print(f"  {len(rules)} PrometheusRules, {len(groups)} groups, {n_alerts} alerts, {n_rec} recording rules")
    return errors


WINDOW = r"(\d+[smhdw])"


def windows(rules_file):
    data = yaml.safe_load(Path(rules_file).read_text())
    errors, n = [], 0
    for g in data["groups"]:
        for r in g["rules"]:
            if "alert" not in r:
                continue
            used = re.findall(r"ratio_rate" + WINDOW + r"\b", r["expr"])
            if not used:
                continue
            n += 1
            a, ann = r["alert"], r.get("annotations", {})
            if len(used) != 2 or not re.search(r"\band\b", r["expr"]):
                errors.append(f"{a}: a burn-rate alert should compare two windows with `and` (found {used})")
                continue
            long_w, short_w = used
            summary, desc = ann.get("summary", ""), " ".join(ann.get("description", "").split())
            if f"({long_w} and {short_w} windows)" not in summary:
                errors.append(f"{a}: summary does not name its windows ({long_w} and {short_w} windows): {summary!r}")
            quoted = re.findall(r"over the last " + WINDOW, desc)
            if not quoted or quoted[0] != long_w:
                errors.append(f"{a}: description quotes $value (the {long_w} window, left of `and`) as "
                              f"'over the last {quoted[0] if quoted else '?'}'")
            stray = sorted(set(re.findall(r"\b" + WINDOW + r"\b", desc)) - {long_w, short_w})
            if stray:
                errors.append(f"{a}: description mentions windows its expression does not use: {stray}")
            if "$value" not in desc or desc.index("$value") > desc.index("over the last"):
                errors.append(f"{a}: description should quote $value before its window")
    print(f"  {n} burn-rate alerts: text windows checked against their expressions")
    if n == 0:
        errors.append("no burn-rate alert found")
    return errors


def alerts_of(rules_file):
    data = yaml.safe_load(Path(rules_file).read_text())
    return [r["alert"] for g in data["groups"] for r in g["rules"] if "alert" in r]


def coverage(rules_file, tests):
    fires, silent = set(), set()
    for t in tests:
        for case in yaml.safe_load(Path(t).read_text()).get("tests", []):
            for at in case.get("alert_rule_test", []) or []:
                (fires if at.get("exp_alerts") else silent).add(at["alertname"])
    errors = []
    for a in alerts_of(rules_file):
        if a not in fires:
            errors.append(f"{a}: no promtool test where it fires")
        if a not in silent:
            errors.append(f"{a}: no promtool test where it stays silent")
        if a in fires and a in silent:
            print(f"  {a}: fires and silent cases tested")
    return errors


def render_tests(contract_file, out_dir, *tests):
    import json
    c = json.loads(Path(contract_file).read_text())
    f = c["fluentd"]
    values = {"job": c["job"], "namespace": c["namespace"], "workload": c["workload"],
              "runbook": f"{c['runbookBase']}/{c['runbookPath']}",
              "fluentd_namespace": f["namespace"], "fluentd_pod_prefix": f["podPrefix"],
              "fluentd_runbook": f"{c['runbookBase']}/{f['runbookPath']}"}
    literal = [f'job="{c["job"]}"', f'namespace="{c["namespace"]}"', c["runbookBase"],
               f'namespace="{f["namespace"]}"', f'pod="{f["podPrefix"]}']
    errors, used = [], set()
    for t in tests:
        text = Path(t).read_text()
        tokens = set(re.findall(r"\$\{(\w+)\}", text))
        used |= tokens
        errors += [f"{t}: unknown token ${{{n}}}" for n in sorted(tokens - set(values))]
        errors += [f"{t}: writes {lit} literally; use the ${{...}} token" for lit in literal if lit in text]
        for k, v in values.items():
            text = text.replace("${" + k + "}", v)
        yaml.safe_load(text)
        (Path(out_dir) / Path(t).name).write_text(text)
    print(f"  {len(tests)} test files rendered with " + ", ".join(f"{k}={v}" for k, v in values.items() if k in used))
    return errors


def fast_variant(rules_file, alert, for_, out):
    data = yaml.safe_load(Path(rules_file).read_text())
    found = [r for g in data["groups"] for r in g["rules"] if r.get("alert") == alert]
    if len(found) != 1:
        return [f"{alert}: expected exactly one rule, found {len(found)}"]
    r = dict(found[0])
    r["alert"] = alert + "LiveTest"
    r["for"] = for_
    Path(out).write_text(yaml.safe_dump({"groups": [{"name": "live-test.fast-variants", "rules": [r]}]}, sort_keys=False, width=1000))
    return []


def main(argv):
    cmd, args = argv[1], argv[2:]
    errors = {"extract": extract, "coverage": lambda r, *t: coverage(r, t), "fast-variant": fast_variant,
              "render-tests": render_tests,
              "windows": windows}[cmd](*args)
    for e in errors:
        print(f"  FAIL {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
