#!/usr/bin/env bash
# The README's "Try it" section, run for real: every command against the static
# release binary ($HELLO_BIN, scripts/build-static.sh), every output compared
# (scripts/check-try-it.py says what may differ). Then a negative control: the
# same section with one expected output changed must fail.
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
python3 -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' scripts/check-try-it.py scripts/demo.py

echo "-- README.md \"Try it\" against $HELLO_BIN"
python3 scripts/check-try-it.py README.md "$WORK/run"

echo "-- negative control: a wrong expected greeting must fail"
sed 's/^Hello, World!$/Hello, world!/' README.md >"$WORK/README.md"
if python3 scripts/check-try-it.py "$WORK/README.md" "$WORK/control" >"$WORK/control.log" 2>&1; then
  echo "FAIL: the check passed on a README with a wrong output"; exit 1
fi
grep -c '^  FAIL \$ curl -s' "$WORK/control.log" | sed 's/^/  commands caught: /'
echo "check-try-it: ok"
