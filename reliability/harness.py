#!/usr/bin/env python3
"""Reliability matrix for hello (docs/RELIABILITY.md): fault scenarios run against the
real static release binary, or against the real image under podman with the restricted
settings of the image tests (`--target container`).

Each scenario prints its measured figures, checks its criteria and exits non-zero when one
fails. Criteria are about behaviour (no failed request, the right status, counters, bounded
memory), never about time: timings are reported, not asserted.

  harness.py [--target native|container] rolling-restart --rate 400
  harness.py [--target container] tmp-full | hostile | otlp-blackhole | kafka-down
  harness.py [--target container] scratch-abuse | admin-probes | parser-errors | drain-close
  harness.py [--target container] oversized-put | shutdown-backlog

Every target gets a free PORT (the API) and a free ADMIN_PORT (probes, /metrics): readiness
polls and scrapes go to the admin port, the normal client's requests to the public one.
"""

import argparse
import asyncio
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
from hello_proc import Container as HelloContainer, Hello, StartError, free_port  # noqa: E402

FAILURES = []


# --------------------------------------------------------------------------- output

def check(ok, what, detail=""):
    print(f"  {'ok  ' if ok else 'FAIL'} {what}{(': ' + detail) if detail else ''}", flush=True)
    if not ok:
        FAILURES.append(what)
    return ok


def figure(name, value):
    print(f"  figure {name} = {value}", flush=True)


def retire_max_seconds():
    """After the drain the public listener is retired: connections already on their way
    are taken and served, for at most RETIRE_MAX (src/server/mod.rs). Read from the
    source, so the exit bounds below follow the service's own."""
    src = open(os.path.join(ROOT, "src", "server", "mod.rs")).read()
    m = re.search(r"const RETIRE_MAX: Duration = Duration::from_(secs|millis)\((\d+)\)", src)
    if not m:
        raise SystemExit("RETIRE_MAX not found in src/server/mod.rs: update retire_max_seconds()")
    return int(m[2]) / (1000 if m[1] == "millis" else 1)


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[i]


# --------------------------------------------------------------------------- targets

class Target:
    """A service started through scripts/lib/hello_proc.py (the suites' one launcher: ports
    the kernel picks, read from the start-up line; ready on /readyz; logs collected),
    and what the scenarios read from it."""

    def __init__(self, svc, workdir):
        self.svc, self.workdir = svc, workdir

    @property
    def port(self):
        return self.svc.port

    @property
    def admin(self):
        return self.svc.admin_port

    @property
    def pid(self):
        return self.svc.pid

    def terminate(self):
        self.svc.terminate()

    def wait(self, timeout):
        return self.svc.wait(timeout)

    def alive(self):
        return self.svc.alive()

    def lines(self):
        return [ln.decode("utf-8", "replace") for ln in self.svc.lines()]

    def scratch_files(self):
        return sorted(os.listdir(self.scratch_dir()))

    def close(self):
        self.svc.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


class Native(Target):
    """The static release binary as a child process (hello_proc.Hello), with nothing of
    the caller's environment."""

    kind = "native"

    def __init__(self, env, tmpdir=None):
        workdir = tempfile.mkdtemp(prefix="hello-rel-")
        super().__init__(Hello("hello", workdir, env, inherit_env=False, tmpdir=tmpdir), workdir)

    def scratch_dir(self):
        return os.path.join(self.svc.tmpdir, "hello-scratch")


class Container(Target):
    """The image under podman, run the way the restricted Pod Security profile would
    (hello_proc.Container)."""

    kind = "container"

    def __init__(self, env, tmpfs_size="64m"):
        workdir = tempfile.mkdtemp(prefix="hello-rel-")
        super().__init__(HelloContainer("hello-rel", workdir, env, tmpfs_size=tmpfs_size), workdir)

    def scratch_dir(self):
        # The image has no shell or ls: reach the tmpfs through the container's root.
        return f"/proc/{self.pid}/root/tmp/hello-scratch"


def start(args, env, tmpdir=None, tmpfs_size="64m"):
    t = Container(env, tmpfs_size) if args.target == "container" else Native(env, tmpdir)
    try:
        t.svc.start()
    except StartError as e:
        print("\n".join(t.lines()[-20:]))
        t.close()
        raise SystemExit(f"the service did not become ready: {e}")
    return t


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def http_get(port, path, timeout=2.0, method="GET", body=None, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=body,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)
    except (OSError, urllib.error.URLError) as e:
        return 0, str(e).encode(), {}


def metric(admin, name, scraped=None, **labels):
    """Sum of the samples of `name` matching `labels`, from `scraped` (one /metrics body)
    or from a fresh scrape of the admin port."""
    if scraped is None:
        scraped = http_get(admin, "/metrics")[1]
    total = 0.0
    for line in scraped.decode().splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def access_lines(target):
    out = []
    for ln in target.lines():
        try:
            v = json.loads(ln)
        except ValueError:
            continue
        if v.get("target") == "hello::access":
            out.append(v)
    return out


def kafka_eligible_lines(target):
    """The stdout lines the Kafka sink must account for: all of them except the sink's and
    librdkafka's own (never produced, so logging cannot feed back into Kafka)."""
    own = ("hello::kafka", "rdkafka", "librdkafka")
    n = 0
    for ln in target.lines():
        try:
            if not json.loads(ln).get("target", "").startswith(own):
                n += 1
        except ValueError:
            pass
    return n


def kafka_outcomes(admin):
    scraped = http_get(admin, "/metrics")[1]
    return {o: metric(admin, "hello_log_events_total", scraped, sink="kafka", outcome=o)
            for o in ("sent", "dropped", "failed")}


def panics(target):
    return [ln for ln in target.lines() if "panic" in ln.lower() and '"url.path":"/v1/panic"' not in ln]


# --------------------------------------------------------------------------- HTTP/1.1 client

class Conn:
    """One keep-alive HTTP/1.1 connection with exact outcome accounting."""

    def __init__(self, port):
        self.port = port
        self.r = self.w = None

    async def request(self, path, timeout=15.0):
        """Returns (outcome, status); outcome is ok | http_5xx | http_4xx | refused |
        closed_before_response | truncated | timeout."""
        fresh = self.w is None
        if fresh:
            try:
                self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return "refused", 0
        try:
            self.w.write(f"GET {path} HTTP/1.1\r\nHost: hello\r\n\r\n".encode())
            await self.w.drain()
            head = await asyncio.wait_for(self.r.readuntil(b"\r\n\r\n"), timeout)
        except asyncio.IncompleteReadError as e:
            self.drop()
            return ("closed_before_response" if not e.partial else "truncated"), 0
        except asyncio.TimeoutError:
            self.drop()
            return "timeout", 0
        except OSError:
            self.drop()
            return "closed_before_response", 0
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        try:
            await asyncio.wait_for(self.r.readexactly(int(hdrs.get("content-length", "0"))), timeout)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
            self.drop()
            return "truncated", status
        if hdrs.get("connection", "").lower() == "close":
            self.drop()
        return ("ok" if status < 400 else f"http_{status // 100}xx"), status

    def drop(self):
        if self.w is not None:
            self.w.close()
        self.r = self.w = None


