#!/usr/bin/env bash
# Builds the fully static release binary once; the image, the end-to-end
# tests and the benchmark all use this one file ($HELLO_BIN).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$HELLO_ROOT"
# getrandom_backend: a static binary in an empty root has no /dev/urandom.
RUSTFLAGS='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"' \
  cargo build --release --locked --target "$HELLO_TARGET" "$@"
ls -l "$HELLO_BIN"
