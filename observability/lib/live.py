#!/usr/bin/env python3
"""Live proof: the real hello binary, scraped by a real Prometheus on loopback with the
rules of every PrometheusRule loaded, queried through the Prometheus HTTP API.

  live.py WORKDIR RULES_FILE FAST_RULES_FILE SERVICEMONITOR_YAML DASHBOARD_DIR

Phases (under a minute in all):
  1. healthy traffic on one instance: target up, SLO ratios evaluate to 0, and no alert
     is pending or firing (the LiveTest copy of the fast burn, `for: 5s`, included);
  2. a second, "degraded" instance joins (its OTLP endpoint and Kafka broker are a closed
     port) and traffic turns to injected 5xx, panics and slow requests:
     HelloErrorBudgetBurnFast must reach pending and its LiveTest copy firing;
     HelloTelemetryExportErrors and HelloKafkaLogEventsDropped pending for that pod only;
  3. every dashboard query returns data, except the ones in NOT_LIVE (each of which
     must return nothing here, so the list stays honest).
"""
import json
import math
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "lib"))
import dashboards  # noqa: E402
from hello_proc import Hello, StartError, free_port  # noqa: E402,F401  (free_port: for the callers)

# Queries that cannot have data from one local process, by (dashboard uid, panel, refId).
KSM = "needs kube-state-metrics"
CADVISOR = "needs cAdvisor (kubelet)"
FLUENTD = "needs fluentd's metrics (fluentd cannot run here)"
NOT_LIVE = {
    ("hello-overview", "Replicas vs HPA bounds", "A"): KSM,
    ("hello-overview", "Replicas vs HPA bounds", "B"): KSM,
    ("hello-overview", "Replicas vs HPA bounds", "C"): KSM,
    ("hello-overview", "Replicas vs HPA bounds", "D"): KSM,
    ("hello-overview", "CPU vs requests and limits", "B"): KSM,
    ("hello-overview", "CPU vs requests and limits", "C"): KSM,
    ("hello-overview", "Memory vs requests and limits", "B"): CADVISOR,
    ("hello-overview", "Memory vs requests and limits", "C"): KSM,
    ("hello-overview", "Memory vs requests and limits", "D"): KSM,
    ("hello-overview", "Container restarts (last hour)", "A"): KSM,
    ("hello-telemetry", "fluentd buffer queue length", "A"): FLUENTD,
    ("hello-telemetry", "fluentd buffer size", "A"): FLUENTD,
    ("hello-telemetry", "fluentd retries", "A"): FLUENTD,
    ("hello-telemetry", "fluentd output errors", "A"): FLUENTD,
}

FAST = "HelloErrorBudgetBurnFast"
failures = []


def log(msg):
    print(f"  {msg}", flush=True)


def check(ok, msg):
    print(f"  {'ok  ' if ok else 'FAIL'} {msg}", flush=True)
    if not ok:
        failures.append(msg)
    return ok


def http(url, method="GET", data=None, timeout=15):
    req = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


def wait_for(what, fn, timeout, interval=0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    return None


class Prom:
    def __init__(self, base):
        self.base = base

    def api(self, path, **params):
        q = urllib.parse.urlencode(params)
        status, body = http(f"{self.base}/api/v1/{path}?{q}")
        if status != 200:
            raise RuntimeError(f"{path} {params}: HTTP {status} {body[:300]!r}")
        return json.loads(body)["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def alerts(self):
        return self.api("alerts")["alerts"]


def start_hello(name, workdir, extra_env):
    """The real binary through scripts/lib/hello_proc.py (kernel-picked ports, private
    TMPDIR, ready on /readyz), fault injection on, a small scratch quota, extra_env on
    top. Returns (Hello, port, admin_port); the ports are None if it did not start."""
    # hello=info: the "listening" line; everything else at warn.
    h = Hello(name, workdir, {"FAULT_INJECTION": "true", "RUST_LOG": "warn,hello=info",
                              "SCRATCH_QUOTA_BYTES": str(1 << 20), **extra_env})
    try:
        h.start()
    except StartError as e:
        check(False, f"{name}: {e}")
        return h, None, None
    check(True, f"{name}: hello listening on 127.0.0.1:{h.port}, admin (/readyz, /metrics) on {h.admin_port}, ready")
    return h, h.port, h.admin_port


def stop(procs):
    """Stops what was started, last first: hello (Hello) and Prometheus (Popen)."""
    for p in reversed(procs):
        if isinstance(p, Hello):
            p.stop(timeout=10)
            continue
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


class Traffic:
    """Background clients. mode: healthy | faulty."""

    def __init__(self, ports):
        # ports: (public, admin) pairs; probes go to the admin port, like the kubelet's.
        self.ports, self.mode, self.stop = ports, "healthy", threading.Event()
        self.counts = {}
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(4)]

    def run(self, i):
        n = 0
        while not self.stop.is_set():
            for port, admin in list(self.ports):
                b = f"http://127.0.0.1:{port}"
                for probe in ("/healthz", "/readyz"):
                    status, _ = http(f"http://127.0.0.1:{admin}{probe}")
                    self.counts[status] = self.counts.get(status, 0) + 1
                reqs = [("GET", "/"), ("GET", "/version"),
                        ("PUT", f"/v1/scratch/k{i}-{n % 5}"), ("GET", f"/v1/scratch/k{i}-{n % 5}"),
                        ("GET", "/v1/delay/5"), ("GET", "/no/such/route")]
                if n % 5 == 0:
                    reqs.append(("DELETE", f"/v1/scratch/k{i}-{(n + 1) % 5}"))
                if self.mode == "faulty":
                    reqs += [("GET", "/v1/status/500"), ("GET", "/v1/status/503"), ("GET", "/v1/panic"),
                             ("GET", "/v1/status/502")]
                    if i == 0:
                        reqs.append(("GET", "/v1/delay/300"))   # slower than the 250 ms latency SLO
                for method, path in reqs:
                    status, _ = http(b + path, method, data=b"x" * 512 if method == "PUT" else None)
                    self.counts[status] = self.counts.get(status, 0) + 1
            n += 1
            time.sleep(0.05)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)


