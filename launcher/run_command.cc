// The main job of awf: turn the validated command line into the agent's
// environment and a RuntimeConfig, run it, then print awf's post-run report.
#include "run_command.h"

#include "launch_shared.h"

#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "awf/api/provider.h"
#include "awf/cli/blocked_report.h"
#include "awf/logs/discovery.h"
#include "awf/logs/entry.h"
#include "awf/logs/manifest.h"
#include "awf/logs/run_records.h"
#include "awf/runtime/runtime.h"
#include "awf/startup_trace.h"

namespace awf::launcher {
namespace {

// The user awf acts for: SUDO_UID/SUDO_GID when root runs it through sudo
// (awf's host-identity rule), else the real IDs.
std::pair<int, int> invoking_ids(const cli::Environment& env) {
  int uid = static_cast<int>(getuid());
  int gid = static_cast<int>(getgid());
  if (geteuid() == 0) {
    const std::string su = env_or(env, "SUDO_UID"), sg = env_or(env, "SUDO_GID");
    if (!su.empty() && !sg.empty()) {
      uid = std::atoi(su.c_str());
      gid = std::atoi(sg.c_str());
    }
  }
  return {uid, gid};
}

std::optional<std::string> passwd_home(const std::string& user) {
  if (const passwd* pw = getpwnam(user.c_str()); pw && pw->pw_dir) return std::string(pw->pw_dir);
  return std::nullopt;
}

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Host access in the native runtime: the agent names the host
// `host.docker.internal` as in awf, the proxy resolves that name to the
// host's loopback and may connect there. A hosts file (the user's, if any,
// then that line) is what tells the proxy; it lives beside the other
// temporary files and is removed when awf ends.
class HostAccessHosts {
 public:
  ~HostAccessHosts() {
    if (!path_.empty()) std::remove(path_.c_str());
  }
  Result<std::string> write(const std::string& user_hosts_file, const std::string& tmp_dir) {
    std::string text;
    if (!user_hosts_file.empty()) {
      std::ifstream in(user_hosts_file);
      if (!in) return Error{"Cannot read hosts file: " + user_hosts_file};
      text = read_whole(user_hosts_file);
      if (!text.empty() && text.back() != '\n') text += '\n';
    }
    text += "127.0.0.1 host.docker.internal\n::1 host.docker.internal\n";
    std::string templ = tmp_dir + "/awf-hosts-XXXXXX";
    int fd = mkstemp(templ.data());
    if (fd < 0) return Error{"Cannot create a hosts file under " + tmp_dir};
    path_ = templ;
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    if (!written) return Error{"Cannot write hosts file " + path_};
    return path_;
  }

