"""Pod Security check of the agent pod templates, with the same rule-by-rule
checker the workload's manifests go through (k8s/tests/pss_restricted.py).

usage: pod_security.py CHECKER.py POD.yaml...

A template may break a "restricted" rule only if its annotation
ci.hello.example.com/pod-security-exceptions names that rule with a reason
("Rule name: reason", one per line). Fails on an unlisted violation, on a
listed rule that is not violated (a stale justification) or a rule listed
without a reason. Prints the Pod Security level each pod needs.
"""
import importlib.util
import sys

import yaml

KEY = "ci.hello.example.com/pod-security-exceptions"
spec_ = importlib.util.spec_from_file_location("pss", sys.argv[1])
pss = importlib.util.module_from_spec(spec_)
spec_.loader.exec_module(pss)

failed = False
for path in sys.argv[2:]:
    pod = yaml.safe_load(open(path))
    meta, spec = pod.get("metadata", {}), pod["spec"]
    listed = {}
    for line in (meta.get("annotations") or {}).get(KEY, "").splitlines():
        rule, _, reason = line.partition(":")
        if line.strip():
            listed[rule.strip()] = reason.strip()
    violated = {}
    for profile, name, rule in pss.RULES:
        v = rule(spec, meta)
        if v:
            violated[name] = (profile, v)
    name = path.rsplit("/", 1)[-1]
    level = "restricted" if not violated else (
        "baseline" if all(p == "restricted" for p, _ in violated.values()) else "privileged")
    print(f"     {name}: Pod Security level needed: {level}")
    for rule, (profile, v) in violated.items():
        if rule not in listed:
            print(f"     {name}: {profile} rule '{rule}' broken and not justified: {v}")
            failed = True
        else:
            print(f"     {name}: {rule} ({profile}): {listed[rule]}")
    for rule in listed:
        if rule not in violated:
            print(f"     {name}: justification for '{rule}', which the pod does not break (stale)")
            failed = True
        if not listed[rule]:
            print(f"     {name}: '{rule}' listed without a reason")
            failed = True
sys.exit(1 if failed else 0)
