#!/usr/bin/env python3
"""The request contract of a hello binary, recorded and compared.

  record-contract.py record OUT.json [--bin PATH] [--work DIR] [--header TEXT]
  record-contract.py compare GOLDEN.json CAPTURE.json
  record-contract.py check GOLDEN.json [--bin PATH] [--work DIR]   (record, then compare)

`record` runs the binary ($HELLO_BIN, or --bin) through scripts/lib/hello_proc.py on
a fixed list of requests (REQUESTS below: every route, every status class the service
answers, the parser's own rejections, a timeout, shedding, a panic, draining) and
writes, per request: the status and reason, every response header, the body (JSON
with its key order, or text), and the log lines the request produced (access line
and any other, key order kept); then the start-up line, the /metrics exposition
(HELP, TYPE, every series with its labels and value) and the shutdown lines. A
second run sends a few of the requests with an OTLP/HTTP endpoint set (a receiver
in this process) and adds the exported spans: name, kind, parent, status,
attributes, resource and scope, and how the log line's ids relate to them.

What must vary from run to run is replaced by its shape, never dropped: the key
stays, in its place. Timestamps become `<rfc3339 .N Z>` (N = digits of the
fraction), ids `<hex32 ...>` / `<hex16 ...>` (with what they equal: the
traceparent's trace id, a new one, the span's), durations `<decimal .3>`, ports
`<port>`, the revision, build date, rustc and version by their shape, the `date`
header, process metrics, the histogram's sum and the buckets below +Inf (where a
duration falls) by `<number>`. Kept exactly: key names and order, constants,
routes, statuses, label names and values, counts by route and status, the
histogram's `_count`, `+Inf` bucket and `le` set, and every other sample value.

`compare` prints each differing field as `path: before -> after` (before = the
golden file) and exits 1 on a difference that is not in ALLOWED (named, with its
reason). Only the "runs" part of a capture is compared; "_header" says where the
capture comes from. Standard library only.
"""
import gzip
import json
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from hello_proc import Hello, StartError  # noqa: E402

UA = "contract-recorder/1"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"
SCRATCH_MAX = 1024  # SCRATCH_MAX_BYTES of the run: small, so 413 and 507 are cheap

# The first run: every route and status class. Fixed settings make every answer
# deterministic (HOSTNAME for the JSON greeting, two MESSAGES for the rotation, a
# 2 s request timeout for 408/503, one request at a time for shedding).
PLAIN_ENV = {
    "FAULT_INJECTION": "true",
    "HOSTNAME": "contract-host",
    "MESSAGES": "Hello, World!\nSecond greeting",
    "REQUEST_TIMEOUT_SECONDS": "2",
    "MAX_CONCURRENT_REQUESTS": "1",
    "SCRATCH_MAX_BYTES": str(SCRATCH_MAX),
    "SCRATCH_QUOTA_BYTES": str(2 * SCRATCH_MAX),
    "SHUTDOWN_DRAIN_SECONDS": "1",
    "RUST_LOG": "info",
    "LOG_FORMAT": "json",
}
# The second run: spans exported to a receiver in this process.
OTLP_ENV = {
    "FAULT_INJECTION": "true",
    "HOSTNAME": "contract-host",
    "OTEL_BSP_SCHEDULE_DELAY": "100",
    "OTEL_SERVICE_NAME": "hello",
    "POD_NAME": "contract-pod",
    "POD_NAMESPACE": "contract-ns",
    "NODE_NAME": "contract-node",
    "RUST_LOG": "info",
    "LOG_FORMAT": "json",
}
UNSET = ("MESSAGES", "FAULT_INJECTION", "RUST_LOG", "LOG_FORMAT", "OTEL_RESOURCE_ATTRIBUTES",
         "MAX_CONNECTIONS", "MAX_HEADER_BYTES", "HEADER_READ_TIMEOUT_SECONDS", "TMPDIR",
         "POD_NAME", "POD_NAMESPACE", "NODE_NAME")


