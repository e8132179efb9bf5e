#!/usr/bin/env bash
# The images on a real Docker engine: a private dockerd is started, the Debian
# 12 base is made with mmdebstrap and imported, docker/proxy.Dockerfile and
# docker/agent.Dockerfile are built offline on it (scripts/docker-images.sh),
# and docker/compose.yaml's proxy and agent run with one allowed and one
# denied request; the agent must start only once the proxy's HEALTHCHECK
# passed.
#
#   tests/docker/engine_test.sh SOURCE_DIR BUILD_DIR
#
# Nothing reaches past this machine: dockerd runs in a network namespace of
# its own that has only loopback (no route out, nothing to pull from), every
# compose network is internal, and the destinations are an origin container
# on the proxy's side whose names come from the proxy's --hosts-file.
#
# Exit status: 0 passed, 1 failed, 77 skipped (ctest SKIP_RETURN_CODE).
# Skipped with the reason when the kernel refuses what the engine needs
# (namespaces, mounts, overlay/vfs, cgroups, bridges or veth pairs: see
# kernel_refusal below), also when CI=true. Any other reason the engine cannot
# run (dockerd, docker-compose or mmdebstrap missing, not root) skips here and
# fails when CI=true, where scripts/install-deps.sh has installed them.
set -uo pipefail

source_dir="$(cd "${1:?usage: engine_test.sh SOURCE_DIR BUILD_DIR}" && pwd)"
build_dir="$(cd "${2:?usage: engine_test.sh SOURCE_DIR BUILD_DIR}" && pwd)"
started=$SECONDS
# dockerd and unshare live in sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

