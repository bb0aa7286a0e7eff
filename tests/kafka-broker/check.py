#!/usr/bin/env python3
"""The service's Kafka log sink against a broker and a consumer that share no code with
librdkafka (the service's own client): tansu (a Kafka-protocol broker in Rust, memory
storage) and kafka-python (a pure-Python client).

  check.py WORKDIR       (env: HELLO_BIN, TANSU = the tansu binary)

1. tansu on a free loopback port; topic hello-app-logs with 3 partitions (tansu's CLI).
2. hello with KAFKA_BROKERS pointing at it; 8 traces x 25 requests sent interleaved
   (each with its own W3C traceparent), plus 20 requests without trace context.
3. the service's own counter: every event it took was sent (none dropped or failed);
   then SIGTERM (the sink flushes on the way out).
4. kafka-python reads the whole topic from the beginning and checks:
   - bytes: every record's value is a line of the service's stdout, byte for byte
     (without the newline), and every access line of the requests above is in the topic;
   - keys: a record of a traced request has key = its trace id, others have no key;
   - order per key: the records of each trace come in stdout order, all from one partition;
   - completeness: every line written before shutdown began (but the sink's own) is
     in the topic, once.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import namedtuple
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "lib"))
from hello_proc import Hello, StartError, free_port  # noqa: E402

TOPIC = "hello-app-logs"
TRACES, PER_TRACE, UNTRACED = 8, 25, 20
failures = []


T0 = time.time()


def check(ok, msg):
    print(f"  {'ok  ' if ok else 'FAIL'} {msg} [{time.time() - T0:.1f} s]", flush=True)
    if not ok:
        failures.append(msg)
    return ok


def wait_port(port, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


Rec = namedtuple("Rec", "partition offset key value")


def verify(records, stdout_lines, traces, access):
    """[(ok, message)] for the records read from the topic against the service's stdout."""
    out = []
    stdout_set = set(stdout_lines)
    foreign = [r for r in records if r.value not in stdout_set]
    out.append((not foreign, f"bytes: every record value is a stdout line byte for byte ({len(foreign)} not)"))
    values = [r.value for r in records]
    in_topic = set(values)
    out.append((len(values) == len(in_topic), f"no record twice ({len(values) - len(in_topic)} duplicates)"))
    # Before shutdown began every line was sent (checked before SIGTERM): all must be
    # there. The shutdown lines themselves are best effort (at most once, bounded flush).
    before = for_kafka(stdout_lines[:next((i for i, ln in enumerate(stdout_lines)
                                          if b'"message":"shutdown' in ln), len(stdout_lines))])
    missing = [ln for ln in before if ln not in in_topic]
    out.append((not missing, f"every line written before shutdown ({len(before)}, all but the sink's own) is in "
                             f"the topic ({len(missing)} missing)"))
    missing = [ln for t in traces for ln in access.get(t, []) if ln not in in_topic]
    out.append((not missing, f"every access line of the {len(traces)} traces is in the topic ({len(missing)} missing)"))
    bad_keys = []
    for r in records:
        try:
            want = json.loads(r.value).get("trace_id")
        except ValueError:
            want = "?"
        if (r.key.decode() if r.key is not None else None) != want:
            bad_keys.append((r.key, want))
    out.append((not bad_keys, f"keys: the trace id for lines of a request, none otherwise ({len(bad_keys)} wrong)"))
    order_ok, one_partition = True, True
    for t in traces:
        recs = [r for r in records if r.key == t.encode()]
        mine = {r.value for r in recs}
        if [r.value for r in sorted(recs, key=lambda r: (r.partition, r.offset))] != [ln for ln in stdout_lines if ln in mine]:
            order_ok = False
        if len({r.partition for r in recs}) != 1:
            one_partition = False
    out.append((one_partition, "each trace's records are in one partition"))
    out.append((order_ok, "order per key: each trace's records are in stdout order (by offset)"))
    return out


def for_kafka(lines):
    """The stdout lines the sink produces: all but the sink's and its client's own
    (targets hello::kafka*, docs/KAFKA.md)."""
    out = []
    for ln in lines:
        try:
            rec = json.loads(ln)
        except ValueError:
            continue
        if not str(rec.get("target", "")).startswith("hello::kafka"):
            out.append(ln)
    return out


