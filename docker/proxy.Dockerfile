# awf-proxy as a container: the egress sidecar of a sandbox (compose, pods).
# Built with the project's own install script and CMake on Debian 12; the
# runtime stage holds only awf-proxy, its shared libraries and an example config.
#   docker build -f docker/proxy.Dockerfile -t awf-proxy .
FROM debian:12-slim AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN ./scripts/install-deps.sh
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DAWF_BUILD_TESTS=OFF -DAWF_BUILD_BENCH=OFF \
 && cmake --build /build -j"$(nproc)" --target awf-proxy \
 && cmake --install /build --prefix /install --component proxy

FROM debian:12-slim
# Runtime libraries of awf-proxy only (no compilers, no -dev packages).
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends libssl3 libre2-9 libyaml-cpp0.7 libspdlog1.10 \
      libfmt9 libc-ares2 libldns3 libboost-url1.81.0 \
 && rm -rf /var/lib/apt/lists/*
# UID/GID 13 `proxy`, as in awf's Squid image, so existing log ownership stays compatible.
RUN (getent group proxy || groupadd -g 13 proxy) && (getent passwd proxy || useradd -u 13 -g 13 -r proxy) \
 && mkdir -p /var/log/squid && chown proxy:proxy /var/log/squid
COPY --from=build /install/ /usr/local/
USER proxy
EXPOSE 3128
VOLUME /var/log/squid
# awf's paths: /var/log/squid/access.log and /var/log/squid/audit.jsonl.
# The policy comes from a mounted YAML (--config) or from flags appended to CMD.
ENTRYPOINT ["/usr/local/bin/awf-proxy", "--listen", "0.0.0.0:3128", "--listen", "[::]:3128", "--log-dir", "/var/log/squid"]
CMD ["--config", "/etc/awf/proxy.yaml"]
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=10 \
  CMD ["/usr/local/bin/awf-proxy", "--health-check", "127.0.0.1:3128"]
