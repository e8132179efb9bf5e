# The agent image: Ubuntu 22.04 like awf's, with awf-entrypoint as ENTRYPOINT
# (no capsh, no gosu: the entrypoint drops capabilities and switches user itself).
#   docker build -f docker/agent.Dockerfile -t awf-agent .
FROM debian:12-slim AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN ./scripts/install-deps.sh
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DAWF_BUILD_TESTS=OFF -DAWF_BUILD_BENCH=OFF \
      -DCMAKE_EXE_LINKER_FLAGS="-static-libstdc++ -static-libgcc" \
 && cmake --build /build -j"$(nproc)" --target awf-entrypoint \
 && cmake --install /build --prefix /install --component entrypoint

FROM ubuntu:22.04
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates curl git dnsutils libcap2 libseccomp2 \
 && rm -rf /var/lib/apt/lists/*
RUN useradd -m -s /bin/bash awfuser
COPY --from=build /install/ /usr/local/
# awf ships a docker stub so agents get a clear message instead of a socket.
COPY docker/docker-stub.sh /usr/bin/docker
RUN chmod 0755 /usr/bin/docker
ENTRYPOINT ["/usr/local/bin/awf-entrypoint"]
CMD ["/bin/bash"]
