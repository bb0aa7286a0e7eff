#!/usr/bin/env python3
"""Every reference a reader may follow leads somewhere that exists.

Checks the tracked text files of the repository:
- Markdown links to relative paths resolve (anchors are checked for Markdown targets);
- repository paths named in prose, code and comments (`k8s/test.sh`,
  src/telemetry/metrics.rs, ...) exist: any token that starts with a top-level
  folder of the repository is taken for a path;
- no text points outside the repository (a sibling `../` folder, an issue
  tracker's numbers), since a user who copies the kit has neither.

Exit 1 with one line per broken reference. Vendored third-party files are skipped.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP_PREFIXES = (
    "observability/schemas/",  # vendored CRD schemas
)
SKIP_FILES = {"Cargo.lock", "LICENSE", "scripts/check-references.py"}
TEXT_EXT = (".md", ".rs", ".sh", ".py", ".rb", ".groovy", ".yaml", ".yml", ".toml", ".json",
            ".txt", ".conf", ".tpl", "Dockerfile", "Jenkinsfile", ".jsonnet", ".libsonnet")

MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
OUTSIDE = [
    (re.compile(r"\.\./shared\b|shared/(DESIGN|TOOLS|RUST-STACK|STYLE)\.md"),
     "points at a folder outside the repository"),
    (re.compile(r"\b[Ii]ssues? #?\d+\b|\bGH-\d+\b"), "names an issue number of a tracker users do not have"),
]
# Tokens that look like paths and are not: (pattern, why).
NOT_PATHS = [
    (re.compile(r"^observability/otel-collector-\w+$"), "namespace/pod in alert texts"),
]
# Characters that make a token a pattern or placeholder rather than a path.
PLACEHOLDER = re.compile(r"[<>*{}$|\[\]]|\.\.\.|…")


def tracked():
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p]


def anchors(md_text):
    """GitHub-style heading anchors of a Markdown document."""
    out = set()
    for line in md_text.splitlines():
        m = re.match(r"#+\s+(.*)", line)
        if m:
            a = m.group(1).strip().lower()
            a = re.sub(r"[^\w\- ]", "", a).replace(" ", "-")
            out.add(a)
        for explicit in re.findall(r'<a (?:name|id)="([^"]+)"', line):
            out.add(explicit)
    return out


def main():
    files = tracked()
    existing = set(files)
    dirs = set()
    for f in files:
        parts = f.split("/")
        for i in range(1, len(parts)):
            dirs.add("/".join(parts[:i]))
    top = sorted({f.split("/")[0] for f in files if "/" in f} - {".git"}, key=len, reverse=True)
    path_token = re.compile(
        r"(?<![\w./@\\-])((?:%s)/[\w./-]*[\w/])" % "|".join(re.escape(t) for t in top))
    ignored = [(l.strip().strip("/"), l.strip().startswith("/"))
               for l in open(os.path.join(ROOT, ".gitignore")) if l.strip() and not l.startswith("#")]

    def tracked_path(path):
        return path in existing or path in dirs

    def is_ignored(path):
        # Made at run time (git-ignored output folders): `/x` patterns from
        # the top, `x` patterns at any depth.
        parts = path.split("/")
        for pattern, anchored in ignored:
            if anchored and (path == pattern or path.startswith(pattern + "/")):
                return True
            if not anchored and pattern in parts:
                return True
        return False

    def exists(path, base=""):
        # Only what a fresh clone has: tracked files, or what the tests make.
        path = path.rstrip("/")
        if tracked_path(path) or is_ignored(path):
            return True
        # Relative to the file's own folder (k8s/README.md naming tests/x.py).
        return bool(base) and tracked_path(os.path.normpath(os.path.join(base, path)))

    problems = []
    md_cache = {}
    for f in files:
        if f in SKIP_FILES or f.startswith(SKIP_PREFIXES) or not f.endswith(TEXT_EXT):
            continue
        try:
            text = open(os.path.join(ROOT, f), encoding="utf-8").read()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            where = f"{f}:{n}"
            for rx, why in OUTSIDE:
                if rx.search(line):
                    problems.append(f"{where}: {why}: {line.strip()[:120]}")
            if f.endswith(".md"):
                for target in MD_LINK.findall(line):
                    if re.match(r"[a-z]+:", target) or target.startswith("#"):
                        if target.startswith("#") and target[1:] not in anchors(text):
                            problems.append(f"{where}: no heading for anchor {target}")
                        continue
                    path, _, anchor = target.partition("#")
                    resolved = os.path.normpath(os.path.join(os.path.dirname(f), path))
                    if resolved.startswith(".."):
                        problems.append(f"{where}: link leaves the repository: {target}")
                    elif not exists(resolved):
                        problems.append(f"{where}: broken link {target}")
                    elif anchor and resolved.endswith(".md"):
                        if resolved not in md_cache:
                            md_cache[resolved] = anchors(open(os.path.join(ROOT, resolved)).read())
                        if anchor not in md_cache[resolved]:
                            problems.append(f"{where}: no heading for anchor {target}")
            for m in path_token.finditer(line):
                tok = m.group(1)
                if line[m.end():m.end() + 1] == "\\" or any(rx.match(tok) for rx, _ in NOT_PATHS):
                    continue  # a regular expression, or a known non-path
                if PLACEHOLDER.search(tok) or "://" in line[max(0, line.find(tok) - 10):line.find(tok)]:
                    continue
                tok = tok.rstrip(".")
                last = tok.rstrip("/").rsplit("/", 1)[-1]
                if last.isupper() or re.search(r"[\w-]\.\\?$", tok):
                    continue  # a placeholder (k8s/overlays/ENV)
                if not exists(tok, os.path.dirname(f)):
                    problems.append(f"{where}: names {tok}, which does not exist")
    for p in problems:
        print(p)
    print(f"check-references: {len(problems)} broken reference(s) in {len(files)} tracked files")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