class Load:
    """Open-loop load at a fixed rate over a pool of keep-alive connections. Latency is
    measured from the scheduled send time, so a stalled server cannot hide its stall
    (no coordinated omission)."""

    def __init__(self, port, rate, conns=16, path="/"):
        self.port, self.rate, self.conns, self.path = port, rate, conns, path
        self.results = []          # (scheduled_t, outcome, status, latency_s)
        self.stop = asyncio.Event()

    async def run(self):
        queue = asyncio.Queue()

        async def worker():
            conn = Conn(self.port)
            while True:
                t = await queue.get()
                if t is None:
                    break
                outcome, status = await conn.request(self.path)
                self.results.append((t, outcome, status, time.monotonic() - t))
            conn.drop()

        workers = [asyncio.create_task(worker()) for _ in range(self.conns)]
        interval, nxt = 1.0 / self.rate, time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            while nxt <= now:
                queue.put_nowait(nxt)
                nxt += interval
            await asyncio.sleep(max(0.0, min(nxt - time.monotonic(), 0.01)))
        for _ in workers:
            queue.put_nowait(None)
        await asyncio.gather(*workers)

    def summary(self):
        out = {}
        for _, o, _, _ in self.results:
            out[o] = out.get(o, 0) + 1
        lat = sorted(r[3] for r in self.results if r[1] == "ok")
        return out, lat


async def poll_ready(admin, stop, seen, interval=0.05):
    """Records (time, status) of /readyz on the admin port until stop; each probe on a
    new connection, as the kubelet does."""
    while not stop.is_set():
        c = Conn(admin)
        _, status = await c.request("/readyz", timeout=2)
        c.drop()
        seen.append((time.monotonic(), status))
        await asyncio.sleep(interval)


# --------------------------------------------------------------------------- 1. rolling restart

def rolling_restart(args):
    drain, slow_ms, propagation = 3, 1500, 1.0
    for rate in (args.rate, 2 * args.rate):
        for client in ("endpoint-aware", "naive"):
            print(f"-- rolling restart: {rate} req/s, {client} client "
                  f"(drain {drain} s, {slow_ms} ms requests in flight)", flush=True)
            t = start(args, {"SHUTDOWN_DRAIN_SECONDS": str(drain), "FAULT_INJECTION": "true"})
            try:
                asyncio.run(_rolling(args, t, rate, client, drain, slow_ms, propagation))
            finally:
                t.close()


async def _rolling(args, t, rate, client, drain, slow_ms, propagation):
    load = Load(t.port, rate)
    slow = Load(t.port, 4, conns=8, path=f"/v1/delay/{slow_ms}")
    ready_seen, ready_stop = [], asyncio.Event()
    tasks = [asyncio.create_task(x) for x in (load.run(), slow.run(),
                                               poll_ready(t.admin, ready_stop, ready_seen))]
    await asyncio.sleep(2.0)
    t_term = time.monotonic()
    t.terminate()
    if client == "endpoint-aware":
        # Kubernetes removes the endpoint once readiness fails; emulate a propagation delay
        # well inside the drain, then stop sending new requests (in-flight ones finish).
        while not any(s == 503 for ts, s in ready_seen if ts >= t_term):
            await asyncio.sleep(0.01)
        await asyncio.sleep(propagation)
        load.stop.set()
        slow.stop.set()
    retire = retire_max_seconds()
    code = await asyncio.to_thread(t.wait, drain + retire + slow_ms / 1000 + 15)
    t_exit = time.monotonic()
    load.stop.set()
    slow.stop.set()
    ready_stop.set()
    await asyncio.gather(*tasks)

    counts, lat = load.summary()
    slow_counts, _ = slow.summary()
    first_503 = next((ts for ts, s in ready_seen if ts >= t_term and s == 503), None)
    logged = access_lines(t)
    logged_app = [v for v in logged if v.get("url.path") != "/readyz"]
    ok_total = counts.get("ok", 0) + slow_counts.get("ok", 0)
    bad_status = [v for v in logged_app if v.get("http.response.status_code", 0) >= 500]
    not_accepted = {k: v for k, v in {**counts}.items() if k in ("refused", "closed_before_response")}
    figure("requests sent", sum(counts.values()) + sum(slow_counts.values()))
    figure("outcomes (fast route)", counts)
    figure("outcomes (slow route)", slow_counts)
    figure("latency p50/p99 ms (ok)", f"{pct(lat, 50) * 1e3:.2f}/{pct(lat, 99) * 1e3:.2f}")
    figure("readyz 503 after SIGTERM (ms)",
           f"{(first_503 - t_term) * 1e3:.0f}" if first_503 else "never")
    figure("SIGTERM to exit (s)", f"{t_exit - t_term:.2f}")
    check(code == 0, "exit code 0", str(code))
    check(first_503 is not None, "/readyz answered 503 during the drain")
    check(t_exit - t_term <= drain + retire + slow_ms / 1000 + 2,
          f"exit inside drain + listener retirement ({retire:g} s) + longest request + 2 s",
          f"{t_exit - t_term:.2f} s")
    check(len(logged_app) == ok_total,
          "every request the server accepted was answered (server log = client ok)",
          f"logged {len(logged_app)}, client ok {ok_total}")
    check(not bad_status, "no 5xx among accepted requests", str(len(bad_status)))
    if client == "endpoint-aware":
        failed = {k: v for k, v in counts.items() if k != "ok"}
        failed.update({f"slow {k}": v for k, v in slow_counts.items() if k != "ok"})
        check(not failed, "0 failed requests (the client stops after the endpoint is removed)",
              str(failed))
    else:
        figure("not accepted after the listener closed", not_accepted)
        others = {k: v for k, v in counts.items() if k not in ("ok", "refused", "closed_before_response")}
        check(not others, "only refusals (never accepted) after the listener closed", str(others))


# --------------------------------------------------------------------------- 4. /tmp full

