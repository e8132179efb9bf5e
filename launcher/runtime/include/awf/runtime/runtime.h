// The native runtime's public face: what the awf launcher fills in from its
// parsed options, and the one call that runs the command in the sandbox.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "awf/result.h"

namespace awf::runtime {

// One plain-HTTP listener of the API proxy (LLM credential isolation): the
// provider as awf-proxy's --api-listen names it ("openai", "anthropic",
// "copilot", "gemini", "vertex") and its port.
struct ApiListener {
  std::string provider;
  std::uint16_t port = 0;
};

// Ports the proxy listens on inside the agent's network namespace (on
// 127.0.0.1 and ::1). The namespace is private, so fixed numbers are fine;
// forward is awf's Squid port, so HTTP_PROXY looks the same as with awf.
struct ListenerPorts {
  std::uint16_t forward = 3128;
  std::uint16_t http_intercept = 3129;
  std::uint16_t tls_intercept = 3130;
  std::uint16_t dns = 53;
  // The API proxy's listeners, on 127.0.0.1 only: the agent's base URLs
  // name that address. Empty: no API proxy in this run.
  std::vector<ApiListener> api;
};

// Whether the agent gets a user namespace of its own.
enum class UserNamespaceMode {
  automatic,  // only when awf is not root (rootless)
  always,
  never,
};

struct RuntimeConfig {
  // --- programs (default: next to the running awf binary) ---
  std::string proxy_path;                   // awf-proxy
  std::string entrypoint_path;              // awf-entrypoint
  std::vector<std::string> entrypoint_args;  // flags placed before "--" (e.g. --mount, --quiet)

  // --- policy, passed through to awf-proxy unchanged (validated by the CLI) ---
  std::vector<std::string> allow_domains;  // each one --allow-domains value (comma list)
  std::vector<std::string> block_domains;
  std::string allow_host_ports;            // "3000,8080-8090"; also redirected by nft
  bool enable_host_access = false;
  std::vector<std::string> dns_servers;    // upstream resolvers of the proxy
  std::string hosts_file;
  std::string allow_private_ranges;        // CIDR list
  std::string dns_policy;                  // "allowlist" | "open"; empty: proxy default
  bool tunnel_sni_check = true;            // false: awf-proxy --tunnel-sni-check off
  bool report_only = false;                // awf-proxy --policy-mode report
  std::string allowed_methods;             // awf-proxy --allowed-methods list; empty: any
  bool enable_dlp = false;                 // awf-proxy --enable-dlp
  // --ssl-bump: the run makes its CA (session_ca.h) and awf-proxy bumps TLS
  // to allowed names; --allow-urls (a comma list, validated by the CLI)
  // then decides each request. The three paths are filled by the runtime.
  bool ssl_bump = false;
  std::string allow_urls;
  std::string ssl_bump_cert;    // the CA certificate, in the work directory
  std::string ssl_bump_key;     // its key, 0600, in the work directory
  std::string ssl_bump_bundle;  // the command's trust bundle, as the command sees it
  std::string upstream_proxy;              // awf-proxy --upstream-proxy URL; empty: direct
  std::string upstream_bypass;             // awf-proxy --upstream-bypass list
  std::string log_level = "info";          // debug also forwards the proxy's stderr
  std::vector<std::string> extra_proxy_args;
  // KEY=VALUE set in awf-proxy's environment over awf's own, which it
  // otherwise inherits whole (the API proxy's keys are read from there).
  std::vector<std::string> proxy_env;
  // Names removed from awf-proxy's environment (after the inherited copy,
  // before proxy_env): what it must not hold, such as the Actions runtime's
  // OIDC token request outside OIDC mode.
  std::vector<std::string> proxy_env_unset;
  std::string api_ca_cert;  // awf-proxy --api-ca-cert (with ports.api only)

  // --- the command ---
  std::vector<std::string> command;    // argv after "--" (one element = shell string)
  // KEY=VALUE: the agent's environment as built by the CLI. The runtime adds
  // only what is missing: HTTP_PROXY, HTTPS_PROXY, http_proxy, https_proxy
  // (the forward listener), NO_PROXY/no_proxy, AWF_USER_UID/GID (from uid/gid
  // below; rootless always the caller's own IDs), AWF_WORKDIR, and
  // AWF_DNS_SERVERS=127.0.0.1 (the DNS listener).
  std::vector<std::string> agent_env;
  uid_t uid = 1000;  // host user the command runs as (AWF_USER_UID)
  gid_t gid = 1000;
  std::string workdir;  // AWF_WORKDIR; empty: unset

