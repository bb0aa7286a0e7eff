#!/usr/bin/env bash
# The README's "Try it" section, run for real: every command against the static
# release binary ($HELLO_BIN, scripts/build-static.sh), every output compared
# (scripts/check-try-it.py says what may differ). Then a negative control: the
# same section with one expected output changed must fail.
# Then the request contract: the same binary on a fixed set of requests
# (scripts/record-contract.py), its responses, log lines, /metrics and spans
# compared field by field with the capture of the revision before the
# request-path performance work (tests/golden/); negative controls: a golden
# copy with a log key moved, a metric label renamed, a span attribute changed.
set -euo pipefail
# shellcheck source=env.sh
source "$(dirname "$0")/env.sh"
cd "$HELLO_ROOT"
[ -x "$HELLO_BIN" ] || { echo "check-try-it: $HELLO_BIN missing: run scripts/build-static.sh"; exit 1; }
command -v jq >/dev/null || { echo "check-try-it: jq missing (scripts/install-tools.sh)"; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The README points newcomers at these two scripts next; the demo itself takes
# minutes and is run by hand (its header says how it was checked).
echo "-- shellcheck and Python syntax: check-try-it, demo"
shellcheck -x scripts/check-try-it.sh scripts/demo.sh
python3 -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' scripts/check-try-it.py scripts/demo.py scripts/record-contract.py

echo "-- README.md \"Try it\" against $HELLO_BIN"
python3 scripts/check-try-it.py README.md "$WORK/run"

echo "-- negative control: a wrong expected greeting must fail"
sed 's/^Hello, World!$/Hello, world!/' README.md >"$WORK/README.md"
if python3 scripts/check-try-it.py "$WORK/README.md" "$WORK/control" >"$WORK/control.log" 2>&1; then
  echo "FAIL: the check passed on a README with a wrong output"; exit 1
fi
grep -c '^  FAIL \$ curl -s' "$WORK/control.log" | sed 's/^/  commands caught: /'

GOLDEN=tests/golden/contract-6d66741.json
echo "-- the request contract: $HELLO_BIN against $GOLDEN"
python3 scripts/record-contract.py record "$WORK/contract.json" --work "$WORK/contract"
python3 scripts/record-contract.py compare "$GOLDEN" "$WORK/contract.json"

echo "-- negative controls: a golden with one field changed must fail, naming the field"
control() {  # NAME PYTHON-STATEMENT (on `g`, the golden's "runs"), then the path expected in the output
  python3 - "$GOLDEN" "$WORK/golden-$1.json" "$2" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
g = doc["runs"]
exec(sys.argv[3])
json.dump(doc, open(sys.argv[2], "w"), indent=1, ensure_ascii=False)
PY
  if python3 scripts/record-contract.py compare "$WORK/golden-$1.json" "$WORK/contract.json" >"$WORK/control-$1.log"; then
    echo "FAIL: the contract check passed with $1 changed"; exit 1
  fi
  grep -F "DIFF $3" "$WORK/control-$1.log" >/dev/null || { echo "FAIL: $1: no difference at $3"; cat "$WORK/control-$1.log"; exit 1; }
  grep '^  DIFF' "$WORK/control-$1.log" | sed "s/^/  $1 caught:/"
}
control log-key-order 'line = g["plain"]["requests"][0]["log"][0]; v = line.pop("url.path"); line["url.path"] = v' \
  'runs.plain.requests[greeting-text].log[0] (key order)'
control metric-label 'm = g["plain"]["metrics"]["series"]; k = next(k for k in m if k.startswith("http_server_request_duration_seconds_count{")); m[k.replace("http_route=", "route=")] = m.pop(k)' \
  'runs.plain.metrics.series.http_server_request_duration_seconds_count{'
control span-attribute 'g["otlp"]["requests"][0]["span"]["attributes"]["url.scheme"] = "https"' \
  'runs.otlp.requests[greeting].span.attributes.url.scheme'
echo "check-try-it: ok"