def tmp_full(args):
    size_kib = 512
    print(f"-- /tmp full: {size_kib} KiB tmpfs, SCRATCH_QUOTA_BYTES 32 MiB (the disk fills first)")
    mnt = None
    if args.target == "native":
        mnt = tempfile.mkdtemp(prefix="hello-tmpfs-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=1777", "tmpfs", mnt],
                       check=True)
    t = start(args, {"SCRATCH_MAX_BYTES": str(256 * 1024)}, tmpdir=mnt, tmpfs_size=f"{size_kib}k")
    try:
        body = os.urandom(200 * 1024)
        codes = []
        for i in range(5):
            s, b, _ = http_get(t.port, f"/v1/scratch/k{i}", method="PUT", body=body)
            codes.append((s, b))
        statuses = [s for s, _ in codes]
        figure("PUT 200 KiB × 5 statuses", statuses)
        full = [(s, b) for s, b in codes if s == 507]
        check(bool(full), "a write that does not fit gets 507")
        if full:
            err = json.loads(full[0][1])
            check(err.get("status") == 507 and "error" in err, "507 has the JSON error body",
                  full[0][1].decode())
        stored = [f"k{i}" for i, (s, _) in enumerate(codes) if s in (200, 201)]
        files = t.scratch_files()
        check(files == sorted(stored), "nothing partial left behind: only committed keys on disk",
              f"{files}")
        s0, b0, _ = http_get(t.port, "/v1/scratch/k0")
        check(s0 == 200 and b0 == body, "earlier data intact and readable")
        check(http_get(t.port, "/")[0] == 200, "other routes unaffected (GET /)")
        check(http_get(t.admin, "/readyz")[0] == 200,
              "still ready: a full volume fails writes, it does not take the pod out of rotation")
        used = metric(t.admin, "hello_scratch_bytes")
        check(used == 200 * 1024 * len(stored), "hello_scratch_bytes counts only stored data",
              f"{used:.0f}")
        for k in stored:
            http_get(t.port, f"/v1/scratch/{k}", method="DELETE")
        s, _, _ = http_get(t.port, "/v1/scratch/again", method="PUT", body=body)
        check(s == 201, "space freed: writes succeed again", str(s))
        check(not panics(t), "no panic")
    finally:
        t.close()
        if mnt:
            subprocess.run(["umount", mnt])
            os.rmdir(mnt)


# --------------------------------------------------------------------------- 5. hostile clients

def raw_exchange(port, data, wait=2.0):
    """Sends raw bytes; returns (all bytes received, closed_by_server)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(wait)
    try:
        s.sendall(data)
    except OSError:
        pass
    out, closed = b"", False
    try:
        while True:
            c = s.recv(65536)
            if not c:
                closed = True
                break
            out += c
    except socket.timeout:
        pass
    except OSError:
        closed = True
    s.close()
    return out, closed


def json_status(raw):
    """The `status` field of the JSON error body of the first response in `raw`."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    try:
        return json.loads(rest[:int(m[1])] if m else rest).get("status")
    except (ValueError, AttributeError):
        return None


