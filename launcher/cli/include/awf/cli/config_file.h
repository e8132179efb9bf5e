// awf's `--config <path|->` file: JSON or YAML, validated
// against awf's key layout, each mapped value applied only where the same
// flag was not given on the command line (values replace, never merge).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awf/result.h"

namespace awf::cli {

// Every mapped key, typed; absent keys (and empty arrays) stay nullopt.
struct ConfigFile {
  // network.*
  std::optional<std::vector<std::string>> allow_domains;
  std::optional<std::vector<std::string>> block_domains;
  std::optional<std::vector<std::string>> dns_servers;
  std::optional<std::string> upstream_proxy;
  std::optional<bool> network_isolation;
  std::optional<std::vector<std::string>> topology_attach;
  std::optional<std::string> dns_policy;  // ours: allowlist | open
  std::optional<std::string> tunnel_sni_check;  // ours: on | off
  // security.*
  std::optional<bool> ssl_bump;
  std::optional<bool> legacy_security;     // also securityMode: compat
  std::optional<bool> enable_dlp;
  std::optional<bool> enable_host_access;
  std::optional<std::string> allow_host_ports;          // array joined with ','
  std::optional<std::string> allow_host_service_ports;  // array joined with ','
  // container.*
  std::optional<std::string> memory_limit;
  std::optional<std::string> pids_limit;
  std::optional<std::string> agent_timeout;
  std::optional<bool> enable_dind;
  std::optional<std::string> work_dir;
  std::optional<std::string> container_workdir;
  std::optional<std::string> image_registry;
  std::optional<std::string> image_tag;
  std::optional<bool> skip_pull;
  std::optional<bool> build_local;
  std::optional<std::string> agent_image;
  std::optional<bool> tty;
  std::optional<std::string> docker_host;
  std::optional<std::string> docker_host_path_prefix;
  std::optional<std::string> container_runtime;
  std::optional<std::vector<std::string>> mounts;
  std::optional<std::string> runtime;  // ours: native | docker
  // environment.*
  std::optional<std::string> env_file;
  std::optional<bool> env_all;
  std::optional<std::vector<std::string>> exclude_env;
  // logging.*
  std::optional<std::string> log_level;
  std::optional<bool> diagnostic_logs;
  std::optional<std::string> audit_dir;
  std::optional<std::string> proxy_logs_dir;
  std::optional<std::string> session_state_dir;
  // apiProxy.* (a model list present must hold at least one non-empty
  // pattern: an empty one would quietly switch the model policy off)
  std::optional<std::string> api_proxy_ca_cert;
  std::optional<std::vector<std::string>> allowed_models;
  std::optional<std::vector<std::string>> disallowed_models;
  std::optional<std::vector<std::string>> fallback_models;  // apiProxy.fallbackModels

  // awf sections and keys the native runtime has no use for (rateLimiting,
  // chroot, filesystem, runner, container.images, apiProxy.<other keys>):
  // named for a warning.
  std::vector<std::string> ignored;
};

enum class ConfigSyntax { json, yaml, guess };
// `.json` -> json, `.yaml`/`.yml` -> yaml, anything else (and `-`) -> guess
// (JSON first, then YAML).
ConfigSyntax config_syntax_for(std::string_view path);

// Parses and validates config text. `source` names it in messages ("-" is
// shown as "stdin"). Errors are the full awf text:
//   `Error loading --config: Failed to parse AWF config from <src>: <why>`
//   `Error loading --config: Invalid AWF config at <src>:\n- <problem>\n- ...`
Result<ConfigFile> parse_config_text(std::string_view text, std::string_view source, ConfigSyntax syntax);

// Reads `path` (or stdin for "-", through `read_stdin`) and parses it.
Result<ConfigFile> load_config_file(const std::string& path,
                                    const std::function<std::string()>& read_stdin = {});

}  // namespace awf::cli
