#!/usr/bin/env bash
# Installs from Debian 12 what a fresh machine lacks to build and test awf.
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
  # programs the tests and benchmarks run for real
  nftables iproute2 curl openssl dnsutils squid nginx-light wrk dnsmasq-base
  python3 procps util-linux gawk git
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts squid and nginx as services on install; tests run their own
# instances on loopback ports, so the packaged ones are stopped.
for svc in squid nginx; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    "${sudo_cmd[@]}" systemctl stop "$svc" || true
  fi
  if command -v service >/dev/null 2>&1; then "${sudo_cmd[@]}" service "$svc" stop >/dev/null 2>&1 || true; fi
done
