#!/usr/bin/env bash
# The Rust suite: formatting, lints as errors, unit and integration tests
# (real servers on ephemeral ports, the built binary as a process, real OTLP
# receivers, promtool on /metrics). One debug build serves all of them.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$HELLO_ROOT"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# The mock Kafka cluster program (examples/mock_kafka.rs) as a plain binary in
# target/debug/examples/: tests/kafka.rs, bench/run.sh and reliability/ run it.
# `cargo test --all-targets` builds examples only as test harnesses, so it is
# built here, with the tests' profile (their dependencies, nothing rebuilt).
cargo build --locked --profile test --example mock_kafka
cargo test --locked --all-targets
