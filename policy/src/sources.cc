// Reading policy from awf's inputs: comma lists, domains files, ruleset YAML
// and the network part of awf's --config file, with awf's error messages.
#include "awf/policy/sources.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <sys/stat.h>

namespace awf::policy {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Reads a whole file; the error names the path and errno.
Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{path + ": " + std::strerror(errno)};
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Error{path + ": " + std::strerror(errno)};
  return ss.str();
}

// js-yaml (YAML 1.2 core schema) types of a plain scalar; quoted scalars
// (tag "!") are always strings.
bool is_plain(const YAML::Node& n) { return n.IsScalar() && n.Tag() != "!"; }
bool is_yaml_null(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return true;
  if (!is_plain(n)) return false;
  const auto& s = n.Scalar();
  return s == "~" || s == "null" || s == "Null" || s == "NULL" || s.empty();
}
bool is_yaml_bool(const YAML::Node& n, bool* value = nullptr) {
  if (!is_plain(n)) return false;
  const auto& s = n.Scalar();
  if (s == "true" || s == "True" || s == "TRUE") {
    if (value) *value = true;
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    if (value) *value = false;
    return true;
  }
  return false;
}
bool is_yaml_number(const YAML::Node& n) {
  if (!is_plain(n)) return false;
  static const std::regex number(
      R"(^[-+]?(0|[1-9][0-9]*|0x[0-9a-fA-F]+|0o[0-7]+)$|^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$)");
  return std::regex_match(n.Scalar(), number);
}
bool is_yaml_string(const YAML::Node& n) {
  return n.IsScalar() && !is_yaml_null(n) && !is_yaml_bool(n) && !is_yaml_number(n);
}

// How JavaScript would print a scalar value in a template string.
std::string js_text(const YAML::Node& n) {
  if (is_yaml_null(n)) return "null";
  if (n.IsSequence()) return "[object Array]";
  if (n.IsMap()) return "[object Object]";
  return n.Scalar();
}

}  // namespace

std::vector<std::string> split_domain_list(std::string_view list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    auto comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    auto item = trim(list.substr(start, comma - start));
    if (!item.empty()) out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

Result<std::vector<std::string>> read_domains_file(const std::string& path) {
  if (!file_exists(path)) return Error{"Domains file not found: " + path};
  auto content = read_file(path);
  if (!content) return content.error();
  std::vector<std::string> out;
  std::string_view text = *content;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    line = trim(line.substr(0, line.find('#')));
    if (!line.empty()) {
      if (line.find(',') != std::string_view::npos) {
        for (auto& d : split_domain_list(line)) out.push_back(std::move(d));
      } else {
        out.emplace_back(line);
      }
    }
    start = nl + 1;
  }
  return out;
}

Result<std::vector<std::string>> read_ruleset_file(const std::string& path, std::vector<std::string>* warnings) {
  const std::string prefix = "Failed to load ruleset file: ";
  if (!file_exists(path)) return Error{prefix + "Ruleset file not found: " + path};
  auto content = read_file(path);
  if (!content) return Error{prefix + "Failed to read ruleset file " + content.message()};
  YAML::Node root;
  try {
    root = YAML::Load(*content);
  } catch (const YAML::Exception& e) {
    return Error{prefix + "Invalid YAML in ruleset file " + path + ": " + e.what()};
  }
  if (is_yaml_null(root)) return Error{prefix + "Ruleset file " + path + " is empty"};
  if (!root.IsMap()) {
    return Error{prefix + "Ruleset file " + path +
                 " must contain a YAML object with \"version\" and \"rules\" fields"};
  }
  const YAML::Node version = root["version"];
  if (!version.IsDefined()) {
    return Error{prefix + "Ruleset file " + path + " is missing required \"version\" field"};
  }
  bool version_ok = false;
  if (is_yaml_number(version)) {
    try {
      version_ok = version.as<double>() == 1.0;
    } catch (const YAML::Exception&) {
      version_ok = false;
    }
  }
  if (!version_ok) {
    return Error{prefix + "Unsupported ruleset version " + js_text(version) + " in " + path +
                 " (expected 1)"};
  }
  const YAML::Node rules = root["rules"];
  if (!rules.IsDefined()) {
    return Error{prefix + "Ruleset file " + path + " is missing required \"rules\" field"};
  }
  if (!rules.IsSequence()) return Error{prefix + "\"rules\" field in " + path + " must be an array"};
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const YAML::Node rule = rules[i];
    const std::string at = "Rule at index " + std::to_string(i) + " in " + path;
    if (!rule.IsMap()) return Error{prefix + at + " must be an object with a \"domain\" field"};
    const YAML::Node domain = rule["domain"];
    if (!domain.IsDefined() || !is_yaml_string(domain)) {
      return Error{prefix + at + " is missing required \"domain\" string field"};
    }
    const std::string d(trim(domain.Scalar()));
    if (d.empty()) return Error{prefix + at + " has an empty \"domain\" field"};
    const YAML::Node subdomains = rule["subdomains"];
    // awf checks the type but ignores the value: every plain entry matches
    // its subdomains. A `false` there asks for something neither awf nor we
    // do, so it is accepted (compatibility) and said to be ignored.
    bool subdomains_value = true;
    if (subdomains.IsDefined() && !is_yaml_bool(subdomains, &subdomains_value)) {
      return Error{prefix + at + ": \"subdomains\" must be a boolean"};
    }
    if (!subdomains_value && warnings) {
      warnings->push_back("ruleset " + path + ", rule " + std::to_string(i) + " (domain '" + d +
                          "'): \"subdomains: false\" is ignored: as in awf, an entry always matches its "
                          "subdomains too, and no entry form matches one name alone");
    }
    if (seen.insert(d).second) out.push_back(d);
  }
  return out;
}

