// awf's command-line model: every flag of `awf [options] -- <command>` with
// awf's syntax and defaults, registered on a CLI11 App,
// then validated into a LaunchConfig the runtime consumes.
//
// Use from the awf main (launcher/main.cc):
//
//   CLI::App app{"awf"};
//   awf::cli::Options opts;
//   awf::cli::register_options(app, opts);
//   auto logs = awf::logs::register_logs_commands(app);   // subcommands are fine
//   try { app.parse(argc, argv); }
//   catch (const CLI::CallForHelp& e) { return app.exit(e); }
//   catch (const CLI::ParseError& e) { std::cerr << "error: " << e.what() << "\n"; return 1; }
//   if (logs->selected()) return logs->run(...);
//   auto host = awf::cli::environment_from(environ);
//   auto cfg = awf::cli::finalize_options(app, std::move(opts), awf::cli::FinalizeContext::from_host(host));
//   if (!cfg.ok()) { std::cerr << cfg.message() << "\n"; return 1; }   // awf's exit code 1
//   for (auto& n : cfg->notices) print n at its level;
//   ... run cfg->command with cfg->policy, cfg->dns_servers, cfg->env, cfg->mounts ...
//
// Error messages are the exact stderr text, level prefixes included
// (`[ERROR] ...`, or awf's bare `Invalid log level: X` where awf prints
// without its logger), possibly several lines; print them as they are.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "awf/cli/api_proxy.h"
#include "awf/cli/environment.h"
#include "awf/cli/mounts.h"
#include "awf/logs/manifest.h"
#include "awf/policy/ports.h"
#include "awf/policy/ruleset.h"
#include "awf/result.h"
#include "awf/upstream_proxy.h"

namespace CLI {
class App;
}

namespace awf::cli {

// Flag values as typed on the command line (or filled from --config). One
// field per awf flag; strings stay empty when the flag was not given.
struct Options {
  // Domain filtering
  std::vector<std::string> allow_domains;        // -d, --allow-domains (comma lists; repeats merge)
  std::vector<std::string> allow_domains_files;  // --allow-domains-file
  std::vector<std::string> ruleset_files;        // --ruleset-file (repeatable)
  std::vector<std::string> block_domains;        // --block-domains
  std::vector<std::string> block_domains_files;  // --block-domains-file
  bool ssl_bump = false;                         // --ssl-bump
  std::string allow_urls;                        // --allow-urls

  // Image management (docker runtime only)
  bool build_local = false;          // -b, --build-local
  std::string agent_image;           // --agent-image
  std::string image_registry;        // --image-registry (awf default ghcr.io/github/gh-aw-firewall)
  std::string image_tag;             // --image-tag (awf default latest)
  bool skip_pull = false;            // --skip-pull
  std::string docker_host;           // --docker-host
  std::string docker_host_path_prefix;  // --docker-host-path-prefix
  std::string container_runtime;     // --container-runtime

  // Container configuration
  std::vector<std::string> env;          // -e, --env KEY=VALUE (repeatable)
  bool env_all = false;                  // --env-all
  std::vector<std::string> exclude_env;  // --exclude-env (repeatable)
  std::string env_file;                  // --env-file
  std::vector<std::string> mounts;       // -v, --mount (repeatable)
  std::string container_workdir;         // --container-workdir
  std::string memory_limit = "6g";       // --memory-limit
  std::string pids_limit;                // --pids-limit (awf default 1000)
  bool tty = false;                      // --tty

  // Network and security
  std::string dns_servers;               // --dns-servers (empty: auto-detect)
  std::optional<std::string> dns_over_https;  // --dns-over-https [url]; "" when given without a value
  bool enable_host_access = false;       // --enable-host-access
  std::string allow_host_ports;          // --allow-host-ports
  std::string allow_host_service_ports;  // --allow-host-service-ports
  bool enable_dind = false;              // --enable-dind
  bool enable_dlp = false;               // --enable-dlp
  std::optional<bool> network_isolation; // --network-isolation / --no-network-isolation
  std::vector<std::string> topology_attach;  // --topology-attach (repeatable)
  bool legacy_security = false;          // --legacy-security
  std::string security_mode;             // --security-mode strict|compat (deprecated alias)
  std::string upstream_proxy;            // --upstream-proxy

