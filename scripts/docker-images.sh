#!/usr/bin/env bash
# Builds the awf-proxy:latest and awf-agent:latest images (the names
# docker/compose.yaml runs) with no registry and no network: the Debian 12
# base comes from scripts/docker-base.sh (mmdebstrap from this machine's apt
# mirror, `docker import`ed as awf-debian12:<content hash>), and the programs
# come from a build tree of this checkout (`cmake --install` of the proxy and
# entrypoint components), copied in through the Dockerfiles' "prebuilt" stage.
#
#   scripts/docker-images.sh [BUILD_DIR]        (default: build)
#   scripts/docker-images.sh --base-only        only make and import the base
#
# BUILD_DIR must hold a built awf-proxy and awf-entrypoint (Release or
# RelWithDebInfo, no sanitizers). Talks to the engine named by DOCKER_HOST
# (or the default socket) with the CLI in $DOCKER (default: /usr/bin/docker,
# else docker on PATH). The engine's builder must be BuildKit
# (DOCKER_BUILDKIT=1 is set): the classic builder would also run the source
# stage, which needs a network.
# Prints the base image's tag last.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
base_only=0
if [[ "${1:-}" == "--base-only" ]]; then base_only=1; shift; fi
build="$(cd "${1:-$repo/build}" && pwd)"
# /usr/bin/docker first: Debian's CLI has BuildKit built in, where a newer CLI
# earlier on PATH may need the buildx plugin for it.
docker="${DOCKER:-$(if [[ -x /usr/bin/docker ]]; then echo /usr/bin/docker; else echo docker; fi)}"
export DOCKER_BUILDKIT=1

die() { echo "docker-images: $*" >&2; exit 1; }
if [[ $base_only -eq 0 ]]; then
  for program in awf-proxy awf-entrypoint; do
    [[ -x "$build/bin/$program" ]] || die "$build/bin/$program is not built (cmake --build $build --target $program)"
  done
  grep -q -i -E '^AWF_SANITIZE(:[A-Z]+)?=(ON|TRUE|YES|1)$' "$build/CMakeCache.txt" 2>/dev/null \
    && die "$build is a sanitizer build: its programs need libasan, which the images do not have"
fi

# busybox: its httpd applet is the origin server of tests/docker/engine_test.sh.
tarball="$("$repo/scripts/docker-base.sh" busybox)"
key="$(basename "$tarball" .tar)"
base="awf-debian12:${key#debian12-}"
if ! "$docker" image inspect "$base" >/dev/null 2>&1; then
  echo "docker-images: importing $tarball as $base" >&2
  "$docker" import --change 'CMD ["/bin/bash"]' "$tarball" "$base" >/dev/null
fi
if [[ $base_only -eq 1 ]]; then echo "$base"; exit 0; fi

work="$(mktemp -d /tmp/awf-docker-images.XXXXXX)"
trap 'rm -rf "$work"' EXIT
build_image() {  # IMAGE DOCKERFILE COMPONENT [EXTRA_CONTEXT_FILE...]
  local image="$1" dockerfile="$2" component="$3" ctx="$work/$1"
  shift 3
  mkdir -p "$ctx"
  cmake --install "$build" --strip --prefix "$ctx/install" --component "$component" >/dev/null
  for f in "$@"; do install -D -m 0644 "$repo/$f" "$ctx/$f"; done
  echo "docker-images: building $image:latest from $dockerfile on $base" >&2
  # --network=none: nothing in the build may reach out; the base has what
  # the apt-get lines ask for.
  "$docker" build --network=none --progress=plain \
    --build-arg "BASE=$base" --build-arg AWF_BINARIES=prebuilt \
    -f "$repo/$dockerfile" -t "$image:latest" "$ctx" >&2
}
build_image awf-proxy docker/proxy.Dockerfile proxy
build_image awf-agent docker/agent.Dockerfile entrypoint docker/docker-stub.sh
echo "$base"
