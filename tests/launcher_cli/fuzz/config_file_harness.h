// awf's --config file under arbitrary text, shared by the config_file fuzz
// target and launcher_cli_tests' corpus replay: parsed as JSON, as YAML and
// guessed; a config that loads is written back as JSON (every mapped key)
// and must load to the same settings. check_config_file() returns "" when
// every invariant held, else what broke.
#pragma once

#include <boost/json.hpp>

#include <string>
#include <string_view>

#include "awf/cli/config_file.h"
#include "awf/logs/json.h"

namespace awf::cli::fuzz {

// Every mapped key of ConfigFile: section, key, member. Kept in the order
// config_file.cc reads them.
#define AWF_CONFIG_FIELDS(X)                                      \
  X("network", "allowDomains", allow_domains)                     \
  X("network", "blockDomains", block_domains)                     \
  X("network", "dnsServers", dns_servers)                         \
  X("network", "upstreamProxy", upstream_proxy)                   \
  X("network", "isolation", network_isolation)                    \
  X("network", "topologyAttach", topology_attach)                 \
  X("network", "dnsPolicy", dns_policy)                           \
  X("network", "tunnelSniCheck", tunnel_sni_check)                \
  X("security", "sslBump", ssl_bump)                              \
  X("security", "legacySecurity", legacy_security)                \
  X("security", "enableDlp", enable_dlp)                          \
  X("security", "enableHostAccess", enable_host_access)           \
  X("security", "allowHostPorts", allow_host_ports)               \
  X("security", "allowHostServicePorts", allow_host_service_ports) \
  X("container", "memoryLimit", memory_limit)                     \
  X("container", "pidsLimit", pids_limit)                         \
  X("container", "agentTimeout", agent_timeout)                   \
  X("container", "enableDind", enable_dind)                       \
  X("container", "workDir", work_dir)                             \
  X("container", "containerWorkDir", container_workdir)           \
  X("container", "imageRegistry", image_registry)                 \
  X("container", "imageTag", image_tag)                           \
  X("container", "skipPull", skip_pull)                           \
  X("container", "buildLocal", build_local)                       \
  X("container", "agentImage", agent_image)                       \
  X("container", "tty", tty)                                      \
  X("container", "dockerHost", docker_host)                       \
  X("container", "dockerHostPathPrefix", docker_host_path_prefix) \
  X("container", "containerRuntime", container_runtime)           \
  X("container", "mounts", mounts)                                \
  X("container", "runtime", runtime)                              \
  X("environment", "envFile", env_file)                           \
  X("environment", "envAll", env_all)                             \
  X("environment", "excludeEnv", exclude_env)                     \
  X("logging", "logLevel", log_level)                             \
  X("logging", "diagnosticLogs", diagnostic_logs)                 \
  X("logging", "auditDir", audit_dir)                             \
  X("logging", "proxyLogsDir", proxy_logs_dir)                    \
  X("logging", "sessionStateDir", session_state_dir)              \
  X("apiProxy", "caCert", api_proxy_ca_cert)                      \
  X("apiProxy", "allowedModels", allowed_models)                  \
  X("apiProxy", "disallowedModels", disallowed_models)            \
  X("apiProxy", "fallbackModels", fallback_models)

inline boost::json::value to_json_value(const std::string& s) { return boost::json::value(s); }
inline boost::json::value to_json_value(bool b) { return boost::json::value(b); }
inline boost::json::value to_json_value(const std::vector<std::string>& v) {
  boost::json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

// The settings as a config file that loads to them: mapped keys, plus the
// ignored sections and keys (as empty objects or a number) so `ignored`
// round-trips too.
inline std::string to_config_json(const ConfigFile& c) {
  boost::json::object root;
  auto section = [&](const char* name) -> boost::json::object& {
    if (!root.contains(name)) root[name] = boost::json::object();
    return root[name].as_object();
  };
#define AWF_CONFIG_WRITE(sec, key, member) \
  if (c.member) section(sec)[key] = to_json_value(*c.member);
  AWF_CONFIG_FIELDS(AWF_CONFIG_WRITE)
#undef AWF_CONFIG_WRITE
  for (const std::string& name : c.ignored) {
    if (name == "container.images") {
      section("container")["images"] = boost::json::object();
    } else if (name.rfind("apiProxy.", 0) == 0) {
      section("apiProxy")[name.substr(9)] = 1;
    } else {
      root[name] = boost::json::object();
    }
  }
  return json::stringify(boost::json::value(std::move(root)));
}

// YAML limits an implicit key to 1024 characters (YAML 1.2 §7.4.2), so a
// longer JSON key is no YAML: the superset check skips such configs.
inline bool has_long_key(const boost::json::value& v) {
  if (v.is_object()) {
    for (const auto& kv : v.as_object()) {
      if (json::stringify(boost::json::value(kv.key())).size() > 1000 || has_long_key(kv.value())) return true;
    }
  }
  return false;
}

inline std::string check_config_file(std::string_view text) {
  const auto as_json = parse_config_text(text, "fuzz.json", ConfigSyntax::json);
  const auto as_yaml = parse_config_text(text, "fuzz.yaml", ConfigSyntax::yaml);
  const auto guessed = parse_config_text(text, "-", ConfigSyntax::guess);
  for (const auto* r : {&as_json, &as_yaml, &guessed}) {
    if (!r->ok() && r->message().rfind("Error loading --config: ", 0) != 0) {
      return "refused without awf's prefix: " + r->message();
    }
  }
  // Guessing reads JSON first: what loads as JSON loads the same guessed.
  if (as_json.ok() && (!guessed.ok() || to_config_json(*guessed) != to_config_json(*as_json))) {
    return "guessing changed a JSON config";
  }
  for (const auto* r : {&as_json, &as_yaml}) {
    if (!r->ok()) continue;
    const std::string written = to_config_json(**r);
    const auto back = parse_config_text(written, "written.json", ConfigSyntax::json);
    if (!back.ok()) return "a loaded config written back does not load: " + back.message() + "\n" + written;
    if (to_config_json(*back) != written) return "a loaded config written back loads to other settings";
    // YAML is a superset of JSON: the same text loads the same as YAML.
    if (has_long_key(*json::parse_value(written))) continue;
    const auto back_yaml = parse_config_text(written, "written.yaml", ConfigSyntax::yaml);
    if (!back_yaml.ok() || to_config_json(*back_yaml) != written) {
      return "a written config loads differently as YAML: " + written;
    }
  }
  return "";
}

}  // namespace awf::cli::fuzz