def req(method, path, headers=(), body=b"", ua=UA):
    """The bytes of one HTTP/1.1 request: Host, User-Agent (unless None), the
    given headers, Content-Length when there is a body."""
    lines = [f"{method} {path} HTTP/1.1", "Host: contract"]
    if ua is not None:
        lines.append(f"User-Agent: {ua}")
    lines += list(headers)
    if body or method in ("PUT", "POST"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# (id, port, what, bytes or special). Port "public"/"admin". Each is sent on its
# own connection, in this order, after the previous one's access line was logged.
REQUESTS = [
    ("greeting-text", "public", "GET / as text", req("GET", "/")),
    ("greeting-rotates", "public", "GET / again: the second message", req("GET", "/")),
    ("greeting-json", "public", "GET / with Accept: application/json",
     req("GET", "/", ["Accept: application/json"])),
    ("greeting-json-q0", "public", "Accept: application/json;q=0 is text",
     req("GET", "/", ["Accept: application/json;q=0"])),
    ("greeting-traceparent", "public", "GET / continuing a W3C traceparent",
     req("GET", "/", [f"traceparent: {TRACEPARENT}"])),
    ("greeting-bad-traceparent", "public", "an invalid traceparent starts a new trace",
     req("GET", "/", ["traceparent: 00-xyz-00f067aa0ba902b7-01"])),
    ("greeting-query", "public", "the query string is never logged",
     req("GET", "/?token=secret&x=1")),
    ("greeting-no-user-agent", "public", "no User-Agent: empty in the log", req("GET", "/", ua=None)),
    ("greeting-long-user-agent", "public", "a 300-byte User-Agent is cut in the log",
     req("GET", "/", ua="u" * 300)),
    ("greeting-escaped-user-agent", "public", "a User-Agent that JSON must escape",
     req("GET", "/", ua='quote " backslash \\ tab\tend')),
    ("head-greeting", "public", "HEAD /", req("HEAD", "/")),
    ("version", "public", "GET /version", req("GET", "/version")),
    ("scratch-put-created", "public", "PUT a new key: 201",
     req("PUT", "/v1/scratch/note", body=b"remember me")),
    ("scratch-put-replaced", "public", "PUT the same key: 200",
     req("PUT", "/v1/scratch/note", body=b"remember me too")),
    ("scratch-get", "public", "GET the key", req("GET", "/v1/scratch/note")),
    ("scratch-delete", "public", "DELETE the key: 204", req("DELETE", "/v1/scratch/note")),
    ("scratch-get-missing", "public", "GET a missing key: 404", req("GET", "/v1/scratch/note")),
    ("scratch-delete-missing", "public", "DELETE a missing key: 404", req("DELETE", "/v1/scratch/note")),
    ("scratch-bad-key", "public", "a key starting with '.': 400", req("GET", "/v1/scratch/.secret")),
    ("scratch-long-key", "public", "a 129-byte key: 400", req("GET", "/v1/scratch/" + "k" * 129)),
    ("scratch-escaped-key", "public", "a percent-encoded quote in the key: 400",
     req("GET", "/v1/scratch/a%22b")),
    ("scratch-too-large", "public", "a body over SCRATCH_MAX_BYTES: 413",
     req("PUT", "/v1/scratch/big", body=b"x" * (SCRATCH_MAX + 1))),
    ("scratch-fill-a", "public", "PUT most of the quota", req("PUT", "/v1/scratch/a", body=b"a" * 1000)),
    ("scratch-fill-b", "public", "PUT the rest of the quota", req("PUT", "/v1/scratch/b", body=b"b" * 1000)),
    ("scratch-quota", "public", "PUT over the quota: 507", req("PUT", "/v1/scratch/c", body=b"c" * 1000)),
    ("scratch-slow-body", "public", "a body that stops arriving: 408 after REQUEST_TIMEOUT_SECONDS",
     "slow-body"),
    ("scratch-post", "public", "POST on a scratch key: 405", req("POST", "/v1/scratch/a", body=b"x")),
    ("greeting-post", "public", "POST /: 405", req("POST", "/", body=b"")),
    ("greeting-options", "public", "OPTIONS /: 405", req("OPTIONS", "/")),
    ("greeting-custom-method", "public", "an unknown method: _OTHER in the log and metrics",
     req("FROB", "/")),
    ("unmatched", "public", "a path no route matches: 404 unmatched", req("GET", "/nope")),
    ("public-metrics", "public", "/metrics is not on the public port", req("GET", "/metrics")),
    ("public-healthz", "public", "/healthz is not on the public port", req("GET", "/healthz")),
    ("fault-status-201", "public", "/v1/status/201", req("GET", "/v1/status/201")),
    ("fault-status-418", "public", "/v1/status/418", req("GET", "/v1/status/418")),
    ("fault-status-503", "public", "/v1/status/503", req("GET", "/v1/status/503")),
    ("fault-status-bad", "public", "/v1/status/abc: 400", req("GET", "/v1/status/abc")),
    ("fault-status-range", "public", "/v1/status/700: 400", req("GET", "/v1/status/700")),
    ("fault-delay", "public", "/v1/delay/5", req("GET", "/v1/delay/5")),
    ("fault-delay-too-long", "public", "/v1/delay/10001: 400", req("GET", "/v1/delay/10001")),
    ("fault-timeout", "public", "/v1/delay/2500 past REQUEST_TIMEOUT_SECONDS=2: 503",
     req("GET", "/v1/delay/2500")),
    ("fault-panic", "public", "/v1/panic: 500, the process keeps serving", req("GET", "/v1/panic")),
    ("shed", "public", "a request while MAX_CONCURRENT_REQUESTS=1 is taken: 503 + Retry-After",
     "shed"),
    ("header-over-limit", "public", "headers just over MAX_HEADER_BYTES: the edge layer's 431",
     req("GET", "/", ["X-Big: " + "a" * (17 * 1024), "Connection: close"])),
    ("parser-header-too-large", "public", "a header block beyond the parser's buffer: 431",
     req("GET", "/", ["X-Big: " + "a" * (64 * 1024)])),
    ("parser-bad-request-line", "public", "a request line the parser rejects: 400",
     b"GET / HTTP/1.1 trailing-garbage\r\n\r\n"),
    ("parser-not-http", "public", "not HTTP at all: 400", b"NOT-HTTP\r\n\r\n"),
    ("parser-uri-too-long", "public", "a 70 KB request target", req("GET", "/" + "u" * 70000)),
    ("admin-healthz", "admin", "GET /healthz", req("GET", "/healthz")),
    ("admin-readyz", "admin", "GET /readyz", req("GET", "/readyz")),
    ("admin-head-healthz", "admin", "HEAD /healthz", req("HEAD", "/healthz")),
    ("admin-post-healthz", "admin", "POST /healthz: 405", req("POST", "/healthz", body=b"")),
    ("admin-livez", "admin", "/livez does not exist: 404", req("GET", "/livez")),
    ("admin-version", "admin", "/version is not on the admin port", req("GET", "/version")),
    ("admin-greeting", "admin", "/ is not on the admin port", req("GET", "/")),
    ("admin-unmatched", "admin", "an unknown admin path", req("GET", "/nope")),
]
# After SIGTERM with SHUTDOWN_DRAIN_SECONDS=1: what a client sees while draining.
DRAINING = [
    ("draining-readyz", "admin", "GET /readyz while draining: 503", req("GET", "/readyz")),
    ("draining-greeting", "public", "GET / while draining: served, Connection: close", req("GET", "/")),
]
# The OTLP run: one request of each kind of span.
OTLP_REQUESTS = [
    ("greeting", "public", "GET /", req("GET", "/")),
    ("greeting-traceparent", "public", "GET / continuing a traceparent",
     req("GET", "/", [f"traceparent: {TRACEPARENT}"])),
    ("scratch-put", "public", "PUT a key: 201", req("PUT", "/v1/scratch/k", body=b"v")),
    ("scratch-bad-key", "public", "a bad key: 400", req("GET", "/v1/scratch/.x")),
    ("unmatched", "public", "404 unmatched", req("GET", "/nope")),
    ("fault-status-503", "public", "a 5xx: span status ERROR", req("GET", "/v1/status/503")),
    ("fault-panic", "public", "a panic inside the span", req("GET", "/v1/panic")),
    ("parser-not-http", "public", "a parser rejection: no span", b"NOT-HTTP\r\n\r\n"),
    ("admin-healthz", "admin", "GET /healthz", req("GET", "/healthz")),
]


# ---------------------------------------------------------------- HTTP client

class Response:
    def __init__(self):
        self.status = self.reason = None
        self.headers = []
        self.body = b""
        self.error = None


def read_response(sock, head_only=False):
    """Reads one response from sock: head, then a Content-Length, chunked or
    until-EOF body. Response.error says what went wrong, if anything."""
    r, buf = Response(), b""
    try:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                r.error = "connection closed before a response" if not buf else "incomplete head"
                return r
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        r.status, r.reason = int(parts[1]), (parts[2] if len(parts) > 2 else "")
        r.headers = [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:]]
        hdr = {k.lower(): v for k, v in r.headers}
        if head_only or r.status in (204, 304) or 100 <= r.status < 200:
            return r
        if "content-length" in hdr:
            n = int(hdr["content-length"])
            while len(rest) < n:
                chunk = sock.recv(65536)
                if not chunk:
                    r.error = "body shorter than Content-Length"
                    break
                rest += chunk
            r.body = rest[:n]
        elif hdr.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in rest:
                    rest += sock.recv(65536)
                size_line, rest = rest.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(rest) < size + 2:
                    rest += sock.recv(65536)
                body, rest = body + rest[:size], rest[size + 2:]
                if size == 0:
                    break
            r.body = body
        else:
            while chunk := sock.recv(65536):
                rest += chunk
            r.body = rest
    except (OSError, ValueError, IndexError) as e:
        r.error = f"{type(e).__name__}: {e}"
    return r