def scrape_config(sm_file, targets_file):
    """The Prometheus scrape job the operator generates from the ServiceMonitor, with the
    Kubernetes discovery replaced by a file of loopback targets (and a 1 s interval)."""
    sm = next(d for d in yaml.safe_load_all(Path(sm_file).read_text()) if d and d.get("kind") == "ServiceMonitor")
    ep = sm["spec"]["endpoints"][0]
    ns = sm["metadata"]["namespace"]
    job = sm["spec"]["selector"]["matchLabels"][sm["spec"]["jobLabel"]]
    return {
        "job_name": f"serviceMonitor/{ns}/{sm['metadata']['name']}/0",
        "scrape_interval": "1s", "scrape_timeout": "1s",
        "metrics_path": ep["path"], "scheme": ep.get("scheme", "http"),
        "honor_labels": ep.get("honorLabels", False),
        "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": "1s"}],
        "relabel_configs": [{"target_label": "job", "replacement": job},
                            {"target_label": "endpoint", "replacement": ep["port"]}],
    }


def write_targets(path, pods):
    data = [{"targets": [f"127.0.0.1:{port}"],
             "labels": {"namespace": "hello", "pod": pod, "service": "hello", "container": "hello", "node": "localhost"}}
            for pod, port in pods]
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.rename(path)   # atomic, so Prometheus never reads half a file


def firing_or_pending(prom):
    return {(a["labels"]["alertname"], a["state"], a["labels"].get("pod", "")) for a in prom.alerts()}


def finite(result):
    for r in result:
        v = r.get("value", [0, "NaN"])[1]
        if not math.isnan(float(v)):
            return True
    return False


