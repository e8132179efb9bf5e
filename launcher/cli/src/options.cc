// awf's flags on CLI11 and their validation into a LaunchConfig.
#include "awf/cli/options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>

#include "awf/cli/api_proxy.h"
#include "awf/cli/command.h"
#include "awf/cli/config_file.h"
#include "awf/policy/methods.h"
#include "awf/cli/dns.h"
#include "awf/policy/entry.h"
#include "awf/policy/sources.h"
#include "awf/policy/url_pattern.h"

namespace awf::cli {

namespace {

// Flags of awf's LLM API proxy sidecar, all taking a value.
const std::vector<std::string>& api_proxy_flags() {
  static const std::vector<std::string> kFlags = {
      "--copilot-api-target",    "--openai-api-target",     "--anthropic-api-target", "--gemini-api-target",
      "--vertex-api-target",     "--openai-api-base-path",  "--anthropic-api-base-path",
      "--gemini-api-base-path",  "--vertex-api-base-path",  "--copilot-api-base-path",
      "--openai-auth-header",    "--anthropic-auth-header", "--rate-limit-rpm",       "--rate-limit-rph",
      "--rate-limit-bytes-pm",   "--max-model-multiplier",  "--max-permission-denied", "--max-cache-misses",
      "--anthropic-cache-tail-ttl", "--difc-proxy-host",    "--difc-proxy-ca-cert"};
  return kFlags;
}

// Repeatable option taking exactly one value per occurrence (so `-e A=1 cmd`
// does not swallow `cmd`).
CLI::Option* one_each(CLI::Option* o) { return o->type_size(1)->allow_extra_args(false); }

}  // namespace

void register_options(CLI::App& app, Options& o) {
  // Domain filtering
  one_each(app.add_option("-d,--allow-domains", o.allow_domains,
                          "Comma-separated list of allowed domains (wildcards, http:// or https:// prefixes, "
                          "`localhost`)"));
  one_each(app.add_option("--allow-domains-file", o.allow_domains_files,
                          "Path to file with allowed domains (one per line, supports # comments)"));
  one_each(app.add_option("--ruleset-file", o.ruleset_files,
                          "YAML rule file for domain allowlisting (repeatable). Schema: version: 1, rules: "
                          "[{domain, subdomains}]"));
  one_each(app.add_option("--block-domains", o.block_domains,
                          "Comma-separated blocked domains (overrides allow list). Supports wildcards."));
  one_each(app.add_option("--block-domains-file", o.block_domains_files,
                          "Path to file with blocked domains (one per line, supports # comments)"));
  app.add_flag("--ssl-bump", o.ssl_bump, "Enable SSL Bump for HTTPS content inspection: a CA made for the run, trusted by the command, lets the proxy read and decide each HTTPS request");
  app.add_option("--allow-urls", o.allow_urls, "Comma-separated allowed URL patterns for HTTPS (requires --ssl-bump)");

  // Image management (docker runtime only)
  app.add_flag("-b,--build-local", o.build_local, "Build containers locally (docker runtime only)");
  app.add_option("--agent-image", o.agent_image, "Agent container image (docker runtime only)");
  app.add_option("--image-registry", o.image_registry, "Container image registry (docker runtime only)");
  app.add_option("--image-tag", o.image_tag, "Container image tag (docker runtime only)");
  app.add_flag("--skip-pull", o.skip_pull, "Use local images without pulling (docker runtime only)");
  app.add_option("--docker-host", o.docker_host, "Docker daemon socket (docker runtime only)");
  app.add_option("--docker-host-path-prefix", o.docker_host_path_prefix, "Host path prefix (docker runtime only)");
  app.add_option("--container-runtime", o.container_runtime, "OCI runtime (docker runtime only)");

  // Container configuration
  one_each(app.add_option("-e,--env", o.env, "Environment variable for the agent (repeatable), KEY=VALUE"));
  app.add_flag("--env-all", o.env_all, "Pass all host environment variables (excludes system vars like PATH)");
  one_each(app.add_option("--exclude-env", o.exclude_env,
                          "Exclude a specific environment variable from the agent (repeatable)"));
  app.add_option("--env-file", o.env_file, "Read environment variables from a file (KEY=VALUE, one per line)");
  one_each(app.add_option("-v,--mount", o.mounts, "Volume mount (repeatable): host_path:container_path[:ro|rw]"));
  app.add_option("--container-workdir", o.container_workdir, "Working directory inside the sandbox");
  app.add_option("--memory-limit", o.memory_limit, "Memory limit for the agent (e.g. 4g, 512m)")->capture_default_str();
  app.add_option("--pids-limit", o.pids_limit, "Maximum number of processes of the agent (default 1000)");
  app.add_flag("--tty", o.tty, "Allocate a pseudo-TTY");

  // Network and security
  app.add_option("--dns-servers", o.dns_servers, "Comma-separated trusted DNS servers (auto-detected if omitted)");
  app.add_option("--dns-over-https", "Enable DNS-over-HTTPS (docker runtime only)")
      ->expected(0, 1)
      ->each([&o](const std::string& v) { o.dns_over_https = v; });
  app.add_flag("--enable-host-access", o.enable_host_access,
               "Let the agent reach services on this machine (host.docker.internal)");
  app.add_option("--allow-host-ports", o.allow_host_ports,
                 "Ports/ranges to allow with --enable-host-access, e.g. 3000,8080 or 3000-3010");
  app.add_option("--allow-host-service-ports", o.allow_host_service_ports,
                 "Ports allowed only to the host gateway (docker legacy mode only)");
  app.add_flag("--enable-dind", o.enable_dind, "Expose the Docker socket (docker runtime only)");
  app.add_flag("--enable-dlp", o.enable_dlp, "Refuse requests whose URL carries a credential (token shapes, bearer/authorization query parameters, private keys); seen in plain HTTP, CONNECT authorities and TLS server names");
  app.add_flag_function(
      "--network-isolation,!--no-network-isolation",
      [&o](std::int64_t n) { o.network_isolation = n > 0; }, "Docker network isolation mode (docker runtime only)");
  one_each(app.add_option("--topology-attach", o.topology_attach, "Attach a container (docker runtime only)"));
  app.add_flag("--legacy-security", o.legacy_security, "Legacy iptables mode (docker runtime only)");
  app.add_option("--security-mode", o.security_mode, "Deprecated alias of --legacy-security")->group("");
  app.add_option("--upstream-proxy", o.upstream_proxy, "Chain allowed requests through a parent HTTP proxy, http://HOST[:PORT] (port 3128 when none); default: the host's https_proxy/HTTPS_PROXY/http_proxy/HTTP_PROXY, with no_proxy/NO_PROXY names going direct");

  // API proxy
  app.add_flag("--enable-api-proxy", o.enable_api_proxy, "Deprecated no-op (the API proxy is on with a provider key)");
  app.add_flag("--no-enable-api-proxy", o.no_enable_api_proxy, "Not allowed")->group("");
  app.add_flag("--no-api-proxy", o.no_api_proxy,
               "Run without the API proxy even when a provider key (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...) is "
               "set; the keys stay withheld from the agent");
  app.add_option("--api-proxy-ca-cert", o.api_proxy_ca_cert,
                 "PEM file of CA certificates the API proxy trusts for provider connections, in addition to the "
                 "system store");
  app.add_flag("--no-rate-limit", o.no_rate_limit, "API proxy rate limiting off (not implemented)");
  for (const auto& flag : api_proxy_flags()) {
    const std::string description = api_proxy_flag_variables().count(flag) > 0
                                        ? "API proxy upstream setting"
                                        : "API proxy setting (not implemented)";
    app.add_option(flag, description)
        ->each([&o, flag](const std::string& v) { o.api_proxy[flag] = v; });
  }

  // Logging and lifecycle
  app.add_option("--log-level", o.log_level, "Log level: debug, info, warn, error")->capture_default_str();
  app.add_flag("-k,--keep-containers", o.keep_containers, "Keep the work directory after the command exits");
  app.add_option("--agent-timeout", o.agent_timeout, "Maximum time in minutes for the agent command to run");
  app.add_option("--work-dir", o.work_dir, "Working directory for temporary files (default $TMPDIR/awf-<ms>)");
  app.add_option("--proxy-logs-dir", o.proxy_logs_dir, "Directory to save the proxy's access.log");
  app.add_option("--audit-dir", o.audit_dir, "Directory for firewall audit artifacts (policy manifest, ...)");
  app.add_option("--session-state-dir", o.session_state_dir, "Directory to save Copilot CLI session state");
  app.add_flag("--diagnostic-logs", o.diagnostic_logs, "Collect diagnostics on failure");
  app.add_flag("--reflect", o.reflect, "Query the API proxy's reflect endpoint instead of a command");
  app.add_option("--config", o.config, "AWF config file (JSON or YAML; `-` for stdin); command-line flags win");

  // Ours
  app.add_flag("--share-host-tmp", o.share_host_tmp,
               "Give the command the host's /tmp, as awf does, instead of a private one (host Unix sockets "
               "there, e.g. tmux or ssh-agent, become reachable from the sandbox)");
  app.add_option("--runtime", o.runtime, "Sandbox runtime: native (namespaces, default) or docker")
      ->capture_default_str();
  app.add_option("--dns-policy", o.dns_policy,
                 "allowlist: the agent resolves only allowed names (default); open: any name, as awf")
      ->capture_default_str();
  app.add_option("--tunnel-sni-check", o.tunnel_sni_check,
                 "on: a CONNECT tunnel to port 443 must open with a TLS ClientHello naming an allowed host "
                 "(domain fronting, plain bytes and nameless hellos are refused); off: relay it unchecked")
      ->capture_default_str();
  app.add_option("--policy-mode", o.policy_mode,
                 "enforce: refuse what the policy denies; report: let it through and log what enforce would have "
                 "refused (audit.jsonl \"would_deny\"), to learn an allowlist with `awf logs suggest`")
      ->capture_default_str();
  app.add_option("--allowed-methods", o.allowed_methods,
                 "Comma-separated HTTP methods the command may use (e.g. GET,HEAD,OPTIONS for a read-only agent), "
                 "checked on plain HTTP and with --ssl-bump on HTTPS; tunnels the proxy cannot look into are then "
                 "refused unless CONNECT is listed");
  app.add_option("--allow-private-ranges", o.allow_private_ranges,
                 "Let allowed names resolve into these private/loopback ranges (CIDR list); "
                 "refused by default as SSRF / DNS-rebinding defence");
  app.add_option("--hosts-file", o.hosts_file,
                 "A hosts file the proxy resolves names from before asking the DNS servers (like Squid's hosts_file)");

  app.add_option("command", o.command, "Command and arguments to execute (use -- to separate from options)");
}

FinalizeContext FinalizeContext::from_host(Environment host) {
  FinalizeContext c;
  c.host_env = std::move(host);
  c.resolv_conf_paths = default_resolv_conf_paths();
  c.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return c;
}

namespace {

Error fail(const std::string& text) { return Error{"[ERROR] " + text}; }

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

bool given(const CLI::App& app, const std::string& flag) {
  try {
    return app.get_option(flag)->count() > 0;
  } catch (const CLI::OptionNotFound&) {
    return false;
  }
}

// --config values land only where the flag was not on the command line.
std::vector<std::string> apply_config(const CLI::App& app, const ConfigFile& c, Options& o) {
  auto take = [&](const char* flag, const auto& value, auto& field) {
    if (value && !given(app, flag)) field = *value;
  };
  auto take_flag = [&](const char* flag, const std::optional<bool>& value, bool& field) {
    if (value && !given(app, flag)) field = *value;
  };
  // Lists given as one comma list so the usual splitting applies.
  if (c.allow_domains && !given(app, "--allow-domains")) o.allow_domains = {join(*c.allow_domains, ",")};
  if (c.block_domains && !given(app, "--block-domains")) o.block_domains = {join(*c.block_domains, ",")};
  if (c.dns_servers && !given(app, "--dns-servers")) o.dns_servers = join(*c.dns_servers, ",");
  take("--upstream-proxy", c.upstream_proxy, o.upstream_proxy);
  if (c.network_isolation && !given(app, "--network-isolation")) o.network_isolation = c.network_isolation;
  take("--topology-attach", c.topology_attach, o.topology_attach);
  take("--dns-policy", c.dns_policy, o.dns_policy);
  take("--tunnel-sni-check", c.tunnel_sni_check, o.tunnel_sni_check);
  take_flag("--ssl-bump", c.ssl_bump, o.ssl_bump);
  if (c.legacy_security && !given(app, "--legacy-security") && !given(app, "--security-mode")) {
    o.legacy_security = *c.legacy_security;
  }
  take_flag("--enable-dlp", c.enable_dlp, o.enable_dlp);
  take_flag("--enable-host-access", c.enable_host_access, o.enable_host_access);
  take("--allow-host-ports", c.allow_host_ports, o.allow_host_ports);
  take("--allow-host-service-ports", c.allow_host_service_ports, o.allow_host_service_ports);
  take("--memory-limit", c.memory_limit, o.memory_limit);
  take("--pids-limit", c.pids_limit, o.pids_limit);
  take("--agent-timeout", c.agent_timeout, o.agent_timeout);
  take_flag("--enable-dind", c.enable_dind, o.enable_dind);
  take("--work-dir", c.work_dir, o.work_dir);
  take("--container-workdir", c.container_workdir, o.container_workdir);
  take("--image-registry", c.image_registry, o.image_registry);
  take("--image-tag", c.image_tag, o.image_tag);
  take_flag("--skip-pull", c.skip_pull, o.skip_pull);
  take_flag("--build-local", c.build_local, o.build_local);
  take("--agent-image", c.agent_image, o.agent_image);
  take_flag("--tty", c.tty, o.tty);
  take("--docker-host", c.docker_host, o.docker_host);
  take("--docker-host-path-prefix", c.docker_host_path_prefix, o.docker_host_path_prefix);
  take("--container-runtime", c.container_runtime, o.container_runtime);
  take("--mount", c.mounts, o.mounts);
  take("--runtime", c.runtime, o.runtime);
  take("--env-file", c.env_file, o.env_file);
  take_flag("--env-all", c.env_all, o.env_all);
  take("--exclude-env", c.exclude_env, o.exclude_env);
  take("--log-level", c.log_level, o.log_level);
  take_flag("--diagnostic-logs", c.diagnostic_logs, o.diagnostic_logs);
  take("--audit-dir", c.audit_dir, o.audit_dir);
  take("--proxy-logs-dir", c.proxy_logs_dir, o.proxy_logs_dir);
  take("--session-state-dir", c.session_state_dir, o.session_state_dir);
  take("--api-proxy-ca-cert", c.api_proxy_ca_cert, o.api_proxy_ca_cert);
  return c.ignored;
}

// `<number><unit>` with unit b, k, m or g (awf's --memory-limit form).
bool is_memory_limit(const std::string& s) {
  if (s.size() < 2) return false;
  char unit = static_cast<char>(std::tolower(static_cast<unsigned char>(s.back())));
  if (unit != 'b' && unit != 'k' && unit != 'm' && unit != 'g') return false;
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return s.front() != '0' || s.size() == 2;
}

// `^[1-9]\d*$`, bounded so the minutes fit an int.
std::optional<int> positive_int(const std::string& s) {
  if (s.empty() || s.size() > 9 || s.front() < '1' || s.front() > '9') return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::stoi(s);
}

// A flag the native runtime cannot honour, and why.
struct Unsupported {
  const char* flag;
  bool is_set;
  const char* why;
};

}  // namespace

Result<LaunchConfig> finalize_options(const CLI::App& app, Options o, const FinalizeContext& ctx) {
  LaunchConfig cfg;
  auto note = [&](Notice::Level level, std::string text) { cfg.notices.push_back({level, std::move(text)}); };
  auto env_value = [&](const char* name) -> std::string {
    auto it = ctx.host_env.find(name);
    return it == ctx.host_env.end() ? std::string() : it->second;
  };

  // --config first: it fills in flags the command line left out.
  struct {
    std::optional<std::vector<std::string>> allowed, disallowed, fallback;
  } config_models;
  if (!o.config.empty()) {
    auto file = load_config_file(o.config, ctx.read_stdin);
    if (!file.ok()) return Error{"[ERROR] " + file.message()};
    config_models = {file->allowed_models, file->disallowed_models, file->fallback_models};
    for (const auto& section : apply_config(app, *file, o)) {
      note(Notice::Level::warn, "--config: `" + section + "` is not used by the native runtime; ignored");
    }
  }

  // `--dns-over-https` given without a value: awf's default resolver.
  if (given(app, "--dns-over-https") && !o.dns_over_https) o.dns_over_https = "";

  // The command.
  if (o.command.empty() && !o.reflect) {
    return Error{
        "Error: No command specified. Use -- to separate command from options.\n"
        "Example: awf --allow-domains github.com -- curl https://api.github.com"};
  }
  if (!o.command.empty() && o.reflect) return Error{"Error: --reflect cannot be used with a command."};
  cfg.command = build_command_string(o.command);

  // Log level (awf prints this one without its logger).
  static const std::map<std::string, LogLevel> kLevels = {
      {"debug", LogLevel::debug}, {"info", LogLevel::info}, {"warn", LogLevel::warn}, {"error", LogLevel::error}};
  auto level = kLevels.find(o.log_level);
  if (level == kLevels.end()) return Error{"Invalid log level: " + o.log_level};
  cfg.log_level = level->second;

  // Our own choices.
  if (o.runtime == "native") {
    cfg.runtime = Runtime::native;
  } else if (o.runtime == "docker") {
    cfg.runtime = Runtime::docker;
  } else {
    return fail("Invalid runtime: " + o.runtime + ". Must be one of: native, docker");
  }
  if (o.dns_policy == "allowlist") {
    cfg.dns_policy = DnsPolicy::allowlist;
  } else if (o.dns_policy == "open") {
    cfg.dns_policy = DnsPolicy::open;
  } else {
    return fail("Invalid DNS policy: " + o.dns_policy + ". Must be one of: allowlist, open");
  }
  if (o.tunnel_sni_check != "on" && o.tunnel_sni_check != "off") {
    return fail("Invalid --tunnel-sni-check: " + o.tunnel_sni_check + ". Must be one of: on, off");
  }
  cfg.tunnel_sni_check = o.tunnel_sni_check == "on";
  if (o.policy_mode != "enforce" && o.policy_mode != "report") {
    return fail("Invalid --policy-mode: " + o.policy_mode + ". Must be one of: enforce, report");
  }
  cfg.report_only = o.policy_mode == "report";
  if (o.allowed_methods) {
    auto methods = policy::parse_method_list(*o.allowed_methods);
    if (!methods) return fail(methods.error().message);
    cfg.allowed_methods = std::move(*methods);
  }
  if (cfg.report_only) {
    note(Notice::Level::warn,
         "--policy-mode report: the domain policy is not enforced; what it would refuse is let through and logged "
         "(\"would_deny\" in audit.jsonl; `awf logs suggest` turns the log into an allowlist)");
  }
  cfg.enable_dlp = o.enable_dlp;
  cfg.ssl_bump = o.ssl_bump;

  if (!o.security_mode.empty() && o.security_mode != "strict" && o.security_mode != "compat") {
    return fail("Invalid --security-mode: " + o.security_mode + ". Must be one of: strict, compat");
  }

  // Domains: flags, files and rulesets merged and deduplicated.
  policy::PolicyFlags flags;
  flags.allow_domains = o.allow_domains;
  flags.block_domains = o.block_domains;
  flags.allow_domains_files = o.allow_domains_files;
  flags.block_domains_files = o.block_domains_files;
  flags.ruleset_files = o.ruleset_files;
  std::vector<std::string> source_warnings;
  auto spec = policy::build_spec(flags, &source_warnings);
  if (!spec.ok()) return fail(spec.message());
  cfg.policy = std::move(spec).value();
  for (auto& w : source_warnings) note(Notice::Level::warn, std::move(w));
  if (cfg.policy.allow.empty()) {
    // awf says this at debug level only, so a forgotten --allow-domains shows
    // up as a run where every request fails; a warning says why up front.
    note(Notice::Level::warn, "No allowed domains specified - all network access will be blocked");
  }

  // The `localhost` keyword: the first such entry becomes
  // host.docker.internal (same scheme), appended at the end as awf does.
  std::string host_ports_text = o.allow_host_ports;
  for (auto it = cfg.policy.allow.begin(); it != cfg.policy.allow.end(); ++it) {
    if (*it != "localhost" && *it != "http://localhost" && *it != "https://localhost") continue;
    std::string scheme = it->substr(0, it->size() - 9);
    cfg.policy.allow.erase(it);
    std::string replacement = scheme + "host.docker.internal";
    if (std::find(cfg.policy.allow.begin(), cfg.policy.allow.end(), replacement) == cfg.policy.allow.end()) {
      cfg.policy.allow.push_back(replacement);
    }
    cfg.localhost_keyword = true;
    if (!o.enable_host_access) {
      o.enable_host_access = true;
      note(Notice::Level::warn,
           "\u26a0\ufe0f  Security warning: localhost keyword enables host access - agent can reach services on "
           "your machine");
      note(Notice::Level::info, "\u2139\ufe0f  localhost keyword detected - automatically enabling host access");
    }
    if (host_ports_text.empty()) {
      host_ports_text = "3000,3001,4000,4200,5000,5173,8000,8080,8081,8888,9000,9090";
      note(Notice::Level::info,
           "\u2139\ufe0f  localhost keyword detected - allowing common development ports (3000, 4200, 5173, 8080, "
           "etc.)");
      note(Notice::Level::info, "   Use --allow-host-ports to customize the port list");
    }
    break;
  }

  // Every entry validated with awf's messages (the first failure stops).
  for (const auto& d : cfg.policy.allow) {
    auto e = policy::parse_entry(d);
    if (!e.ok()) return fail("Invalid domain or pattern: " + e.message());
  }
  for (const auto& d : cfg.policy.block) {
    auto e = policy::parse_entry(d);
    if (!e.ok()) return fail("Invalid blocked domain or pattern: " + e.message());
  }

  // Environment.
  for (const auto& text : o.env) {
    auto kv = parse_env_assignment(text);
    if (!kv.ok()) return fail(kv.message());
    cfg.env.assignments.push_back(*kv);
  }
  if (!o.env_file.empty()) {
    auto pairs = read_env_file(o.env_file);
    if (!pairs.ok()) return fail(pairs.message());
    cfg.env.env_file = std::move(pairs).value();
  }
  cfg.env.env_all = o.env_all;
  cfg.env.exclude = o.exclude_env;
  cfg.env.tty = o.tty;
  cfg.tty = o.tty;

  // Mounts.
  for (const auto& spec_text : o.mounts) {
    auto m = parse_mount(spec_text, ctx.host_env, ctx.path_exists);
    if (!m.ok()) return Error{mount_error_text(spec_text, m.message())};
    cfg.mounts.push_back(std::move(m).value());
  }

  // DNS servers: given, or detected from the host's resolv.conf files.
  if (!o.dns_servers.empty()) {
    auto servers = parse_dns_servers(o.dns_servers);
    if (!servers.ok()) return fail("Invalid DNS servers: " + servers.message());
    cfg.dns_servers = std::move(servers).value();
  } else {
    auto detected = detect_dns_servers(ctx.resolv_conf_paths.empty() ? default_resolv_conf_paths()
                                                                     : ctx.resolv_conf_paths);
    cfg.dns_servers = detected.servers;
    cfg.dns_servers_detected = true;
    note(detected.fell_back ? Notice::Level::warn : Notice::Level::info, detected.message);
  }
  if (o.dns_over_https && !o.dns_over_https->empty() && o.dns_over_https->rfind("https://", 0) != 0) {
    return fail("--dns-over-https resolver URL must start with https://");
  }

  // The parent proxy: the flag, else the host's proxy variables (HTTPS
  // first: most of what agents fetch is HTTPS). A variable awf cannot use is
  // a warning, not an error: it was set for other programs, and requests
  // then go direct as they would without it.
  if (!o.upstream_proxy.empty()) {
    auto parent = parse_upstream_proxy(o.upstream_proxy);
    if (!parent) return fail(parent.error().message);
    cfg.upstream_proxy = *parent;
  } else {
    for (const char* name : {"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"}) {
      const std::string value = env_value(name);
      if (value.empty()) continue;
      auto parent = parse_upstream_proxy(value, name);
      if (parent) {
        cfg.upstream_proxy = *parent;
        note(Notice::Level::info, "Using upstream proxy " + parent->url() + " from " + name +
                                      " (--upstream-proxy overrides it)");
      } else {
        note(Notice::Level::warn, parent.error().message + "; not chaining to it, requests go direct");
      }
      break;
    }
  }
  if (cfg.upstream_proxy) {
    for (const char* name : {"no_proxy", "NO_PROXY"}) {
      const std::string value = env_value(name);
      if (value.empty()) continue;
      BypassList bypass = parse_no_proxy(value);
      for (const auto& skipped : bypass.skipped) {
        note(Notice::Level::warn,
             std::string(name) + " entry \"" + skipped.entry + "\" ignored for the upstream proxy: " + skipped.reason);
      }
      cfg.upstream_bypass = std::move(bypass.domains);
      break;
    }
  }

  // SSL bump URL patterns need SSL bump.
  if (!o.allow_urls.empty() && !policy::split_domain_list(o.allow_urls).empty() && !o.ssl_bump) {
    return fail("--allow-urls requires --ssl-bump to be enabled");
  }
  if (o.ssl_bump && !o.allow_urls.empty()) {
    // awf's grammar and messages, the code awf-proxy compiles them with.
    auto patterns = policy::parse_url_patterns(o.allow_urls);
    if (!patterns.ok()) return fail(patterns.message());
    for (const auto& p : *patterns) cfg.allow_urls += (cfg.allow_urls.empty() ? "" : ",") + p.text;
  }

  if (!is_memory_limit(o.memory_limit)) {
    return fail("Invalid --memory-limit value \"" + o.memory_limit +
                "\". Expected format: <number><unit> (e.g., 2g, 512m, 4g)");
  }
  cfg.memory_limit = o.memory_limit;
  if (!o.pids_limit.empty()) {
    auto n = positive_int(o.pids_limit);
    if (!n) return fail("Invalid --pids-limit value \"" + o.pids_limit + "\". Expected a positive integer");
    cfg.pids_limit = *n;
  }

  if (!o.agent_timeout.empty()) {
    auto minutes = positive_int(o.agent_timeout);
    if (!minutes) return fail("--agent-timeout must be a positive integer (minutes)");
    cfg.agent_timeout_minutes = *minutes;
  }

  if (o.env_all) {
    note(Notice::Level::warn, "\u26a0\ufe0f  Using --env-all: All host environment variables will be passed to container");
    note(Notice::Level::warn, "   This may expose sensitive credentials if logs or configs are shared");
  }

  // Host ports.
  cfg.host_access = o.enable_host_access;
  if (!o.allow_host_ports.empty() && !cfg.host_access) {
    return fail("\u274c --allow-host-ports requires --enable-host-access to be set");
  }
  if (!host_ports_text.empty()) {
    auto ports = policy::parse_port_list(host_ports_text);
    if (!ports.ok()) return fail(ports.message());
    cfg.host_ports = std::move(ports).value();
    cfg.allow_host_ports = host_ports_text;
  }
  if (o.skip_pull && o.build_local) {
    return fail("\u274c --skip-pull cannot be used with --build-local. Building images requires pulling base images "
                "from the registry.");
  }
  if (cfg.host_access) {
    for (const auto& d : cfg.policy.allow) {
      std::string bare = d;
      for (const char* p : {"http://", "https://"}) {
        if (bare.rfind(p, 0) == 0) bare = bare.substr(std::string(p).size());
      }
      if (bare == "host.docker.internal" || bare.ends_with(".host.docker.internal")) {
        note(Notice::Level::warn, "\u26a0\ufe0f  Host access enabled with host.docker.internal in allowed domains");
        note(Notice::Level::warn, "   Containers can access ANY service running on the host machine");
        note(Notice::Level::warn, "   Only use this for trusted workloads (e.g., MCP gateways)");
        break;
      }
    }
  }
  if (o.no_enable_api_proxy) {
    return fail("\u274c --no-enable-api-proxy is not allowed: the API proxy is on whenever a provider key is "
                "present; --no-api-proxy turns it off (the keys then stay withheld from the agent)");
  }

  // The runtime: the docker one is not part of this build; the native one
  // refuses what it cannot do instead of silently running without it.
  if (cfg.runtime == Runtime::docker) {
    return fail("--runtime docker is not available in this build; use --runtime native (the default)");
  }
  bool legacy = o.legacy_security || o.security_mode == "compat";
  std::vector<Unsupported> unsupported = {
      {"--build-local", o.build_local, "there are no images: the command runs on this machine's filesystem"},
      {"--agent-image", !o.agent_image.empty(), "there are no images: the command runs on this machine's filesystem"},
      {"--image-registry", !o.image_registry.empty(), "there are no images"},
      {"--image-tag", !o.image_tag.empty(), "there are no images"},
      {"--skip-pull", o.skip_pull, "there are no images"},
      {"--docker-host", !o.docker_host.empty(), "no Docker daemon is used"},
      {"--docker-host-path-prefix", !o.docker_host_path_prefix.empty(), "no Docker daemon is used"},
      {"--container-runtime", !o.container_runtime.empty(), "no container runtime is used"},
      {"--enable-dind", o.enable_dind, "no Docker daemon is used"},
      {"--legacy-security", legacy, "there is no host iptables mode: the sandbox has its own network namespace"},
      {"--network-isolation", o.network_isolation.has_value(),
       "the sandbox always has its own network namespace"},
      {"--topology-attach", !o.topology_attach.empty(), "there is no Docker network to attach containers to"},
      {"--dns-over-https", o.dns_over_https.has_value(), "there is no DoH sidecar; see --dns-policy"},
      {"--allow-host-service-ports", !o.allow_host_service_ports.empty(),
       "there is no host gateway; use --enable-host-access with --allow-host-ports"},
      {"--reflect", o.reflect, "the API proxy has no /reflect endpoint"},
      {"--no-rate-limit", o.no_rate_limit, "the API proxy has no rate limits"},
  };
  for (const auto& [flag, value] : o.api_proxy) {
    (void)value;
    if (!api_proxy_flag_variables().count(flag)) {
      unsupported.push_back({flag.c_str(), true, "the API proxy does not implement it"});
    }
  }
  for (const auto& u : unsupported) {
    if (u.is_set) {
      return fail(std::string(u.flag) + " is not supported by the native runtime (" + u.why +
                  "); it needs --runtime docker");
    }
  }
  // The API proxy: on when awf's environment holds a provider credential.
  ApiProxyRequest api_request;
  api_request.disabled = o.no_api_proxy;
  api_request.ca_cert = o.api_proxy_ca_cert;
  api_request.flags = o.api_proxy;
  api_request.allowed_models = config_models.allowed;
  api_request.disallowed_models = config_models.disallowed;
  api_request.fallback_models = config_models.fallback;
  auto api_proxy = resolve_api_proxy(api_request, ctx.host_env);
  if (!api_proxy) return fail(api_proxy.message());
  cfg.api_proxy = std::move(api_proxy).value();
  for (auto& w : cfg.api_proxy.warnings) note(Notice::Level::warn, w);
  if (cfg.api_proxy.enabled) {
    std::string providers;
    for (api::Provider p : cfg.api_proxy.configured) {
      providers += (providers.empty() ? "" : ", ") + std::string(api::provider_title(p)) + " (127.0.0.1:" +
                   std::to_string(api::provider_port(p)) + ")";
    }
    note(Notice::Level::info, "API proxy: " + providers +
                                  "; awf-proxy holds the credentials, the agent gets placeholders");
  }

  if (given(app, "--memory-limit") || given(app, "--pids-limit")) {
    note(Notice::Level::warn, "--memory-limit and --pids-limit are not enforced by the native runtime yet");
  }

  // Compile once; the runtime hands the same spec to the proxy.
  cfg.policy.extra_ports = cfg.host_ports;
  std::vector<std::string> warnings;
  auto ruleset = policy::Ruleset::compile(cfg.policy, &warnings);
  if (!ruleset.ok()) return fail(ruleset.message());
  cfg.ruleset = std::move(ruleset).value();
  for (auto& w : warnings) note(Notice::Level::warn, std::move(w));

  // Paths.
  std::string tmpdir = env_value("TMPDIR");
  if (tmpdir.empty()) tmpdir = "/tmp";
  while (tmpdir.size() > 1 && tmpdir.back() == '/') tmpdir.pop_back();
  cfg.work_dir = o.work_dir.empty() ? tmpdir + "/awf-" + std::to_string(ctx.now_ms) : o.work_dir;
  cfg.container_workdir = o.container_workdir;
  cfg.proxy_logs_dir = o.proxy_logs_dir;
  cfg.allow_private_ranges = o.allow_private_ranges;
  cfg.hosts_file = o.hosts_file;
  cfg.audit_dir = o.audit_dir.empty() ? env_value("AWF_AUDIT_DIR") : o.audit_dir;
  cfg.session_state_dir = o.session_state_dir.empty() ? env_value("AWF_SESSION_STATE_DIR") : o.session_state_dir;
  cfg.keep_work_dir = o.keep_containers;
  cfg.diagnostic_logs = o.diagnostic_logs;
  cfg.share_host_tmp = o.share_host_tmp;
  if (cfg.share_host_tmp) {
    note(Notice::Level::warn,
         "--share-host-tmp: the command shares the host's /tmp; Unix sockets there (tmux, ssh-agent, X11, editor "
         "servers) lead out of the sandbox unfiltered and unlogged");
  }

  note(Notice::Level::info, "Allowed domains: " + join(cfg.policy.allow, ", "));
  if (!cfg.policy.block.empty()) note(Notice::Level::info, "Blocked domains: " + join(cfg.policy.block, ", "));
  note(Notice::Level::debug, "DNS servers: " + join(cfg.dns_servers, ", "));
  return cfg;
}

logs::PolicyManifest policy_manifest(const LaunchConfig& config) {
  logs::ManifestSettings settings;
  settings.dns_servers = config.dns_servers;
  settings.host_access_enabled = config.host_access;
  if (!config.allow_host_ports.empty()) settings.allow_host_ports = config.allow_host_ports;
  return logs::make_policy_manifest(config.policy, settings);
}

Result<LaunchConfig> parse_command_line(const std::vector<std::string>& args, const FinalizeContext& context) {
  CLI::App app{"awf"};
  Options options;
  register_options(app, options);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 consumes a reversed vector
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return Error{std::string("error: ") + e.what()};
  }
  return finalize_options(app, std::move(options), context);
}

}  // namespace awf::cli
