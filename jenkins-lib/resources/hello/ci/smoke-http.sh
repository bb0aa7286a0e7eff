#!/bin/sh
# Usage: smoke-http.sh NAMESPACE DEPLOYMENT PORT PATH [ATTEMPTS]
# Port-forwards to the Deployment's container port PORT (a name such as `admin`
# or `http`, or a number) on a local port chosen by kubectl (never a fixed one)
# and requests PATH until it answers 2xx. Port-forward reaches the pod
# directly, so the workload's NetworkPolicy needs no hole for CI.
set -eu
ns=$1 deploy=$2 target=$3 path=$4 attempts=${5:-30}
log=$(mktemp)
kubectl --namespace "$ns" port-forward "deployment/$deploy" ":$target" >"$log" 2>&1 &
pf=$!
trap 'kill "$pf" 2>/dev/null || true; rm -f "$log"' EXIT INT TERM

port=
i=0
while [ "$i" -lt "$attempts" ]; do
  # "Forwarding from 127.0.0.1:PORT -> 8081"
  port=$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$log" | head -n 1)
  [ -n "$port" ] && break
  kill -0 "$pf" 2>/dev/null || { echo "smoke: port-forward exited:" >&2; cat "$log" >&2; exit 1; }
  i=$((i + 1))
  sleep 1
done
[ -n "$port" ] || { echo "smoke: no port-forward after $attempts s" >&2; cat "$log" >&2; exit 1; }

i=0
while [ "$i" -lt "$attempts" ]; do
  if code=$(curl -sS -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$path"); then
    case $code in
      2??) echo "smoke: $deploy $target$path -> $code"; exit 0 ;;
      *) echo "smoke: $deploy $target$path -> $code, retrying" >&2 ;;
    esac
  fi
  i=$((i + 1))
  sleep 1
done
echo "smoke: $deploy $target$path never answered 2xx in $attempts attempts" >&2
exit 1
