"""Adapt the rendered dev overlay for `podman kube play` on a host-loopback
test, changing only what podman needs, and prove that nothing else changed.

usage: kubeplay_patch.py RENDERED.yaml OUT.yaml IMAGE PORT ADMIN_PORT

Changes, all in the Deployment, and why:
  spec.replicas = 1                  podman runs replicas side by side on one host
  template.spec.hostNetwork = true   a published port is not reachable on host loopback
  containers[0].ports removed        no port mapping with the host network
  containers[0].image = IMAGE        the image built from this tree (no registry)
  containers[0].imagePullPolicy      IfNotPresent: `Always` makes podman pull localhost/ images
  env PORT = PORT                    the host network is shared: a free port, not 8080
  env ADMIN_PORT = ADMIN_PORT        likewise for the admin listener (not 8081)
  env POD_NAMESPACE, NODE_NAME       podman 4.3 supports no downward API field but
                                     metadata.name: literal values (namespace, "podman")
Every other field of every object is compared before/after; the script fails
if the set of changed paths is not exactly the list above.
"""
import copy
import sys

import yaml


def diff(a, b, path=""):
    """Paths (dotted, list items by index or by `name`) where a and b differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            p = f"{path}.{k}" if path else str(k)
            if k not in a or k not in b:
                out.append(p)
            else:
                out += diff(a[k], b[k], p)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            key = x.get("name", i) if isinstance(x, dict) else i
            out += diff(x, y, f"{path}[{key}]")
        return out
    return [] if a == b else [path]


def main():
    src, dst, image, port, admin_port = sys.argv[1:6]
    docs = [d for d in yaml.safe_load_all(open(src)) if d]
    out = copy.deepcopy(docs)
    deployments = [d for d in out if d["kind"] == "Deployment"]
    assert len(deployments) == 1, "expected one Deployment"
    dep = deployments[0]
    spec = dep["spec"]["template"]["spec"]
    assert len(spec["containers"]) == 1, "expected one container"
    c = spec["containers"][0]
    dep["spec"]["replicas"] = 1
    spec["hostNetwork"] = True
    c.pop("ports", None)
    c["image"] = image
    c["imagePullPolicy"] = "IfNotPresent"
    for name, value in (("PORT", port), ("ADMIN_PORT", admin_port)):
        port_vars = [e for e in c["env"] if e["name"] == name]
        assert len(port_vars) == 1, f"expected one {name} env var"
        port_vars[0]["value"] = str(value)
    literal = {"POD_NAMESPACE": dep["metadata"]["namespace"], "NODE_NAME": "podman"}
    for e in c["env"]:
        if e["name"] in literal:
            assert "fieldRef" in e.get("valueFrom", {}), f'{e["name"]} is not from the downward API'
            del e["valueFrom"]
            e["value"] = literal[e["name"]]

    cname = c["name"]
    expected = {
        "Deployment/hello": {
            "spec.template.spec.hostNetwork",
            f"spec.template.spec.containers[{cname}].ports",
            f"spec.template.spec.containers[{cname}].image",
            f"spec.template.spec.containers[{cname}].imagePullPolicy",
            f"spec.template.spec.containers[{cname}].env[PORT].value",
            f"spec.template.spec.containers[{cname}].env[ADMIN_PORT].value",
        }
        | {f"spec.template.spec.containers[{cname}].env[{n}].{k}" for n in literal for k in ("value", "valueFrom")}
    }
    if docs[out.index(dep)]["spec"].get("replicas") != 1:
        expected["Deployment/hello"].add("spec.replicas")
    with open(dst, "w") as f:
        yaml.safe_dump_all(out, f, sort_keys=False)
    # Compare what podman will read (the written file) with the rendered one.
    written = [d for d in yaml.safe_load_all(open(dst)) if d]
    if len(written) != len(docs):
        print("        object count changed", file=sys.stderr)
        sys.exit(1)
    changed = {}
    for before, after in zip(docs, written):
        d = diff(before, after)
        if d:
            changed[f'{after["kind"]}/{after["metadata"]["name"]}'] = set(d)
    for obj, paths in sorted(changed.items()):
        for p in sorted(paths):
            print(f"        changed {obj}: {p}")
    if changed != expected:
        print(f"        unexpected change set; want {expected}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