def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def exchange(port, data):
    """Sends one request on a new connection and reads the response."""
    with connect(port) as s:
        try:
            s.sendall(data)
        except OSError as e:  # the server may answer and close before all is sent
            r = read_response(s)
            r.error = r.error or None
            if r.status is None:
                r.error = f"send: {e}"
            return r
        return read_response(s, head_only=data.startswith(b"HEAD "))


def slow_body(port):
    """A PUT whose body stops after 3 of 10 bytes: the request timeout answers."""
    with connect(port, timeout=10) as s:
        s.sendall(req("PUT", "/v1/scratch/slow", body=b"0123456789")[:-7])
        return read_response(s)


def shed(port):
    """A slow request holds the only slot; the next one is shed. Returns the
    second response; the first one's (200) goes to the caller's list too."""
    holder = {}

    def hold():
        holder["r"] = exchange(port, req("GET", "/v1/delay/1200"))

    # The slow one has 0.4 s to take the slot and 0.8 s to spare before the
    # 2 s request timeout: both margins hold on a loaded machine.
    t = threading.Thread(target=hold)
    t.start()
    time.sleep(0.4)
    r = exchange(port, req("GET", "/"))
    t.join()
    return r, holder["r"]


# ---------------------------------------------------------------- normalising

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d+))?Z")
HEX = re.compile(r"[0-9a-f]+")