def counter(admin, outcome):
    _, body = get(f"http://127.0.0.1:{admin}/metrics")
    for line in body.decode().splitlines():
        if line.startswith("hello_log_events_total{") and 'sink="kafka"' in line and f'outcome="{outcome}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def main(workdir):
    work = Path(workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "KAFKA_"))}
    procs = []
    hello = None
    try:
        port = free_port()
        url = f"tcp://127.0.0.1:{port}"
        blog = open(work / "tansu.log", "wb")
        # cwd = an empty folder: tansu reads a .env file from its working directory.
        procs.append(subprocess.Popen(
            [os.environ["TANSU"], "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"], cwd=work, env=env, stdout=blog, stderr=subprocess.STDOUT))
        if not check(wait_port(port, 30), f"tansu broker listening on 127.0.0.1:{port} (memory storage)"):
            return 1
        out = subprocess.run([os.environ["TANSU"], "topic", "create", TOPIC, "--partitions", "3", "--broker", url],
                             cwd=work, env=env, capture_output=True, text=True, timeout=60)
        if not check(out.returncode == 0, f"topic {TOPIC} created with 3 partitions ({out.stderr.strip()[-200:] or 'ok'})"):
            return 1

        hello = Hello("hello", work, {"KAFKA_BROKERS": f"127.0.0.1:{port}", "KAFKA_LOG_TOPIC": TOPIC})
        log = hello.log
        try:
            hello.start()
            error = None
        except StartError as e:
            error = e
        if not check(error is None, "hello started with KAFKA_BROKERS = the tansu broker"):
            print(f"  {error}")
            return 1
        public, admin = hello.port, hello.admin_port

        traces = [f"{i + 1:02x}" * 16 for i in range(TRACES)]
        for n in range(PER_TRACE):
            for t in traces:   # interleaved: per-key order is not global order
                get(f"http://127.0.0.1:{public}/version",
                    {"traceparent": f"00-{t}-{n + 1:016x}-01", "User-Agent": f"kafka-broker-check/{n}"})
        for n in range(UNTRACED):
            get(f"http://127.0.0.1:{public}/")
        # Wait until the sink has sent every line written so far (counted before each
        # scrape: the scrape's own access line comes after it).
        t_wait, sent, written = time.time(), 0.0, 0
        while time.time() - t_wait < 30:
            written = len(for_kafka(log.read_bytes().split(b"\n")))
            sent = counter(admin, "sent")
            if sent >= written:
                break
            time.sleep(0.2)
        dropped, failed = counter(admin, "dropped"), counter(admin, "failed")
        check(sent >= written and dropped == 0 and failed == 0,
              f"the service counted {sent:.0f} events sent to the broker ({written} lines written so far), "
              f"{dropped:.0f} dropped, {failed:.0f} failed")
        check(hello.stop(timeout=30) == 0, "hello stopped on SIGTERM with exit 0")

        lines = log.read_bytes().split(b"\n")
        stdout_lines = [ln for ln in lines if ln]
        access = {}   # trace id -> [line, ...] in stdout order
        for ln in stdout_lines:
            try:
                rec = json.loads(ln)
            except ValueError:
                continue
            if rec.get("target") == "hello::access" and rec.get("trace_id") in traces:
                access.setdefault(rec["trace_id"], []).append(ln)
        check(all(len(access.get(t, [])) == PER_TRACE for t in traces),
              f"stdout: {PER_TRACE} access lines for each of the {TRACES} traces")

        consumer = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{port}", enable_auto_commit=False,
                                 auto_offset_reset="earliest", consumer_timeout_ms=5000)
        parts = consumer.partitions_for_topic(TOPIC) or set()
        check(parts == {0, 1, 2}, f"kafka-python sees partitions {sorted(parts)} of {TOPIC}")
        tps = [TopicPartition(TOPIC, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records = list(consumer)   # until 5 s without a record
        consumer.close()
        print(f"  read {len(records)} records: " + ", ".join(
            f"partition {p}: {sum(1 for r in records if r.partition == p)}" for p in sorted(parts)))

        recs = [Rec(r.partition, r.offset, r.key, r.value) for r in records]
        for ok, msg in verify(recs, stdout_lines, traces, access):
            check(ok, msg)
        print(f"  topic: {len(records)} records; stdout: {len(stdout_lines)} lines, "
              f"{len(stdout_lines) - len(for_kafka(stdout_lines))} of them the sink's own (never produced)")
        # Negative controls: the same assertions on damaged copies of what was read.
        t0 = traces[0].encode()
        i, j = [k for k, r in enumerate(recs) if r.key == t0][:2]
        swapped = list(recs)
        swapped[i], swapped[j] = recs[i]._replace(value=recs[j].value), recs[j]._replace(value=recs[i].value)
        damaged = {
            "two records of one trace swapped": swapped,
            "a value with one byte changed": [recs[0]._replace(value=recs[0].value.replace(b"INFO", b"INF0", 1))] + recs[1:],
            "a traced record without its key": [recs[i]._replace(key=None)] + recs[:i] + recs[i + 1:],
            "a record lost": recs[:i] + recs[i + 1:],
            "a record twice": recs + [recs[i]],
        }
        caught = [name for name, bad in damaged.items() if not all(ok for ok, _ in verify(bad, stdout_lines, traces, access))]
        check(len(caught) == len(damaged), f"negative controls: each damaged copy fails a check ({len(caught)}/{len(damaged)}: {', '.join(caught)})")
        keyed = [r.key for r in records if r.key is not None]
        print(f"  {len(keyed)} keyed records ({len(set(keyed))} keys: the {TRACES} traces sent and one per request "
              f"without trace context), {len(records) - len(keyed)} without key")
    finally:
        if hello:
            hello.stop()
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
    print(f"  {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
