#!/usr/bin/env python3
"""Checks fluentd config files without fluentd (it cannot be installed here).

Reads the ConfigMaps of a rendered kustomize overlay (so `@include` resolves
to exactly what the pod mounts), parses fluentd's v1 config syntax and checks:
  - directives are balanced and nested where fluentd accepts them;
  - every plugin section has an @type, and every @type is a plugin the pinned
    image ships (../plugins.txt);
  - <match>/<filter> carry a tag pattern; every tag a source emits into a
    label is matched there; every @label reference exists; @id is unique;
  - the parameters this pipeline relies on are present (e.g. ack, file buffers).

`dump` prints the parsed tree as JSON, for the Ruby contract test, so the
regex, time formats and field names are read from the config, never copied.

Usage:
  fluentconf.py check RENDERED.yaml            # every fluentd ConfigMap in it
  fluentconf.py dump RENDERED.yaml CONFIGMAP   # JSON tree of CONFIGMAP's fluent.conf
  fluentconf.py extract RENDERED.yaml CONFIGMAP DIR
      # writes CONFIGMAP's files into DIR, as the pod mounts them (for
      # `fluentd --dry-run` in the image, see README)
"""
import json
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGINS_FILE = os.path.join(HERE, "..", "plugins.txt")

# Which sections may appear inside which (fluentd v1 config). Sections not
# listed as keys take no children.
CHILDREN = {
    "ROOT": {"system", "source", "match", "filter", "label", "worker"},
    "system": {"log"},
    "worker": {"source", "match", "filter", "label"},
    "label": {"filter", "match"},
    "source": {"parse", "storage", "transport", "security", "metric", "labels"},
    "filter": {"parse", "record", "metric", "labels", "inject", "format"},
    "match": {"buffer", "format", "inject", "secondary", "server", "store",
              "security", "transport", "service_discovery", "metric", "labels"},
    "store": {"buffer", "format", "inject", "server", "secondary"},
    "secondary": {"buffer", "format", "inject"},
    "metric": {"labels"},
    "security": {"client", "user"},
}
# Section -> plugin category of its @type (None: no plugin type).
CATEGORY = {"source": "input", "match": "output", "filter": "filter",
            "store": "output", "secondary": "output", "parse": "parser",
            "format": "formatter", "buffer": "buffer"}
# Sections whose @type may be omitted (plugin default applies).
TYPE_OPTIONAL = {"format", "buffer", "secondary"}


class ConfError(Exception):
    pass


class Element:
    def __init__(self, name, arg, where):
        self.name, self.arg, self.where = name, arg, where
        self.params = {}     # key -> (value, where)
        self.children = []

    def get(self, key, default=None):
        return self.params.get(key, (default, None))[0]

    def to_json(self):
        return {"name": self.name, "arg": self.arg,
                "params": {k: v for k, (v, _) in self.params.items()},
                "children": [c.to_json() for c in self.children]}


def load_plugins(path=PLUGINS_FILE):
    plugins = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                cat, typ = line.split()[:2]
                plugins.setdefault(cat, set()).add(typ)
    return plugins


def strip_comment(value, where):
    """A value ends at ' #' outside quotes (but `#{...}` is embedded Ruby)."""
    out, quote, i = [], None, 0
    while i < len(value):
        c = value[i]
        if quote:
            if c == "\\" and quote == '"':
                out.append(value[i:i + 2])
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'" and not "".join(out).strip():
            quote = c
        elif c == "#" and value[i + 1:i + 2] != "{" and (i == 0 or value[i - 1] in " \t"):
            break
        out.append(c)
        i += 1
    if quote:
        raise ConfError(f"{where}: unterminated {quote}-quoted value")
    return "".join(out).strip()


def unquote(value, where):
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    if value.startswith(("[", "{")):
        try:
            json.loads(value)
        except ValueError as e:
            raise ConfError(f"{where}: not a JSON array/hash: {value} ({e})") from None
    return value


