// make_plan(): awf-proxy's command line (the policy flags passed through
// unchanged) and environment, awf-entrypoint's command line, and the
// environment the command starts with.
#include "plan.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "awf/runtime/namespaces.h"
#include "awf/errno_text.h"
#include "awf/startup_trace.h"

extern char** environ;

namespace awf::runtime {

namespace fs = std::filesystem;

namespace {

std::string program_next_to_self(const char* name) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return name;
  return (self.parent_path() / name).string();
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

void set_env(std::vector<std::string>& env, const std::string& key, const std::string& value) {
  const std::string prefix = key + "=";
  std::erase_if(env, [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
  env.push_back(prefix + value);
}

bool has_env(const std::vector<std::string>& env, const std::string& key) {
  const std::string prefix = key + "=";
  return std::any_of(env.begin(), env.end(), [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
}

bool is_trace_variable(const std::string& entry) {
  return entry.rfind(std::string(startup_trace::kVariable) + "=", 0) == 0;
}

}  // namespace

Status plan_proxy(const RuntimeConfig& config, const fs::path& log_dir, Plan& plan) {
  auto host_ports = parse_port_specs(config.allow_host_ports);
  if (!host_ports) return host_ports.error();
  plan.ruleset = RulesetSpec{config.ports, std::move(*host_ports)};
  plan.log_dir = log_dir;
  plan.logs_dir_given = !config.proxy_logs_dir.empty();
  plan.proxy_path = config.proxy_path.empty() ? program_next_to_self("awf-proxy") : config.proxy_path;
  if (::access(plan.proxy_path.c_str(), X_OK) != 0) {
    return Error{"cannot run " + plan.proxy_path + ": " + errno_text(errno) + " (awf-proxy is installed next to awf)"};
  }

  auto& p = plan.proxy_argv;
  p.push_back(plan.proxy_path);
  for (const auto& list : config.allow_domains) p.insert(p.end(), {"--allow-domains", list});
  if (!config.block_domains.empty()) p.insert(p.end(), {"--block-domains", join(config.block_domains, ",")});
  if (!config.allow_host_ports.empty()) p.insert(p.end(), {"--allow-host-ports", config.allow_host_ports});
  if (config.enable_host_access) p.push_back("--enable-host-access");
  if (!config.dns_servers.empty()) p.insert(p.end(), {"--dns-servers", join(config.dns_servers, ",")});
  if (!config.hosts_file.empty()) p.insert(p.end(), {"--hosts-file", config.hosts_file});
  if (!config.allow_private_ranges.empty()) {
    p.insert(p.end(), {"--allow-private-ranges", config.allow_private_ranges});
  }
  if (!config.dns_policy.empty()) p.insert(p.end(), {"--dns-policy", config.dns_policy});
  if (!config.tunnel_sni_check) p.insert(p.end(), {"--tunnel-sni-check", "off"});
  if (config.report_only) p.insert(p.end(), {"--policy-mode", "report"});
  if (!config.allowed_methods.empty()) p.insert(p.end(), {"--allowed-methods", config.allowed_methods});
  if (config.enable_dlp) p.push_back("--enable-dlp");
  // --ssl-bump: the run's CA, made by the runtime before the plan.
  if (!config.ssl_bump_cert.empty()) {
    p.insert(p.end(), {"--ssl-bump-cert", config.ssl_bump_cert, "--ssl-bump-key", config.ssl_bump_key});
    if (!config.allow_urls.empty()) p.insert(p.end(), {"--allow-urls", config.allow_urls});
  }
  if (!config.upstream_proxy.empty()) p.insert(p.end(), {"--upstream-proxy", config.upstream_proxy});
  if (!config.upstream_bypass.empty()) p.insert(p.end(), {"--upstream-bypass", config.upstream_bypass});
  p.insert(p.end(), {"--log-dir", log_dir.string()});
  if (!config.log_level.empty()) p.insert(p.end(), {"--log-level", config.log_level});
  // The API proxy's listeners; its keys come from the environment, never
  // from this command line, which every user can read.
  for (const ApiListener& api : config.ports.api) {
    p.insert(p.end(), {"--api-listen", api.provider + "=127.0.0.1:" + std::to_string(api.port)});
  }
  if (!config.api_ca_cert.empty() && !config.ports.api.empty()) {
    p.insert(p.end(), {"--api-ca-cert", config.api_ca_cert});
  }
  p.insert(p.end(), config.extra_proxy_args.begin(), config.extra_proxy_args.end());

  for (char** e = environ; *e; ++e) plan.proxy_env.emplace_back(*e);
  for (const auto& name : config.proxy_env_unset) {
    const std::string prefix = name + "=";
    std::erase_if(plan.proxy_env, [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
  }
  for (const auto& entry : config.proxy_env) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) return Error{"awf-proxy environment: \"" + entry + "\" is not KEY=VALUE"};
    set_env(plan.proxy_env, entry.substr(0, eq), entry.substr(eq + 1));
  }
  // The start-up trace counts from awf's origin in every program.
  std::erase_if(plan.proxy_env, is_trace_variable);
  if (startup_trace::enabled()) plan.proxy_env.push_back(startup_trace::origin_variable());
  return ok_status();
}

Result<Plan> make_plan(const RuntimeConfig& config, const fs::path& log_dir, const fs::path& private_tmp) {
  Plan plan;
  plan.user_namespace = wants_user_namespace(config.user_namespace);
  if (auto status = plan_proxy(config, log_dir, plan); !status) return status.error();
  plan.entrypoint_path =
      config.entrypoint_path.empty() ? program_next_to_self("awf-entrypoint") : config.entrypoint_path;
  if (::access(plan.entrypoint_path.c_str(), X_OK) != 0) {
    return Error{"cannot run " + plan.entrypoint_path + ": " + errno_text(errno) +
                 " (awf-proxy and awf-entrypoint are installed next to awf)"};
  }
  if (config.command.empty()) return Error{"No command specified. Use -- to separate command from options."};

  auto& a = plan.agent_argv;
  a.push_back(plan.entrypoint_path);
  a.insert(a.end(), config.entrypoint_args.begin(), config.entrypoint_args.end());
  if (!private_tmp.empty()) {
    a.insert(a.end(), {"--tmp", private_tmp.string()});
    for (const auto& path : config.tmp_binds) a.insert(a.end(), {"--mount", path + ":" + path + ":rw"});
  }
  a.push_back("--");
  a.insert(a.end(), config.command.begin(), config.command.end());

  // The agent's environment: the CLI's (awf_cli's build_agent_environment
  // already has the proxy variables, with -e allowed to change them), then
  // whatever it left out. Both spellings, since curl reads only the
  // lowercase http_proxy.
  auto& env = plan.agent_env;
  env = config.agent_env;
  auto set_default = [&env](const std::string& key, const std::string& value) {
    if (!has_env(env, key)) set_env(env, key, value);
  };
  const std::string proxy_url = "http://127.0.0.1:" + std::to_string(config.ports.forward);
  for (const char* key : {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}) set_default(key, proxy_url);
  for (const char* key : {"NO_PROXY", "no_proxy"}) set_default(key, "localhost,127.0.0.1,::1");
  if (plan.user_namespace) {
    // Rootless, the invoking user's IDs are the only ones the user namespace
    // maps: the command runs as exactly them, even below 1000 where awf
    // would substitute 1000.
    set_env(env, "AWF_USER_UID", std::to_string(::getuid()));
    set_env(env, "AWF_USER_GID", std::to_string(::getgid()));
    if (::getuid() < 1000 || ::getgid() < 1000) {
      a.insert(std::find(a.begin(), a.end(), std::string("--")), "--exact-ids");
    }
  } else {
    set_default("AWF_USER_UID", std::to_string(config.uid));
    set_default("AWF_USER_GID", std::to_string(config.gid));
  }
  if (!config.workdir.empty()) set_default("AWF_WORKDIR", config.workdir);
  // The agent's resolver is the proxy's DNS listener. (Any server would
  // do, the ruleset redirects port 53, but resolv.conf should not promise
  // others.)
  set_default("AWF_DNS_SERVERS", "127.0.0.1");
  // The entrypoint's trace (it keeps the variable from the command).
  std::erase_if(env, is_trace_variable);
  if (startup_trace::enabled()) env.push_back(startup_trace::origin_variable());
  // --ssl-bump: the command trusts the run's CA through a bundle of the
  // system's CAs plus it, in every variable common TLS stacks read (awf's
  // entrypoint sets these too); set over any inherited value, which would
  // leave the minted certificates untrusted.
  if (!config.ssl_bump_bundle.empty()) {
    for (const char* key : {"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                            "GIT_SSL_CAINFO"}) {
      set_env(env, key, config.ssl_bump_bundle);
    }
  }
  return plan;
}

std::vector<char*> c_strings(std::vector<std::string>& items) {
  std::vector<char*> out;
  for (auto& item : items) out.push_back(item.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace awf::runtime
