// Helpers shared by run_command.cc and attach_command.cc.
#include "launch_shared.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "awf/logs/discovery.h"
#include "awf/logs/run_records.h"

namespace awf::launcher {
namespace {

const char* level_prefix(cli::Notice::Level level) {
  switch (level) {
    case cli::Notice::Level::debug: return "[DEBUG] ";
    case cli::Notice::Level::info: return "[INFO] ";
    case cli::Notice::Level::warn: return "[WARN] ";
  }
  return "";
}

const char* level_name(cli::LogLevel level) {
  switch (level) {
    case cli::LogLevel::debug: return "debug";
    case cli::LogLevel::info: return "info";
    case cli::LogLevel::warn: return "warn";
    case cli::LogLevel::error: return "error";
  }
  return "info";
}

}  // namespace

bool shows(cli::LogLevel configured, cli::Notice::Level level) {
  switch (level) {
    case cli::Notice::Level::debug: return configured == cli::LogLevel::debug;
    case cli::Notice::Level::info: return configured == cli::LogLevel::debug || configured == cli::LogLevel::info;
    case cli::Notice::Level::warn: return configured != cli::LogLevel::error;
  }
  return true;
}

void print_notices(const cli::LaunchConfig& cfg) {
  for (const auto& notice : cfg.notices) {
    if (shows(cfg.log_level, notice.level)) std::cerr << level_prefix(notice.level) << notice.text << "\n";
  }
}

std::string env_or(const cli::Environment& env, const char* name, std::string fallback) {
  auto it = env.find(name);
  return it == env.end() ? fallback : it->second;
}

void apply_proxy_settings(const cli::LaunchConfig& cfg, runtime::RuntimeConfig& rc) {
  rc.allow_domains = cfg.policy.allow;
  rc.block_domains = cfg.policy.block;
  rc.allow_host_ports = cfg.allow_host_ports;
  rc.enable_host_access = cfg.host_access;
  rc.dns_servers = cfg.dns_servers;
  rc.dns_policy = cfg.dns_policy == cli::DnsPolicy::open ? "open" : "allowlist";
  rc.tunnel_sni_check = cfg.tunnel_sni_check;
  rc.report_only = cfg.report_only;
  for (const auto& method : cfg.allowed_methods) {
    rc.allowed_methods += (rc.allowed_methods.empty() ? "" : ",") + method;
  }
  rc.enable_dlp = cfg.enable_dlp;
  rc.ssl_bump = cfg.ssl_bump;
  rc.allow_urls = cfg.allow_urls;
  if (cfg.upstream_proxy) rc.upstream_proxy = cfg.upstream_proxy->url();
  for (const auto& domain : cfg.upstream_bypass) {
    rc.upstream_bypass += (rc.upstream_bypass.empty() ? "" : ",") + domain;
  }
  rc.log_level = level_name(cfg.log_level);
  rc.allow_private_ranges = cfg.allow_private_ranges;
  rc.work_dir = cfg.work_dir;
  rc.keep_work_dir = cfg.keep_work_dir;
  rc.proxy_logs_dir = cfg.proxy_logs_dir;
  // Names outside DNS: the proxy reads no hosts file unless told, so awf
  // tells it: --hosts-file when given, else the machine's /etc/hosts (what
  // Squid reads in awf).
  std::error_code ec;
  rc.hosts_file = !cfg.hosts_file.empty()                                  ? cfg.hosts_file
                  : std::filesystem::is_regular_file("/etc/hosts", ec) ? "/etc/hosts"
                                                                         : "";
}

void record_run(runtime::RuntimeConfig& rc, const cli::Environment& host_env, cli::LogLevel level) {
  auto record = std::make_shared<logs::RunRecord>();
  record->pid = ::getpid();
  record->id = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
  const std::string state_dir = logs::own_state_dir(host_env);
  auto save_record = [record, state_dir, level](const std::string& log_dir) {
    record->log_dir = log_dir;
    if (auto status = logs::write_run_record(state_dir, *record); !status && shows(level, cli::Notice::Level::warn)) {
      std::cerr << "[WARN] awf logs will not find this run by itself: " << status.message() << "\n";
    }
  };
  rc.on_log_dir = save_record;
  rc.on_logs_preserved = save_record;
  rc.proxy_pid_file = logs::kLivePidFile;  // how `awf logs` tells the live run
}

std::string read_access_log(const std::string& log_dir) {
  std::ifstream in(log_dir + "/access.log", std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace awf::launcher