  // --- lifecycle ---
  std::optional<std::chrono::milliseconds> agent_timeout;  // --agent-timeout -> 124
  std::chrono::milliseconds proxy_ready_timeout{10'000};   // wait for "awf-proxy: ready"
  std::chrono::milliseconds stop_grace{3'000};             // SIGTERM -> SIGKILL for the agent
  std::chrono::milliseconds proxy_stop_grace{3'000};       // SIGTERM -> SIGKILL for the proxy
  std::string tmp_dir;         // empty: $TMPDIR, else /tmp
  std::string work_dir;        // --work-dir; empty: <tmp>/awf-<ms>
  bool keep_work_dir = false;  // --keep-containers
  std::string proxy_logs_dir;  // --proxy-logs-dir; empty: preserved to <tmp>/squid-logs-<ts>
  // A file name: while awf-proxy serves (from ready until stopped) the log
  // directory holds this file with the proxy's pid, which is how `awf logs`
  // tells a live run's logs from a finished one's. Empty: none is written.
  std::string proxy_pid_file;
  // The command's /tmp: a private directory inside the work directory (no
  // host Unix socket under the host's /tmp is reachable), with `tmp_binds`
  // (host paths under /tmp, e.g. /tmp/gh-aw) bound in at the same place.
  // --share-host-tmp: the host's /tmp itself, as awf does.
  bool share_host_tmp = false;
  std::vector<std::string> tmp_binds;

  // Called once the command has ended and the proxy has stopped (its logs
  // complete), before the logs are moved and before the exit line: the place
  // for awf's "Firewall blocked domains" report. Arguments: the exit code
  // awf will return, the directory holding access.log and audit.jsonl.
  std::function<void(int exit_code, const std::string& log_dir)> on_finished;
  // Called when the proxy is about to start writing `log_dir`, and when its
  // logs have been moved to their preserved place (awf's record of its runs,
  // which `awf logs` trusts).
  std::function<void(const std::string& log_dir)> on_log_dir;
  std::function<void(const std::string& preserved_dir)> on_logs_preserved;

  ListenerPorts ports;
  UserNamespaceMode user_namespace = UserNamespaceMode::automatic;
};

// Exit codes of run_native besides the command's own status.
inline constexpr int kExitTimeout = 124;
inline constexpr int kExitInterrupted = 130;  // SIGINT
inline constexpr int kExitTerminated = 143;   // SIGTERM
inline constexpr int kExitFailure = 1;        // start-up failure, proxy crash

// Runs config.command in new namespaces behind awf-proxy and returns the exit
// code awf must exit with (the command's status, 124, 130, 143, or 1 when the
// proxy died under it); it has then printed "Process exiting with code: N" as
// its last stderr line. An error means the sandbox could not be started
// (namespaces, ruleset, proxy start-up, the entrypoint's exec): everything it
// created is already gone, and the caller prints the message, then
// print_exit_line(1).
// Call from a single-threaded process: the agent is created with a fork-like
// clone(2), so no other thread may hold a lock at that moment.
Result<int> run_native(const RuntimeConfig& config);

// `awf attach --pid PID`: puts the proxy's listeners (forward, transparent
// HTTP/TLS, DNS; never the API proxy's) and the ruleset of an awf run into
// the network namespace of the running process `pid`, serves it with
// awf-proxy from awf's own namespace until that process exits (0), awf is
// signalled (130/143) or the proxy dies (1, the rules then stay so that
// nothing leaves unchecked), then takes out what it added. Uses the policy,
// proxy, log and lifecycle fields of `config`; command, entrypoint and
// agent fields are ignored. Refuses, changing nothing, a process in the
// host's namespace and a namespace whose listener ports are taken (another
// attach). Needs root. Prints HTTP_PROXY=/HTTPS_PROXY= lines on stdout once
// ready, and "Process exiting with code: N" last on stderr.
Result<int> run_attach(const RuntimeConfig& config, pid_t pid);

// Writes "Process exiting with code: N" to stderr: awf's last line, always.
void print_exit_line(int code);

}  // namespace awf::runtime
