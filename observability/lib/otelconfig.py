#!/usr/bin/env python3
"""Structural check of the OpenTelemetry Collector config (the collector binary is not
available here): every pipeline component is defined, memory_limiter runs first and batch
last, the receivers listen on 4317/4318 as the Service and the hello Deployment expect,
and no component is defined but unused.

  otelconfig.py CONFIG_YAML
"""
import sys
from pathlib import Path

import yaml


def main(path):
    cfg = yaml.safe_load(Path(path).read_text())
    errors = []
    svc = cfg["service"]
    used = {"receivers": set(), "processors": set(), "exporters": set()}
    for name, p in svc["pipelines"].items():
        for kind in used:
            for comp in p.get(kind, []):
                used[kind].add(comp)
                if comp not in (cfg.get(kind) or {}):
                    errors.append(f"pipeline {name}: {kind[:-1]} {comp} is not defined")
        procs = p.get("processors", [])
        if not procs or procs[0] != "memory_limiter":
            errors.append(f"pipeline {name}: memory_limiter must be the first processor")
        if not procs or procs[-1] != "batch":
            errors.append(f"pipeline {name}: batch must be the last processor")
        if "k8sattributes" not in procs:
            errors.append(f"pipeline {name}: k8sattributes missing")
    for kind in used:
        for comp in cfg.get(kind) or {}:
            if comp not in used[kind]:
                errors.append(f"{kind[:-1]} {comp} is defined but in no pipeline")
    for ext in svc.get("extensions", []):
        if ext not in (cfg.get("extensions") or {}):
            errors.append(f"extension {ext} is not defined")
    protos = cfg["receivers"]["otlp"]["protocols"]
    for proto, port in (("grpc", "4317"), ("http", "4318")):
        if not protos.get(proto, {}).get("endpoint", "").endswith(":" + port):
            errors.append(f"otlp {proto} must listen on {port}")
    if "otlp" not in cfg["exporters"] or "debug" not in cfg["exporters"]:
        errors.append("exporters otlp and debug are both required")
    for e in errors:
        print(f"  FAIL {e}")
    if not errors:
        print(f"  pipelines {sorted(svc['pipelines'])}: components defined, memory_limiter first, batch last")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