  // API proxy (LLM credential isolation, in awf-proxy)
  bool enable_api_proxy = false;         // --enable-api-proxy (deprecated no-op)
  bool no_enable_api_proxy = false;      // --no-enable-api-proxy (an error in awf)
  bool no_api_proxy = false;             // --no-api-proxy (ours: off even with provider keys)
  std::string api_proxy_ca_cert;         // --api-proxy-ca-cert
  std::map<std::string, std::string> api_proxy;  // --copilot-api-target, ... (flag name -> value)
  bool no_rate_limit = false;            // --no-rate-limit

  // Logging and lifecycle
  std::string log_level = "info";        // --log-level
  bool keep_containers = false;          // -k, --keep-containers (keep the work dir)
  std::string agent_timeout;             // --agent-timeout <minutes>
  std::string work_dir;                  // --work-dir (default $TMPDIR/awf-<ms>)
  std::string proxy_logs_dir;            // --proxy-logs-dir
  std::string audit_dir;                 // --audit-dir (else $AWF_AUDIT_DIR)
  std::string session_state_dir;         // --session-state-dir (else $AWF_SESSION_STATE_DIR)
  bool diagnostic_logs = false;          // --diagnostic-logs
  bool share_host_tmp = false;           // --share-host-tmp
  bool reflect = false;                  // --reflect
  std::string config;                    // --config <path|->

  // Ours
  std::string runtime = "native";        // --runtime native|docker
  std::string dns_policy = "allowlist";  // --dns-policy allowlist|open
  std::string tunnel_sni_check = "on";   // --tunnel-sni-check on|off
  std::string policy_mode = "enforce";   // --policy-mode enforce|report
  std::optional<std::string> allowed_methods;  // --allowed-methods GET,HEAD,...
  std::string allow_private_ranges;      // --allow-private-ranges CIDR[,CIDR] (SSRF guard opt-in)
  std::string hosts_file;                // --hosts-file FILE (names the proxy resolves locally)

  std::vector<std::string> command;      // everything after `--`
};

// Adds every flag above to `app` (which may also carry subcommands). Options
// must outlive app.parse().
void register_options(CLI::App& app, Options& options);

enum class Runtime { native, docker };
enum class DnsPolicy { allowlist, open };
enum class LogLevel { debug, info, warn, error };

struct Notice {
  enum class Level { debug, info, warn };
  Level level = Level::info;
  std::string text;  // without the `[INFO] ` / `[WARN] ` prefix
};

// Everything the runtime needs, validated.
struct LaunchConfig {
  Runtime runtime = Runtime::native;

  // Policy: awf's order applied (flags, files, rulesets, dedupe, localhost).
  policy::PolicySpec policy;                        // allow/block entries and extra_ports
  std::shared_ptr<const policy::Ruleset> ruleset;   // policy compiled
  std::vector<std::string> allowed_domains() const { return policy.allow; }

  // Host access. `localhost_keyword`: the allowlist named `localhost`, which
  // awf turns into `host.docker.internal` (kept in policy.allow) and which
  // turns on host access. In the native runtime host access means the proxy
  // may reach the host's own loopback services on the allowed host ports.
  bool host_access = false;
  bool localhost_keyword = false;
  std::string allow_host_ports;                     // flag text (or localhost's default list); empty if none
  std::vector<policy::PortRange> host_ports;        // parsed

