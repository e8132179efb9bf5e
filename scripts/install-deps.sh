#!/usr/bin/env bash
# Installs from Debian 12 what a fresh machine lacks to build and test awf,
# then the pinned LLM SDKs of the end-to-end tests (npm, into .cache/).
# The one list of packages: README, CI and developers all run this script.
# Does nothing (no apt-get call) when every package is already installed.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config ninja-build clang libclang-rt-14-dev  # clang: libFuzzer targets
  # libraries
  libboost1.81-dev libssl-dev libre2-dev libyaml-cpp-dev
  libspdlog-dev libfmt-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcap-dev libseccomp-dev libnftables-dev libc-ares-dev libldns-dev
  liburing-dev  # bench/floor: awf-floor-uring, the floor on io_uring
  # programs the tests and benchmarks run for real
  nftables iproute2 curl openssl dnsutils nginx-light wrk dnsmasq-base
  # Squid built with OpenSSL: the same Squid 5.7 as Debian's squid (GnuTLS),
  # which cannot ssl-bump; bench/compare.py's bumped load needs this one. It
  # replaces squid, so apt removes a plain squid while installing it.
  squid-openssl
  python3 procps util-linux gawk git
  bubblewrap  # a real sandbox for awf-proxy --netns (tests/proxy/netns_listen_test.cc)
  firejail podman runc  # more real sandboxes for awf-proxy --netns (tests/proxy/sandbox_tools_test.cc); runc: crun refuses hybrid cgroups
  systemd  # systemd-socket-activate, the socket-activation recipe's test (tests/proxy/sandbox_tools_test.cc)
  nodejs  # the end-to-end tests run the official LLM SDKs (tests/e2e/llm-sdks)
  publicsuffix  # registrable domains for `awf logs suggest` (policy/public_suffix.h)
  python3-prometheus-client  # its text parser reads awf-proxy's /metrics back (tests/proxy/admin_test.cc)
  python3-matplotlib  # bench/soak.py plots the proxy's RSS and descriptors over the load (PNG)
  valgrind  # bench/icount.py: instructions per request under callgrind (bench.icount_smoke)
  # the images built and run on a real engine (tests/docker/engine_test.sh): a
  # private dockerd, Debian 12's compose (v1), the offline base made by mmdebstrap
  docker.io docker-compose mmdebstrap
)

# The official LLM SDKs the end-to-end tests run in the sandbox, pinned by
# tests/e2e/llm-sdks/package-lock.json, into .cache/llm-sdks (the tests look
# there, or in $AWF_LLM_SDK_DIR). Skipped when that lock is already installed.
install_llm_sdks() {
  local repo src dest
  repo="$(cd "$(dirname "$0")/.." && pwd)"
  src="$repo/tests/e2e/llm-sdks"
  dest="${AWF_LLM_SDK_DIR:-$repo/.cache/llm-sdks}"
  # Only the script was copied (the Docker images' build stage): no tests.
  [[ -f "$src/package-lock.json" ]] || return 0
  if cmp -s "$src/package-lock.json" "$dest/package-lock.json" && [[ -d "$dest/node_modules/openai" ]]; then
    echo "install-deps: LLM SDKs present in $dest"
    return 0
  fi
  # Debian's nodejs comes without npm (NodeSource's carries its own).
  if ! command -v npm >/dev/null; then
    local sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
  fi
  echo "install-deps: installing the LLM SDKs into $dest"
  mkdir -p "$dest"
  cp "$src/package.json" "$src/package-lock.json" "$dest/"
  (cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
}

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  install_llm_sdks
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts squid, nginx and docker as services on install; tests run
# their own instances (loopback ports, a private dockerd), so the packaged ones
# are stopped (a system dockerd would also rewrite the host's forwarding rules).
for svc in squid nginx docker.socket docker containerd; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    "${sudo_cmd[@]}" systemctl stop "$svc" || true
  fi
  if command -v service >/dev/null 2>&1; then "${sudo_cmd[@]}" service "$svc" stop >/dev/null 2>&1 || true; fi
done
install_llm_sdks
