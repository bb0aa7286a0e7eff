#!/usr/bin/env python3
"""Runs the README's "Try it" section against the real binary and compares outputs.

  check-try-it.py README.md WORKDIR [--show]

The section's ```console blocks are the test: a line `$ CMD` is a command, the lines
after it (up to the next `$ ` line or the end of the block) its expected output. The
start command (`cargo run --release | tee hello.log`) runs $HELLO_BIN instead, in the
background, with its stdout in WORKDIR/hello.log; every other command runs with bash
in WORKDIR, in order, against that one process. What may differ:
  - ports: the service listens on free ports; `localhost:8080`/`localhost:8081` in
    commands and `"port":8080,"admin_port":8081` in outputs are rewritten to them;
  - placeholders in expected output, `<name>` (letters, digits, dashes), match any
    text within one line: timestamps, host names, revisions, ids, durations.
Everything else must match exactly, line by line. The section must also cover every
route a newcomer is promised (COVERS below). --show prints what each command printed.
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from hello_proc import Hello, StartError  # noqa: E402

START = "cargo run --release | tee hello.log"
PLACEHOLDER = re.compile(r"<[a-z][a-z0-9-]*>")
# What the section has to show (a command matching each pattern).
COVERS = {
    "greeting": r"curl -s localhost:8080/$",
    "JSON greeting": r"Accept: application/json.* localhost:8080/$",
    "version": r"localhost:8080/version",
    "scratch write": r"-X PUT .*localhost:8080/v1/scratch/",
    "scratch read": r"curl -s localhost:8080/v1/scratch/\w+$",
    "an error and its JSON": r"-w .*localhost:8080/v1/scratch/",
    "health": r"localhost:8081/healthz",
    "readiness": r"localhost:8081/readyz",
    "metrics excerpt": r"localhost:8081/metrics \|",
    "a traceparent sent": r"traceparent: 00-[0-9a-f]{32}-",
    "the trace id found in the log": r"grep .*[0-9a-f]{32}.* hello\.log",
    "a log line": r"hello\.log",
}


def section(readme):
    text = Path(readme).read_text()
    m = re.search(r"^## Try it\n(.*?)(?=^## )", text, re.S | re.M)
    if not m:
        sys.exit(f"{readme}: no '## Try it' section")
    return m.group(1)


def steps(sec):
    """[(command, [expected lines])] from the ```console blocks, in order."""
    out = []
    for block in re.findall(r"^```console\n(.*?)^```", sec, re.S | re.M):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out:
                out[-1][1].append(line)
            else:
                sys.exit(f"output before any command in a console block: {line!r}")
    return out


def matches(expected, actual):
    if len(expected) != len(actual):
        return False
    for e, a in zip(expected, actual):
        parts = PLACEHOLDER.split(e)
        pattern = ".+?".join(re.escape(p) for p in parts)
        if not re.fullmatch(pattern, a):
            return False
    return True


def main(readme, workdir, show=False):
    work = Path(workdir)
    todo = steps(section(readme))
    failures = []
    for what, pattern in COVERS.items():
        if not any(re.search(pattern, cmd) for cmd, _ in todo):
            failures.append(f"the section shows no command for: {what} (/{pattern}/)")
    if not todo or todo[0][0] != START:
        failures.append(f"the first command must be `{START}`")
        todo = []
    server = None
    port = admin = None
    try:
        for cmd, expected in todo:
            if cmd == START:
                # Drain 0 (the helper's default): only the stop at the end is faster. No
                # readiness probe: the section's /metrics excerpt counts every request.
                server = Hello("hello", work, cwd=work, wait_ready=False,
                               unset=("MESSAGES", "FAULT_INJECTION", "RUST_LOG", "LOG_FORMAT"))
                try:
                    server.start()
                except StartError as e:
                    failures.append(f"the service did not start: {e}")
                    break
                port, admin = server.port, server.admin_port
                print(f"  started {os.environ['HELLO_BIN']} (public {port}, admin {admin}) for `{cmd}`")
                continue
            run = cmd.replace("localhost:8080", f"localhost:{port}").replace("localhost:8081", f"localhost:{admin}")
            want = [e.replace('"port":8080,"admin_port":8081', f'"port":{port},"admin_port":{admin}') for e in expected]
            # The log is written by a background thread: give a line that reads it a moment.
            tries = 20 if "hello.log" in cmd else 1
            for _ in range(tries):
                res = subprocess.run(["bash", "-o", "pipefail", "-c", run], cwd=work, capture_output=True, text=True, timeout=30)
                got = res.stdout.rstrip("\n").split("\n") if res.stdout else []
                if matches(want, got):
                    break
                time.sleep(0.1)
            ok = matches(want, got)
            print(f"  {'ok  ' if ok else 'FAIL'} $ {cmd}")
            if show or not ok:
                for line in got:
                    print(f"        | {line}")
            if not ok:
                for line in expected:
                    print(f"   want | {line}")
                if res.stderr:
                    print(f"  stderr: {res.stderr.strip()[:300]}")
                failures.append(cmd)
    finally:
        if server:
            server.stop()
    for f in failures:
        print(f"  FAIL: {f}")
    print(f"  {len(todo)} commands, {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--show"]
    if len(args) != 2:
        sys.exit(__doc__)
    sys.exit(main(args[0], args[1], "--show" in sys.argv))