class RawNumber(str):
    """A JSON number kept as the text the service wrote."""


def loads_ordered(text):
    """JSON with numbers kept as their text (RawNumber): 1.500 stays 1.500."""
    return json.loads(text, parse_float=RawNumber, parse_int=RawNumber)


def shape_timestamp(v):
    m = RFC3339.fullmatch(v) if isinstance(v, str) else None
    if not m:
        return f"<not rfc3339: {v!r}>"
    return f"<rfc3339 .{len(m.group(1) or '')} Z>"


def shape_decimal(v):
    m = re.fullmatch(r"\d+(?:\.(\d+))?", str(v))
    if not m:
        return f"<not a decimal: {v!r}>"
    if isinstance(v, RawNumber) and float(v) == 0:
        return str(v)  # the parser's rejections log exactly 0.000
    return f"<decimal .{len(m.group(1) or '')}>"


class Ids:
    """Names for the ids a run saw, so the capture says what equals what: the
    traceparent's ids, an exported span's ids, an id first seen in this request
    (`new 1`, `new 2` in order of appearance: lines of one request that share
    an id say so) or one seen in an earlier request (`reused`: a bug)."""

    def __init__(self):
        self.known = {TRACE: "the traceparent's trace id", PARENT: "the traceparent's parent id"}
        self.spans = {}  # hex -> "span of <request id>: its trace/span id"
        self.earlier = {}  # hex -> request id it was first seen in
        self.local, self.request = {}, None

    def begin(self, request):
        """Ids seen from now on belong to `request`."""
        self.request, self.local = request, {}

    def name(self, value, width):
        if not (isinstance(value, str) and len(value) == width and HEX.fullmatch(value)):
            return f"<not hex{width}: {value!r}>"
        if set(value) == {"0"}:
            return f"<hex{width} all zero>"
        what = self.spans.get(value) or self.known.get(value)
        if what:
            return f"<hex{width} = {what}>"
        if value in self.local:
            return self.local[value]
        if value in self.earlier:
            return f"<hex{width} reused from {self.earlier[value]}>"
        n = sum(1 for v in self.local if len(v) == width) + 1
        self.local[value] = f"<hex{width} new {n}>"
        self.earlier[value] = self.request
        return self.local[value]


def shape_value(key, value, ids):
    """The stable form of one field of a log line, JSON body or span attribute."""
    if key in ("timestamp",):
        return shape_timestamp(value)
    if key == "duration_ms":
        return shape_decimal(value)
    if key in ("trace_id", "span_id"):
        return ids.name(value, 32 if key == "trace_id" else 16)
    if key in ("port", "admin_port"):
        return "<port>" if re.fullmatch(r"[1-9]\d*", str(value)) else f"<not a port: {value!r}>"
    if key == "revision":
        return "<revision>" if re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?|unknown", str(value)) else f"<revision? {value!r}>"
    if key == "build_date":
        return shape_timestamp(value)
    if key == "rustc":
        return "<rustc version>" if re.fullmatch(r"rustc \d+\.\d+\.\d+.*", str(value)) else f"<rustc? {value!r}>"
    if key in ("version", "service.version"):
        return "<semver>" if re.fullmatch(r"\d+\.\d+\.\d+\S*", str(value)) else f"<semver? {value!r}>"
    if key == "location" and isinstance(value, str):
        # file:line:col of a panic: the file is the contract, the line moves with edits
        return re.sub(r":\d+(:\d+)?$", lambda m: ":<line>" + (":<col>" if m.group(1) else ""), value)
    if isinstance(value, RawNumber):
        return f"<number {value}>"  # a number as written: 0 and 0.0 differ
    return value


