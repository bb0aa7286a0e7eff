#!/usr/bin/env python3
"""Writes a container's output as a CRI log file, the way containerd does.

A line-by-line port of containerd's internal/cri/io/logger.go (redirectLogs):
the stream is read through a 4096-byte bufio.Reader; a line longer than
maxLen (containerd's max_container_log_line_size, 16384 by default) is cut
into records of exactly maxLen bytes tagged P, the rest tagged F; "\\n" and a
"\\r\\n" ending are dropped; output left without a newline at EOF is tagged P.
Each record: "<time RFC3339Nano> <stream> <P|F> <bytes>\\n", where the time is
Go's time.RFC3339Nano (fraction without trailing zeros, no fraction at all
when it is zero, "Z" in UTC, "+hh:mm" otherwise).

Usage:
  cri_wrap.py OUT.log STREAM=FILE [STREAM=FILE ...] [--max-len N] [--utc-offset +02:00]
      Records of the streams are interleaved one by one (containerd writes
      both streams to one file concurrently, so a P of stdout may sit between
      records of stderr).
  cri_wrap.py --self-test
      Checks the split points against containerd's behaviour (exit 1 if not).
  cri_wrap.py --time-samples
      Prints RFC3339Nano strings of fixed instants, one per line:
      "<unix seconds> <nanoseconds> <string>", for the time-format check.
"""
import sys
import time

DEFAULT_MAX_LEN = 16384   # containerd: max_container_log_line_size default
BUF_SIZE = 4096           # containerd: defaultBufSize


def rfc3339nano(ns, offset_s=0):
    """Go's time.Format(time.RFC3339Nano) for an instant in ns since epoch."""
    sec, frac = divmod(ns, 1_000_000_000)
    t = time.gmtime(sec + offset_s)
    s = time.strftime("%Y-%m-%dT%H:%M:%S", t)
    if frac:
        s += "." + f"{frac:09d}".rstrip("0")
    if offset_s == 0:
        return s + "Z"
    sign = "+" if offset_s > 0 else "-"
    h, m = divmod(abs(offset_s) // 60, 60)
    return f"{s}{sign}{h:02d}:{m:02d}"


def read_lines(data, buf_size=BUF_SIZE):
    """Yields (line, is_prefix, eof) like containerd's readLine on a bufio.Reader."""
    pos = 0
    while True:
        window = data[pos:pos + buf_size]
        nl = window.find(b"\n")
        if nl >= 0:                                   # a full line in the buffer
            line = window[:nl]
            pos += nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            yield line, False, False
        elif len(window) == buf_size:                 # bufio.ErrBufferFull
            if window.endswith(b"\r"):                # "\r\n" straddles: unread "\r"
                window = window[:-1]
            pos += len(window)
            yield window, True, False
        else:                                         # EOF
            yield window, False, True
            return


def records(data, max_len):
    """(tag, bytes) records of one stream, as redirectLogs writes them."""
    buf, length = [], 0
    for line, is_prefix, eof in read_lines(data):
        if line:
            buf.append(line)
            length += len(line)
        if eof and length == 0:
            return
        if max_len > 0 and length > max_len:
            exceed = length - max_len
            last = buf[-1]
            buf[-1] = last[:len(last) - exceed]
            yield "P", b"".join(buf)
            buf, length = [last[len(last) - exceed:]], exceed
        if is_prefix:
            continue
        yield ("P" if eof else "F"), b"".join(buf)
        buf, length = [], 0
        if eof:
            return


def parse_offset(text):
    sign = -1 if text.startswith("-") else 1
    h, m = text.lstrip("+-").split(":")
    return sign * (int(h) * 3600 + int(m) * 60)


def self_test():
    """Split points containerd produces (derived from logger.go and its tests)."""
    cases = {16384: ["F16384"], 16385: ["P16384", "F1"], 32768: ["P16384", "F16384"],
             32769: ["P16384", "P16384", "F1"], 4097: ["F4097"], 0: ["F0"]}
    bad = 0
    for n, want in cases.items():
        got = [f"{t}{len(b)}" for t, b in records(b"x" * n + b"\n", DEFAULT_MAX_LEN)]
        if got != want:
            print(f"  {n} bytes: got {got}, want {want}")
            bad += 1
    got = list(records(b"a\r\nb\nc", DEFAULT_MAX_LEN))
    if got != [("F", b"a"), ("F", b"b"), ("P", b"c")]:
        print(f"  CRLF / no final newline: got {got}")
        bad += 1
    if rfc3339nano(1795712592 * 10**9 + 120000000) != "2026-11-26T17:03:12.12Z":
        print("  RFC3339Nano trimming is wrong")
        bad += 1
    print(f"  containerd split/timestamp self-test: {len(cases) + 2 - bad} passed, {bad} failed")
    return 1 if bad else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if argv[1:] == ["--time-samples"]:
        base = 1795712592  # 2026-11-26T17:03:12Z
        for ns, off in ((123456789, 0), (120000000, 0), (100, 0), (0, 0),
                        (123456789, 7200), (500000000, -16200)):
            total = base * 1_000_000_000 + ns
            print(base, ns, rfc3339nano(total, off))
        return 0
    args, max_len, offset = [], DEFAULT_MAX_LEN, 0
    it = iter(argv[1:])
    for a in it:
        if a == "--max-len":
            max_len = int(next(it))
        elif a == "--utc-offset":
            offset = parse_offset(next(it))
        else:
            args.append(a)
    out, streams = args[0], [a.split("=", 1) for a in args[1:]]
    gens = []
    for name, path in streams:
        with open(path, "rb") as f:
            gens.append((name.encode(), records(f.read(), max_len)))
    n = 0
    with open(out, "wb") as w:
        while gens:
            for g in list(gens):
                try:
                    tag, body = next(g[1])
                except StopIteration:
                    gens.remove(g)
                    continue
                stamp = rfc3339nano(time.time_ns(), offset).encode()
                w.write(b" ".join([stamp, g[0], tag.encode(), body]) + b"\n")
                n += 1
    print(f"  wrote {n} CRI records to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