namespace {

// The part of awf's JSON schema that concerns the network policy, checked
// with messages in ajv's shape (`<path> must be <type>`).
void check_string_array(const YAML::Node& n, const std::string& where, std::vector<std::string>& errors,
                        std::optional<std::vector<std::string>>& out) {
  if (!n.IsDefined()) return;
  if (!n.IsSequence()) {
    errors.push_back(where + " must be array");
    return;
  }
  std::vector<std::string> values;
  for (std::size_t i = 0; i < n.size(); ++i) {
    if (!is_yaml_string(n[i])) {
      errors.push_back(where + "/" + std::to_string(i) + " must be string");
      continue;
    }
    values.push_back(n[i].Scalar());
  }
  // awf maps empty arrays to "unset".
  if (!values.empty()) out = std::move(values);
}

}  // namespace

Result<NetworkConfig> read_awf_config(const std::string& path) {
  const std::string parse_prefix = "Failed to parse AWF config from " + path + ": ";
  auto content = read_file(path);
  if (!content) return Error{parse_prefix + content.message()};
  YAML::Node root;
  try {
    root = YAML::Load(*content);
  } catch (const YAML::Exception& e) {
    return Error{parse_prefix + e.what()};
  }
  std::vector<std::string> errors;
  NetworkConfig cfg;
  if (!root.IsMap()) {
    errors.push_back("must be object");
  } else {
    static const std::set<std::string> known = {"$schema", "network", "security", "container",
                                                "environment", "logging", "rateLimiting", "chroot",
                                                "filesystem", "runner", "apiProxy"};
    for (const auto& kv : root) {
      const std::string key = kv.first.Scalar();
      if (!known.count(key)) errors.push_back("must NOT have additional property '" + key + "'");
    }
    const YAML::Node network = root["network"];
    if (network.IsDefined() && !network.IsNull()) {
      if (!network.IsMap()) {
        errors.push_back("/network must be object");
      } else {
        check_string_array(network["allowDomains"], "/network/allowDomains", errors, cfg.allow_domains);
        check_string_array(network["blockDomains"], "/network/blockDomains", errors, cfg.block_domains);
        check_string_array(network["dnsServers"], "/network/dnsServers", errors, cfg.dns_servers);
      }
    }
    const YAML::Node security = root["security"];
    if (security.IsDefined() && !security.IsNull()) {
      if (!security.IsMap()) {
        errors.push_back("/security must be object");
      } else {
        const YAML::Node ports = security["allowHostPorts"];
        if (ports.IsDefined()) {
          if (ports.IsSequence()) {
            std::string joined;
            for (std::size_t i = 0; i < ports.size(); ++i) {
              if (!ports[i].IsScalar() || is_yaml_null(ports[i]) || is_yaml_bool(ports[i])) {
                errors.push_back("/security/allowHostPorts/" + std::to_string(i) + " must be string");
                continue;
              }
              if (!joined.empty()) joined += ',';
              joined += ports[i].Scalar();
            }
            cfg.allow_host_ports = joined;
          } else if (is_yaml_string(ports)) {
            cfg.allow_host_ports = ports.Scalar();
          } else {
            errors.push_back("/security/allowHostPorts must be array or string");
          }
        }
        const YAML::Node host_access = security["enableHostAccess"];
        if (host_access.IsDefined()) {
          bool value = false;
          if (is_yaml_bool(host_access, &value)) cfg.enable_host_access = value;
          else errors.push_back("/security/enableHostAccess must be boolean");
        }
      }
    }
  }
  if (!errors.empty()) {
    std::string msg = "Invalid AWF config at " + path + ":";
    for (const auto& e : errors) msg += "\n- " + e;
    return Error{msg};
  }
  return cfg;
}

Result<PolicySpec> build_spec(const PolicyFlags& flags, std::vector<std::string>* warnings) {
  PolicySpec spec;
  for (const auto& list : flags.allow_domains) {
    for (auto& d : split_domain_list(list)) spec.allow.push_back(std::move(d));
  }
  for (const auto& path : flags.allow_domains_files) {
    auto entries = read_domains_file(path);
    if (!entries) return Error{"Failed to read domains file: " + entries.message()};
    for (auto& d : *entries) spec.allow.push_back(std::move(d));
  }
  for (const auto& path : flags.ruleset_files) {
    auto entries = read_ruleset_file(path, warnings);
    if (!entries) return entries.error();
    for (auto& d : *entries) spec.allow.push_back(std::move(d));
  }
  for (const auto& list : flags.block_domains) {
    for (auto& d : split_domain_list(list)) spec.block.push_back(std::move(d));
  }
  for (const auto& path : flags.block_domains_files) {
    auto entries = read_domains_file(path);
    if (!entries) return Error{"Failed to read blocked domains file: " + entries.message()};
    for (auto& d : *entries) spec.block.push_back(std::move(d));
  }
  // Dedupe by exact string, keeping first occurrences (awf uses a JS Set).
  auto dedupe = [](std::vector<std::string>& v) {
    std::set<std::string> seen;
    std::vector<std::string> out;
    for (auto& s : v) {
      if (seen.insert(s).second) out.push_back(std::move(s));
    }
    v = std::move(out);
  };
  dedupe(spec.allow);
  dedupe(spec.block);
  if (!flags.allow_host_ports.empty()) {
    auto ports = parse_port_list(flags.allow_host_ports);
    if (!ports) return ports.error();
    spec.extra_ports = std::move(*ports);
  }
  return spec;
}

}  // namespace awf::policy
