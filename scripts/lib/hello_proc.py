"""The one Python way to run the hello binary in a test (scripts/lib/hello.sh has the
same for shell): $HELLO_BIN with PORT=0 ADMIN_PORT=0 (the kernel picks both; the
bound ports come from the start-up line, "message": "listening", fields port and
admin_port), a private TMPDIR, the caller's extra variables, ready once /readyz on the
admin port answers 200; stdout (with stderr) collected in a file; stopped with SIGTERM.
Standard library only (suites run it with different interpreters). It starts and stops
the process and nothing else: what to check is the caller's.

    from hello_proc import Hello
    with Hello("hello-x", workdir, {"FAULT_INJECTION": "true"}) as h:
        urlopen(f"http://127.0.0.1:{h.port}/")
        h.lines()          # stdout so far, one bytes object per line
    # or h = Hello(...).start(); ...; rc = h.stop()
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

# The service's own variables a caller's shell may carry; a test sets what it means.
INHERITED_PREFIXES = ("OTEL_", "KAFKA_")


class StartError(Exception):
    """The binary printed no start-up line with its ports, or never became ready."""


def free_port():
    """A TCP port on loopback the kernel says is free (for a peer that is not hello)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def status(url, timeout=2):
    """The HTTP status of a GET, None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def listening(lines):
    """(port, admin_port) from the start-up line among the given stdout lines, or None."""
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("message") == "listening" and "admin_port" in rec:
            return int(rec["port"]), int(rec["admin_port"])
    return None


class Hello:
    """One hello process. After start(): proc, port (public), admin_port, log (Path of
    WORKDIR/NAME.log: stdout and stderr), tmpdir. env: extra variables (they win over
    the defaults); unset: variables of the caller's environment not to pass on."""

    def __init__(self, name, workdir, env=None, unset=(), cwd=None, timeout=20, wait_ready=True):
        self.name, self.workdir, self.cwd, self.timeout = name, Path(workdir), cwd, timeout
        self.wait_ready = wait_ready   # False: no /readyz request (it shows in /metrics and the log)
        self.extra_env, self.unset = dict(env or {}), set(unset)
        self.log = self.workdir / f"{name}.log"
        self.proc = self.port = self.admin_port = self.tmpdir = None
        self._out = None

    def start(self):
        """Starts the binary and waits until it is ready; raises StartError otherwise
        (the process keeps running: stop() it)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tmpdir = tempfile.mkdtemp(prefix=f"{self.name}-tmp-", dir=self.workdir)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(INHERITED_PREFIXES) and k not in self.unset}
        env.update({"PORT": "0", "ADMIN_PORT": "0", "TMPDIR": self.tmpdir, "SHUTDOWN_DRAIN_SECONDS": "0"})
        env.update(self.extra_env)
        self._out = open(self.log, "wb")
        self.proc = subprocess.Popen([os.environ["HELLO_BIN"]], env=env, cwd=self.cwd,
                                     stdout=self._out, stderr=subprocess.STDOUT)
        deadline = time.time() + self.timeout
        while not (ports := listening(self.lines())):
            if time.time() > deadline or self.proc.poll() is not None:
                raise StartError(f"no 'listening' line with its ports in {self.log}")
            time.sleep(0.05)
        self.port, self.admin_port = ports
        while self.wait_ready and status(f"http://127.0.0.1:{self.admin_port}/readyz") != 200:
            if time.time() > deadline or self.proc.poll() is not None:
                raise StartError(f"/readyz on admin port {self.admin_port} not 200 within {self.timeout} s")
            time.sleep(0.05)
        return self

    def lines(self):
        """Its stdout (and stderr) so far, one bytes object per non-empty line."""
        try:
            return [ln for ln in self.log.read_bytes().split(b"\n") if ln]
        except OSError:
            return []

    def stop(self, timeout=15):
        """SIGTERM, then SIGKILL after timeout seconds; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._out:
            self._out.close()
            self._out = None
        return self.proc.returncode

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
