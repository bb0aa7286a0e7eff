#!/usr/bin/env python3
"""Validate prometheus-operator custom resources against their CRD schemas.

  crds.py CRD_DIR RENDERED_YAML...
Every ServiceMonitor, PodMonitor and PrometheusRule in the rendered files is checked with
jsonschema against the served version's openAPIV3Schema from CRD_DIR (prometheus-operator
CRDs). Exit 1 on any error or on a custom resource whose kind/version has no schema.
"""
import sys
from pathlib import Path

import jsonschema
import yaml


def schemas(crd_dir):
    out = {}
    for f in Path(crd_dir).glob("*.yaml"):
        crd = yaml.safe_load(f.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for v in crd["spec"]["versions"]:
            out[(f"{group}/{v['name']}", kind)] = v["schema"]["openAPIV3Schema"]
    return out


def main(crd_dir, *files):
    known = schemas(crd_dir)
    errors, checked = [], 0
    for f in files:
        for doc in yaml.safe_load_all(Path(f).read_text()):
            if not doc or "monitoring.coreos.com" not in doc.get("apiVersion", ""):
                continue
            key = (doc["apiVersion"], doc["kind"])
            name = f"{doc['kind']}/{doc['metadata']['name']}"
            if key not in known:
                errors.append(f"{name}: no CRD schema for {key}")
                continue
            v = jsonschema.Draft7Validator(known[key])
            errs = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
            for e in errs:
                errors.append(f"{name}: {'/'.join(map(str, e.path))}: {e.message}")
            checked += 1
            if not errs:
                print(f"  {name}: valid against the {doc['apiVersion']} CRD schema")
    for e in errors:
        print(f"  FAIL {e}")
    if checked == 0:
        print("  FAIL no custom resource checked")
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
