#!/usr/bin/env python3
"""Cross-checks of the supply-chain suite (scripts/supply-chain.sh): the crate list
embedded in the binary, the CycloneDX SBOM and a scanner's view of the image must all
name exactly the crates cargo resolves for the shipped build. The reference is
`cargo metadata` (run here, --locked, for the one target, default features), and the
checksums in Cargo.lock.

  audit AUDIT_JSON              rust-audit-info output of $HELLO_BIN
  sbom SBOM_JSON                cargo-cyclonedx output
  scanner CDX_JSON AUDIT_JSON   a scanner's CycloneDX (trivy on the image) vs the binary

Each prints what it compared and exits 1 on a difference.
"""
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = os.environ.get("HELLO_TARGET", "x86_64-unknown-linux-gnu")


def resolved():
    """(root name, root version, runtime set, all set) of (name, version) pairs reachable
    from the root package: runtime = compiled into the binary (normal edges, not through
    proc macros), all = also build scripts' and proc macros' dependencies."""
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1", "--filter-platform", TARGET],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    pkgs = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = meta["resolve"]["root"]

    def proc_macro(i):
        return any("proc-macro" in t["kind"] for t in pkgs[i]["targets"])

    def walk(kinds, host_only_too):
        seen, todo = set(), [root]
        while todo:
            node = nodes[todo.pop()]
            for d in node["deps"]:
                if not any(k["kind"] in kinds for k in d["dep_kinds"]) or d["pkg"] in seen:
                    continue
                if proc_macro(d["pkg"]) and not host_only_too:
                    continue   # runs in the compiler: neither it nor its deps are in the binary
                seen.add(d["pkg"])
                todo.append(d["pkg"])
        return {(pkgs[i]["name"], pkgs[i]["version"]) for i in seen}

    runtime = walk({None}, False)        # compiled into the binary
    everything = walk({None, "build"}, True)
    return pkgs[root]["name"], pkgs[root]["version"], runtime, everything


def lock_checksums():
    lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
    return {(p["name"], p["version"]): p.get("checksum") for p in lock["package"]}


def diff(label, got, want):
    missing, extra = sorted(want - got), sorted(got - want)
    if missing or extra:
        print(f"  {label}: missing {fmt(missing) or 'none'}; unexpected {fmt(extra) or 'none'}")
        return False
    return True


def fmt(pairs):
    return ", ".join(f"{n}@{v}" for n, v in pairs[:20]) + (f" (+{len(pairs) - 20})" if len(pairs) > 20 else "")


def audit(path):
    data = json.loads(Path(path).read_text())
    name, version, runtime, everything = resolved()
    roots = [p for p in data["packages"] if p.get("root")]
    ok = len(roots) == 1 and (roots[0]["name"], roots[0]["version"]) == (name, version)
    if not ok:
        print(f"  root package {roots!r}, expected {name}@{version}")
    deps = [p for p in data["packages"] if not p.get("root")]
    got_runtime = {(p["name"], p["version"]) for p in deps if p.get("kind", "runtime") == "runtime"}
    got_all = {(p["name"], p["version"]) for p in deps}
    ok &= diff("runtime + build crates", got_all, everything)
    ok &= diff("crates compiled into the binary, marked runtime", got_runtime & runtime, runtime)
    # cargo-auditable 0.7 marks a proc macro "runtime" when its package also has test
    # targets (it only recognises packages whose single target is the proc macro), and
    # then the proc macro's own dependencies too. Over-reporting is harmless to a
    # scanner, and these are host-only by construction (the full set is checked above).
    over = got_runtime - runtime
    if over:
        print(f"  note: {len(over)} host-only crates marked runtime by cargo-auditable "
              f"(proc macros with test targets and their dependencies): {fmt(sorted(over))}")
    bad_source = sorted((p["name"], p["version"]) for p in deps if p.get("source") != "crates.io")
    if bad_source:
        print(f"  crates not from crates.io: {fmt(bad_source)}")
        ok = False
    print(f"  embedded: root {name}@{version}, {len(got_all)} crates ({len(runtime)} compiled into the binary, "
          f"all marked runtime; {len(got_all - runtime)} host-only), equal to cargo's resolve for {TARGET}: {ok}")
    return ok


def sbom(path):
    bom = json.loads(Path(path).read_text())
    name, version, _, everything = resolved()
    checksums = lock_checksums()
    ok = bom.get("bomFormat") == "CycloneDX" and bom.get("specVersion") == "1.5"
    meta = bom["metadata"]["component"]
    if (meta.get("name"), meta.get("version")) != (name, version) or \
            [lic.get("expression") for lic in meta.get("licenses", [])] != ["Apache-2.0"]:
        print(f"  metadata.component is {meta.get('name')}@{meta.get('version')} {meta.get('licenses')}")
        ok = False
    comps = bom["components"]
    got = {(c["name"], c["version"]) for c in comps}
    ok &= len(got) == len(comps)
    ok &= diff("SBOM components", got, everything)
    problems = []
    for c in comps:
        key = (c["name"], c["version"])
        if c.get("purl") != f"pkg:cargo/{c['name']}@{c['version']}":
            problems.append(f"{fmt([key])}: purl {c.get('purl')}")
        if not any(lic.get("expression") or lic.get("license") for lic in c.get("licenses", [])):
            problems.append(f"{fmt([key])}: no licence")
        sha = [h["content"] for h in c.get("hashes", []) if h.get("alg") == "SHA-256"]
        if sha != [checksums.get(key)]:
            problems.append(f"{fmt([key])}: SHA-256 {sha} is not Cargo.lock's {checksums.get(key)}")
    for p in problems[:20]:
        print(f"  {p}")
    ok &= not problems
    print(f"  SBOM: CycloneDX {bom.get('specVersion')}, {name}@{version} (Apache-2.0), {len(comps)} crates = "
          f"cargo's resolve (runtime + build), each with purl, licence and Cargo.lock's SHA-256: {ok}")
    return ok


def scanner(path, audit_path):
    bom = json.loads(Path(path).read_text())
    data = json.loads(Path(audit_path).read_text())
    want = {(p["name"], p["version"]) for p in data["packages"]
            if not p.get("root") and p.get("kind", "runtime") == "runtime"}
    cargo = [c for c in bom.get("components", []) if str(c.get("purl", "")).startswith(("pkg:cargo/", "pkg:rustbinary/"))]
    got = {(c["name"], c["version"]) for c in cargo}
    # The root crate itself is reported too by some scanners; compare the dependencies.
    root = next(p for p in data["packages"] if p.get("root"))
    got.discard((root["name"], root["version"]))
    ok = diff("scanner's cargo packages", got, want)
    print(f"  scanner: {len(got)} cargo packages found in the image, the binary embeds {len(want)} runtime crates: "
          f"{'equal' if ok else 'DIFFERENT'}")
    return ok


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "audit" and len(argv) == 3:
        return 0 if audit(argv[2]) else 1
    if cmd == "sbom" and len(argv) == 3:
        return 0 if sbom(argv[2]) else 1
    if cmd == "scanner" and len(argv) == 4:
        return 0 if scanner(argv[2], argv[3]) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
