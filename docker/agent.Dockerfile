# The agent image: Ubuntu 22.04 like awf's, with awf-entrypoint as ENTRYPOINT
# (no capsh, no gosu: the entrypoint drops capabilities and switches user
# itself). awf-entrypoint is built on Debian 12 (glibc 2.36) and linked
# statically, since Ubuntu 22.04's glibc 2.35 would refuse its symbol versions.
#   docker build -f docker/agent.Dockerfile -t awf-agent .
FROM debian:12-slim AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN ./scripts/install-deps.sh
COPY . .
# RelWithDebInfo is the configuration the tests run (GCC 12 at -O3 reports a
# false -Wrestrict in the entrypoint); --strip drops the debug info again. The
# last two commands fail the build if the binary is not static after all.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAWF_BUILD_TESTS=OFF -DAWF_BUILD_BENCH=OFF \
      -DAWF_STATIC_ENTRYPOINT=ON \
 && cmake --build /build -j"$(nproc)" --target awf-entrypoint \
 && cmake --install /build --strip --prefix /install --component entrypoint \
 && ! readelf -d /install/bin/awf-entrypoint | grep -q NEEDED \
 && /install/bin/awf-entrypoint --help >/dev/null

FROM ubuntu:22.04
# awf's agent tools, minus what our entrypoint replaces (capsh, gosu, iptables).
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates curl git dnsutils \
 && rm -rf /var/lib/apt/lists/*
# awfuser owns the default home and workspace; AWF_USER_UID/GID at run time
# pick the command's IDs (the entrypoint synthesizes an entry for unknown ones).
ARG AWF_UID=1000
ARG AWF_GID=1000
RUN groupadd -g "$AWF_GID" awfuser \
 && useradd -m -u "$AWF_UID" -g "$AWF_GID" -s /bin/bash awfuser \
 && install -d -o awfuser -g awfuser /workspace
COPY --from=build /install/ /usr/local/
# awf ships a docker stub so agents get a clear message instead of a socket.
COPY docker/docker-stub.sh /usr/bin/docker
RUN chmod 0755 /usr/bin/docker
# The command's home: the entrypoint mounts an empty tmpfs there (awf's
# home strategy); HOME itself stays root's for the entrypoint.
ENV AWF_CHROOT_IDENTITY_HOME=/home/awfuser
# The entrypoint shares its working directory read-write as the workspace.
WORKDIR /workspace
# "--": everything after it (CMD, compose's command) is the command, even when
# its words look like options (/bin/bash -c ...).
ENTRYPOINT ["/usr/local/bin/awf-entrypoint", "--"]
CMD ["/bin/bash"]
