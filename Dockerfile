# hello: a fully static binary in an image FROM scratch (binary, CA bundle,
# passwd/group for uid 65532, an empty /tmp with mode 1777; no shell, nothing else).
#
# Online (Docker/BuildKit, or buildah with registry access):
#   docker build -t hello:scratch \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
# Offline (no registry: the binary is built on the host by scripts/build-static.sh,
# the same final stage below is used; the builder stage is skipped, nothing is pulled):
#   scripts/build-image.sh     # = buildah bud --format docker --build-arg BINARY_SOURCE=prebuilt \
#                              #     --build-context hostfiles=<dir with hello, ca-certificates.crt, rootfs/tmp> ...

# Builder pinned by tag AND digest (index digest of the multi-arch image).
# The digest was not pulled on the machines this was written on (no registry
# access); it is the value public BuildKit logs resolved for rust:1.95(.0)-bookworm.
# Verify/refresh it when bumping the toolchain:
#   docker buildx imagetools inspect docker.io/library/rust:1.95.0-bookworm
# (or `skopeo inspect --format '{{.Digest}}' docker://docker.io/library/rust:1.95.0-bookworm`).
# Full (not -slim) image: librdkafka's bundled C build needs gcc, make, perl.
ARG RUST_VERSION=1.95.0
ARG RUST_DIGEST=sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1
# Which stage provides /out (hello, ca-certificates.crt, rootfs/tmp): `builder`
# (compile here) or `prebuilt` (files from the build host, a named build context).
ARG BINARY_SOURCE=builder

FROM docker.io/library/rust:${RUST_VERSION}-bookworm@${RUST_DIGEST} AS builder
# What /version reports: the context has no .git (.dockerignore), so the revision
# and the build date come from the build arguments (unset: "unknown" and the
# build time). The pipeline passes the commit and its commit time.
ARG REVISION
ARG CREATED
WORKDIR /src
# The context is an allowlist (.dockerignore): manifest, lockfile, sources and
# the one build script the host uses too, so both paths build the same way.
COPY . .
# cargo-auditable embeds the crate list in the binary (image scanners read it);
# build-static.sh uses it when it is on PATH. Pinned, --locked.
RUN cargo install --locked cargo-auditable@0.7.7
# build-static.sh: +crt-static glibc build for x86_64-unknown-linux-gnu, --locked;
# HELLO_REVISION / HELLO_BUILD_DATE reach build.rs, which stamps the binary.
RUN HELLO_REVISION="${REVISION}" HELLO_BUILD_DATE="${CREATED}" scripts/build-static.sh \
 && mkdir -p /out/rootfs \
 && mkdir -m 1777 /out/rootfs/tmp \
 && cp target/x86_64-unknown-linux-gnu/release/hello /out/hello \
 && cp /etc/ssl/certs/ca-certificates.crt /out/ca-certificates.crt

FROM scratch AS prebuilt
# `hostfiles` is a named build context (--build-context), not a stage: the same
# /out layout as the builder's, staged by scripts/build-image.sh.
# hadolint ignore=DL3022
COPY --from=hostfiles / /out/

# The one switch between the two paths; only the selected stage is built.
# checkov:skip=CKV_DOCKER_7:BINARY_SOURCE names a stage of this file (builder|prebuilt), not an image; the only image is pinned by tag and digest
# hadolint ignore=DL3006
FROM ${BINARY_SOURCE} AS binary

# ---- runtime: the only final stage, whichever path provided /out ----
FROM scratch

ARG VERSION=unknown
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="hello" \
      org.opencontainers.image.description="Observability-first Rust HTTP service (static binary, FROM scratch)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}"

# passwd/group: a name for uid/gid 65532, no home (/nonexistent), no shell (nologin).
COPY --chmod=0644 image/rootfs/etc/passwd image/rootfs/etc/group /etc/
# TLS roots for OTLP and Kafka endpoints.
COPY --from=binary --chmod=0644 /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# Not writable by anyone (--chmod): modes do not depend on the host's umask.
COPY --from=binary --chmod=0555 /out/hello /hello
# /tmp (mode 1777, like any Linux /tmp): $TMPDIR, the service's scratch data,
# is writable with a plain `docker run` too. Hardened runs mount a tmpfs or an
# emptyDir over it; runtimes that copy the mount point's mode (podman --tmpfs)
# then keep 1777. Copied as a subdirectory of rootfs/ so that its mode survives.
COPY --from=binary /out/rootfs/ /

# Numeric uid:gid so runAsNonRoot can be verified without reading /etc/passwd.
USER 65532:65532
# 8080: the API (public); 8081: /healthz, /readyz, /metrics (admin, ADMIN_PORT).
EXPOSE 8080 8081
# The service drains on SIGTERM (readiness 503, keeps serving, exits 0).
STOPSIGNAL SIGTERM
# No shell or curl in the image: the binary checks itself (admin port's /healthz).
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/hello", "healthcheck"]
ENTRYPOINT ["/hello"]
CMD ["serve"]
