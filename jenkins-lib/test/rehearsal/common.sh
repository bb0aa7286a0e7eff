# shellcheck shell=bash
# Shared by the rehearsal's stand-ins (buildah, trivy, cosign, kubectl, kustomize
# on the PATH of the rehearsed `sh` steps). Each stand-in runs the real tool for
# what can run here and stands in only for the registry, the cluster API and
# what needs them. State lives in $REHEARSAL_DIR:
#   registry/HEX.tar      what `buildah push` stored (an OCI archive), registry/index: "REPO:TAG DIGEST"
#   cluster/              what `kubectl apply` applied, the running container and its ports
#   signatures            what cosign signed and attested
set -euo pipefail
: "${REHEARSAL_DIR:?}" "${REHEARSAL_REAL_PATH:?}" "${HELLO_ROOT:?}"
# shellcheck source=../../../scripts/env.sh disable=SC1091
source "$HELLO_ROOT/scripts/env.sh"
REGISTRY="$REHEARSAL_DIR/registry"
CLUSTER="$REHEARSAL_DIR/cluster"
mkdir -p "$REGISTRY" "$CLUSTER"
touch "$REGISTRY/index"
real() { PATH="$REHEARSAL_REAL_PATH" command "$@"; }
say() { echo "[stand-in ${0##*/}] $*" >&2; }
die() {
  say "$*"
  exit 1
}
# REPO@sha256:... -> the archive the "registry" holds for it (fails like a pull would).
archive_of() {
  local ref=$1 repo=${1%@*} digest=${1#*@}
  [ "$ref" != "$digest" ] || die "not a digest reference: $ref"
  grep -q "^$repo:[^ ]* $digest$" "$REGISTRY/index" || die "manifest unknown: $ref was never pushed"
  echo "$REGISTRY/${digest#sha256:}.tar"
}
