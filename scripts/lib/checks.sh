# shellcheck shell=bash
# Check helpers for the shell suites: one line per check ("  ok    ..." or
# "  FAIL  ..."), a failure count, the suite's last line. Sourced by a suite
# after scripts/env.sh (which gives the hello_* helpers of scripts/lib/hello.sh);
# it defines functions only and runs nothing. No `set -e` in suites that use it:
# every check runs and reports, setup steps exit explicitly.
failures=0
ok() { echo "  ok    $*"; }
fail() {
  echo "  FAIL  $*"
  failures=$((failures + 1))
}
check() { # check "description" command...
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
result() { # cond; result "description"  (reports the previous command's status)
  local rc=$?
  if [ "$rc" -eq 0 ]; then ok "$1"; else fail "$1"; fi
}
steps() { # steps COMMAND...: run a multi-check step (it prints its own lines), count its FAIL lines
  local out
  out=$("$@" 2>&1)
  local rc=$?
  echo "$out"
  if [ "$rc" -ne 0 ]; then
    local n
    n=$(grep -c '^ *FAIL' <<<"$out")
    failures=$((failures + (n > 0 ? n : 1)))
  fi
}
indent() { sed 's/^/        /'; }
summary() { # summary NAME [DETAIL]: the suite's last line; status 1 if any check failed
  echo
  if [ "$failures" -gt 0 ]; then
    echo "$1 suite: $failures check(s) FAILED"
    return 1
  fi
  echo "$1 suite: all checks passed${2:+ ($2)}"
}
