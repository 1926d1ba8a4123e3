# syntax=docker/dockerfile:1
# SPDX-License-Identifier: Apache-2.0
# Ferry's images (docs/images.md), two final targets:
#   controller   ferry-controller, run as a non-root user (65532)
#   agent        ferry-agent and ferry-runc, runc, CRIU 4.2 under /opt/ferry/criu,
#                and the host bundle /opt/ferry/host (ferry-runc and CRIU with their
#                own loaders, install-host.sh) that the node setup copies onto hosts
#
# Anywhere with network to Debian's archive:
#   docker build --target agent --build-arg VERSION=$(git describe --always --dirty) -t ferry/agent:V .
# On Ferry's machines (no registry; podman with local base images): make images.
# apt settings a builder needs to reach the archive (a proxy, relaxed date
# checks) may come in as the build secret "aptconf", an apt.conf snippet
# (--secret id=aptconf,src=FILE); it never lands in an image.

FROM debian:bookworm AS build
RUN --mount=type=secret,id=aptconf,target=/etc/apt/apt.conf.d/99ferry-build \
    apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config ca-certificates \
      libjson-c-dev libarchive-dev libssl-dev libcurl4-openssl-dev libyaml-dev \
      libmicrohttpd-dev libzstd-dev liblz4-dev protobuf-c-compiler libprotobuf-c-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# CRIU 4.2 (Debian forky's, with forky's loader, in /opt/ferry/criu) and the CRI
# api.proto (/opt/ferry/cri-api) as a developer's machine gets them; before the
# sources come in, so that changing them does not redo this.
COPY scripts/install-deps.sh scripts/
RUN --mount=type=secret,id=aptconf,target=/etc/apt/apt.conf.d/99ferry-build \
    bash scripts/install-deps.sh image-build
COPY . .
# The version the binaries print (git describe; .git stays out of the context).
# Declared where it is used: a build argument is part of every later step's cache key.
ARG VERSION=
RUN make -j"$(nproc)" ${VERSION:+VERSION="$VERSION"} \
      bin/ferry-agent bin/ferry-controller bin/ferry-runc bin/kubectl-ferry \
 && bin/ferry-agent --version
# What the final stages install (the packages of the libraries the binaries load),
# and the host bundle.
RUN bash -ec '. scripts/lib/image-stage.sh; mkdir -p /out; \
      image_runtime_packages bin/ferry-controller > /out/controller.packages; \
      image_runtime_packages bin/ferry-agent bin/ferry-runc > /out/agent.packages; \
      image_host_bundle /opt/ferry/host bin/ferry-runc /opt/ferry/criu'

FROM debian:bookworm-slim AS controller
COPY --from=build /out/controller.packages /tmp/
RUN --mount=type=secret,id=aptconf,target=/etc/apt/apt.conf.d/99ferry-build \
    apt-get update \
 && DEBIAN_FRONTEND=noninteractive xargs -a /tmp/controller.packages \
      apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /tmp/controller.packages \
 && useradd --uid 65532 --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin ferry
COPY --from=build /src/bin/ferry-controller /usr/local/bin/ferry-controller
ARG VERSION=
LABEL org.opencontainers.image.title="ferry-controller" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ferry-controller"]

FROM debian:bookworm-slim AS agent
COPY --from=build /out/agent.packages /tmp/
RUN --mount=type=secret,id=aptconf,target=/etc/apt/apt.conf.d/99ferry-build \
    apt-get update \
 && DEBIAN_FRONTEND=noninteractive xargs -a /tmp/agent.packages \
      apt-get install -y --no-install-recommends ca-certificates runc iptables \
 && rm -rf /var/lib/apt/lists/* /tmp/agent.packages
COPY --from=build /opt/ferry/criu /opt/ferry/criu
COPY --from=build /opt/ferry/host /opt/ferry/host
COPY --from=build /src/bin/ferry-agent /src/bin/ferry-runc /usr/local/bin/
ARG VERSION=
LABEL org.opencontainers.image.title="ferry-agent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# Where ferry-agent and ferry-runc look for CRIU (lib/runtime/criu.c's default too).
ENV FERRY_CRIU=/opt/ferry/criu/bin/criu
ENTRYPOINT ["/usr/local/bin/ferry-agent"]
CMD ["check"]