def main(workdir, rules, fast_rules, sm_file, dash_dir):
    t0 = time.time()
    procs = []
    try:
        p_otlp, p_prom = free_port(), free_port()
        proc, p_main, a_main = start_hello("hello-main", workdir, {})
        procs.append(proc)
        # Degraded: OTLP export and Kafka both point at a closed loopback port, so trace
        # export fails, and log events are dropped (a 1-event queue) or fail (1 s timeout):
        # all counted, which is what the telemetry dashboard and alerts are about.
        proc, p_deg, a_deg = start_hello("hello-degraded", workdir, {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{p_otlp}", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_BSP_SCHEDULE_DELAY": "500", "RUST_LOG": "info",
            "KAFKA_BROKERS": f"127.0.0.1:{p_otlp}", "KAFKA_QUEUE_MAX_EVENTS": "1",
            "KAFKA_PROP_MESSAGE_TIMEOUT_MS": "1000"})
        procs.append(proc)
        if not (a_main and a_deg):
            return 1
        targets = Path(workdir) / "targets.json"
        # Prometheus scrapes the admin port (the ServiceMonitor's endpoint port).
        write_targets(targets, [("hello-main-0", a_main)])
        cfg = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
               "rule_files": [rules, fast_rules],
               "scrape_configs": [scrape_config(sm_file, targets)]}
        (Path(workdir) / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        subprocess.run(["promtool", "check", "config", str(Path(workdir) / "prometheus.yml")], check=True, stdout=subprocess.DEVNULL)
        plog = open(Path(workdir) / "prometheus.log", "wb")
        procs.append(subprocess.Popen(
            ["prometheus", f"--config.file={workdir}/prometheus.yml", f"--web.listen-address=127.0.0.1:{p_prom}",
             f"--storage.tsdb.path={workdir}/tsdb", "--web.enable-lifecycle"], stdout=plog, stderr=subprocess.STDOUT))
        prom = Prom(f"http://127.0.0.1:{p_prom}")
        check(bool(wait_for("prometheus", lambda: http(prom.base + "/-/ready", timeout=2)[0] == 200, 30)),
              f"Prometheus {subprocess.run(['prometheus', '--version'], capture_output=True, text=True).stdout.split()[2]} ready on 127.0.0.1:{p_prom}")

        groups = prom.api("rules")["groups"]
        want = {g["name"] for g in yaml.safe_load(Path(rules).read_text())["groups"]} | {"live-test.fast-variants"}
        check(want == {g["name"] for g in groups}, f"all {len(want)} rule groups loaded ({', '.join(sorted(want))})")

        traffic = Traffic([(p_main, a_main)])
        with traffic:
            # ---- phase 1: healthy
            up = wait_for("up", lambda: prom.query('up{job="hello"} == 1'), 20)
            check(bool(up) and up[0]["metric"].get("pod") == "hello-main-0" and up[0]["metric"].get("namespace") == "hello",
                  "target up, with job/namespace/pod labels as the ServiceMonitor sets them")
            ratio = wait_for("slo ratio", lambda: prom.query("namespace_job:hello_slo_errors:ratio_rate5m == 0"), 30)
            check(bool(ratio), f"healthy: SLO error ratio recorded as 0 ({prom.query('namespace_job:hello_slo_errors:ratio_rate5m')})")
            time.sleep(8)      # > the LiveTest `for: 5s`, several evaluations of every rule
            seen = set()
            for _ in range(10):
                seen |= firing_or_pending(prom)
                time.sleep(1)
            check(not seen, f"healthy traffic: no alert pending or firing ({sorted(seen) or 'none'})")
            bad = [r["name"] for g in prom.api("rules")["groups"] for r in g["rules"] if r.get("health") != "ok"]
            check(not bad, f"every rule evaluates without error ({bad or 'all ok'})")

            # ---- phase 2: injected errors, slow requests, a degraded instance
            write_targets(targets, [("hello-main-0", a_main), ("hello-degraded-0", a_deg)])
            traffic.ports.append((p_deg, a_deg))
            traffic.mode = "faulty"
            t_err = time.time()

            def fast_state():
                s = firing_or_pending(prom)
                return s if ((FAST, "pending", "") in s or (FAST, "firing", "") in s) and (FAST + "LiveTest", "firing", "") in s else None
            s = wait_for("fast burn", fast_state, 60, 1)
            check(bool(s), f"injected 5xx: {FAST} pending/firing and {FAST}LiveTest firing after {time.time() - t_err:.0f} s")
            s = wait_for("export errors", lambda: any(a == "HelloTelemetryExportErrors" and p == "hello-degraded-0"
                                                      for a, _, p in firing_or_pending(prom)), 40, 1)
            check(bool(s), "OTLP endpoint down: HelloTelemetryExportErrors pending for hello-degraded-0")
            s = wait_for("kafka drops", lambda: any(a == "HelloKafkaLogEventsDropped" and p == "hello-degraded-0"
                                                    for a, _, p in firing_or_pending(prom)), 40, 1)
            check(bool(s), "Kafka broker down: HelloKafkaLogEventsDropped pending for hello-degraded-0")
            states = sorted(firing_or_pending(prom))
            log(f"alerts now: {states}")
            main_pod = [x for x in states if x[2] == "hello-main-0"]
            check(not main_pod, f"no per-pod alert for the healthy hello-main-0 ({main_pod or 'none'})")
            log(f"responses so far by status: {dict(sorted((str(k), v) for k, v in traffic.counts.items()))}")

            # ---- phase 3: every dashboard query
            live, parsed_only = [], []
            for q in dashboards.queries(dash_dir):
                key = (q["dashboard"], q["panel"], q["refId"])
                res = prom.query(q["expr"])
                name = f"{q['dashboard']} / {q['panel']} / {q['refId']}"
                if key in NOT_LIVE:
                    check(not res, f"{name}: no data, as listed ({NOT_LIVE[key]})")
                    parsed_only.append(name)
                else:
                    check(finite(res), f"{name}: {len(res)} series with data")
                    live.append(name)
            missing = set(NOT_LIVE) - {(q["dashboard"], q["panel"], q["refId"]) for q in dashboards.queries(dash_dir)}
            check(not missing, f"NOT_LIVE names only existing queries ({sorted(missing) or 'ok'})")
            for path, dash in dashboards.load(dash_dir).items():
                for v in dash["templating"]["list"]:
                    q = v.get("query")
                    if v["type"] == "query" and isinstance(q, dict):
                        sel = dashboards.subst(q["query"][len("label_values("):].rsplit(",", 1)[0])
                        label = q["query"].rsplit(",", 1)[1].strip(" )")
                        vals = prom.api("series", **{"match[]": sel})
                        check(any(label in s for s in vals), f"{dash['uid']}: variable ${v['name']} has values ({label} from {sel})")
            log(f"dashboard queries proven live: {len(live)}; parsed only (listed): {len(parsed_only)}")
    finally:
        stop(procs)
    log(f"live proof took {time.time() - t0:.0f} s")
    if failures:
        log(f"{len(failures)} live check(s) failed; logs in {workdir}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
