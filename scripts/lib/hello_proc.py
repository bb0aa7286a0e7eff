"""The one Python way to run hello in a test (scripts/lib/hello.sh has the same for
shell): $HELLO_BIN with PORT=0 ADMIN_PORT=0 (the kernel picks both; the bound ports
come from the start-up line, "message": "listening", fields port and admin_port), a
private TMPDIR, the caller's extra variables, ready once /readyz on the admin port
answers 200; stdout (with stderr) collected in a file; stopped with SIGTERM. Container
does the same with the image ($HELLO_IMAGE) under podman, hardened as
hello_run_hardened runs it. Standard library only (suites run it with different
interpreters). It starts and stops the service and nothing else: what to check is the
caller's.

    from hello_proc import Hello
    with Hello("hello-x", workdir, {"FAULT_INJECTION": "true"}) as h:
        urlopen(f"http://127.0.0.1:{h.port}/")
        h.lines()          # stdout so far, one bytes object per line
    # or h = Hello(...).start(); ...; rc = h.stop()
    # finer control: h.pid, h.terminate() (SIGTERM, no wait), h.wait(timeout),
    # h.alive(), h.kill() (SIGKILL, no grace)
"""
import json
import os
import secrets
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
# The whole environment of a binary started with inherit_env=False (before the defaults
# and the caller's variables): nothing of the caller's shell reaches the service.
MINIMAL_ENV = {"PATH": "/usr/bin:/bin"}
ROOT = Path(os.environ.get("HELLO_ROOT") or Path(__file__).resolve().parents[2])


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


class _Started:
    """`with X(...) as x`: start() on entry (stop() if that fails), stop() on exit."""

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