def shape_record(obj, ids):
    """A parsed JSON object (log line, body) with every value shaped, key order kept."""
    if isinstance(obj, dict):
        return {k: (shape_record(v, ids) if isinstance(v, (dict, list)) else shape_value(k, v, ids))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [shape_record(v, ids) if isinstance(v, (dict, list)) else shape_value("", v, ids) for v in obj]
    return obj


def shape_log_line(raw, ids):
    try:
        obj = loads_ordered(raw)
    except ValueError:
        return {"<not JSON>": raw}
    return shape_record(obj, ids)


# Response headers: all of them, by name; the date is the only one that varies.
def shape_headers(headers, body_shaped):
    out = {}
    for k, v in headers:
        k = k.lower()
        if k == "date":
            v = "<http-date>" if re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", v) else f"<date? {v}>"
        elif k == "content-length" and body_shaped:
            v = "<length of the body>"
        out.setdefault(k, []).append(v)
    return {k: (v[0] if len(v) == 1 else v) for k, v in sorted(out.items())}


def shape_response(r, ids):
    if r.status is None:
        return {"error": r.error}
    body_shaped = False
    ctype = next((v for k, v in r.headers if k.lower() == "content-type"), "")
    if "json" in ctype and r.body:
        try:
            parsed = loads_ordered(r.body.decode())
            body = shape_record(parsed, ids)
            body_shaped = json.dumps(body) != json.dumps(parsed)
        except ValueError:
            body = {"<not JSON>": r.body.decode("latin-1")}
    else:
        body = r.body.decode("utf-8", "replace")
    if body_shaped:
        # the Content-Length must still be the body's
        cl = next((v for k, v in r.headers if k.lower() == "content-length"), None)
        if cl is not None and int(cl) != len(r.body):
            body_shaped = False
    out = {"status": r.status, "reason": r.reason, "headers": shape_headers(r.headers, body_shaped),
           "body": body}
    if r.error:
        out["error"] = r.error
    return out


# /metrics: each series by name and labels. Process metrics vary; so do where a
# duration falls among the buckets and the sum of durations.
SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+\d+)?")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
VARIABLE_LABELS = {"revision": "<revision>", "version": "<semver>", "rustc": "<rustc version>",
                   "build_date": "<rfc3339>"}


def shape_metrics(text):
    """{"families": {name: {HELP, TYPE}}, "series": {name{labels}: value}}. A
    histogram's buckets become one entry per series: its `le` list in
    exposition order, the +Inf count, and whether the finite buckets are
    non-decreasing and at most that count (their values depend on durations)."""
    families, series, buckets = {}, {}, {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("# "):
            parts = line.split(" ", 3)
            families.setdefault(parts[2], {})[parts[1]] = parts[3] if len(parts) > 3 else ""
            continue
        m = SAMPLE.fullmatch(line)
        if not m:
            series[f"<unparsed> {line}"] = ""
            continue
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        pairs = LABEL.findall(labels)
        if name == "hello_build_info":
            pairs = [(k, VARIABLE_LABELS.get(k, v)) for k, v in pairs]
        if name.endswith("_bucket"):
            le = dict(pairs).get("le")
            rest = [(k, v) for k, v in pairs if k != "le"]
            key = name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(rest)) + "}"
            buckets.setdefault(key, []).append((le, value))
            continue
        key = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(pairs)) + "}" if pairs else "")
        if name.startswith("process_") or name.endswith("_sum"):
            value = "<number>"
        series[key] = value
    for key, bs in buckets.items():
        values = [float(v) for _, v in bs]
        total = dict(bs).get("+Inf")
        ordered = all(a <= b for a, b in zip(values, values[1:])) and total is not None
        series[key] = (f"le {' '.join(le for le, _ in bs)}; +Inf={total}"
                       + ("" if ordered else "; NOT CUMULATIVE: " + " ".join(v for _, v in bs)))
    return {"families": dict(sorted(families.items())), "series": dict(sorted(series.items()))}


# ---------------------------------------------------------------- OTLP receiver

