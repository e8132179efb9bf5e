#!/usr/bin/env bash
# Builds the Debian 12 base image of the offline image builds with mmdebstrap,
# from the Debian repositories apt is configured with on this machine (so it
# works wherever `apt-get install` works, with no registry), and prints the
# path of the root filesystem tarball. The base holds every package that the
# final stages of docker/proxy.Dockerfile and docker/agent.Dockerfile
# apt-get install (read from those files), plus the packages given as
# arguments, so those apt-get lines find everything installed and need no
# network.
#
#   scripts/docker-base.sh [EXTRA_PACKAGE...]      -> prints the .tar path
#   docker import "$(scripts/docker-base.sh)" awf-debian12:local
#
# The tarball is cached by content under $AWF_DOCKER_CACHE (default
# ~/.cache/awf/docker): its name is a hash of the package list and the
# repositories, so a changed list builds a new one and an unchanged one is
# reused. The mirror's newer package versions (security updates) are not part
# of the key: the images only need the libraries' ABI, which a stable release
# keeps; AWF_DOCKER_BASE_REFRESH=1 makes it anew from the mirror as it is now.
# Only the newest is kept. scripts/docker-images.sh imports it as
# awf-debian12:<that hash>.
# Needs root (mmdebstrap's root mode) and the mmdebstrap package.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${AWF_DOCKER_CACHE:-${HOME:-/root}/.cache/awf/docker}"
# Bump when the way the tarball is made changes, so old caches are not reused.
format=2

die() { echo "docker-base: $*" >&2; exit 1; }
command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (apt-get install mmdebstrap)"
command -v apt-get >/dev/null || die "apt-get is missing: the base is built from this machine's apt sources"

# The packages each Dockerfile's final stage installs: the words after
# `apt-get install` up to the end of that command, options dropped.
dockerfile_packages() {
  # Join continuation lines, keep the last stage (after the last FROM).
  sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$1" \
    | awk '/^FROM /{stage=""} {stage=stage"\n"$0} END{print stage}' \
    | awk '{
        for (i = 1; i < NF; i++) if ($i == "apt-get" && $(i+1) == "install") {
          for (j = i + 2; j <= NF && $j != "&&" && $j != ";"; j++) if ($j !~ /^-/) print $j
        }
      }'
}

packages=()
for df in "$repo/docker/proxy.Dockerfile" "$repo/docker/agent.Dockerfile"; do
  [[ -f "$df" ]] || die "$df is missing"
  mapfile -t found < <(dockerfile_packages "$df")
  [[ ${#found[@]} -gt 0 ]] || die "no apt-get install found in the final stage of $df"
  packages+=("${found[@]}")
done
packages+=("$@")
for p in "${packages[@]}"; do
  [[ "$p" =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || die "\"$p\" is not a Debian package name"
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)

# Debian's repositories as apt sees them (deb822 or one-line sources alike):
# URI, suite and component of every Debian package index of this machine.
debian_sources() {
  apt-get indextargets --format '$(ORIGIN)|$(REPO_URI)|$(RELEASE)|$(COMPONENT)|$(TARGET_OF)' 'Identifier: Packages' 2>/dev/null \
    | awk -F'|' '$1 == "Debian" && $5 == "deb" && $3 ~ /^bookworm(-updates|-security)?$/ {print "deb " $2 " " $3 " " $4}' \
    | sort -u
}
mapfile -t sources < <(debian_sources)
# The origin comes from the downloaded Release files: none yet, fetch them.
if [[ ${#sources[@]} -eq 0 ]]; then
  apt-get update -qq >&2 || true
  mapfile -t sources < <(debian_sources)
fi
[[ ${#sources[@]} -gt 0 ]] || die "apt knows no Debian 12 (bookworm) repository; run apt-get update, or check /etc/apt/sources.list*"
key="$( { echo "format $format"; printf '%s\n' "${packages[@]}"; printf '%s\n' "${sources[@]}"; } \
        | sha256sum | cut -c1-16)"
tarball="$cache/debian12-$key.tar"
if [[ -s "$tarball" && "${AWF_DOCKER_BASE_REFRESH:-}" != 1 ]]; then
  echo "docker-base: reusing $tarball" >&2
  echo "$tarball"
  exit 0
fi

mkdir -p "$cache"
tmp="$(mktemp "$cache/.debian12-$key.XXXXXX.tar")"
trap 'rm -f "$tmp"' EXIT
echo "docker-base: building $tarball (minbase + ${packages[*]})" >&2
# Check-Valid-Until/Check-Date as this machine's apt has them: a snapshot
# mirror serves Release files past their Valid-Until date.
aptopts=()
for opt in Acquire::Check-Valid-Until Acquire::Check-Date; do
  value="$(apt-config dump "$opt" 2>/dev/null | awk -v o="$opt" '$1 == o {gsub(/[";]/, "", $2); print $2}')"
  [[ -n "$value" ]] && aptopts+=("--aptopt=$opt \"$value\"")
done
# The sources go in as one-line entries; mmdebstrap writes them to the
# image's /etc/apt/sources.list too, so the base can install more when it has
# a network. Documentation and translations are left out, as in debian:12-slim.
# The image's apt does not retry a failed download: offline, the Dockerfiles'
# `apt-get update` then gives up at once instead of after 7 s of back-off.
mmdebstrap --mode=root --variant=minbase --format=tar --quiet \
  "${aptopts[@]}" \
  --customize-hook='echo "Acquire::Retries \"0\";" > "$1/etc/apt/apt.conf.d/80awf-no-retries"' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --include="$(IFS=,; echo "${packages[*]}")" \
  bookworm "$tmp" "$(printf '%s\n' "${sources[@]}")" >&2
chmod 0644 "$tmp"
mv "$tmp" "$tarball"
trap - EXIT
# One base at a time: older ones (another package list or snapshot) go.
find "$cache" -maxdepth 1 -name 'debian12-*.tar' ! -path "$tarball" -delete
echo "$tarball"
