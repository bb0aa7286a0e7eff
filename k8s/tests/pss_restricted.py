"""Checks every pod template in rendered manifests against the Pod Security
Standards "restricted" profile (which includes "baseline"), rule by rule, as
published at https://kubernetes.io/docs/concepts/security/pod-security-standards/
(Profile details: Baseline and Restricted tables).

usage: pss_restricted.py RENDERED.yaml...

Then it proves each rule can fail: for every rule it applies one violation to
a copy of the first pod template and expects that rule to report it.
"""
import copy
import sys

import yaml

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod", "CronJob"}
# Baseline "Capabilities": the only ones that may be added (restricted allows NET_BIND_SERVICE only).
RESTRICTED_ADD_OK = {"NET_BIND_SERVICE"}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}
SELINUX_TYPES = {None, "", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def pod_spec(obj):
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("spec", {}), obj.get("metadata", {})
    if kind == "CronJob":
        t = obj["spec"]["jobTemplate"]["spec"]["template"]
    else:
        t = obj["spec"]["template"]
    return t.get("spec", {}), t.get("metadata", {})


def containers(spec):
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def csc(c):
    return c.get("securityContext") or {}


def psc(spec):
    return spec.get("securityContext") or {}


# Each rule: (profile, name, function(spec, meta) -> list of violations)
def host_process(spec, _):
    v = []
    if (psc(spec).get("windowsOptions") or {}).get("hostProcess"):
        v.append("pod windowsOptions.hostProcess")
    v += [f'{c["name"]}: windowsOptions.hostProcess' for c in containers(spec)
          if (csc(c).get("windowsOptions") or {}).get("hostProcess")]
    return v


def host_namespaces(spec, _):
    return [f"{k}: true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]


def privileged(spec, _):
    return [f'{c["name"]}: privileged' for c in containers(spec) if csc(c).get("privileged")]


def host_path(spec, _):
    return [f'volume {v["name"]}: hostPath' for v in spec.get("volumes") or [] if "hostPath" in v]


def host_ports(spec, _):
    return [f'{c["name"]}: hostPort {p["hostPort"]}' for c in containers(spec)
            for p in c.get("ports") or [] if p.get("hostPort")]


def apparmor(spec, meta):
    v = []
    for k, val in (meta.get("annotations") or {}).items():
        if k.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
                val == "runtime/default" or val.startswith("localhost/")):
            v.append(f"annotation {k}={val}")
    for owner, sc in [("pod", psc(spec))] + [(c["name"], csc(c)) for c in containers(spec)]:
        if (sc.get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
            v.append(f"{owner}: appArmorProfile {sc['appArmorProfile']['type']}")
    return v


def selinux(spec, _):
    v = []
    for owner, sc in [("pod", psc(spec))] + [(c["name"], csc(c)) for c in containers(spec)]:
        o = sc.get("seLinuxOptions") or {}
        if o.get("type") not in SELINUX_TYPES or o.get("user") or o.get("role"):
            v.append(f"{owner}: seLinuxOptions {o}")
    return v


def proc_mount(spec, _):
    return [f'{c["name"]}: procMount {csc(c)["procMount"]}' for c in containers(spec)
            if csc(c).get("procMount") not in (None, "Default")]


def seccomp(spec, _):
    # Restricted: RuntimeDefault or Localhost, on the pod or on every container;
    # no container may set Unconfined (baseline already forbids Unconfined).
    ok = ("RuntimeDefault", "Localhost")
    pod = (psc(spec).get("seccompProfile") or {}).get("type")
    v = [] if pod in ok or pod is None else [f"pod: seccompProfile {pod}"]
    for c in containers(spec):
        t = (csc(c).get("seccompProfile") or {}).get("type")
        if t is None and pod not in ok:
            v.append(f'{c["name"]}: no seccompProfile (and none on the pod)')
        elif t is not None and t not in ok:
            v.append(f'{c["name"]}: seccompProfile {t}')
    return v


def sysctls(spec, _):
    return [f'sysctl {s["name"]}' for s in psc(spec).get("sysctls") or [] if s["name"] not in SAFE_SYSCTLS]


def volume_types(spec, _):
    v = []
    for vol in spec.get("volumes") or []:
        kinds = set(vol) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            v.append(f'volume {vol["name"]}: {sorted(kinds - RESTRICTED_VOLUMES)}')
    return v


def privilege_escalation(spec, _):
    return [f'{c["name"]}: allowPrivilegeEscalation is not false' for c in containers(spec)
            if csc(c).get("allowPrivilegeEscalation") is not False]


def run_as_non_root(spec, _):
    pod = psc(spec).get("runAsNonRoot")
    v = []
    for c in containers(spec):
        own = csc(c).get("runAsNonRoot")
        if own is False or (own is None and pod is not True):
            v.append(f'{c["name"]}: runAsNonRoot not true')
    return v


def run_as_user(spec, _):
    v = ["pod: runAsUser 0"] if psc(spec).get("runAsUser") == 0 else []
    return v + [f'{c["name"]}: runAsUser 0' for c in containers(spec) if csc(c).get("runAsUser") == 0]


def capabilities(spec, _):
    v = []
    for c in containers(spec):
        caps = csc(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            v.append(f'{c["name"]}: capabilities.drop lacks ALL')
        extra = set(caps.get("add") or []) - RESTRICTED_ADD_OK
        if extra:
            v.append(f'{c["name"]}: capabilities.add {sorted(extra)}')
    return v


RULES = [
    ("baseline", "HostProcess", host_process),
    ("baseline", "Host Namespaces", host_namespaces),
    ("baseline", "Privileged Containers", privileged),
    ("baseline", "HostPath Volumes", host_path),
    ("baseline", "Host Ports", host_ports),
    ("baseline", "AppArmor", apparmor),
    ("baseline", "SELinux", selinux),
    ("baseline", "/proc Mount Type", proc_mount),
    ("baseline", "Sysctls", sysctls),
    ("restricted", "Volume Types", volume_types),
    ("restricted", "Privilege Escalation", privilege_escalation),
    ("restricted", "Running as Non-root", run_as_non_root),
    ("restricted", "Running as Non-root user", run_as_user),
    ("restricted", "Seccomp", seccomp),
    ("restricted", "Capabilities", capabilities),
]


def first(spec):
    return spec["containers"][0]


# One violation per rule, applied to a copy of a compliant pod template.
MUTATIONS = {
    "HostProcess": lambda s, m: csc_set(first(s), "windowsOptions", {"hostProcess": True}),
    "Host Namespaces": lambda s, m: s.update(hostPID=True),
    "Privileged Containers": lambda s, m: csc_set(first(s), "privileged", True),
    "HostPath Volumes": lambda s, m: s.setdefault("volumes", []).append({"name": "h", "hostPath": {"path": "/"}}),
    "Host Ports": lambda s, m: first(s).setdefault("ports", []).append({"containerPort": 8080, "hostPort": 8080}),
    "AppArmor": lambda s, m: m.setdefault("annotations", {}).update(
        {"container.apparmor.security.beta.kubernetes.io/x": "unconfined"}),
    "SELinux": lambda s, m: csc_set(first(s), "seLinuxOptions", {"type": "spc_t"}),
    "/proc Mount Type": lambda s, m: csc_set(first(s), "procMount", "Unmasked"),
    "Sysctls": lambda s, m: s.setdefault("securityContext", {}).setdefault("sysctls", []).append(
        {"name": "kernel.msgmax", "value": "1"}),
    "Volume Types": lambda s, m: s.setdefault("volumes", []).append({"name": "n", "nfs": {"server": "x", "path": "/"}}),
    "Privilege Escalation": lambda s, m: csc_set(first(s), "allowPrivilegeEscalation", True),
    "Running as Non-root": lambda s, m: csc_set(first(s), "runAsNonRoot", False),
    "Running as Non-root user": lambda s, m: csc_set(first(s), "runAsUser", 0),
    "Seccomp": lambda s, m: csc_set(first(s), "seccompProfile", {"type": "Unconfined"}),
    "Capabilities": lambda s, m: csc_set(first(s), "capabilities", {"drop": ["ALL"], "add": ["NET_ADMIN"]}),
}


def csc_set(c, key, value):
    c.setdefault("securityContext", {})[key] = value


def main():
    objs = [o for f in sys.argv[1:] for o in yaml.safe_load_all(open(f)) if o and o.get("kind") in WORKLOADS]
    if not objs:
        print("        no workload found")
        return 1
    failed = 0
    for o in objs:
        spec, meta = pod_spec(o)
        for profile, name, rule in RULES:
            v = rule(spec, meta)
            print(f'        {"ok  " if not v else "FAIL"} {o["kind"]}/{o["metadata"]["name"]}: {profile}/{name}'
                  + (f": {v}" if v else ""))
            failed += bool(v)
    # Self-test: each rule must catch its violation.
    spec0, meta0 = pod_spec(objs[0])
    missed = 0
    for _, name, rule in RULES:
        s, m = copy.deepcopy(spec0), copy.deepcopy(meta0)
        MUTATIONS[name](s, m)
        if not rule(s, m):
            print(f"        FAIL self-test: rule {name} did not catch its violation")
            missed += 1
    if not missed:
        print(f"        self-test: each of the {len(RULES)} rules catches a violation")
    failed += missed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
