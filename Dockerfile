# SPDX-License-Identifier: Apache-2.0
# ferry-agent's image for real clusters (the DaemonSet runs it privileged, with
# hostPID, the containerd state root and the image store mounted).
#
# Build:  docker build -t ferry-agent .   (or buildah bud)
# It is not built by CI: no registry is reachable from the development machines.
#
# Runtime: Debian forky, whose CRIU (4.2) dumps TCP sockets on current kernels
# (trixie's 4.1 cannot on 6.x kernels that dropped SO_PASSCRED on inet sockets,
# see docs/criu.md); there the system CRIU is used, no loader tricks.

FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential pkg-config git ca-certificates \
      libjson-c-dev libarchive-dev libssl-dev libcurl4-openssl-dev libyaml-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make clean && make bin/ferry-agent

FROM debian:forky-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      criu runc iptables ca-certificates \
      libjson-c5 libarchive13t64 libssl3t64 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/bin/ferry-agent /usr/local/bin/ferry-agent
ENV FERRY_CRIU=/usr/sbin/criu
ENTRYPOINT ["/usr/local/bin/ferry-agent"]
CMD ["check"]