say() { echo "engine_test: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
# A facility that is missing: skip here, fail under CI.
missing() {
  if [[ "${CI:-}" == "true" ]]; then fail "$* (CI=true: scripts/install-deps.sh installs it)"; fi
  say "SKIPPED: $*"
  exit 77
}
# What the kernel refuses to a container engine, in the engine's or runc's
# words: a namespace, mount or sysctl denied (operation not permitted,
# permission denied, read-only file system, as in an unprivileged container),
# a file system, device or module missing (overlay and vfs both unusable,
# no bridge or veth: not supported, no such device, unknown filesystem) and
# cgroups unusable. Always a skip, CI or not. Only the lines that report the
# failure count (dockerd's error and fatal lines, the CLI's error), not the
# warnings every start prints ("Your kernel does not support cgroup blkio").
kernel_refusal_pattern='operation not permitted|permission denied|read-only file system|not supported|no such device|unknown filesystem|cgroup'
failure_line_pattern='level=(error|fatal)|^failed to |Error response from daemon|^docker: |^unshare: '
kernel_refusal() {  # LOG_FILE WHAT
  local line
  line="$(grep -E "$failure_line_pattern" "$1" 2>/dev/null | grep -i -E -m1 "$kernel_refusal_pattern" || true)"
  [[ -n "$line" ]] || return 1
  say "SKIPPED: the kernel refuses $2: $line"
  exit 77
}

[[ $(id -u) -eq 0 ]] || missing "not root: a private dockerd needs root"
# Root of a user namespace other than the first: the kernel keeps from it
# what an engine needs (chown to unmapped groups, cgroups, devices).
uid_map="$(awk '{print $1 ":" $2 ":" $3}' /proc/self/uid_map 2>/dev/null)"
if [[ -n "$uid_map" && "$uid_map" != "0:0:4294967295" ]]; then
  say "SKIPPED: the kernel refuses an engine what it needs: this root is a user namespace's (uid_map $uid_map)"
  exit 77
fi
docker_cli=""
for candidate in "${AWF_DOCKER_CLI:-}" /usr/bin/docker; do
  # Debian's docker CLI matches its dockerd and has BuildKit built in (a
  # newer CLI without the buildx plugin cannot use BuildKit).
  [[ -n "$candidate" && -x "$candidate" ]] && { docker_cli="$candidate"; break; }
done
[[ -n "$docker_cli" ]] || missing "no docker CLI (/usr/bin/docker, package docker.io)"
for program in dockerd docker-compose mmdebstrap unshare python3; do
  command -v "$program" >/dev/null || missing "$program is not installed"
done
python3 -c 'import yaml' 2>/dev/null || missing "python3-yaml is not installed"
for program in awf-proxy awf-entrypoint; do
  [[ -x "$build_dir/bin/$program" ]] || fail "$build_dir/bin/$program is not built"
done
if grep -q -i -E '^AWF_SANITIZE(:[A-Z]+)?=(ON|TRUE|YES|1)$' "$build_dir/CMakeCache.txt" 2>/dev/null; then
  say "SKIPPED: a sanitizer build's programs need libasan, which the images do not have"
  exit 77
fi

work="$(mktemp -d /tmp/awf-docker-engine.XXXXXX)"
sock="$work/run/docker.sock"
export DOCKER_HOST="unix://$sock"
export DOCKER="$docker_cli"
compose=(docker-compose -p awf -f "$source_dir/docker/compose.yaml" -f "$work/override.yaml")
mkdir -p "$work/run" "$work/www"
unshare_pid=""
# The containers' cgroups go under a parent of this run's own, removed at the
# end (empty by then).
cgroup_parent="awf-engine-test-$(basename "$work")"

dockerd_pid() { cat "$work/run/docker.pid" 2>/dev/null; }
cleanup() {
  local rc=$?
  if [[ -S "$sock" ]]; then
    timeout 60 "${compose[@]}" down -v --timeout 5 >"$work/down.log" 2>&1 || true
  fi
  local pid
  pid="$(dockerd_pid)"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  # The unshare process waits for dockerd; once it is gone, the private mount
  # namespace (and the engine's overlay mounts in it) is gone too.
  if [[ -n "$unshare_pid" ]]; then
    for _ in $(seq 1 50); do kill -0 "$unshare_pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$unshare_pid" 2>/dev/null && kill -KILL "$unshare_pid"
  fi
  if [[ $rc -ne 0 && $rc -ne 77 ]]; then
    say "dockerd log (last lines):"; tail -n 30 "$work/dockerd.log" >&2 2>/dev/null
  fi
  local dir
  for dir in /sys/fs/cgroup/*/"$cgroup_parent" /sys/fs/cgroup/"$cgroup_parent"; do
    # Children first (BuildKit's steps go under <parent>/buildkit).
    [[ -d "$dir" ]] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  # Never delete through a mount: if one is still visible below $work, keep it.
  if grep -q " $work/" /proc/self/mountinfo; then
    say "left $work in place: something is still mounted below it"
  else
    rm -rf "$work"
  fi
  say "took $((SECONDS - started)) s"
  exit $rc
}
trap cleanup EXIT

# ---- the engine: dockerd in its own network and mount namespaces ----
# Private data, exec and socket paths and containerd namespace, so it never
# meets a system daemon or another run. --iptables=false/--ip-forward=false:
# the namespace has no way out to filter or forward to; its bridges only join
# containers. The storage driver is dockerd's choice (overlay2 where the
# kernel offers it, else vfs).
unshare --net --mount --propagation private --fork -- sh -c '
  ip link set lo up 2>/dev/null || true
  exec dockerd --data-root "$1/data" --exec-root "$1/exec" -H "unix://$1/run/docker.sock" \
    --pidfile "$1/run/docker.pid" --iptables=false --ip-forward=false --ip-masq=false \
    --containerd-namespace awf-engine-test --containerd-plugins-namespace awf-engine-test-plugins \
    --cgroup-parent "/$2"' \
  sh "$work" "$cgroup_parent" >"$work/dockerd.log" 2>&1 &
unshare_pid=$!
ready=0
for _ in $(seq 1 300); do
  if "$docker_cli" version >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$unshare_pid" 2>/dev/null || break
  sleep 0.2
done
if [[ $ready -ne 1 ]]; then
  kernel_refusal "$work/dockerd.log" "the engine's daemon"
  fail "dockerd did not start within 60 s and named no kernel refusal; its log: $(tail -n 20 "$work/dockerd.log")"
fi
driver="$("$docker_cli" info --format '{{.Driver}}' 2>/dev/null)"
say "dockerd $("$docker_cli" version --format '{{.Server.Version}}') up after $((SECONDS - started)) s, storage driver $driver"

# ---- the base, then a first container, then the images, offline ----
t0=$SECONDS
if ! base="$("$source_dir/scripts/docker-images.sh" --base-only 2>"$work/base.log" | tail -n 1)"; then
  tail -n 40 "$work/base.log" >&2
  fail "the base image could not be made or imported"
fi
grep -E '^docker-(base|images):' "$work/base.log" >&2
say "base $base ready after $((SECONDS - t0)) s"
# A first container shows whether the kernel lets runc start one at all
# (before the builds, whose RUN steps need the same).
if ! "$docker_cli" run --rm --network none "$base" true >"$work/smoke.log" 2>&1; then
  kernel_refusal "$work/smoke.log" "a container"
  fail "a plain container does not start: $(cat "$work/smoke.log")"
fi
t0=$SECONDS
if ! "$source_dir/scripts/docker-images.sh" "$build_dir" >/dev/null 2>"$work/images.log"; then
  tail -n 40 "$work/images.log" >&2
  fail "scripts/docker-images.sh failed"
fi
grep -E '^docker-(base|images):' "$work/images.log" >&2
say "images built in $((SECONDS - t0)) s"

# ---- compose: the file's proxy and agent, plus an origin ----
token="awf-engine-test-$RANDOM$RANDOM"
echo "$token" >"$work/www/token.txt"
chmod -R a+rX "$work/www"
# The proxy's hosts file: both names lead to the origin; the policy alone
# tells them apart.
printf '172.30.1.30 allowed.test denied.test\n' >"$work/hosts"
chmod a+r "$work/hosts"
# The override: the compose file's proxy command plus the hosts file and the
# origin's range let past the SSRF guard; awf-ext made internal (no route
# out, as every network here) with the origin on it.
python3 - "$source_dir/docker/compose.yaml" "$work" "$base" >"$work/override.yaml" <<'EOF' || fail "cannot write the compose override"
import sys, yaml
compose_file, work, base = sys.argv[1:4]
proxy = yaml.safe_load(open(compose_file))["services"]["squid-proxy"]
command = list(proxy["command"]) + ["--hosts-file", "/etc/awf/test-hosts",
                                    "--allow-private-ranges", "172.30.1.0/24"]
override = {
    "services": {
        "squid-proxy": {
            "command": command,
            "volumes": [f"{work}/hosts:/etc/awf/test-hosts:ro"],
            "depends_on": {"origin": {"condition": "service_started"}},
        },
        "origin": {
            "image": base,
            "container_name": "awf-test-origin",
            # -vv: a line per request (url:...) and per response.
            "command": ["busybox", "httpd", "-f", "-vv", "-p", "80", "-h", "/srv/www"],
            # httpd as PID 1 ignores SIGTERM; a test origin has nothing to flush.
            "stop_signal": "SIGKILL",
            "volumes": [f"{work}/www:/srv/www:ro"],
            "networks": {"awf-ext": {"ipv4_address": "172.30.1.30"}},
        },
    },
    "networks": {"awf-ext": {"internal": True, "ipam": {"config": [{"subnet": "172.30.1.0/24"}]}}},
}
yaml.safe_dump(override, sys.stdout, default_flow_style=False)
EOF

export AWF_ALLOW_DOMAINS=allowed.test AWF_BLOCK_DOMAINS="" AWF_DNS_SERVERS=127.0.0.1
# The agent: the allowed request (the origin's file), the denied one over
# plain HTTP and over CONNECT, and one that skips the proxy (no route).
export AWF_COMMAND='curl -sS --max-time 10 http://allowed.test/token.txt; echo "allowed-exit:$?";
curl -sS --max-time 10 -o /dev/null -w "denied-status:%{http_code}\n" http://denied.test/token.txt;
curl -sS --max-time 10 -o /dev/null https://denied.test/; echo "denied-connect-exit:$?";
curl -sS --max-time 3 --noproxy "*" -o /dev/null http://172.30.1.30/token.txt; echo "direct-exit:$?"'
"${compose[@]}" config >"$work/config.log" 2>&1 || fail "docker-compose rejects the files: $(cat "$work/config.log")"
t0=$SECONDS
# up -d returns once the agent is started, which compose does only after the
# proxy's health check passed (depends_on: service_healthy).
if ! timeout 120 "${compose[@]}" up -d --no-build >"$work/up.log" 2>&1; then
  cat "$work/up.log" >&2
  "$docker_cli" logs awf-squid >&2 2>&1 || true
  fail "docker-compose up failed"
fi
agent_exit="$(timeout 60 "$docker_cli" wait awf-agent)" || fail "the agent did not finish within 60 s"
say "compose up to agent exit: $((SECONDS - t0)) s (agent exit $agent_exit)"

agent_log="$("$docker_cli" logs awf-agent 2>&1)"
origin_log="$("$docker_cli" logs awf-test-origin 2>&1)"
access_log="$("$docker_cli" exec awf-squid cat /var/log/squid/access.log 2>&1)"
echo "--- agent output:" >&2; echo "$agent_log" >&2
echo "--- proxy access.log:" >&2; echo "$access_log" >&2
echo "--- origin log:" >&2; echo "$origin_log" >&2

failures=0
check() {  # DESCRIPTION COMMAND...
  if "${@:2}"; then say "ok: $1"; else say "NOT OK: $1"; failures=$((failures + 1)); fi
}
has() { grep -q -E -- "$2" <<<"$1"; }
count() { grep -c -E -- "$2" <<<"$1" || true; }
check "the agent exited 0" test "$agent_exit" = 0
check "the allowed request got the origin's file through the proxy" has "$agent_log" "^$token\$"
check "the allowed request's curl succeeded" has "$agent_log" '^allowed-exit:0$'
check "the denied request got 403" has "$agent_log" '^denied-status:403$'
check "the denied CONNECT failed" has "$agent_log" '^denied-connect-exit:[1-9]'
check "the agent has no route past the proxy" has "$agent_log" '^direct-exit:[1-9]'
check "the access log has the allowed request" has "$access_log" 'allowed\.test.* 200 |allowed\.test.*TCP_[A-Z_]*/200| 200 .*allowed\.test'
check "the access log has the denied request" has "$access_log" 'TCP_DENIED.*denied\.test|denied\.test.*TCP_DENIED'
check "the access log has the denied CONNECT" has "$access_log" 'CONNECT.*denied\.test'
check "the origin saw exactly one request (the allowed one)" test "$(count "$origin_log" 'url:')" = 1
check "the origin served the allowed request" has "$origin_log" 'url:/token\.txt'

# The health check gated the agent: compose created the agent only once the
# proxy was healthy, so the first passing probe ended before the agent started.
"$docker_cli" inspect awf-squid --format '{{json .State.Health}}' >"$work/health.json"
"$docker_cli" inspect awf-agent --format '{{.State.StartedAt}}' >"$work/agent-start"
gating="$(python3 - "$work/health.json" "$work/agent-start" <<'EOF'
import json, re, sys
from datetime import datetime, timezone
def parse(ts):
    # RFC 3339 with nanoseconds; keep microseconds for datetime.
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", ts.strip())
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(f"{m.group(1)}.{frac}{tz}").astimezone(timezone.utc)
health = json.load(open(sys.argv[1]))
agent_start = parse(open(sys.argv[2]).read())
passed = [parse(e["End"]) for e in health.get("Log", []) if e.get("ExitCode") == 0]
if health.get("Status") != "healthy" or not passed:
    print(f"proxy not healthy: {health.get('Status')}")
elif min(passed) > agent_start:
    print(f"agent started at {agent_start} before the first passing probe at {min(passed)}")
else:
    print(f"ok: first passing probe {min(passed)}, agent start {agent_start}")
EOF
)"
say "health gating: $gating"
check "the agent started only after the proxy's health check passed" has "$gating" '^ok:'

# And the gate holds: the same services again, the proxy's probe pointed at a
# port nothing listens on (quicker timings than the image's, so it is
# unhealthy in seconds): compose refuses to start the agent.
timeout 60 "${compose[@]}" down -v --timeout 5 >"$work/down1.log" 2>&1 || fail "docker-compose down failed: $(cat "$work/down1.log")"
cat >"$work/unhealthy.yaml" <<'EOF2'
services:
  squid-proxy:
    healthcheck:
      test: ["CMD", "/usr/local/bin/awf-proxy", "--health-check", "127.0.0.1:9"]
      interval: 1s
      timeout: 1s
      retries: 2
      start_period: 0s
EOF2
t0=$SECONDS
unhealthy_rc=0
timeout 60 "${compose[@]}" -f "$work/unhealthy.yaml" up -d --no-build >"$work/up2.log" 2>&1 || unhealthy_rc=$?
# Not created at all (compose 1.29), or created and never started.
agent_state="$("$docker_cli" ps -a --filter name='^awf-agent$' --format '{{.Status}}' 2>&1)"
proxy_health="$("$docker_cli" inspect awf-squid --format '{{.State.Health.Status}}' 2>&1)"
say "unhealthy proxy: compose exit $unhealthy_rc after $((SECONDS - t0)) s ($(grep -i -m1 unhealthy "$work/up2.log")), proxy $proxy_health, agent container: ${agent_state:-none}"
check "compose fails when the proxy is unhealthy" test "$unhealthy_rc" -ne 0 -a "$unhealthy_rc" -ne 124
check "the proxy was reported unhealthy" test "$proxy_health" = unhealthy
check "the agent never started" has "${agent_state:-none}" '^(none|Created)$'

[[ $failures -eq 0 ]] || fail "$failures check(s) failed"
say "passed"
