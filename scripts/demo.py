#!/usr/bin/env python3
"""The local demo stack behind scripts/demo.sh: hello (fault injection on), a real
Prometheus with the repository's recording and alerting rules scraping its admin port,
a traffic generator, then a fault drill until a shipped alert fires.

  demo.py WORKDIR RULES_FILE RENDERED_PROMETHEUS_YAML

The pieces come from the observability suite's live proof (observability/lib/live.py):
the same way to start hello and read its ports, the same scrape job derived from the
ServiceMonitor, the same traffic generator. Environment: DEMO_HEALTHY_SECONDS (30),
DEMO_DRILL_TIMEOUT (420: seconds to wait for firing), DEMO_EXIT_AFTER_FIRING (unset:
keep running until Ctrl-C; set: stop once an alert fires, exit 0, for tests),
DEMO_PROMETHEUS_PORT (9090 when free).
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "observability" / "lib"))
import live  # noqa: E402

# Shipped alert the drill is about: 14.4x burn of the 99.9 % availability SLO over 1h
# and 5m, `for: 2m`: with every third request failing it is pending within seconds and
# fires two minutes later, with the rules exactly as shipped.
DRILL_ALERT = "HelloErrorBudgetBurnFast"
T0 = time.time()


def say(msg):
    print(f"[{time.strftime('%H:%M:%S')} +{time.time() - T0:4.0f}s] {msg}", flush=True)


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick(preferred):
    return preferred if port_free(preferred) else live.free_port()


def stop(signum, frame):
    raise KeyboardInterrupt


def main(workdir, rules, rendered):
    signal.signal(signal.SIGTERM, stop)
    healthy_s = int(os.environ.get("DEMO_HEALTHY_SECONDS", "30"))
    timeout_s = int(os.environ.get("DEMO_DRILL_TIMEOUT", "420"))
    exit_after = bool(os.environ.get("DEMO_EXIT_AFTER_FIRING"))
    procs = []
    try:
        port, admin = pick(8080), pick(8081)
        proc, port, admin = live.start_hello("hello-demo", workdir, {
            "PORT": str(port), "ADMIN_PORT": str(admin), "RUST_LOG": "info"})
        procs.append(proc)
        if not admin:
            say(f"hello did not start; its log: {workdir}/hello-demo.log")
            return 1
        say(f"hello        http://127.0.0.1:{port}/  (admin: http://127.0.0.1:{admin}/metrics), "
            f"FAULT_INJECTION=true, log: {workdir}/hello-demo.log")

        targets = Path(workdir) / "targets.json"
        live.write_targets(targets, [("hello-demo-0", admin)])
        p_prom = int(os.environ.get("DEMO_PROMETHEUS_PORT") or pick(9090))
        cfg = {"global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
               "rule_files": [rules],
               "scrape_configs": [live.scrape_config(rendered, targets)]}
        (Path(workdir) / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        plog = open(Path(workdir) / "prometheus.log", "wb")
        procs.append(subprocess.Popen(
            ["prometheus", f"--config.file={workdir}/prometheus.yml", f"--web.listen-address=127.0.0.1:{p_prom}",
             f"--storage.tsdb.path={workdir}/tsdb"], stdout=plog, stderr=subprocess.STDOUT))
        prom = live.Prom(f"http://127.0.0.1:{p_prom}")
        if not live.wait_for("prometheus", lambda: live.http(prom.base + "/-/ready", timeout=2)[0] == 200, 30):
            say(f"Prometheus did not become ready; its log: {workdir}/prometheus.log")
            return 1
        groups = prom.api("rules")["groups"]
        n_alerts = sum(1 for g in groups for r in g["rules"] if r["type"] == "alerting")
        n_rec = sum(1 for g in groups for r in g["rules"] if r["type"] == "recording")
        drill = next(r for g in groups for r in g["rules"] if r.get("name") == DRILL_ALERT)
        say(f"Prometheus   http://127.0.0.1:{p_prom}/alerts  (rules: {len(groups)} groups from "
            f"observability/, {n_rec} recording, {n_alerts} alerting; scraping the admin port every 5 s)")
        say("OTLP         no collector: none can run on this machine (OpenTelemetry Collector, Jaeger "
            "and Tempo are not in its package registries); traces are not exported")
        say(f"look at:     http://127.0.0.1:{p_prom}/graph?g0.expr=namespace_job%3Ahello_slo_errors%3Aratio_rate5m"
            f"&g0.tab=0&g0.range_input=15m")

        traffic = live.Traffic([(port, admin)])
        with traffic:
            say(f"traffic      4 clients: greeting, version, scratch PUT/GET/DELETE, a 404, probes "
                f"({healthy_s} s healthy)")
            t_end = time.time() + healthy_s
            while time.time() < t_end:
                time.sleep(min(10, max(0.1, t_end - time.time())))
                status(prom, traffic)
            traffic.mode = "faulty"
            say(f"DRILL        injecting faults: /v1/status/500, /v1/status/502, /v1/status/503, /v1/panic and "
                f"300 ms delays join the traffic; watching {DRILL_ALERT} "
                f"(for: {int(drill['duration'])} s; expr: {' '.join(drill['query'].split())})")
            seen, fired_at, t_drill = {}, None, time.time()
            last_status = time.time()
            while True:
                now = {(a["labels"]["alertname"], a["labels"].get("pod", "")): a["state"] for a in prom.alerts()}
                for key, state in sorted(now.items()):
                    if seen.get(key) != state:
                        name, pod = key
                        where = f" pod={pod}" if pod else ""
                        say(f"ALERT        {name}{where}: {state.upper()}"
                            + (f"  ({time.time() - t_drill:.0f} s into the drill)" if state == "firing" else ""))
                for key in set(seen) - set(now):
                    say(f"ALERT        {key[0]}: resolved")
                seen = now
                if fired_at is None and now.get((DRILL_ALERT, "")) == "firing":
                    fired_at = time.time()
                    say(f"FIRING       {DRILL_ALERT} after {fired_at - t_drill:.0f} s of faults: "
                        f"http://127.0.0.1:{p_prom}/alerts")
                    if exit_after:
                        return 0
                    say("the stack keeps running with the faults on: Ctrl-C stops it and cleans up")
                if fired_at is None and time.time() - t_drill > timeout_s:
                    say(f"{DRILL_ALERT} did not fire within {timeout_s} s; logs in {workdir}")
                    return 1
                if time.time() - last_status > 15:
                    status(prom, traffic)
                    last_status = time.time()
                time.sleep(2)
    except KeyboardInterrupt:
        say("stopping (Ctrl-C)")
        return 0
    finally:
        live.stop(procs)
        say("hello and Prometheus stopped")


def status(prom, traffic):
    def one(expr):
        try:
            r = prom.query(expr)
        except RuntimeError:
            return None
        return float(r[0]["value"][1]) if r else None

    rps = one('sum(rate(http_server_request_duration_seconds_count{job="hello"}[1m]))')
    err = one("namespace_job:hello_slo_errors:ratio_rate5m")
    counts = dict(sorted((str(k), v) for k, v in traffic.counts.items()))
    say(f"status       {rps or 0:.0f} req/s scraped; 5xx ratio (5m, SLO traffic) "
        f"{'n/a' if err is None else f'{err:.1%}'}; responses so far by status {counts}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