  // DNS
  std::vector<std::string> dns_servers;
  bool dns_servers_detected = false;                // auto-detected (or the fallback)
  DnsPolicy dns_policy = DnsPolicy::allowlist;
  bool tunnel_sni_check = true;  // CONNECT tunnels to 443: the ClientHello's name is checked
  bool report_only = false;      // --policy-mode report: refusals logged, not enforced
  std::vector<std::string> allowed_methods;  // --allowed-methods, upper case; empty: any
  bool enable_dlp = false;       // awf-proxy --enable-dlp
  // --ssl-bump: the run makes a CA and awf-proxy terminates TLS to allowed
  // names; --allow-urls (validated patterns, comma-joined) then decides
  // each request.
  bool ssl_bump = false;
  std::string allow_urls;
  // The parent HTTP proxy allowed requests go out through: --upstream-proxy,
  // else the host's https_proxy/HTTPS_PROXY/http_proxy/HTTP_PROXY. The
  // bypass comes from the host's no_proxy/NO_PROXY (domain suffixes).
  std::optional<UpstreamProxy> upstream_proxy;
  std::vector<std::string> upstream_bypass;
  std::string allow_private_ranges;  // passed to awf-proxy; host access adds loopback
  std::string hosts_file;            // passed to awf-proxy

  // Agent
  std::string command;                              // the /bin/bash -c string
  EnvSettings env;                                  // for build_agent_environment()
  std::vector<Mount> mounts;
  std::string container_workdir;                    // empty: the user's home
  bool tty = false;
  std::optional<int> agent_timeout_minutes;
  std::string memory_limit;                         // validated awf form, e.g. "6g"
  std::optional<int> pids_limit;

  // Lifecycle and logs
  LogLevel log_level = LogLevel::info;
  bool keep_work_dir = false;                       // -k
  std::string work_dir;
  std::string proxy_logs_dir;                       // empty: preserve under $TMPDIR/squid-logs-<ts>
  std::string audit_dir;
  std::string session_state_dir;
  bool diagnostic_logs = false;
  bool share_host_tmp = false;  // --share-host-tmp: the host's /tmp instead of a private one

  // The API proxy: on when a provider's credential is in awf's environment.
  ApiProxySettings api_proxy;

  // Messages to print before starting, in order (awf's warnings and infos).
  std::vector<Notice> notices;
};

// What finalize_options() reads from outside the command line; everything is
// injectable so tests need no real files or clock.
struct FinalizeContext {
  Environment host_env;
  std::vector<std::string> resolv_conf_paths;        // DNS auto-detection order
  std::function<bool(const std::string&)> path_exists;  // mounts; empty: real filesystem
  std::function<std::string()> read_stdin;           // `--config -`; empty: std::cin
  std::int64_t now_ms = 0;                           // for the default --work-dir

  // Real resolv.conf paths and clock; TMPDIR etc. from `host`.
  static FinalizeContext from_host(Environment host);
};

// Applies --config (only to flags not given on `app`'s command line; values
// replace), then validates in awf's order with awf's messages and exit code 1:
// command present, log level, domains files/rulesets, localhost keyword,
// domain validation, -e, --env-file, mounts, DNS servers, --allow-urls,
// --memory-limit, --agent-timeout, host ports; then our checks (--runtime,
// --dns-policy, flags the native runtime cannot honour) and compiles the policy.
Result<LaunchConfig> finalize_options(const CLI::App& app, Options options, const FinalizeContext& context);

// The policy-manifest.json for this run (awf's shape); the
// runtime writes it with logs::write_policy_manifest() into the log
// directory (or --audit-dir) so `awf logs audit` can replay the rules.
logs::PolicyManifest policy_manifest(const LaunchConfig& config);

// Convenience for tests and simple callers: a fresh App with register_options(),
// parse `args` (without the program name), finalize. CLI11 parse errors come
// back as `error: <what>`.
Result<LaunchConfig> parse_command_line(const std::vector<std::string>& args, const FinalizeContext& context);

}  // namespace awf::cli
