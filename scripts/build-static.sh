#!/usr/bin/env bash
# Builds the fully static release binary once; the image, the end-to-end
# tests and the benchmark all use this one file ($HELLO_BIN).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$HELLO_ROOT"
# What /version reports (build.rs): the caller's values (the Dockerfile's build
# arguments) or this checkout's commit (-dirty with local changes, the rule
# scripts/build-image.sh labels the image with) and commit time.
if [ -z "${HELLO_REVISION:-}" ] && HELLO_REVISION=$(git rev-parse HEAD 2>/dev/null); then
  [ -z "$(git status --porcelain 2>/dev/null)" ] || HELLO_REVISION="$HELLO_REVISION-dirty"
fi
if [ -z "${HELLO_BUILD_DATE:-}" ] && epoch=$(git log -1 --format=%ct 2>/dev/null); then
  HELLO_BUILD_DATE=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
fi
export HELLO_REVISION="${HELLO_REVISION:-}" HELLO_BUILD_DATE="${HELLO_BUILD_DATE:-}"
# getrandom_backend: a static binary in an empty root has no /dev/urandom.
# CFLAGS: librdkafka's bundled C build, optimised for size with dead-code
# sections (1.8 MB instead of 3 MB in the binary). librdkafka's build does not
# notice a CFLAGS change: after changing them run
#   cargo clean -p rdkafka-sys --release --target x86_64-unknown-linux-gnu
# cargo-auditable (scripts/install-tools.sh) embeds the crate list in a .dep-v0
# section so image scanners see the Rust dependencies (docs/SUPPLY-CHAIN.md);
# without it the build still works, and scripts/supply-chain.sh fails.
build=(build)
if command -v cargo-auditable >/dev/null 2>&1; then
  build=(auditable build)
else
  echo "build-static: cargo-auditable not installed: the binary will not carry its crate list" >&2
fi
CFLAGS="${CFLAGS:--Os -ffunction-sections -fdata-sections}" \
RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"' \
  cargo "${build[@]}" --release --locked --target "$HELLO_TARGET" "$@"
ls -l "$HELLO_BIN"