def statuses(raw):
    return [int(line.split()[1]) for line in raw.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


class Prober(threading.Thread):
    """A normal client and the kubelet during the attack: GET / on the public port and
    /readyz on the admin port every 100 ms, each on a new connection; records failures
    and latency."""

    def __init__(self, port, admin):
        super().__init__(daemon=True)
        self.port, self.admin, self.stop, self.results = port, admin, threading.Event(), []

    def run(self):
        while not self.stop.is_set():
            for port, path in ((self.port, "/"), (self.admin, "/readyz")):
                t0 = time.monotonic()
                s, _, _ = http_get(port, path, timeout=5)
                self.results.append((path, s, time.monotonic() - t0))
            time.sleep(0.1)

    def report(self, what):
        self.stop.set()
        self.join()
        bad = [(p, s) for p, s, _ in self.results if s != 200]
        lat = sorted(d for _, _, d in self.results)
        figure(f"{what}: normal client probes", f"{len(self.results)}, p99 {pct(lat, 99) * 1e3:.1f} ms, max {lat[-1] * 1e3:.1f} ms" if lat else "0")
        check(bool(self.results) and not bad, f"{what}: a normal client is served and /readyz stays 200 throughout",
              f"{len(bad)} failed")


def hostile(args):
    t = start(args, {"HEADER_READ_TIMEOUT_SECONDS": "5"})
    try:
        rss0 = rss_kib(t.pid)
        figure("RSS before (KiB)", rss0)
        peak = [rss0]

        def sample():
            peak[0] = max(peak[0], rss_kib(t.pid))

        print("-- malformed and smuggling shapes")
        p = Prober(t.port, t.admin)
        p.start()
        cases = [
            ("64 KiB header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n", [431], True),
            ("over-long path (70 000 bytes)", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", [431], True),
            ("long path (9 000 bytes) in budget", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", [404], False),
            ("raw invalid UTF-8 in the path", b"GET /v1/scratch/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", [400], True),
            ("percent-encoded invalid UTF-8 key", b"GET /v1/scratch/%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n", [400], False),
            ("encoded slash in key", b"GET /v1/scratch/a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n", [400], False),
            ("NUL in key", b"GET /v1/scratch/a%00b HTTP/1.1\r\nHost: x\r\n\r\n", [400], False),
            ("invalid UTF-8 in a header value", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: \xff\xfe\r\n\r\n", [200], False),
            ("two different Content-Length", b"PUT /v1/scratch/cl2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", [400], True),
            ("unknown Transfer-Encoding", b"PUT /v1/scratch/te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabcd", [400], True),
            ("garbage request line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", [400], True),
        ]
        for name, data, want, want_closed in cases:
            raw, closed = raw_exchange(t.port, data)
            got = statuses(raw)
            ok = got[:1] == want and (closed or not want_closed)
            check(ok, f"{name} → {want[0]}{', connection closed' if want_closed else ''}",
                  f"got {got} closed={closed}")
            if want[0] >= 400:
                # Every error, hyper's own included, is the service's JSON error.
                check(json_status(raw) == want[0], f"{name}: JSON error body",
                      repr(raw.split(b"\r\n\r\n", 1)[-1][:80]))

        # RFC 9112 §6.1: with both headers, Transfer-Encoding wins and the connection closes
        # after the response, so the bytes after the chunked body (a smuggled request) are
        # never read as a request.
        for name, data in [
            ("Content-Length + Transfer-Encoding",
             b"PUT /v1/scratch/smug1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"5\r\nhello\r\n0\r\n\r\nPUT /v1/scratch/smuggled1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nX"),
            ("Transfer-Encoding + Content-Length",
             b"PUT /v1/scratch/smug2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n"
             b"0\r\n\r\nPUT /v1/scratch/smuggled2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nX"),
        ]:
            raw, closed = raw_exchange(t.port, data)
            got = statuses(raw)
            key = "smuggled1" if b"smuggled1" in data else "smuggled2"
            smuggled = http_get(t.port, f"/v1/scratch/{key}")[0]
            check((got == [400]) or (len(got) == 1 and got[0] < 300 and closed),
                  f"{name}: rejected with 400, or processed by Transfer-Encoding and the connection closed",
                  f"responses {got}, closed={closed}")
            check(smuggled == 404, f"{name}: the smuggled request was not executed", f"GET {key} → {smuggled}")
        body = http_get(t.port, "/v1/scratch/smug1")[1]
        check(body == b"hello", "the chunked body (not Content-Length) was what got stored", repr(body[:20]))
        p.report("malformed requests")
        sample()

        print("-- slowloris (slowhttptest)")
        p = Prober(t.port, t.admin)
        p.start()
        res = subprocess.run(
            ["slowhttptest", "-H", "-c", "2000", "-r", "400", "-i", "2", "-x", "24", "-p", "3",
             "-l", str(args.slowloris_seconds), "-u", f"http://127.0.0.1:{t.port}/", "-g", "-o",
             os.path.join(tempfile.gettempdir(), f"slowloris-{t.port}")],
            capture_output=True, text=True, timeout=args.slowloris_seconds + 60)
        sample()
        plain = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout)
        last = {}
        for ln in plain.splitlines():
            k, _, v = ln.partition(":")
            if k.strip() in ("pending", "connected", "closed", "error", "service available"):
                last[k.strip()] = v.strip()
        figure("slowhttptest final state", last)
        check(last.get("service available") == "YES", "slowhttptest: service available to it throughout")
        check(int(last.get("closed", "0")) > 0,
              "slow connections are closed by the server (HEADER_READ_TIMEOUT_SECONDS)", last.get("closed", "?"))
        p.report("slowloris")

        print("-- 10 000 concurrent connections")
        p = Prober(t.port, t.admin)
        p.start()
        result = asyncio.run(_flood(t.port, 10_000, sample))
        figure("flood", result)
        check(result["connected"] == 10_000, "10 000 connections accepted", str(result["connected"]))
        check(result["answered"] == 10_000 and set(result["statuses"]) <= {200, 503},
              "every connection got an answer: 200, or 503 + Retry-After from load shedding",
              str(result["statuses"]))
        check(result["shed_without_retry_after"] == 0, "every 503 carries Retry-After")
        p.report("10 000 connections")
        sample()
        figure("RSS per open connection (KiB)", f"{(peak[0] - rss0) / 10_000:.1f}")

        cap_check(args)

        rss1 = rss_kib(t.pid)
        figure("RSS peak / after (KiB)", f"{peak[0]} / {rss1}")
        check(peak[0] < 256 * 1024, "memory bounded: peak RSS under 256 MiB", f"{peak[0] / 1024:.1f} MiB")
        check(t.alive() and http_get(t.admin, "/readyz")[0] == 200, "alive and ready at the end")
        check(not panics(t), "nothing panicked", str(panics(t)[:2]))
    finally:
        t.close()


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def cap_check(args):
    """At MAX_CONNECTIONS the listener stops accepting: extra connections wait in the
    kernel backlog (nothing is refused or dropped) and memory stays bounded."""
    cap, n = 500, 2_000
    print(f"-- connection cap: MAX_CONNECTIONS={cap}, {n} clients at once")
    t = start(args, {"MAX_CONNECTIONS": str(cap)})
    try:
        fds0, most = open_fds(t.pid), [0]
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                most[0] = max(most[0], open_fds(t.pid))
                time.sleep(0.02)

        w = threading.Thread(target=watch, daemon=True)
        w.start()
        result = asyncio.run(_one_request_each(t.port, n))
        stop.set()
        w.join()
        figure("cap", f"{result}, most fds open {most[0]} (at start {fds0})")
        check(result.get(200) == n, f"all {n} clients served (200), the excess waited", str(result))
        check(most[0] <= cap + fds0 + 2, f"never more than {cap} connections open at once",
              f"{most[0] - fds0}")
        cap_lines = [ln for ln in t.lines() if "connection limit reached" in ln]
        figure("cap log lines", len(cap_lines))
        check(bool(cap_lines), "the cap is logged")
        # Every connection accepted at the cap waits for a slot: one line per 10 s
        # (LogThrottle), not one per connection.
        check(len(cap_lines) <= 3, "the cap's log line is throttled, not one per connection",
              str(len(cap_lines)))
    finally:
        t.close()


async def _one_request_each(port, n):
    out = {}

    async def one():
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 60)
            w.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 60)
            w.close()
            status = int(head.split()[1])
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            status = type(e).__name__
        out[status] = out.get(status, 0) + 1

    await asyncio.gather(*[one() for _ in range(n)])
    return out


async def _flood(port, n, sample):
    conns, statuses_seen = [], {}
    shed_no_retry = answered = 0
    sem = asyncio.Semaphore(500)

    async def connect():
        async with sem:
            try:
                return await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return None

    conns = [c for c in await asyncio.gather(*[connect() for _ in range(n)]) if c]
    connected = len(conns)
    # all of them idle and open at once: is a normal client still served?
    await asyncio.sleep(1.0)
    sample()
    for _, w in conns:
        w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")

    async def read(r):
        try:
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 30)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
            return None, False
        lines = head.decode("latin-1").split("\r\n")
        hdrs = {k.lower() for k, _, _ in (ln.partition(":") for ln in lines[1:])}
        return int(lines[0].split()[1]), "retry-after" in hdrs

    results = await asyncio.gather(*[read(r) for r, _ in conns])
    sample()
    for status, retry in results:
        if status is None:
            continue
        answered += 1
        statuses_seen[status] = statuses_seen.get(status, 0) + 1
        if status == 503 and not retry:
            shed_no_retry += 1
    for _, w in conns:
        w.close()
    return {"connected": connected, "answered": answered, "statuses": statuses_seen,
            "shed_without_retry_after": shed_no_retry}


# --------------------------------------------------------------------------- 3. OTLP black hole

class BlackHole(threading.Thread):
    """A 'collector' that accepts connections and never answers nor reads."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.held = []

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(c)


def stop_within_flush_bound(t, what):
    """SIGTERM with telemetry still pending: exit 0 inside drain (1 s) + the listener's
    retirement + the bounded flush (3 s, main.rs) + 2 s; the pod's grace period is 30 s."""
    retire = retire_max_seconds()
    t0 = time.monotonic()
    t.terminate()
    code = t.wait(30)
    took = time.monotonic() - t0
    figure("SIGTERM to exit (s)", f"{took:.2f}")
    check(code == 0, what, str(code))
    check(took <= 1 + retire + 3 + 2, f"exit inside drain + listener retirement ({retire:g} s) + flush bound + 2 s",
          f"{took:.2f} s")


def otlp_blackhole(args):
    for mode in ("black-holed", "down"):
        for proto in ("grpc", "http/protobuf"):
            print(f"-- OTLP collector {mode} ({proto}): {args.rate} req/s for {args.seconds} s")
            if mode == "black-holed":
                hole = BlackHole()
                hole.start()
                endpoint = f"http://127.0.0.1:{hole.port}"
            else:
                endpoint = f"http://127.0.0.1:{free_port()}"
            t = start(args, {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                             "OTEL_EXPORTER_OTLP_PROTOCOL": proto,
                             "OTEL_EXPORTER_OTLP_TIMEOUT": "2000", "SHUTDOWN_DRAIN_SECONDS": "1"})
            try:
                load = asyncio.run(_steady(t.port, args.rate, args.seconds))
                counts, lat = load.summary()
                errors = metric(t.admin, "hello_telemetry_export_errors_total", signal="traces")
                figure("outcomes", counts)
                figure("latency p50/p99 ms", f"{pct(lat, 50) * 1e3:.2f}/{pct(lat, 99) * 1e3:.2f}")
                figure("spans not exported (hello_telemetry_export_errors_total{signal=traces})", f"{errors:.0f}")
                figure("RSS (KiB)", rss_kib(t.pid))
                check(set(counts) == {"ok"}, "every request answered 200", str(counts))
                sent = sum(counts.values())
                # Every span is exported, counted as lost, or still queued (at most the queue,
                # 2048, plus one batch, 512, in the exporter's hands).
                check(errors >= sent - 2048 - 512, "lost spans are counted",
                      f"{errors:.0f} counted of {sent} requests")
                check(http_get(t.admin, "/readyz")[0] == 200, "still ready")
                stop_within_flush_bound(t, "exit 0 although the flush cannot complete")
            finally:
                t.close()


async def _steady(port, rate, seconds, every_second=None):
    load = Load(port, rate)
    task = asyncio.create_task(load.run())
    for _ in range(seconds):
        await asyncio.sleep(1)
        if every_second:
            every_second()
    load.stop.set()
    await task
    return load


# --------------------------------------------------------------------------- 2. Kafka down

def mock_kafka_bin():
    """The mock Kafka cluster (examples/mock_kafka.rs), a debug build: scripts/test-rust.sh
    builds it with the tests; built here only when missing."""
    target = os.environ.get("CARGO_TARGET_DIR")
    if not target:
        meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        target = json.loads(meta.stdout)["target_directory"]
    path = os.path.join(os.path.abspath(target), "debug", "examples", "mock_kafka")
    if not os.access(path, os.X_OK):
        subprocess.run(["cargo", "build", "--locked", "-q", "--example", "mock_kafka"], cwd=ROOT,
                       check=True)
    return path


def mock_cluster(flap=None):
    """librdkafka's mock cluster (a Kafka-protocol broker on a real port), served by
    examples/mock_kafka.rs; with `flap` the broker goes down and back every `flap` s."""
    env = dict(os.environ, KAFKA_MOCK_SECONDS="600")
    env.pop("KAFKA_MOCK_FLAP", None)
    if flap:
        env["KAFKA_MOCK_FLAP"] = str(flap)
    proc = subprocess.Popen([mock_kafka_bin()], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("KAFKA_MOCK_BOOTSTRAP="):
            return proc, line.strip().split("=", 1)[1]
    raise SystemExit("mock Kafka cluster did not start")


def kafka_down(args):
    for case in ("never up", "lost and back"):
        print(f"-- Kafka {case}: {args.rate} req/s" + ("" if case == "never up" else f", broker down/up every {args.flap} s"), flush=True)
        mock = None
        if case == "never up":
            brokers = f"127.0.0.1:{free_port()}"
        else:
            mock, brokers = mock_cluster(flap=args.flap)
        # A queue smaller than the run's events, so that "never up" must drop.
        t = start(args, {"KAFKA_BROKERS": brokers, "KAFKA_QUEUE_MAX_EVENTS": "1000",
                         "SHUTDOWN_DRAIN_SECONDS": "1"})
        try:
            rss, sent = [rss_kib(t.pid)], []

            def sample():
                rss.append(rss_kib(t.pid))
                sent.append(metric(t.admin, "hello_log_events_total", sink="kafka", outcome="sent"))

            seconds = 6 if case == "never up" else args.seconds
            load = asyncio.run(_steady(t.port, args.rate, seconds, sample))
            counts, lat = load.summary()
            out = kafka_outcomes(t.admin)
            figure("outcomes", counts)
            figure("latency p50/p99 ms", f"{pct(lat, 50) * 1e3:.2f}/{pct(lat, 99) * 1e3:.2f}")
            figure("hello_log_events_total{sink=kafka}", out)
            figure("RSS max (KiB)", max(rss))
            check(set(counts) == {"ok"}, "every request answered 200", str(counts))
            check(http_get(t.admin, "/readyz")[0] == 200, "still ready: Kafka is not a readiness dependency")
            if case == "never up":
                check(out["sent"] == 0 and out["dropped"] > 0,
                      "nothing sent; events beyond the queue are dropped and counted")
                # Lines are counted before the scrape, whose own access line comes after.
                time.sleep(0.5)
                eligible = kafka_eligible_lines(t)
                now = kafka_outcomes(t.admin)
                check(eligible - 1000 <= now["dropped"] + now["failed"] <= eligible,
                      "counters right: every event is queued (at most KAFKA_QUEUE_MAX_EVENTS "
                      "= 1000) or counted dropped",
                      f"{eligible} events, {now['dropped']:.0f} dropped")
            else:
                figure("sent, sampled each second", [int(s) for s in sent])
                stall = next((i for i in range(1, len(sent)) if sent[i] == sent[i - 1]), None)
                check(stall is not None and sent[-1] > sent[stall],
                      "delivery stalls while the broker is down and resumes once it is back")
                # Load stopped: once the broker is up and the queue empty, every event
                # logged so far is accounted for exactly once (sent, dropped or failed).
                # Lines are counted before each scrape, whose own access line comes after.
                accounted, eligible = None, None
                for _ in range(20):
                    time.sleep(1.0)
                    eligible = kafka_eligible_lines(t)
                    accounted = sum(kafka_outcomes(t.admin).values())
                    if accounted == eligible:
                        break
                check(accounted == eligible,
                      "counters right: sent + dropped + failed = events logged",
                      f"{accounted:.0f} accounted, {eligible} logged")
            check(max(rss) < 64 * 1024, "RSS bounded by KAFKA_QUEUE_MAX_EVENTS (under 64 MiB)",
                  f"{max(rss) / 1024:.1f} MiB")
            stop_within_flush_bound(t, "exit 0 with events still queued")
        finally:
            t.close()
            if mock:
                mock.kill()
                mock.wait()


# --------------------------------------------------------------------------- 9-11. scratch store abuse

def read_response(sock, timeout=10.0):
    """Reads one HTTP/1.1 response from a raw socket: (status, headers, body)."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a complete head ({len(buf)} bytes)")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    want = int(hdrs.get("content-length", "0"))
    while len(body) < want:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the body")
        body += chunk
    return int(lines[0].split()[1]), hdrs, body[:want]


def wait_until(cond, seconds, step=0.05):
    """Polls `cond` until it holds or `seconds` pass (a bound on waiting, not a criterion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def scratch_abuse(args):
    scratch_wedge(args)
    stalled_puts(args)
    stalled_readers(args)


def scratch_wedge(args):
    """A file the store did not write, dropped into its directory, then DELETEd: the
    store neither serves, deletes nor counts it, so its quota counter cannot wrap."""
    print("-- scratch wedge: a foreign file and a symlink in the scratch directory, then DELETE")
    t = start(args, {})
    try:
        mine = os.urandom(64 * 1024)
        check(http_get(t.port, "/v1/scratch/mine", method="PUT", body=mine)[0] == 201, "PUT mine → 201")
        before = metric(t.admin, "hello_scratch_bytes")
        d = t.scratch_dir()
        # Bigger than everything counted: subtracting its size would wrap the counter.
        with open(os.path.join(d, "foreign"), "wb") as f:
            f.write(os.urandom(1024 * 1024))
        os.symlink("/etc/passwd", os.path.join(d, "link"))
        got = {}
        for key in ("foreign", "link"):
            got[f"GET {key}"] = http_get(t.port, f"/v1/scratch/{key}")[0]
            got[f"DELETE {key}"] = http_get(t.port, f"/v1/scratch/{key}", method="DELETE")[0]
        after = metric(t.admin, "hello_scratch_bytes")
        figure("statuses", got)
        figure("hello_scratch_bytes before / after the DELETEs", f"{before:.0f} / {after:.0f}")
        figure("foreign file left on disk", os.path.exists(os.path.join(d, "foreign")))
        check(set(got.values()) == {404}, "a file or symlink the store did not write is 404 (GET and DELETE)",
              str(got))
        check(after == before == len(mine), "hello_scratch_bytes unchanged, counts only the store's own files",
              f"{before:.0f} → {after:.0f}")
        s = http_get(t.port, "/v1/scratch/next", method="PUT", body=mine)[0]
        check(s == 201, "a normal PUT afterwards → 201", str(s))
        check(metric(t.admin, "hello_scratch_bytes") == 2 * len(mine), "and is counted")
        check(not panics(t), "no panic")
    finally:
        t.close()


def stalled_puts(args, n=40):
    """Header-only PUTs announcing the largest allowed body, then silence: reserving
    quota as bytes arrive means they hold nothing, and a normal PUT still fits."""
    timeout = 5
    print(f"-- {n} header-only PUTs (Content-Length 1 MiB, no body), then a normal PUT "
          f"(quota 32 MiB, REQUEST_TIMEOUT_SECONDS={timeout})")
    t = start(args, {"REQUEST_TIMEOUT_SECONDS": str(timeout)})
    socks = []
    try:
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", t.port))
            s.sendall(f"PUT /v1/scratch/stall{i} HTTP/1.1\r\nHost: x\r\nContent-Length: {1 << 20}\r\n\r\n".encode())
            socks.append(s)
        # They are in the handler, waiting for their bodies.
        wait_until(lambda: metric(t.admin, "http_server_active_requests", http_request_method="PUT") >= n, 3)
        stalled = metric(t.admin, "http_server_active_requests", http_request_method="PUT")
        t0 = time.monotonic()
        status, body, _ = http_get(t.port, "/v1/scratch/normal", method="PUT", body=os.urandom(256 * 1024),
                                   timeout=30)
        took = time.monotonic() - t0
        figure("PUTs in flight, stalled", f"{stalled:.0f}")
        figure("normal PUT (256 KiB) while they stall", f"{status} in {took * 1e3:.1f} ms")
        check(stalled == n, f"all {n} stalled PUTs are in flight", f"{stalled:.0f}")
        check(status == 201, "a normal PUT succeeds while they stall", f"{status} {body[:80]!r}")
        # What the stalled clients get: 408 (their body never came) after the timeout.
        outcomes = {}
        for s in socks:
            try:
                st = read_response(s, timeout=timeout + 15)[0]
            except (OSError, ConnectionError) as e:
                st = type(e).__name__
            outcomes[st] = outcomes.get(st, 0) + 1
        figure("stalled clients got", outcomes)
        check(outcomes == {408: n}, "each stalled PUT is answered 408 (the client was slow) once the request "
              "timeout passes", str(outcomes))
        check(metric(t.admin, "hello_scratch_bytes") == 256 * 1024, "only the stored body is counted")
        check(not panics(t), "no panic")
    finally:
        for s in socks:
            s.close()
        t.close()


def established(port):
    """Server-side TCP connections of `port` in state ESTABLISHED (the container runs in
    the host's network namespace, so /proc/net/tcp sees both targets)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            n += state == "01" and int(local.rsplit(":", 1)[1], 16) == port
    return n


def stalled_readers(args, n=16, size=16 << 20):
    """Clients that request a large object and never read it: the file is streamed in
    bounded chunks, so memory does not grow with object size × readers, and the send
    timeout closes connections whose client stopped reading."""
    timeout = 3
    print(f"-- {n} stalled readers of a {size >> 20} MiB object (SCRATCH_MAX_BYTES 16 MiB, "
          f"quota 64 MiB, REQUEST_TIMEOUT_SECONDS={timeout})")
    t = start(args, {"SCRATCH_MAX_BYTES": str(size), "SCRATCH_QUOTA_BYTES": str(4 * size),
                     "REQUEST_TIMEOUT_SECONDS": str(timeout)})
    clients = []
    try:
        pid = t.pid
        big = os.urandom(size)
        check(http_get(t.port, "/v1/scratch/big", method="PUT", body=big, timeout=60)[0] == 201,
              "PUT 16 MiB → 201")
        rss0 = rss_kib(pid)
        wait_until(lambda: established(t.port) == 0, 5)
        for _ in range(n):
            c = socket.socket()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.connect(("127.0.0.1", t.port))
            c.sendall(b"GET /v1/scratch/big HTTP/1.1\r\nHost: x\r\n\r\n")
            clients.append(c)
        peak, t0 = [rss0], time.monotonic()
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(pid))
                time.sleep(0.02)

        w = threading.Thread(target=watch, daemon=True)
        w.start()
        held = established(t.port)
        # A client that reads gets the whole object while the others stall.
        s, body, hdrs = http_get(t.port, "/v1/scratch/big", timeout=60)
        check(s == 200 and body == big, "a reading client gets the whole object meanwhile",
              f"{s}, {len(body)} bytes")
        # Bounded wait: the send timeout + slack for a loaded machine.
        closed = wait_until(lambda: established(t.port) == 0, timeout + 25, step=0.1)
        closed_after = time.monotonic() - t0
        stop.set()
        w.join()
        figure("server connections held by the stalled readers", held)
        figure("RSS before / peak while stalled (KiB)", f"{rss0} / {peak[0]}")
        figure("RSS per stalled reader (KiB)", f"{(peak[0] - rss0) / n:.0f}")
        figure("stalled connections closed by the server after (s)",
               f"{closed_after:.1f}" if closed else "not closed")
        check(held >= n, f"the {n} stalled readers held their connections", str(held))
        check(peak[0] < 64 * 1024, "RSS bounded: peak under 64 MiB while 16 × 16 MiB responses stall",
              f"{peak[0] / 1024:.1f} MiB")
        check(closed, "the server closes connections whose client stopped reading (send timeout)")
        check(t.alive() and http_get(t.admin, "/readyz")[0] == 200, "alive and ready")
        check(not panics(t), "no panic")
    finally:
        for c in clients:
            c.close()
        t.close()


# --------------------------------------------------------------------------- 12. probes under a public flood

def admin_probes(args, cap=64, idle=80):
    """The public port at its connection cap (idle connections that never send a byte):
    probes and scrapes on the admin port have their own budget and are still answered."""
    print(f"-- probes with the public port at its cap: MAX_CONNECTIONS={cap}, {idle} idle connections")
    t = start(args, {"MAX_CONNECTIONS": str(cap), "HEADER_READ_TIMEOUT_SECONDS": "60"})
    conns = []
    try:
        public = {p: http_get(t.port, p) for p in ("/healthz", "/readyz", "/metrics")}
        figure("public port /healthz /readyz /metrics", [s for s, _, _ in public.values()])
        check(all(s == 404 and json.loads(b).get("status") == 404 for s, b, _ in public.values()),
              "probes and metrics are not served on the public port (404 JSON)")
        for _ in range(idle):
            conns.append(socket.create_connection(("127.0.0.1", t.port)))
        at_cap = wait_until(lambda: any("connection limit reached" in ln for ln in t.lines()), 5)
        check(at_cap, "the public listener reports its cap")
        # The public port is full: a new client waits (HEADER_READ_TIMEOUT_SECONDS=60).
        s = http_get(t.port, "/", timeout=2)[0]
        figure("GET / on the public port at the cap (2 s client timeout)", s or "no answer")
        check(s == 0, "the public port is at its cap: a new client is not served")
        lat, got = {}, {}
        for path in ["/healthz", "/readyz"] * 20 + ["/metrics"] * 5:
            t0 = time.monotonic()
            st = http_get(t.admin, path, timeout=5)[0]
            lat.setdefault(path, []).append(time.monotonic() - t0)
            got[st] = got.get(st, 0) + 1
        for path, v in lat.items():
            v.sort()
            figure(f"admin {path} latency p50 / max (ms)", f"{pct(v, 50) * 1e3:.1f} / {v[-1] * 1e3:.1f}")
        figure("admin answers", got)
        check(got == {200: 45}, "every /healthz, /readyz and /metrics on the admin port → 200", str(got))
        for c in conns:
            c.close()
        conns = []
        s = 0
        wait_until(lambda: http_get(t.port, "/", timeout=2)[0] == 200, 10)
        s = http_get(t.port, "/")[0]
        check(s == 200, "the public port serves again once the flood ends", str(s))
        check(not panics(t), "no panic")
    finally:
        for c in conns:
            c.close()
        t.close()


# --------------------------------------------------------------------------- 13. parser-level errors

def parser_errors(args):
    """Requests hyper rejects before any layer runs still get the JSON error, one access
    line and a count under http_route="unmatched"."""
    print("-- requests the HTTP parser rejects")
    t = start(args, {})
    try:
        def rejected_lines():
            return [v for v in access_lines(t) if v.get("message") == "request rejected by the HTTP parser"]

        cases = [
            ("malformed request line", b"THIS IS NOT HTTP\r\n\r\n", 400),
            ("64 KiB single header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n", 431),
        ]
        for name, data, want in cases:
            def count():
                return metric(t.admin, "http_server_request_duration_seconds_count", http_route="unmatched",
                              http_response_status_code=str(want))
            n0, l0 = count(), len(rejected_lines())
            raw, closed = raw_exchange(t.port, data)
            got = statuses(raw)
            wait_until(lambda: len(rejected_lines()) > l0, 3)
            time.sleep(0.2)   # a second line, if one were written, has arrived too
            new = rejected_lines()[l0:]
            n1 = count()
            figure(name, f"statuses {got}, JSON status {json_status(raw)}, closed {closed}, "
                         f"access lines {len(new)}, unmatched count {n0:.0f} → {n1:.0f}")
            check(got == [want] and closed, f"{name} → {want}, connection closed", f"{got} closed={closed}")
            check(json_status(raw) == want, f"{name}: JSON error body")
            check(len(new) == 1 and new[0].get("http.route") == "unmatched"
                  and new[0].get("http.request.method") == "_OTHER"
                  and new[0].get("http.response.status_code") == want,
                  f"{name}: exactly one access line (route unmatched, method _OTHER, status {want})",
                  "; ".join(f"{v.get('http.route')} {v.get('http.request.method')} "
                            f"{v.get('http.response.status_code')}" for v in new))
            check(n1 - n0 == 1, f'{name}: counted once under http_route="unmatched", status {want}',
                  f"{n0:.0f} → {n1:.0f}")
        check(not panics(t), "no panic")
    finally:
        t.close()


# --------------------------------------------------------------------------- 14. Connection: close while draining

def drain_close(args):
    """While draining after SIGTERM, responses tell keep-alive clients to go away."""
    drain = 3
    print(f"-- Connection: close while draining (SHUTDOWN_DRAIN_SECONDS={drain})")
    t = start(args, {"SHUTDOWN_DRAIN_SECONDS": str(drain)})
    c = socket.create_connection(("127.0.0.1", t.port))
    try:
        req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        c.sendall(req)
        s0, h0, _ = read_response(c)
        check(s0 == 200 and h0.get("connection", "").lower() != "close",
              "before SIGTERM: 200 and the connection kept alive", f"{s0} {h0.get('connection')}")
        t.terminate()
        draining = wait_until(lambda: http_get(t.admin, "/readyz")[0] == 503, drain)
        check(draining, "/readyz 503: draining")
        c.sendall(req)
        s1, h1, _ = read_response(c)
        c.settimeout(5)
        try:
            eof = c.recv(1) == b""
        except OSError:
            eof = False
        figure("same keep-alive connection while draining", f"{s1}, connection: {h1.get('connection')}, "
                                                             f"server closed it: {eof}")
        check(s1 == 200 and h1.get("connection", "").lower() == "close",
              "while draining: served, with Connection: close", f"{s1} {h1.get('connection')}")
        check(eof, "and the server closes that connection after the response")
        n = socket.create_connection(("127.0.0.1", t.port))
        n.sendall(req)
        s2, h2, _ = read_response(n)
        n.close()
        check(s2 == 200 and h2.get("connection", "").lower() == "close",
              "a new connection while draining: served, with Connection: close", f"{s2} {h2.get('connection')}")
        code = t.wait(30)
        check(code == 0, "exit 0", str(code))
    finally:
        c.close()
        t.close()


# --------------------------------------------------------------------------- 15. oversized upload, no Expect

def put_whole_body(port, body):
    """A PUT the way Python's http.client (and requests, and many SDKs) sends it: headers
    and the whole body, no `Expect: 100-continue`, then read the answer."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("PUT", "/v1/scratch/big", body=body)
        r = c.getresponse()
        return r.status, r.read()
    except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected) as e:
        return type(e).__name__, b""
    finally:
        c.close()


def oversized_put(args):
    """413 answered before the body is read, then a lingering close: the client's write
    of the rest succeeds and it reads its 413 instead of a broken pipe."""
    body = os.urandom(2 << 20)
    for limit, n in ((None, 40), (65536, 100)):
        print(f"-- {n} PUTs of 2 MiB without Expect: 100-continue (http.client), "
              f"SCRATCH_MAX_BYTES={limit or '1 MiB (default)'}")
        t = start(args, {"SCRATCH_MAX_BYTES": str(limit)} if limit else {})
        try:
            outcomes, bad_body = {}, 0
            for _ in range(n):
                st, data = put_whole_body(t.port, body)
                outcomes[st] = outcomes.get(st, 0) + 1
                if st == 413:
                    try:
                        bad_body += json.loads(data).get("status") != 413
                    except ValueError:
                        bad_body += 1
            figure("outcomes", outcomes)
            check(outcomes == {413: n}, f"all {n} clients read a 413 (0 BrokenPipe / ConnectionReset)",
                  str(outcomes))
            check(bad_body == 0, "every 413 has the JSON error body", str(bad_body))
            # Log lines reach stdout in batches from the writer thread: wait for them.
            def logged_413():
                return sum(1 for v in access_lines(t) if v.get("http.response.status_code") == 413)
            wait_until(lambda: logged_413() >= n, 3)
            time.sleep(0.2)   # a surplus line, if one were written, has arrived too
            logged = logged_413()
            check(logged == n, "one access line per 413", str(logged))
            check(http_get(t.port, "/")[0] == 200, "still serving")
        finally:
            t.close()


# --------------------------------------------------------------------------- 16. shutdown, connection-per-request clients

class OneShotClient(threading.Thread):
    """A client that opens a new connection per request and knows nothing about
    endpoints: it keeps going until told to stop, and sorts every attempt."""

    RESETS = (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop = port, threading.Event()
        self.out = {"answered": 0, "refused": 0, "reset_before_send": 0, "reset_after_send": 0}
        self.resets = {}

    def run(self):
        while not self.stop.is_set():
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                c.connect()
            except ConnectionRefusedError:
                self.out["refused"] += 1
                time.sleep(0.002)
                continue
            except ConnectionResetError:
                # Reset during the handshake: nothing was sent, the client may retry.
                self.out["reset_before_send"] += 1
                continue
            except OSError as e:
                self.out[f"connect {type(e).__name__}"] = self.out.get(f"connect {type(e).__name__}", 0) + 1
                continue
            try:
                c.request("GET", "/", headers={"Connection": "close"})
                r = c.getresponse()
                r.read()
                k = "answered" if r.status == 200 else f"http_{r.status}"
                self.out[k] = self.out.get(k, 0) + 1
            except self.RESETS as e:
                self.out["reset_after_send"] += 1
                self.resets[type(e).__name__] = self.resets.get(type(e).__name__, 0) + 1
            except OSError as e:
                self.out[type(e).__name__] = self.out.get(type(e).__name__, 0) + 1
            finally:
                c.close()


def shutdown_backlog(args, clients=8, runs=3):
    """SIGTERM under connection-per-request load with a short drain: when the listener is
    retired, what the kernel already queued is accepted and answered; later connects are
    refused, never reset after the request was sent."""
    drain = 1
    total, kinds = {}, {}
    for run in range(1, runs + 1):
        print(f"-- shutdown run {run}/{runs}: {clients} connection-per-request clients, "
              f"SHUTDOWN_DRAIN_SECONDS={drain}")
        t = start(args, {"SHUTDOWN_DRAIN_SECONDS": str(drain)})
        cs = [OneShotClient(t.port) for _ in range(clients)]
        try:
            for c in cs:
                c.start()
            time.sleep(1.0)
            t0 = time.monotonic()
            t.terminate()
            code = t.wait(30)
            took = time.monotonic() - t0
            time.sleep(0.3)   # every client now meets a closed port
            for c in cs:
                c.stop.set()
            for c in cs:
                c.join()
            out = {}
            for c in cs:
                for k, v in c.out.items():
                    out[k] = out.get(k, 0) + v
                for k, v in c.resets.items():
                    kinds[k] = kinds.get(k, 0) + v
            logged = sum(1 for v in access_lines(t) if v.get("url.path") == "/")
            figure("outcomes", out)
            figure("SIGTERM to exit (s)", f"{took:.2f}")
            check(code == 0, "exit 0", str(code))
            check(logged == out["answered"], "every request the server logged was answered to its client",
                  f"logged {logged}, answered {out['answered']}")
            for k, v in out.items():
                total[k] = total.get(k, 0) + v
        finally:
            for c in cs:
                c.stop.set()
            t.close()
    figure(f"total over {runs} runs", total)
    figure("resets by kind", kinds)
    check(total.get("answered", 0) > 0 and total.get("refused", 0) > 0,
          "answered before the listener closed, refused after it")
    others = {k: v for k, v in total.items()
              if k not in ("answered", "refused", "reset_before_send", "reset_after_send") and v}
    check(total["reset_after_send"] == 0, f"no request reset after it was sent, over {runs} runs",
          f"{total['reset_after_send']} {kinds}")
    check(not others, "no other outcome", str(others))


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", choices=("native", "container"), default="native")
    sub = ap.add_subparsers(dest="scenario", required=True)
    r = sub.add_parser("rolling-restart")
    r.add_argument("--rate", type=int, default=400)
    sub.add_parser("tmp-full")
    h = sub.add_parser("hostile")
    h.add_argument("--slowloris-seconds", type=int, default=15)
    o = sub.add_parser("otlp-blackhole")
    # 1000 spans/s overflow the export queue (2048) of a black-holed exporter within the run.
    o.add_argument("--rate", type=int, default=1000)
    o.add_argument("--seconds", type=int, default=6)
    k = sub.add_parser("kafka-down")
    k.add_argument("--rate", type=int, default=400)
    k.add_argument("--seconds", type=int, default=14)
    k.add_argument("--flap", type=int, default=4, help="broker down/up period in the second case (s)")
    sub.add_parser("scratch-abuse")
    sub.add_parser("admin-probes")
    sub.add_parser("parser-errors")
    sub.add_parser("drain-close")
    sub.add_parser("oversized-put")
    sub.add_parser("shutdown-backlog")
    args = ap.parse_args()
    print(f"== {args.scenario} ({args.target})", flush=True)
    {"rolling-restart": rolling_restart, "tmp-full": tmp_full, "hostile": hostile,
     "otlp-blackhole": otlp_blackhole, "kafka-down": kafka_down, "scratch-abuse": scratch_abuse,
     "admin-probes": admin_probes, "parser-errors": parser_errors, "drain-close": drain_close,
     "oversized-put": oversized_put, "shutdown-backlog": shutdown_backlog}[args.scenario](args)
    if FAILURES:
        print(f"{args.scenario} ({args.target}): {len(FAILURES)} check(s) failed: {FAILURES}")
        sys.exit(1)
    print(f"{args.scenario} ({args.target}): all checks passed")


if __name__ == "__main__":
    main()
