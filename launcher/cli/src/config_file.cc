// Loading and validating awf's --config file (JSON or YAML).
#include "awf/cli/config_file.h"

#include <yaml-cpp/yaml.h>

#include <cctype>

#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "awf/logs/json.h"

namespace awf::cli {

namespace {

using Value = boost::json::value;

// A number as a double, whichever way Boost.JSON holds it.
double number_of(const Value& v) { return v.to_number<double>(); }

std::string text_of(const Value& v) { return std::string(v.as_string()); }

// YAML -> the JSON data model, with YAML 1.2 core-schema typing of plain scalars.
Value from_yaml(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return Value(nullptr);
    case YAML::NodeType::Sequence: {
      boost::json::array a;
      for (const auto& item : node) a.push_back(from_yaml(item));
      return Value(std::move(a));
    }
    case YAML::NodeType::Map: {
      boost::json::object o;
      for (const auto& kv : node) o.insert_or_assign(kv.first.Scalar(), from_yaml(kv.second));
      return Value(std::move(o));
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& s = node.Scalar();
  // The whole scalar, NUL bytes included: a C string would end at the first
  // one, and `"evil.test\0.github.com"` would load as `evil.test`.
  const boost::json::string_view text(s.data(), s.size());
  if (node.Tag() == "!") return Value(text);  // quoted: always a string
  if (s == "true" || s == "True" || s == "TRUE") return Value(true);
  if (s == "false" || s == "False" || s == "FALSE") return Value(false);
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Value(nullptr);
  // Numbers as JSON writes them (plus a leading '+'), everything else is text.
  auto parsed = json::parse_value(s.front() == '+' ? s.substr(1) : s);
  if (parsed.ok() && parsed->is_number()) return *parsed;
  return Value(text);
}

class Reader {
 public:
  explicit Reader(const Value& root) : root_(root) {}

  std::vector<std::string> problems;

  const Value* section(const char* name, const std::set<std::string>& keys) {
    const Value* s = json::find(root_, name);
    if (!s || s->is_null()) return nullptr;
    if (!s->is_object()) {
      problems.push_back(std::string("/") + name + " must be object");
      return nullptr;
    }
    for (const auto& kv : s->as_object()) {
      const std::string k(kv.key());
      if (!keys.count(k)) problems.push_back(std::string("/") + name + " must NOT have additional properties (" + k + ")");
    }
    return s;
  }

  void str(const Value* sec, const char* sec_name, const char* key, std::optional<std::string>& out) {
    const Value* v = member(sec, key);
    if (!v) return;
    if (!v->is_string()) return bad(sec_name, key, "string");
    out = text_of(*v);
  }

  void boolean(const Value* sec, const char* sec_name, const char* key, std::optional<bool>& out) {
    const Value* v = member(sec, key);
    if (!v) return;
    if (!v->is_bool()) return bad(sec_name, key, "boolean");
    out = v->as_bool();
  }

  // A number or a string, kept as text (pidsLimit, agentTimeout).
  void number_text(const Value* sec, const char* sec_name, const char* key, std::optional<std::string>& out) {
    const Value* v = member(sec, key);
    if (!v) return;
    if (v->is_string()) {
      out = text_of(*v);
    } else if (v->is_number()) {
      out = json::number_to_string(number_of(*v));
    } else {
      bad(sec_name, key, "integer");
    }
  }

  // Array of strings; empty arrays map to "unset".
  void strings(const Value* sec, const char* sec_name, const char* key, std::optional<std::vector<std::string>>& out) {
    const Value* v = member(sec, key);
    if (!v) return;
    if (!v->is_array()) return bad(sec_name, key, "array");
    std::vector<std::string> items;
    for (std::size_t i = 0; i < v->as_array().size(); ++i) {
      const Value& item = v->as_array()[i];
      if (!item.is_string()) {
        problems.push_back(std::string("/") + sec_name + "/" + key + "/" + std::to_string(i) + " must be string");
        return;
      }
      items.push_back(text_of(item));
    }
    if (!items.empty()) out = std::move(items);
  }

  // A model policy list: unlike the other arrays, an empty one is an error
  // (it would quietly mean "no restriction"), and so is an empty pattern.
  // `unset_hint`: what leaving the key out means, named where an empty
  // list is refused.
  void model_list(const Value* sec, const char* sec_name, const char* key,
                  std::optional<std::vector<std::string>>& out, const char* unset_hint = "no model restriction") {
    const Value* v = member(sec, key);
    if (!v) return;
    const std::string where = std::string("/") + sec_name + "/" + key;
    if (!v->is_array()) return bad(sec_name, key, "array");
    if (v->as_array().empty()) {
      problems.push_back(where + " must NOT have fewer than 1 items (leave it out for " + unset_hint + ")");
      return;
    }
    std::vector<std::string> items;
    for (std::size_t i = 0; i < v->as_array().size(); ++i) {
      const Value& item = v->as_array()[i];
      if (!item.is_string() || item.as_string().empty()) {
        problems.push_back(where + "/" + std::to_string(i) +
                           (item.is_string() ? " must NOT have fewer than 1 characters" : " must be string"));
        return;
      }
      items.push_back(text_of(item));
    }
    out = std::move(items);
  }

  // Array of ports (numbers or strings) or one comma-list string.
  void ports(const Value* sec, const char* sec_name, const char* key, std::optional<std::string>& out) {
    const Value* v = member(sec, key);
    if (!v) return;
    if (v->is_string()) {
      out = text_of(*v);
      return;
    }
    if (!v->is_array()) return bad(sec_name, key, "string or array");
    std::string joined;
    for (const auto& item : v->as_array()) {
      std::string text;
      if (item.is_string()) {
        text = text_of(item);
      } else if (item.is_number()) {
        text = json::number_to_string(number_of(item));
      } else {
        return bad(sec_name, key, "string or array");
      }
      joined += (joined.empty() ? "" : ",") + text;
    }
    if (!joined.empty()) out = joined;
  }

 private:
  static const Value* member(const Value* sec, const char* key) {
    if (!sec) return nullptr;
    const Value* v = json::find(*sec, key);
    return v && !v->is_null() ? v : nullptr;
  }
  void bad(const char* sec, const char* key, const char* type) {
    problems.push_back(std::string("/") + sec + "/" + key + " must be " + type);
  }

  const Value& root_;
};

Result<ConfigFile> validate(const Value& root, const std::string& source) {
  if (!root.is_object()) {
    return Error{"Error loading --config: Invalid AWF config at " + source + ":\n- / must be object"};
  }
  static const std::set<std::string> kTop = {"$schema", "network", "security", "container", "environment",
                                             "logging", "rateLimiting", "chroot", "filesystem", "runner",
                                             "apiProxy"};
  ConfigFile c;
  Reader r(root);
  for (const auto& kv : root.as_object()) {
    const std::string k(kv.key());
    if (!kTop.count(k)) r.problems.push_back("/ must NOT have additional properties (" + k + ")");
  }
  for (const char* ignored : {"rateLimiting", "chroot", "filesystem", "runner"}) {
    if (const auto* v = json::find(root, ignored); v && !v->is_null()) c.ignored.push_back(ignored);
  }

  if (const auto* n = r.section("network", {"allowDomains", "blockDomains", "dnsServers", "upstreamProxy",
                                            "isolation", "topologyAttach", "dnsPolicy", "tunnelSniCheck"})) {
    r.strings(n, "network", "allowDomains", c.allow_domains);
    r.strings(n, "network", "blockDomains", c.block_domains);
    r.strings(n, "network", "dnsServers", c.dns_servers);
    r.str(n, "network", "upstreamProxy", c.upstream_proxy);
    r.boolean(n, "network", "isolation", c.network_isolation);
    r.strings(n, "network", "topologyAttach", c.topology_attach);
    r.str(n, "network", "dnsPolicy", c.dns_policy);
    r.str(n, "network", "tunnelSniCheck", c.tunnel_sni_check);
  }
  if (const auto* s = r.section("security", {"sslBump", "legacySecurity", "securityMode", "enableDlp",
                                             "enableHostAccess", "allowHostPorts", "allowHostServicePorts"})) {
    r.boolean(s, "security", "sslBump", c.ssl_bump);
    r.boolean(s, "security", "legacySecurity", c.legacy_security);
    std::optional<std::string> mode;
    r.str(s, "security", "securityMode", mode);
    if (mode) {
      if (*mode == "compat") {
        c.legacy_security = true;
      } else if (*mode != "strict") {
        r.problems.push_back("/security/securityMode must be equal to one of the allowed values (strict, compat)");
      }
    }
    r.boolean(s, "security", "enableDlp", c.enable_dlp);
    r.boolean(s, "security", "enableHostAccess", c.enable_host_access);
    r.ports(s, "security", "allowHostPorts", c.allow_host_ports);
    r.ports(s, "security", "allowHostServicePorts", c.allow_host_service_ports);
  }
  if (const auto* k = r.section("container", {"memoryLimit", "pidsLimit", "agentTimeout", "enableDind", "workDir",
                                              "containerWorkDir", "imageRegistry", "imageTag", "skipPull",
                                              "buildLocal", "agentImage", "tty", "dockerHost",
                                              "dockerHostPathPrefix", "containerRuntime", "mounts", "images",
                                              "runtime"})) {
    r.str(k, "container", "memoryLimit", c.memory_limit);
    r.number_text(k, "container", "pidsLimit", c.pids_limit);
    r.number_text(k, "container", "agentTimeout", c.agent_timeout);
    r.boolean(k, "container", "enableDind", c.enable_dind);
    r.str(k, "container", "workDir", c.work_dir);
    r.str(k, "container", "containerWorkDir", c.container_workdir);
    r.str(k, "container", "imageRegistry", c.image_registry);
    r.str(k, "container", "imageTag", c.image_tag);
    r.boolean(k, "container", "skipPull", c.skip_pull);
    r.boolean(k, "container", "buildLocal", c.build_local);
    r.str(k, "container", "agentImage", c.agent_image);
    r.boolean(k, "container", "tty", c.tty);
    r.str(k, "container", "dockerHost", c.docker_host);
    r.str(k, "container", "dockerHostPathPrefix", c.docker_host_path_prefix);
    r.str(k, "container", "containerRuntime", c.container_runtime);
    r.strings(k, "container", "mounts", c.mounts);
    r.str(k, "container", "runtime", c.runtime);
    if (const auto* images = json::find(*k, "images"); images && !images->is_null()) c.ignored.push_back("container.images");
  }
  if (const auto* e = r.section("environment", {"envFile", "envAll", "excludeEnv"})) {
    r.str(e, "environment", "envFile", c.env_file);
    r.boolean(e, "environment", "envAll", c.env_all);
    r.strings(e, "environment", "excludeEnv", c.exclude_env);
  }
  if (const auto* l = r.section("logging", {"logLevel", "diagnosticLogs", "auditDir", "proxyLogsDir",
                                            "sessionStateDir"})) {
    r.str(l, "logging", "logLevel", c.log_level);
    r.boolean(l, "logging", "diagnosticLogs", c.diagnostic_logs);
    r.str(l, "logging", "auditDir", c.audit_dir);
    r.str(l, "logging", "proxyLogsDir", c.proxy_logs_dir);
    r.str(l, "logging", "sessionStateDir", c.session_state_dir);
  }

  if (const auto* a = json::find(root, "apiProxy"); a && !a->is_null()) {
    if (!a->is_object()) {
      r.problems.push_back("/apiProxy must be object");
    } else {
      // awf's other apiProxy keys (rate limits, budgets, ...) have
      // no counterpart here: named, not refused, so a shared config loads.
      for (const auto& kv : a->as_object()) {
        const std::string k(kv.key());
        if (k != "caCert" && k != "allowedModels" && k != "disallowedModels" && k != "fallbackModels" &&
            !kv.value().is_null()) {
          c.ignored.push_back("apiProxy." + k);
        }
      }
      r.str(a, "apiProxy", "caCert", c.api_proxy_ca_cert);
      r.model_list(a, "apiProxy", "allowedModels", c.allowed_models);
      r.model_list(a, "apiProxy", "disallowedModels", c.disallowed_models);
      r.model_list(a, "apiProxy", "fallbackModels", c.fallback_models, "no fallback");
    }
  }

  if (!r.problems.empty()) {
    std::string msg = "Error loading --config: Invalid AWF config at " + source + ":";
    for (const auto& p : r.problems) msg += "\n- " + p;
    return Error{msg};
  }
  return c;
}

Result<Value> parse_yaml(std::string_view text) {
  try {
    YAML::Node node = YAML::Load(std::string(text));
    return from_yaml(node);
  } catch (const YAML::Exception& e) {
    return Error{e.what()};
  }
}

}  // namespace

ConfigSyntax config_syntax_for(std::string_view path) {
  auto ends = [&](std::string_view ext) {
    if (path.size() < ext.size()) return false;
    std::string tail(path.substr(path.size() - ext.size()));
    for (char& ch : tail) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return tail == ext;
  };
  if (ends(".json")) return ConfigSyntax::json;
  if (ends(".yaml") || ends(".yml")) return ConfigSyntax::yaml;
  return ConfigSyntax::guess;
}

Result<ConfigFile> parse_config_text(std::string_view text, std::string_view source_arg, ConfigSyntax syntax) {
  std::string source = source_arg == "-" ? "stdin" : std::string(source_arg);
  auto fail = [&](const std::string& why) {
    return Error{"Error loading --config: Failed to parse AWF config from " + source + ": " + why};
  };
  Result<Value> tree = Error{""};
  switch (syntax) {
    case ConfigSyntax::json:
      tree = json::parse_value(text);
      if (!tree.ok()) return fail(tree.message());
      break;
    case ConfigSyntax::yaml:
      tree = parse_yaml(text);
      if (!tree.ok()) return fail(tree.message());
      break;
    case ConfigSyntax::guess:
      tree = json::parse_value(text);
      if (!tree.ok()) {
        tree = parse_yaml(text);
        if (!tree.ok()) return fail(tree.message());
      }
      break;
  }
  return validate(*tree, source);
}

Result<ConfigFile> load_config_file(const std::string& path, const std::function<std::string()>& read_stdin) {
  std::string text;
  if (path == "-") {
    if (read_stdin) {
      text = read_stdin();
    } else {
      std::ostringstream ss;
      ss << std::cin.rdbuf();
      text = ss.str();
    }
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return Error{"Error loading --config: Failed to parse AWF config from " + path +
                   ": ENOENT: no such file or directory, open '" + path + "'"};
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  return parse_config_text(text, path, config_syntax_for(path));
}

}  // namespace awf::cli