def parse(files, name="fluent.conf"):
    """files: {filename: text}. Returns the ROOT Element; resolves @include."""
    root = Element("ROOT", "", f"{name}:0")
    stack = [root]

    def feed(fname, seen):
        if fname not in files:
            raise ConfError(f"@include {fname}: no such key in the ConfigMap")
        if fname in seen:
            raise ConfError(f"@include loop through {fname}")
        for n, raw in enumerate(files[fname].splitlines(), 1):
            where = f"{fname}:{n}"
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            m = re.fullmatch(r"</\s*([\w.]+)\s*>", line)
            if m:
                if len(stack) == 1:
                    raise ConfError(f"{where}: </{m.group(1)}> closes nothing")
                top = stack.pop()
                if top.name != m.group(1):
                    raise ConfError(f"{where}: </{m.group(1)}> closes <{top.name}> opened at {top.where}")
                continue
            m = re.fullmatch(r"<\s*([\w.]+)(?:\s+([^>]*?))?\s*>", line)
            if m:
                sec, arg = m.group(1), (m.group(2) or "").strip()
                parent = stack[-1]
                if sec not in CHILDREN.get(parent.name, set()):
                    raise ConfError(f"{where}: <{sec}> is not allowed inside <{parent.name}>")
                el = Element(sec, arg, where)
                parent.children.append(el)
                stack.append(el)
                continue
            if line.startswith("<"):
                raise ConfError(f"{where}: malformed directive {line!r}")
            parts = line.split(None, 1)
            key = parts[0]
            value = strip_comment(parts[1], where) if len(parts) > 1 else ""
            if key == "@include":
                feed(value, seen | {fname})
                continue
            if not re.fullmatch(r"@?[A-Za-z_][\w.]*", key):
                raise ConfError(f"{where}: malformed parameter name {key!r}")
            el = stack[-1]
            if el is root:
                raise ConfError(f"{where}: parameter {key} outside any section")
            if key in el.params:
                raise ConfError(f"{where}: {key} set twice in <{el.name}> (first at {el.params[key][1]})")
            el.params[key] = (unquote(value, where), where)

    feed(name, frozenset())
    if len(stack) != 1:
        raise ConfError(f"<{stack[-1].name}> opened at {stack[-1].where} is never closed")
    return root