def pb_fields(data):
    """Protobuf wire format: [(field number, wire type, value)]; value is int or bytes."""
    out, i = [], 0
    while i < len(data):
        key, i = varint(data, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(data, i)
        elif wt == 1:
            v, i = data[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(data, i)
            v, i = data[i:i + n], i + n
        elif wt == 5:
            v, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        out.append((num, wt, v))
    return out


def varint(data, i):
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def pb_any(data):
    for num, wt, v in pb_fields(data):
        if num == 1:
            return v.decode()
        if num == 2:
            return bool(v)
        if num == 3:
            return v - (1 << 64) if v >= 1 << 63 else v
        if num == 4:
            return struct.unpack("<d", v)[0]
        if num == 5:
            return [pb_any(x) for n, _, x in pb_fields(v) if n == 1]
        if num == 6:
            return pb_attrs(v, 1)
        if num == 7:
            return v.hex()
    return None


def pb_attrs(data, field):
    """KeyValue list (repeated field `field` of a message) as {key: value}."""
    out = {}
    for num, _, v in pb_fields(data):
        if num == field:
            kv = {n: x for n, _, x in pb_fields(v)}
            out[kv.get(1, b"").decode()] = pb_any(kv.get(2, b""))
    return out


SPAN_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}


def decode_spans(body):
    """ExportTraceServiceRequest -> [span dict] with resource and scope."""
    spans = []
    for num, _, rs in pb_fields(body):
        if num != 1:
            continue
        resource, scope_spans = {}, []
        for n, _, v in pb_fields(rs):
            if n == 1:
                resource = pb_attrs(v, 1)
            elif n == 2:
                scope_spans.append(v)
        for ss in scope_spans:
            scope = {}
            raw_spans = []
            for n, _, v in pb_fields(ss):
                if n == 1:
                    f = {k: x for k, _, x in pb_fields(v)}
                    scope = {"name": f.get(1, b"").decode(), "version": f.get(2, b"").decode()}
                elif n == 2:
                    raw_spans.append(v)
            for sp in raw_spans:
                s = {"attributes": {}, "events": [], "links": 0, "status": {"code": "UNSET", "message": ""},
                     "parent_span_id": "", "trace_state": "", "flags": None}
                for n, _, v in pb_fields(sp):
                    if n == 1:
                        s["trace_id"] = v.hex()
                    elif n == 2:
                        s["span_id"] = v.hex()
                    elif n == 3:
                        s["trace_state"] = v.decode()
                    elif n == 4:
                        s["parent_span_id"] = v.hex()
                    elif n == 5:
                        s["name"] = v.decode()
                    elif n == 6:
                        s["kind"] = SPAN_KINDS.get(v, v)
                    elif n == 7:
                        s["start"] = struct.unpack("<Q", v)[0]
                    elif n == 8:
                        s["end"] = struct.unpack("<Q", v)[0]
                    elif n == 9:
                        kv = {k: x for k, _, x in pb_fields(v)}
                        s["attributes"][kv.get(1, b"").decode()] = pb_any(kv.get(2, b""))
                    elif n == 11:
                        ev = {k: x for k, _, x in pb_fields(v)}
                        s["events"].append({"name": ev.get(2, b"").decode(), "attributes": pb_attrs(v, 3)})
                    elif n == 13:
                        s["links"] += 1
                    elif n == 15:
                        st = {k: x for k, _, x in pb_fields(v)}
                        s["status"] = {"code": STATUS_CODES.get(st.get(3, 0), st.get(3)),
                                       "message": st.get(2, b"").decode()}
                    elif n == 16:
                        s["flags"] = struct.unpack("<I", v)[0]
                s["resource"], s["scope"] = resource, scope
                spans.append(s)
    return spans


class Receiver:
    """An OTLP/HTTP traces endpoint in a thread; keeps every request body."""

    def __init__(self):
        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.headers.get("content-encoding", "") == "gzip":
                    data = gzip.decompress(data)
                bodies.append((self.path, self.headers.get("content-type", ""), data))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self):
        out = []
        for _, _, body in list(self.bodies):
            out += decode_spans(body)
        return out

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# Span attributes the tracing bridge adds that vary by run, thread or line.
VARIABLE_SPAN_ATTRS = {"busy_ns": "<int>", "idle_ns": "<int>", "thread.id": "<int>",
                       "code.lineno": "<int>", "code.line.number": "<int>"}
VARIABLE_RESOURCE = {"process.pid": "<int>", "host.name": "<host>", "telemetry.sdk.version": "<semver>",
                     "service.version": "<semver>", "service.instance.id": "<id>"}


def shape_attr(k, v):
    if k in VARIABLE_SPAN_ATTRS:
        return VARIABLE_SPAN_ATTRS[k]
    if k == "location":
        return shape_value(k, v, None)
    return v


def shape_span(s, ids):
    attrs = {k: shape_attr(k, v) for k, v in sorted(s["attributes"].items())}
    return {
        "name": s.get("name"),
        "kind": s.get("kind"),
        "trace_id": ids.name(s.get("trace_id", ""), 32),
        "parent_span_id": ids.name(s["parent_span_id"], 16) if s["parent_span_id"] else "",
        "trace_state": s["trace_state"],
        "flags": s["flags"],
        "status": s["status"],
        "attributes": attrs,
        "events": [{"name": e["name"], "attributes": {k: shape_attr(k, v) for k, v in sorted(e["attributes"].items())}}
                   for e in s["events"]],
        "links": s["links"],
        "duration": "<ns>" if s.get("end", 0) >= s.get("start", 0) > 0 else f"<bad times {s.get('start')} {s.get('end')}>",
        "resource": {k: VARIABLE_RESOURCE.get(k, v) for k, v in sorted(s["resource"].items())},
        "scope": {k: ("<semver>" if k == "version" and v else v) for k, v in s["scope"].items()},
    }


# ---------------------------------------------------------------- recording

