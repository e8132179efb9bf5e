#!/usr/bin/env bash
# The README's main job: build awf and run it against a local origin, with no
# internet. Two web origins on 127.0.91.x and a DNS server (dnsmasq) that
# knows only their names stand in for the internet; awf allows one name and
# denies the other, then we show the access log and `awf logs summary`.
# Needs root (network namespaces, nftables inside them, ports 53/80 on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target awf awf-proxy awf-entrypoint

if [[ $(id -u) -ne 0 ]]; then
  echo "demo.sh: run as root (sudo $0): it binds ports 53 and 80 on 127.0.91.x and creates namespaces" >&2
  exit 1
fi

work=$(mktemp -d /tmp/awf-demo-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The "internet": two origins and a resolver that answers only for them and
# never forwards anywhere (no upstream servers, no /etc/hosts).
for site in allowed:10 denied:11; do
  name=${site%%:*}; ip=127.0.91.${site##*:}
  mkdir -p "$work/$name"
  echo "hello from $name.demo.test (a local origin on $ip)" > "$work/$name/index.html"
  python3 -m http.server 80 --bind "$ip" --directory "$work/$name" >/dev/null 2>&1 &
  pids+=($!)
done
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
  --listen-address=127.0.91.53 --bind-interfaces --port=53 --pid-file="$work/dnsmasq.pid" \
  --address=/allowed.demo.test/127.0.91.10 --address=/denied.demo.test/127.0.91.11 2>"$work/dnsmasq.log" &
pids+=($!)
sleep 0.5

logs="$work/logs"
set -x
# The origins are local: a proxy set in this shell (which awf would chain
# to, as --upstream-proxy) is left out.
env -u https_proxy -u HTTPS_PROXY -u http_proxy -u HTTP_PROXY \
build/bin/awf --allow-domains allowed.demo.test --dns-servers 127.0.91.53 \
  --allow-private-ranges 127.0.91.0/24 --proxy-logs-dir "$logs" -- bash -c '
    echo "--- through the proxy (HTTP_PROXY is set):"
    curl -s http://allowed.demo.test/
    curl -s -o /dev/null -w "denied.demo.test -> HTTP %{http_code}\n" http://denied.demo.test/
    echo "--- ignoring the proxy variables (transparent interception):"
    curl -s --noproxy "*" http://allowed.demo.test/
    curl -s --noproxy "*" --max-time 5 http://denied.demo.test/ || echo "denied.demo.test -> blocked"
    echo "--- DNS inside the sandbox:"
    echo "allowed.demo.test -> $(dig +short allowed.demo.test)"
    echo "denied.demo.test  -> $(dig denied.demo.test | grep -o "status: [A-Z]*")"
  ' || true
set +x
echo
echo "=== $logs/access.log"
cat "$logs/access.log"
echo
echo "=== awf logs summary"
build/bin/awf logs summary --source "$logs"
