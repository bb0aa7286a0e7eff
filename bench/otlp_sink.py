#!/usr/bin/env python3
"""An OTLP/HTTP traces endpoint for the benchmark's OTLP rows.

  otlp_sink.py ok         answers every POST /v1/traces with 200 and an empty
                          ExportTraceServiceResponse (a healthy collector)
  otlp_sink.py blackhole  accepts connections and never reads nor answers

Prints OTLP_SINK_ENDPOINT=http://127.0.0.1:PORT, then serves until killed.
"""
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
    if mode == "ok":
        srv = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
        print(f"OTLP_SINK_ENDPOINT=http://127.0.0.1:{srv.server_address[1]}", flush=True)
        srv.serve_forever()
    elif mode == "blackhole":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1024)
        print(f"OTLP_SINK_ENDPOINT=http://127.0.0.1:{s.getsockname()[1]}", flush=True)
        held = []
        while True:
            held.append(s.accept()[0])
    else:
        sys.exit(f"unknown mode {mode}")
    time.sleep(1e9)


if __name__ == "__main__":
    main()