class Hello(_Started):
    """One hello process. After start(): proc, pid, port (public), admin_port, log (Path of
    WORKDIR/NAME.log: stdout and stderr), tmpdir. env: extra variables (they win over
    the defaults); unset: variables of the caller's environment not to pass on;
    inherit_env=False: pass on none of them (the service sees MINIMAL_ENV, the defaults
    and env); tmpdir: use this directory as TMPDIR (a tmpfs, say) instead of a private
    one under workdir."""

    def __init__(self, name, workdir, env=None, unset=(), cwd=None, timeout=20, wait_ready=True,
                 inherit_env=True, tmpdir=None):
        self.name, self.workdir, self.cwd, self.timeout = name, Path(workdir), cwd, timeout
        self.wait_ready = wait_ready   # False: no /readyz request (it shows in /metrics and the log)
        self.extra_env, self.unset, self.inherit_env = dict(env or {}), set(unset), inherit_env
        self.log = self.workdir / f"{name}.log"
        self.proc = self.port = self.admin_port = None
        self.tmpdir = tmpdir
        self._out = None

    def start(self):
        """Starts the binary and waits until it is ready; raises StartError otherwise
        (the process keeps running: stop() it)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.tmpdir is None:
            self.tmpdir = tempfile.mkdtemp(prefix=f"{self.name}-tmp-", dir=self.workdir)
        if self.inherit_env:
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(INHERITED_PREFIXES) and k not in self.unset}
        else:
            env = dict(MINIMAL_ENV)
        env.update({"PORT": "0", "ADMIN_PORT": "0", "TMPDIR": str(self.tmpdir),
                    "SHUTDOWN_DRAIN_SECONDS": "0"})
        env.update(self.extra_env)
        self._out = open(self.log, "wb")
        self.proc = subprocess.Popen([os.environ["HELLO_BIN"]], env=env, cwd=self.cwd,
                                     stdout=self._out, stderr=subprocess.STDOUT)
        _wait_started(self, self.timeout, str(self.log))
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def lines(self):
        """Its stdout (and stderr) so far, one bytes object per non-empty line."""
        try:
            return [ln for ln in self.log.read_bytes().split(b"\n") if ln]
        except OSError:
            return []

    def terminate(self):
        """SIGTERM, without waiting (see wait())."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout):
        """The exit status once the process has exited, None if it still runs after
        timeout seconds."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=15):
        """SIGTERM, then SIGKILL after timeout seconds; returns the exit status."""
        if self.proc is None:
            return None
        self.terminate()
        if self.wait(timeout) is None:
            self.proc.kill()
            self.proc.wait()
        self._close_log()
        return self.proc.returncode

    def kill(self):
        """SIGKILL (no drain, no flush); returns the exit status."""
        if self.proc is None:
            return None
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self._close_log()
        return self.proc.returncode

    def _close_log(self):
        if self._out:
            self._out.close()
            self._out = None


def podman(*args, timeout=60):
    """podman as scripts/env.sh's hello_podman calls it on these machines: vfs storage
    under .tools/podman, the project's containers.conf (runc, host netns, ulimits)."""
    store = ROOT / ".tools" / "podman"
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(ROOT / ".tools" / "containers.conf"))
    cmd = ["podman", "--storage-driver", "vfs", "--root", str(store / "root"),
           "--runroot", str(store / "run"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


class Container(_Started):
    """The image ($HELLO_IMAGE, or image) as one detached podman container, hardened the
    way scripts/lib/hello.sh's hello_run_hardened runs it (the restricted Pod Security
    settings): host network, read-only root, no capabilities, no-new-privileges, uid/gid
    65532, a tmpfs /tmp of tmpfs_size; never pulls. Like Hello: PORT=0 ADMIN_PORT=0 (the
    ports come from the start-up line in its log), SHUTDOWN_DRAIN_SECONDS=0 and env,
    ready on /readyz; the same methods (pid is the service's pid on the host). stop() and
    kill() save its log to WORKDIR/NAME.log, then remove the container."""

    def __init__(self, name, workdir, env=None, tmpfs_size="64m", timeout=20, wait_ready=True,
                 image=None):
        self.name, self.workdir, self.timeout, self.wait_ready = name, Path(workdir), timeout, wait_ready
        self.extra_env, self.tmpfs_size = dict(env or {}), tmpfs_size
        self.image = image or os.environ["HELLO_IMAGE"]
        self.log = self.workdir / f"{name}.log"
        # Unique on the machine: other suites may run containers of the same image.
        self.container = f"{name}-{os.getpid()}-{secrets.token_hex(3)}"
        self.port = self.admin_port = None
        self.started = self.removed = False
        self.returncode = self._pid = None

    def start(self):
        """Runs the container and waits until it is ready; raises StartError otherwise
        (the container may exist: stop() it)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = ["run", "-d", "--name", self.container, "--pull", "never", "--network", "host",
                "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                "--user", "65532:65532", "--tmpfs", f"/tmp:rw,size={self.tmpfs_size},mode=1777"]
        env = {"PORT": "0", "ADMIN_PORT": "0", "SHUTDOWN_DRAIN_SECONDS": "0"}
        env.update(self.extra_env)
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        out = podman(*args, self.image)
        self.started = True
        if out.returncode != 0:
            raise StartError(f"podman run failed: {out.stderr.strip()}")
        _wait_started(self, self.timeout, f"podman logs {self.container}")
        self._pid = self._inspect_pid()
        return self

    @property
    def pid(self):
        """The service's pid on the host (read once it is ready: it does not change)."""
        return self._pid or self._inspect_pid()

    def _inspect_pid(self):
        out = podman("inspect", "-f", "{{.State.Pid}}", self.container)
        return int(out.stdout.strip() or 0) or None

    def alive(self):
        out = podman("inspect", "-f", "{{.State.Running}}", self.container)
        return out.stdout.strip() == "true"

    def lines(self):
        """Its stdout (then stderr) so far, one bytes object per non-empty line."""
        if self.removed:
            try:
                return [ln for ln in self.log.read_bytes().split(b"\n") if ln]
            except OSError:
                return []
        out = podman("logs", self.container)
        return [ln.encode() for ln in (out.stdout + out.stderr).splitlines() if ln]

    def terminate(self):
        """SIGTERM to the service, without waiting (see wait())."""
        podman("kill", "--signal", "TERM", self.container)

    def wait(self, timeout):
        """The exit status once the container has exited, None if it still runs after
        timeout seconds."""
        try:
            out = podman("wait", self.container, timeout=timeout)
            self.returncode = int(out.stdout.strip().splitlines()[-1])
            return self.returncode
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            return None

    def stop(self, timeout=15):
        """SIGTERM, then SIGKILL after timeout seconds; returns the exit status."""
        if not self.started or self.removed:
            return self.returncode
        if podman("stop", "-t", str(timeout), self.container, timeout=timeout + 60).returncode == 0:
            self.wait(30)
        self._remove()
        return self.returncode

    def kill(self):
        """SIGKILL (no drain, no flush) and removal."""
        if self.started and not self.removed:
            self._remove()
        return self.returncode

    def _remove(self):
        try:
            self.log.write_bytes(b"\n".join(self.lines()) + b"\n")
        except OSError:
            pass
        podman("rm", "-f", "-t", "0", self.container)
        self.removed = True


def _wait_started(svc, timeout, output):
    """Reads both ports from svc's start-up line, then waits for /readyz (unless
    svc.wait_ready is False); StartError if it exits or timeout seconds pass first."""
    deadline = time.time() + timeout
    while not (ports := listening(svc.lines())):
        if time.time() > deadline or not svc.alive():
            raise StartError(f"no 'listening' line with its ports in {output}")
        time.sleep(0.05)
    svc.port, svc.admin_port = ports
    while svc.wait_ready and status(f"http://127.0.0.1:{svc.admin_port}/readyz") != 200:
        if time.time() > deadline or not svc.alive():
            raise StartError(f"/readyz on admin port {svc.admin_port} not 200 within {timeout} s")
        time.sleep(0.05)
