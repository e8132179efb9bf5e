# awf-proxy as a container: the egress sidecar of a sandbox (compose, pods).
# Built with the project's own install script and CMake on Debian 12; the
# runtime stage holds only awf-proxy, the shared libraries it links, its man
# page and an example config. Checked without an engine by tests/docker, and
# built and run on a real engine by tests/docker/engine_test.sh.
#   docker build -f docker/proxy.Dockerfile -t awf-proxy .
# Offline (no registry, no network), from an install tree built here on a
# base made with mmdebstrap: scripts/docker-images.sh (docs/docker.md).
# BASE: the Debian 12 image both stages start from.
ARG BASE=debian:12-slim
# Where awf-proxy comes from: "source" compiles it in the build-source stage;
# "prebuilt" takes the install tree (cmake --install --component proxy) found
# at install/ in the build context. BuildKit builds only the stage chosen.
ARG AWF_BINARIES=source

FROM ${BASE} AS build-source
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN ./scripts/install-deps.sh
COPY . .
# RelWithDebInfo is the configuration the tests run; --strip drops the
# debug info from the installed binary.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAWF_BUILD_TESTS=OFF -DAWF_BUILD_BENCH=OFF \
 && cmake --build /build -j"$(nproc)" --target awf-proxy \
 && cmake --install /build --strip --prefix /install --component proxy \
 && /install/bin/awf-proxy --version

FROM scratch AS build-prebuilt
COPY install/ /install/

FROM build-${AWF_BINARIES} AS build

FROM ${BASE}
# The Debian packages owning what `ldd awf-proxy` lists, minus those already
# in debian:12-slim (libc6, libgcc-s1, libstdc++6). tests/docker compares this
# list with the real binary (ProxyRuntimePackagesMatchWhatAwfProxyLinks).
# On the offline base they are installed already: apt-get update fails
# quietly without a network and the install finds nothing to do.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libc-ares2 libfmt9 libldns3 libre2-9 libspdlog1.10 libssl3 libyaml-cpp0.7 \
 && rm -rf /var/lib/apt/lists/*
# UID/GID 13 `proxy`, as in awf's Squid image, so log directories written by
# awf's Squid stay writable. debian:12-slim already has it (base-passwd).
RUN (getent group proxy || groupadd -g 13 proxy) && (getent passwd proxy || useradd -u 13 -g 13 -r proxy) \
 && test "$(id -u proxy):$(id -g proxy)" = "13:13" \
 && install -d -o proxy -g proxy -m 0755 /var/log/squid
COPY --from=build /install/ /usr/local/
COPY --from=build /install/share/awf/proxy.example.yaml /etc/awf/proxy.yaml
RUN /usr/local/bin/awf-proxy --version
USER proxy:proxy
EXPOSE 3128
VOLUME /var/log/squid
# Listening address and awf's log paths (/var/log/squid/access.log and
# audit.jsonl) are fixed here; the policy comes from the mounted YAML named by
# CMD (default: the example above) or from flags given in place of CMD.
ENTRYPOINT ["/usr/local/bin/awf-proxy", "--listen", "0.0.0.0:3128", "--listen", "[::]:3128", "--log-dir", "/var/log/squid"]
CMD ["--config", "/etc/awf/proxy.yaml"]
# awf's Squid image probes with `nc -z`; the proxy checks itself, so the image
# needs no extra tool. The timings are awf's (2 s, 10 retries, 5 s start).
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=10 \
  CMD ["/usr/local/bin/awf-proxy", "--health-check", "127.0.0.1:3128"]
