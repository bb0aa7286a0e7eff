#!/usr/bin/env bash
# Supply-chain suite (docs/SUPPLY-CHAIN.md): the pinned toolchain is the one in
# use; cargo-deny (licences, bans, sources; advisories only when the advisory
# database can be fetched); the crate list cargo-auditable embedded in
# $HELLO_BIN equals cargo's resolve; the CycloneDX SBOM of the crate graph
# (written to target/supply-chain/) equals it too; trivy, scanning the image
# $HELLO_IMAGE, lists the crates the binary embeds. Needs scripts/build-static.sh
# and the image (tests/image/test.sh builds it) first.
# No `set -e`: every check runs and reports; the exit status counts failures.
set -uo pipefail
# shellcheck source=env.sh
source "$(dirname "$0")/env.sh"
cd "$HELLO_ROOT" || exit 1
OUT="$HELLO_ROOT/target/supply-chain"
WORK=$(mktemp -d)
# (cargo-cyclonedx can only write next to Cargo.toml: never leave that file behind)
trap 'rm -rf "$WORK" "$HELLO_ROOT/hello.supply-chain.cdx.json"' EXIT
mkdir -p "$OUT"
failed=0
run() { # run NAME CMD...: print the check and ok/FAIL
  local name=$1; shift
  echo "-- $name"
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failed=$((failed + 1)); fi
}
pinned=$(sed -n 's/^channel = "\(.*\)"$/\1/p' rust-toolchain.toml)

run "shellcheck, Python syntax" bash -c 'shellcheck -x scripts/supply-chain.sh && python3 -c "import ast; ast.parse(open(\"scripts/supply-chain.py\").read())"'

toolchain() {
  local active rustc docker
  active=$(rustup show active-toolchain) || return 1
  rustc=$(rustc --version | cut -d' ' -f2)
  docker=$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)
  echo "  rust-toolchain.toml: $pinned; rustup: $active; rustc $rustc; Dockerfile RUST_VERSION=$docker"
  [[ $active == "$pinned-"*"rust-toolchain.toml"* ]] && [ "$rustc" = "$pinned" ] && [ "$docker" = "$pinned" ]
}
run "toolchain: rustup uses the pinned $pinned, the Dockerfile's builder the same" toolchain

run "cargo deny: licences, bans, sources (deny.toml, warnings are errors)" \
  cargo deny --locked check -D warnings licenses bans sources

advisories() {
  # The RustSec database is a git repository on GitHub: when it cannot be
  # fetched (these CI machines), say so instead of reporting a pass.
  if timeout 120 cargo deny fetch db >"$WORK/fetch.log" 2>&1; then
    cargo deny --locked check advisories
  else
    echo "  NOT CHECKED: the advisory database cannot be fetched here ($(grep -m1 -iE 'fatal|error' "$WORK/fetch.log" | cut -c1-120))"
  fi
}
run "cargo deny: advisories (only when the database is reachable)" advisories

embedded() {
  [ -x "$HELLO_BIN" ] || { echo "  $HELLO_BIN missing: run scripts/build-static.sh"; return 1; }
  readelf -S "$HELLO_BIN" | grep -q ' \.dep-v0 ' || {
    echo "  $HELLO_BIN has no .dep-v0 section: built without cargo-auditable"; return 1; }
  rust-audit-info "$HELLO_BIN" >"$OUT/hello.audit.json" || return 1
  python3 scripts/supply-chain.py audit "$OUT/hello.audit.json" || return 1
  # Negative control: one crate removed from the embedded list must be noticed.
  jq 'del(.packages[] | select(.name == "axum"))' "$OUT/hello.audit.json" >"$WORK/audit-less.json"
  if python3 scripts/supply-chain.py audit "$WORK/audit-less.json" >/dev/null; then
    echo "  the comparison did not notice a missing crate"; return 1
  fi
}
run "cargo auditable: \$HELLO_BIN embeds its crate list (.dep-v0), equal to cargo's resolve" embedded

sbom() {
  # cargo-cyclonedx writes next to Cargo.toml; the result is kept under target/.
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s) \
    cargo cyclonedx --quiet --format json --spec-version 1.5 --target "$HELLO_TARGET" \
    --override-filename hello.supply-chain.cdx || return 1
  mv hello.supply-chain.cdx.json "$OUT/hello.cdx.json"
  python3 scripts/supply-chain.py sbom "$OUT/hello.cdx.json" || return 1
  jq '(.components[] | select(.name == "tokio") | .hashes[0].content) |= "0"' "$OUT/hello.cdx.json" >"$WORK/sbom-bad.json"
  if python3 scripts/supply-chain.py sbom "$WORK/sbom-bad.json" >/dev/null; then
    echo "  the comparison did not notice a wrong checksum"; return 1
  fi
  echo "  written: ${OUT#"$HELLO_ROOT/"}/hello.cdx.json"
}
run "cargo cyclonedx: SBOM of the crate graph" sbom

image_scan() {
  command -v trivy >/dev/null || { echo "  trivy missing (scripts/install-tools.sh installs it)"; return 1; }
  hello_podman image exists "$HELLO_IMAGE" ||
    { echo "  $HELLO_IMAGE missing: run tests/image/test.sh (or scripts/build-image.sh) first"; return 1; }
  hello_podman save --quiet --format docker-archive -o "$WORK/image.tar" "$HELLO_IMAGE" || return 1
  # The crate list the image's own binary embeds (it may be an older build than $HELLO_BIN).
  local cid
  cid=$(hello_podman create "$HELLO_IMAGE") || return 1
  hello_podman cp "$cid:/hello" "$WORK/image-hello" || return 1
  # (rm complains that there is no systemd to remove the healthcheck timer from)
  hello_podman rm "$cid" >/dev/null 2>&1 || true
  rust-audit-info "$WORK/image-hello" >"$WORK/image.audit.json" || { echo "  the image's /hello has no embedded crate list"; return 1; }
  local crates='[.packages[] | "\(.name)@\(.version) \(.kind // "runtime")"] | sort | .[]'
  cmp -s <(jq -r "$crates" "$WORK/image.audit.json") <(jq -r "$crates" "$OUT/hello.audit.json") ||
    { echo "  the image's /hello embeds other crates than \$HELLO_BIN: rebuild the image"; return 1; }
  # Offline: no vulnerability database here, only the package inventory. (This
  # trivy build exits 1 without a word on an oci-archive: docker-archive above.)
  trivy image --quiet --offline-scan --skip-db-update --cache-dir "$WORK/trivy-cache" \
    --format cyclonedx --input "$WORK/image.tar" -o "$OUT/image.trivy.cdx.json" || return 1
  python3 scripts/supply-chain.py scanner "$OUT/image.trivy.cdx.json" "$WORK/image.audit.json"
}
run "trivy on the image $HELLO_IMAGE lists the crates the binary embeds" image_scan

echo "supply-chain: $failed check(s) failed"
[ "$failed" -eq 0 ]