def glob_to_regex(pattern):
    """fluentd tag patterns: * = one tag part, ** = zero or more parts, {a,b}."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith(".**", i):       # "a.**" also matches "a"
            out += r"(?:\..*)?"
            i += 3
        elif pattern.startswith("**.", i):     # "**.b" also matches "b"
            out += r"(?:.*\.)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += r"[^.]*"
            i += 1
        elif pattern[i] == "{":
            j = pattern.index("}", i)
            out += "(?:" + "|".join(re.escape(a) for a in pattern[i + 1:j].split(",")) + ")"
            i = j + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def tag_matches(patterns, tag):
    return any(glob_to_regex(p).match(tag) for p in patterns.split())


def walk(el):
    yield el
    for c in el.children:
        yield from walk(c)


def check(root, plugins, label):
    errors = []

    def err(el, msg):
        errors.append(f"[{label}] {el.where}: {msg}")

    ids = {}
    labels = {c.arg: c for c in root.children if c.name == "label"}
    for el in walk(root):
        cat = CATEGORY.get(el.name)
        typ = el.get("@type")
        if cat:
            if typ is None and el.name not in TYPE_OPTIONAL:
                err(el, f"<{el.name}> has no @type")
            elif typ is not None and typ not in plugins.get(cat, set()):
                err(el, f"@type {typ} is not a {cat} plugin the pinned image ships (plugins.txt)")
        if el.name in ("match", "filter") and not el.arg:
            err(el, f"<{el.name}> without a tag pattern")
        pid = el.get("@id")
        if pid:
            if pid in ids:
                err(el, f"@id {pid} already used at {ids[pid]}")
            ids[pid] = el.where
        for key in ("@label", "timeout_label"):
            ref = el.get(key)
            if ref and ref not in labels:
                err(el, f"{key} {ref} refers to no <label>")
    # Every label is used, and each tag routed into it reaches a <match>.
    routed = {}
    for el in walk(root):
        for key in ("@label", "timeout_label"):
            if el.get(key):
                routed.setdefault(el.get(key), []).append(el)
    for name, lab in labels.items():
        if name in ("@FLUENT_LOG", "@ERROR"):
            continue  # fluentd routes its own events and reported records there
        if name not in routed:
            err(lab, f"<label {name}> is never routed to")
        matches = [c.arg for c in lab.children if c.name == "match"]
        if not matches:
            err(lab, f"<label {name}> has no <match>: its events are dropped")
        for src in routed.get(name, []):
            tag = src.get("tag")
            if tag:
                sample = tag.replace("*", "var.log.containers.x_y_z-0.log")
                if not any(tag_matches(m, sample) for m in matches):
                    err(src, f"tag {tag} reaches no <match> in <label {name}>")
    # Top-level sources without @label need a top-level match for their tag.
    top_matches = [c.arg for c in root.children if c.name == "match"]
    for src in root.children:
        if src.name == "source" and src.get("tag") and not src.get("@label"):
            if not any(tag_matches(m, src.get("tag")) for m in top_matches):
                err(src, f"tag {src.get('tag')} reaches no top-level <match>")
    errors.extend(f"[{label}] {e}" for e in pipeline_rules(root))
    return errors


def find(root, section, typ):
    return [e for e in walk(root) if e.name == section and e.get("@type") == typ]


def pipeline_rules(root):
    """What this design depends on (README): durable hops, explicit policies."""
    errs = []
    for out in find(root, "match", "forward"):
        if out.get("require_ack_response") != "true":
            errs.append(f"{out.where}: forward output without require_ack_response true")
        # out_forward resolves every <server> in configure(): without this a
        # forwarder exits 1 while an aggregator name does not resolve (their
        # rollout), and `fluentd --dry-run` fails anywhere outside the cluster.
        if out.get("ignore_network_errors_at_startup") != "true":
            errs.append(f"{out.where}: forward output without ignore_network_errors_at_startup true")
        if not [c for c in out.children if c.name == "server"]:
            errs.append(f"{out.where}: forward output with no <server>")
    for out in find(root, "match", "kafka2"):
        for key, want in (("required_acks", "-1"), ("message_key_key", "trace_id")):
            if out.get(key) != want:
                errs.append(f"{out.where}: kafka2 {key} must be {want} (got {out.get(key)})")
        for key in ("brokers", "default_topic", "compression_codec", "max_send_retries"):
            if not out.get(key):
                errs.append(f"{out.where}: kafka2 without {key}")
        bufs = [c for c in out.children if c.name == "buffer"]
        if not bufs or not (bufs[0].get("retry_timeout") or bufs[0].get("retry_max_times")):
            errs.append(f"{out.where}: kafka2 buffer retries are not bounded")
        if not [c for c in out.children if c.name == "secondary"]:
            errs.append(f"{out.where}: kafka2 without <secondary> for chunks that exhaust retries")
    for out in [e for e in walk(root) if e.name == "match" and e.get("@type") in ("forward", "kafka2")]:
        bufs = [c for c in out.children if c.name == "buffer"]
        if not bufs or bufs[0].get("@type") != "file":
            errs.append(f"{out.where}: {out.get('@type')} output must use a file buffer")
        elif not bufs[0].get("overflow_action") or not bufs[0].get("total_limit_size"):
            errs.append(f"{out.where}: buffer needs an explicit overflow_action and total_limit_size")
    # filter_parser reports to @ERROR unless told not to (default true);
    # with no <label @ERROR> fluentd logs every such record as a warning.
    labels = {c.arg for c in root.children if c.name == "label"}
    for f in find(root, "filter", "parser"):
        if f.get("emit_invalid_record_to_error", "true") == "true" and "@ERROR" not in labels:
            errs.append(f"{f.where}: parser filter reports records to @ERROR, but there is no <label @ERROR>")
        # A record whose time does not parse is dropped even with
        # reserve_data: a JSON parser must not read a time of its own
        # unless the filter keeps the event time anyway (reserve_time).
        parse_el = next((c for c in f.children if c.name == "parse"), None)
        if parse_el is not None and parse_el.get("@type") == "json" and f.get("reserve_time") != "true":
            errs.append(f"{f.where}: json parser filter without reserve_time true: a line whose "
                        f"{parse_el.get('time_key', 'time')} does not parse would be dropped")
    for src in find(root, "source", "tail"):
        for key in ("path", "pos_file", "tag"):
            if not src.get(key):
                errs.append(f"{src.where}: tail without {key}")
    return errs


def configmaps(rendered):
    with open(rendered, encoding="utf-8") as f:
        for doc in yaml.safe_load_all(f):
            if doc and doc.get("kind") == "ConfigMap" and "fluent.conf" in doc.get("data", {}):
                yield doc["metadata"]["name"], doc["data"]


def base_name(cm_name):
    return re.sub(r"-[a-z0-9]{10}$", "", cm_name)  # kustomize hash suffix


def main(argv):
    if len(argv) >= 3 and argv[1] == "check":
        plugins = load_plugins()
        errors, n = [], 0
        for path in argv[2:]:
            for name, data in configmaps(path):
                n += 1
                label = f"{os.path.basename(path)}:{base_name(name)}"
                try:
                    root = parse(data)
                except ConfError as e:
                    errors.append(f"[{label}] {e}")
                    continue
                errors.extend(check(root, plugins, label))
                types = sorted({e.get("@type") for e in walk(root) if e.get("@type")})
                print(f"  {label}: {len(list(walk(root))) - 1} sections, plugins: {', '.join(types)}")
        if n == 0:
            errors.append("no fluentd ConfigMap found")
        for e in errors:
            print("  FAIL", e)
        return 1 if errors else 0
    if len(argv) == 4 and argv[1] == "dump":
        for name, data in configmaps(argv[2]):
            if base_name(name) == argv[3]:
                print(json.dumps(parse(data).to_json(), indent=1))
                return 0
        print(f"no ConfigMap {argv[3]} in {argv[2]}", file=sys.stderr)
        return 1
    if len(argv) == 5 and argv[1] == "extract":
        for name, data in configmaps(argv[2]):
            if base_name(name) == argv[3]:
                os.makedirs(argv[4], exist_ok=True)
                for fname, text in data.items():
                    with open(os.path.join(argv[4], fname), "w", encoding="utf-8") as f:
                        f.write(text)
                return 0
        print(f"no ConfigMap {argv[3]} in {argv[2]}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