 private:
  std::string path_;
};

// Host paths under /tmp that awf's workflows share with the command and that
// its private /tmp must therefore still show: gh-aw's directory and the
// safe-outputs directory, where they exist.
std::vector<std::string> private_tmp_binds(const cli::Environment& host_env) {
  std::vector<std::string> binds;
  auto add = [&binds](const std::string& path) {
    std::error_code ec;
    if (path.rfind("/tmp/", 0) != 0 || !std::filesystem::is_directory(path, ec)) return;
    for (const auto& existing : binds) {
      if (path == existing || path.rfind(existing + "/", 0) == 0) return;  // already inside a bound one
    }
    binds.push_back(path);
  };
  add("/tmp/gh-aw");
  if (auto outputs = env_or(host_env, "GH_AW_SAFE_OUTPUTS"); !outputs.empty()) {
    add(std::filesystem::path(outputs).lexically_normal().parent_path().string());
  }
  return binds;
}

}  // namespace

int run_command(const CLI::App& app, cli::Options options, const cli::Environment& host_env) {
  auto finalized = cli::finalize_options(app, std::move(options), cli::FinalizeContext::from_host(host_env));
  if (!finalized) {
    std::cerr << finalized.message() << "\n";
    return 1;
  }
  const cli::LaunchConfig& cfg = *finalized;
  print_notices(cfg);
  startup_trace::mark("config finalized");

  runtime::RuntimeConfig rc;
  const auto [uid, gid] = invoking_ids(host_env);
  const bool is_root = geteuid() == 0;

  cli::CoreInputs core;
  core.proxy_url = "http://127.0.0.1:" + std::to_string(rc.ports.forward);
  core.home = cli::host_home(host_env, is_root, passwd_home);
  core.workdir = cfg.container_workdir.empty() ? core.home : cfg.container_workdir;
  core.dns_servers = {"127.0.0.1"};  // the proxy's DNS listener inside the namespace
  core.uid = uid;
  core.gid = gid;
  core.tty = cfg.tty;
  core.host_access = cfg.host_access;
  core.allow_host_ports = cfg.allow_host_ports;
  core.github_path_entries = cli::read_github_path(host_env);
  const auto agent_env = cli::build_agent_environment(cfg.env, host_env, cli::core_environment(core, host_env),
                                                      cli::late_environment(core), cfg.api_proxy.agent);
  for (const auto& warning : agent_env.warnings) {
    if (shows(cfg.log_level, cli::Notice::Level::warn)) std::cerr << "[WARN] " << warning << "\n";
  }
  for (const auto& [name, value] : agent_env.vars) rc.agent_env.push_back(name + "=" + value);

  rc.command = {cfg.command};
  rc.uid = static_cast<uid_t>(cli::agent_id(uid));
  rc.gid = static_cast<gid_t>(cli::agent_id(gid));
  rc.workdir = core.workdir;
  for (const auto& m : cfg.mounts) {
    rc.entrypoint_args.push_back("--mount");
    rc.entrypoint_args.push_back(m.host_path + ":" + m.container_path + (m.read_only ? ":ro" : ":rw"));
  }
  // awf's environment contract says AWF_CHROOT_ENABLED=true (a prepared /host
  // view, as in its container); natively the entrypoint builds the view itself.
  rc.entrypoint_args.push_back("--build-view");
  if (cfg.log_level != cli::LogLevel::debug) rc.entrypoint_args.push_back("--quiet");

  apply_proxy_settings(cfg, rc);
  // awf-proxy inherits awf's environment, the provider keys among it (never
  // its argv, which every user can read); targets and model lists go on top.
  for (const auto& [name, value] : cfg.api_proxy.proxy_env) rc.proxy_env.push_back(name + "=" + value);
  rc.proxy_env_unset = cfg.api_proxy.proxy_unset;
  if (cfg.api_proxy.enabled) {
    // Every provider's listener, configured or not: an agent trying another
    // provider gets its "not configured" reply instead of a refused
    // connection.
    for (api::Provider p : api::kProviders) {
      rc.ports.api.push_back({std::string(api::provider_name(p)), api::provider_port(p)});
    }
    rc.api_ca_cert = cfg.api_proxy.ca_cert;
    // The entrypoint drops credential variables from what it is given; the
    // placeholders in them are ours and must reach the command.
    for (const auto& [name, value] : cfg.api_proxy.agent.set) {
      (void)value;
      rc.entrypoint_args.insert(rc.entrypoint_args.end(), {"--keep-env", name});
    }
  }
  // The command's /etc/hosts is the proxy's hosts file (apply_proxy_settings
  // chose it), so that the command and the proxy agree on every name.
  const std::string hosts_source = rc.hosts_file;
  std::error_code hosts_ec;
  if (!cfg.hosts_file.empty()) {
    rc.entrypoint_args.push_back("--mount");
    rc.entrypoint_args.push_back(std::filesystem::absolute(cfg.hosts_file, hosts_ec).string() + ":/etc/hosts:ro");
  }
  HostAccessHosts host_access_hosts;
  if (cfg.host_access) {
    const std::string tmp = env_or(host_env, "TMPDIR", "/tmp");
    auto hosts = host_access_hosts.write(hosts_source, tmp);
    if (!hosts) {
      std::cerr << "[ERROR] " << hosts.message() << "\n";
      return 1;
    }
    rc.hosts_file = *hosts;
    // The host's services are on its loopback: allowed for host.docker.internal
    // only, because that is the one name that resolves there.
    rc.allow_private_ranges += std::string(rc.allow_private_ranges.empty() ? "" : ",") + "127.0.0.1/32,::1/128";
  }
  if (cfg.agent_timeout_minutes) rc.agent_timeout = std::chrono::minutes(*cfg.agent_timeout_minutes);
  rc.share_host_tmp = cfg.share_host_tmp;
  rc.tmp_binds = private_tmp_binds(host_env);

  // awf's record of this run, the only thing `awf logs` trusts to find it.
  record_run(rc, host_env, cfg.log_level);

  rc.on_finished = [&cfg](int exit_code, const std::string& log_dir) {
    // The manifest lets `awf logs audit` replay these rules later.
    if (auto st = logs::write_policy_manifest(log_dir, cli::policy_manifest(cfg)); !st) {
      std::cerr << "[WARN] " << st.message() << "\n";
    }
    const auto entries = logs::parse_log_text(read_access_log(log_dir), logs::LogFormat::access_log_any_client);
    std::cerr << cli::post_run_blocked_report(entries, cfg.policy.allow);
    std::cerr << cli::completion_message(exit_code) << "\n";
    startup_trace::mark("report printed");
  };

  startup_trace::mark("run config ready");
  auto result = runtime::run_native(rc);
  if (!result) {
    std::cerr << "[ERROR] " << result.message() << "\n";
    runtime::print_exit_line(1);
    return 1;
  }
  return *result;
}

}  // namespace awf::launcher