class Run:
    """One process of the binary and the requests sent to it."""

    def __init__(self, name, work, env):
        self.hello = Hello(name, work, env, unset=UNSET, wait_ready=False)
        self.ids = Ids()
        self.consumed = 0

    def start(self):
        self.hello.start()
        return self

    def wait_until_up(self):
        # The first connection may precede the accept loop by a moment; connecting
        # without sending a request leaves no trace in logs or metrics.
        deadline = time.time() + 10
        for port in (self.hello.port, self.hello.admin_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.02)

    def access_count(self, lines):
        return sum(1 for ln in lines if b'"target":"hello::access"' in ln)

    def new_lines(self, access_expected, timeout=10.0, settle=0.05, until=None):
        """Lines logged since the last call, once `access_expected` more access
        lines (and a line containing `until`) arrived, then `settle` s more."""
        deadline = time.time() + timeout
        while True:
            lines = self.hello.lines()[self.consumed:]
            if (self.access_count(lines) >= access_expected
                    and (until is None or any(until in ln for ln in lines))) or time.time() > deadline:
                break
            time.sleep(0.005)
        time.sleep(settle)
        lines = self.hello.lines()[self.consumed:]
        self.consumed += len(lines)
        return [ln.decode("utf-8", "replace") for ln in lines]

    def send(self, rid, port_name, what, data):
        port = self.hello.port if port_name == "public" else self.hello.admin_port
        self.ids.begin(rid)
        extra = None
        if data == "slow-body":
            r = slow_body(port)
        elif data == "shed":
            r, first = shed(port)
            extra = {"request": "GET /v1/delay/1200 holding the only slot",
                     "response": shape_response(first, self.ids)}
        else:
            r = exchange(port, data)
        expected = 2 if extra else 1
        raw = self.new_lines(expected)
        entry = {"id": rid, "port": port_name, "what": what,
                 "request": summary(data),
                 "response": shape_response(r, self.ids),
                 "log": [shape_log_line(ln, self.ids) for ln in raw]}
        if extra:
            entry["concurrent"] = extra
        return entry, raw


def summary(data):
    if isinstance(data, str):
        return f"<{data}>"
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    return line if len(line) <= 120 else line[:100] + f"... ({len(line)} bytes)"


def metrics_text(port):
    r = exchange(port, req("GET", "/metrics"))
    return r.body.decode()


def record_plain(work):
    run = Run("contract-plain", work, PLAIN_ENV).start()
    try:
        run.wait_until_up()
        start = [shape_log_line(ln, run.ids) for ln in run.new_lines(0, settle=0.1)]
        requests = [run.send(*r)[0] for r in REQUESTS]
        # The exposition before the shutdown; its own request is not in it.
        metrics = shape_metrics(metrics_text(run.hello.admin_port))
        run.new_lines(1)
        run.hello.proc.send_signal(signal.SIGTERM)
        shutdown_lines = run.new_lines(0, settle=0.05, until=b'"message":"shutdown: not ready')
        draining = [run.send(*r)[0] for r in DRAINING]
        rc = run.hello.proc.wait(timeout=20)
        after = run.new_lines(0, settle=0.2)
    finally:
        run.hello.stop()
    return {
        "env": PLAIN_ENV,
        "start": start,
        "requests": requests,
        "metrics": metrics,
        "draining": {"log at SIGTERM": [shape_log_line(ln, run.ids) for ln in shutdown_lines],
                     "requests": draining},
        "exit": {"status": rc, "log": [shape_log_line(ln, run.ids) for ln in after]},
    }


