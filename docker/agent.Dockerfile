# The agent image: Debian 12 (awf's is Ubuntu 22.04; Debian's is the one that
# builds offline from the Debian mirror every machine of this project has),
# with awf-entrypoint as ENTRYPOINT (no capsh, no gosu: the entrypoint drops
# capabilities and switches user itself). Checked without an engine by
# tests/docker, and built and run on a real engine by tests/docker/engine_test.sh.
#   docker build -f docker/agent.Dockerfile -t awf-agent .
# Offline (no registry, no network), from an install tree built here on a
# base made with mmdebstrap: scripts/docker-images.sh (docs/docker.md).
# BASE: the Debian 12 image both stages start from.
ARG BASE=debian:12-slim
# Where awf-entrypoint comes from: "source" compiles it in the build-source
# stage; "prebuilt" takes the install tree (cmake --install --component
# entrypoint) found at install/ in the build context. BuildKit builds only the
# stage chosen.
ARG AWF_BINARIES=source

FROM ${BASE} AS build-source
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN ./scripts/install-deps.sh
COPY . .
# RelWithDebInfo is the configuration the tests run (GCC 12 at -O3 reports a
# false -Wrestrict in the entrypoint); --strip drops the debug info again.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAWF_BUILD_TESTS=OFF -DAWF_BUILD_BENCH=OFF \
 && cmake --build /build -j"$(nproc)" --target awf-entrypoint \
 && cmake --install /build --strip --prefix /install --component entrypoint \
 && /install/bin/awf-entrypoint --help >/dev/null

FROM scratch AS build-prebuilt
COPY install/ /install/

FROM build-${AWF_BINARIES} AS build

FROM ${BASE}
# awf's agent tools, minus what our entrypoint replaces (capsh, gosu,
# iptables), and the libraries awf-entrypoint links beyond debian:12-slim's
# (tests/docker compares them with the real binary). On the offline base they
# are installed already: apt-get update fails quietly without a network and
# the install finds nothing to do.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates curl git dnsutils libcap2 libfmt9 libseccomp2 \
 && rm -rf /var/lib/apt/lists/*
# awfuser owns the default home and workspace; AWF_USER_UID/GID at run time
# pick the command's IDs (the entrypoint synthesizes an entry for unknown ones).
ARG AWF_UID=1000
ARG AWF_GID=1000
RUN groupadd -g "$AWF_GID" awfuser \
 && useradd -m -u "$AWF_UID" -g "$AWF_GID" -s /bin/bash awfuser \
 && install -d -o awfuser -g awfuser /workspace
COPY --from=build /install/ /usr/local/
RUN /usr/local/bin/awf-entrypoint --help >/dev/null
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
