#!/usr/bin/env bash
# Builds $HELLO_IMAGE (localhost/hello:ci) from the current tree with buildah,
# offline: the static binary built on the host ($HELLO_BIN, scripts/build-static.sh),
# the host's CA bundle and an empty /tmp (1777) are staged into one directory,
# the named build context `hostfiles` of the Dockerfile's `prebuilt` stage. The
# final stage is the same one `docker build .` produces; the rust builder stage
# is skipped (nothing is pulled).
# Cheap when nothing changed: the hash of every input is recorded next to the
# image store and the build is skipped when it matches (FORCE=1 rebuilds).
set -euo pipefail
# shellcheck source=./env.sh source-path=SCRIPTDIR
source "$(dirname "$0")/env.sh"
cd "$HELLO_ROOT"

CA_DIR=/etc/ssl/certs # Debian's ca-certificates bundle: $CA_DIR/ca-certificates.crt
if [ ! -x "$HELLO_BIN" ]; then
  echo "build-image: $HELLO_BIN is missing: run scripts/build-static.sh first" >&2
  exit 1
fi
if [ ! -s "$CA_DIR/ca-certificates.crt" ]; then
  echo "build-image: $CA_DIR/ca-certificates.crt is missing (apt-get install ca-certificates)" >&2
  exit 1
fi

# OCI labels. created = the commit time (also the files' timestamps), so the
# same tree and binary give the same layer digest.
version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["package"]["version"])')
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  revision="$revision-dirty"
fi
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
# Never put credentials of a remote URL into a label.
source_url=${HELLO_SOURCE_URL:-$(git remote get-url origin 2>/dev/null | sed -E 's#//[^/@]*@#//#' || true)}
source_url=${source_url:-unknown}

# The binary says which revision it was built from (build.rs, via build-static.sh's
# rule): a binary from another commit would make the labels and /version disagree.
bin_revision=$("$HELLO_BIN" version | sed -n 's/^hello [^ ]* (\(.*\))$/\1/p')
if [ "$bin_revision" != "$revision" ]; then
  echo "build-image: $HELLO_BIN was built from revision '$bin_revision', the tree is at '$revision':" \
    "run scripts/build-static.sh" >&2
  exit 1
fi

build_args=(
  --build-arg BINARY_SOURCE=prebuilt
  --build-arg VERSION="$version"
  --build-arg REVISION="$revision"
  --build-arg CREATED="$created"
  --build-arg SOURCE="$source_url"
)

stamp="$HELLO_ROOT/.tools/podman/hello-image.inputs"
inputs=$(
  {
    printf '%s\n' "$HELLO_IMAGE" "${build_args[@]}" "$epoch"
    sha256sum Dockerfile .dockerignore image/rootfs/etc/passwd image/rootfs/etc/group \
      "$HELLO_BIN" "$CA_DIR/ca-certificates.crt" "$0"
  } | sha256sum | cut -d' ' -f1
)
if [ "${FORCE:-0}" != 1 ] && [ -f "$stamp" ]; then
  read -r old_inputs old_id <"$stamp" || true
  if [ "${old_inputs:-}" = "$inputs" ] &&
    [ "$(hello_podman image inspect --format '{{.Id}}' "$HELLO_IMAGE" 2>/dev/null)" = "${old_id:-}" ]; then
    echo "build-image: $HELLO_IMAGE is up to date (${old_id:0:12})"
    exit 0
  fi
fi

echo "build-image: building $HELLO_IMAGE (version $version, revision $revision)"
# buildah 1.28 leaves a working container behind for a stage used as a base
# (`FROM ${BINARY_SOURCE} AS binary`), and the prebuilt stage's image untagged:
# remove what this build left, whatever its outcome.
containers_before=$(hello_buildah containers -q | sort)
cleanup_build() {
  comm -13 <(printf '%s\n' "$containers_before") <(hello_buildah containers -q | sort) |
    while read -r id; do hello_buildah rm "$id" >/dev/null 2>&1 || true; done
  hello_podman image prune -f >/dev/null 2>&1 || true
}
trap cleanup_build EXIT
# The same layout as the builder stage's /out.
ctx="$HELLO_ROOT/.tools/podman/image-context"
rm -rf "$ctx"
mkdir -p "$ctx/rootfs/tmp"
chmod 1777 "$ctx/rootfs/tmp"
ln -f "$HELLO_BIN" "$ctx/hello" 2>/dev/null || cp "$HELLO_BIN" "$ctx/hello"
cp "$CA_DIR/ca-certificates.crt" "$ctx/ca-certificates.crt"
# --format docker: the OCI image config has no HEALTHCHECK field; Docker's keeps it.
# --identity-label=false: no io.buildah.version label (the OCI labels say enough).
# The log shows which stages ran (tests/image checks the rust builder did not).
log="$HELLO_ROOT/.tools/podman/hello-image.build.log"
if ! hello_buildah bud --format docker --identity-label=false --timestamp "$epoch" \
  "${build_args[@]}" \
  --build-context hostfiles="$ctx" \
  -t "$HELLO_IMAGE" -f Dockerfile . >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
id=$(hello_podman image inspect --format '{{.Id}}' "$HELLO_IMAGE")
mkdir -p "$(dirname "$stamp")"
printf '%s %s\n' "$inputs" "$id" >"$stamp"
echo "build-image: $HELLO_IMAGE = ${id:0:12}, $(hello_podman image inspect --format '{{.Size}}' "$HELLO_IMAGE") bytes"