def record_otlp(work):
    receiver = Receiver()
    env = dict(OTLP_ENV, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
    run = Run("contract-otlp", work, env).start()
    entries = []
    try:
        run.wait_until_up()
        run.new_lines(0, settle=0.1)
        raws = []
        for r in OTLP_REQUESTS:
            entry, raw = run.send(*r)
            entries.append(entry)
            raws.append(raw)
        metrics = shape_metrics(metrics_text(run.hello.admin_port))
        run.new_lines(1)
        rc = run.hello.stop()
    finally:
        run.hello.stop()
        receiver.close()
    # Spans in the order their requests were sent (requests are sequential).
    spans = sorted(receiver.spans(), key=lambda s: s.get("start", 0))
    # Give each span's ids a name, then re-shape the log lines against them.
    ids = Ids()
    server_spans = [s for s in spans if s.get("kind") == "SERVER"]
    by_request = {}
    for s in server_spans:
        for e, raw in zip(entries, raws):
            for ln in raw:
                try:
                    v = json.loads(ln)
                except ValueError:
                    continue
                if v.get("span_id") == s.get("span_id") and e["id"] not in by_request:
                    by_request[e["id"]] = s
    for rid, s in by_request.items():
        ids.spans[s["span_id"]] = f"span of {rid}: its span id"
        if s["trace_id"] != TRACE:
            ids.spans[s["trace_id"]] = f"span of {rid}: its trace id"
    for e, raw in zip(entries, raws):
        ids.begin(e["id"])
        e["log"] = [shape_log_line(ln, ids) for ln in raw]
        e["span"] = shape_span(by_request[e["id"]], ids) if e["id"] in by_request else None
    ids.begin("a span without an access line")
    unmatched = [shape_span(s, ids) for s in spans if s not in by_request.values()]
    return {
        "env": {k: v for k, v in env.items() if k != "OTEL_EXPORTER_OTLP_ENDPOINT"},
        "requests": entries,
        "spans without an access line": unmatched,
        "span count": len(spans),
        "export requests": sorted({f"POST {p} {ct}" for p, ct, _ in receiver.bodies}),
        "metrics": {"series": {k: v for k, v in metrics["series"].items()
                               if k.startswith("hello_telemetry_export_errors_total")}},
        "exit": {"status": rc},
    }


def record(out, work, header):
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    capture = {
        "_header": header,
        "runs": {"plain": record_plain(work / "plain"), "otlp": record_otlp(work / "otlp")},
    }
    Path(out).write_text(json.dumps(capture, indent=1, ensure_ascii=False) + "\n")
    return capture


# ---------------------------------------------------------------- comparing

# Differences between the golden capture and the current binary that are
# intended: (path regex, before, after, reason). `...` matches any value.
ALLOWED = [
    # The shutdown line "shutdown: listener closed" counted `pending` connections
    # (accepted while a socket filter refused new ones); since shutdown works
    # without that filter (no CAP_NET_ADMIN), it holds queued connections until
    # the queue stays quiet and counts them as `held`: another number, another
    # name. A change of the shutdown work, not of the request path.
    (r"runs\.plain\.exit\.log\[\d+\]\.pending", "<number 0>", "<absent>",
     "shutdown line: `pending` became `held` with the filter-free shutdown"),
    (r"runs\.plain\.exit\.log\[\d+\]\.held", "<absent>", "<number 0>",
     "shutdown line: `pending` became `held` with the filter-free shutdown"),
]


def diff(a, b, path, out):
    """Appends (path, before, after) for every difference; key order counts.
    A request's "what" is its description, not part of the contract."""
    if isinstance(a, dict) and isinstance(b, dict):
        a = {k: v for k, v in a.items() if k != "what"}
        b = {k: v for k, v in b.items() if k != "what"}
        if list(a) != list(b):
            common = [k for k in a if k in b]
            if common != [k for k in b if k in a]:
                out.append((f"{path} (key order)", list(a), list(b)))
        for k in a:
            if k in b:
                diff(a[k], b[k], f"{path}.{k}", out)
            else:
                out.append((f"{path}.{k}", a[k], "<absent>"))
        for k in b:
            if k not in a:
                out.append((f"{path}.{k}", "<absent>", b[k]))
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append((f"{path} (length)", len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            label = x.get("id") if isinstance(x, dict) and isinstance(x.get("id"), str) else None
            diff(x, y, f"{path}[{label or i}]", out)
        for i in range(len(b), len(a)):
            out.append((f"{path}[{i}]", a[i], "<absent>"))
        for i in range(len(a), len(b)):
            out.append((f"{path}[{i}]", "<absent>", b[i]))
    elif a != b or type(a) is not type(b):
        out.append((path, a, b))


def allowed(d):
    path, before, after = d
    for pattern, want_before, want_after, reason in ALLOWED:
        if (re.fullmatch(pattern, path) and (want_before is ... or want_before == before)
                and (want_after is ... or want_after == after)):
            return reason
    return None


def show(v):
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 300 else text[:280] + f"... ({len(text)} chars)"


def compare(golden, capture, name_a="before", name_b="after"):
    a = json.loads(Path(golden).read_text())
    b = json.loads(Path(capture).read_text()) if not isinstance(capture, dict) else capture
    out = []
    diff(a.get("runs"), b.get("runs"), "runs", out)
    bad = 0
    for d in out:
        reason = allowed(d)
        tag = "allowed" if reason else "DIFF"
        print(f"  {tag} {d[0]}: {name_a} {show(d[1])} -> {name_b} {show(d[2])}")
        if reason:
            print(f"        ({reason})")
        else:
            bad += 1
    n_req = sum(len(r.get("requests", [])) for r in (a.get("runs") or {}).values())
    print(f"  contract: {n_req} requests compared with {golden}: {bad} difference(s)"
          + (f", {len(out) - bad} allowed" if len(out) - bad else ""))
    return 1 if bad else 0


def main(argv):
    args, opts = [], {}
    it = iter(argv)
    for x in it:
        if x in ("--bin", "--work", "--header"):
            opts[x] = next(it)
        else:
            args.append(x)
    if "--bin" in opts:
        os.environ["HELLO_BIN"] = str(Path(opts["--bin"]).resolve())
    if not args or args[0] not in ("record", "compare", "check"):
        sys.exit(__doc__)
    if args[0] == "compare" and len(args) == 3:
        return compare(args[1], args[2])
    if "HELLO_BIN" not in os.environ:
        sys.exit("record-contract: set HELLO_BIN or pass --bin")
    work = opts.get("--work") or f"/tmp/record-contract-{os.getpid()}"
    header = {"binary": os.environ["HELLO_BIN"], "command": " ".join(["scripts/record-contract.py"] + argv)}
    if "--header" in opts:
        header = json.loads(opts["--header"])
    try:
        if args[0] == "record" and len(args) == 2:
            record(args[1], work, header)
            return 0
        if args[0] == "check" and len(args) == 2:
            out = Path(work) / "capture.json"
            record(out, work, header)
            return compare(args[1], str(out), "golden", "now")
    except StartError as e:
        print(f"record-contract: the service did not start: {e}")
        return 1
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
