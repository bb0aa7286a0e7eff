#!/usr/bin/env bash
# The Rust suite: formatting, lints as errors, unit and integration tests
# (real servers on ephemeral ports, the built binary as a process, real OTLP
# receivers, promtool on /metrics). One debug build serves all of them.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$HELLO_ROOT"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets
