"""Start to ready: the time from starting the binary to the first 200 from /readyz
on its admin port, with no exporter configured (no OTLP endpoint, no Kafka).

    python3 bench/start_to_ready.py BIN [STARTS=10]

Prints each start and the median in milliseconds. Standard library only. The
ports are picked free before the start (the service's own PORT=0 would make us
wait for its start-up line first, which is part of what we time).
"""
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def ready(port):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
        conn.request("GET", "/readyz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def one_start(binary, workdir):
    port, admin = free_ports(2)
    env = {"PATH": os.environ.get("PATH", ""), "PORT": str(port), "ADMIN_PORT": str(admin),
           "TMPDIR": workdir, "SHUTDOWN_DRAIN_SECONDS": "0"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not ready(admin):
            if proc.poll() is not None:
                raise SystemExit(f"{binary} exited with {proc.returncode} before it was ready")
            if time.perf_counter() - t0 > 10:
                raise SystemExit(f"{binary} not ready after 10 s")
            time.sleep(0.0002)
        return (time.perf_counter() - t0) * 1000
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main():
    binary = sys.argv[1]
    starts = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory() as workdir:
        times = [one_start(binary, workdir) for _ in range(starts)]
    print("starts (ms): " + ", ".join(f"{t:.1f}" for t in times))
    print(f"START_TO_READY_MS={statistics.median(times):.1f}")


if __name__ == "__main__":
    main()
