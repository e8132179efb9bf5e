// Agent environment construction: exclusion set, env files and precedence.
#include "awf/cli/environment.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "awf/api/federation.h"

namespace awf::cli {

Environment environment_from(char** envp) {
  Environment env;
  for (char** p = envp; p && *p; ++p) {
    std::string_view entry(*p);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

bool is_proxy_variable(std::string_view name) {
  static const std::set<std::string, std::less<>> kProxy = {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                                                           "https_proxy", "ALL_PROXY",   "all_proxy",
                                                           "FTP_PROXY",  "ftp_proxy",   "NO_PROXY",
                                                           "no_proxy"};
  return kProxy.count(name) > 0;
}

const std::set<std::string>& excluded_variables() {
  static const std::set<std::string> kExcluded = [] {
    std::set<std::string> names = {
        // Host process state that is wrong inside the sandbox.
        "PATH", "PWD", "OLDPWD", "SHLVL", "_", "SUDO_COMMAND", "SUDO_USER", "SUDO_UID", "SUDO_GID",
        // Proxy variables: the sandbox's own values must win.
        "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy", "FTP_PROXY",
        "ftp_proxy", "NO_PROXY", "no_proxy",
        // Switches our runtime sets for the entrypoint; a host value must not leak in.
        "AWF_DNS_SERVERS", "AWF_CHROOT_ENABLED", "AWF_USER_UID", "AWF_USER_GID", "AWF_WORKDIR", "AWF_HOST_PATH",
        "AWF_ENABLE_HOST_ACCESS", "AWF_ALLOW_HOST_PORTS", "AWF_ONE_SHOT_TOKENS", "AWF_API_PROXY_IP"};
    // The credentials the API proxy holds (and the Actions runtime tokens):
    // one list, the API proxy's own, so the two cannot drift apart.
    const auto& withheld = api::withheld_variables();
    names.insert(withheld.begin(), withheld.end());
    // awf's OIDC settings configure the API proxy; the agent has no use for
    // them (and a copy would tell it how the proxy authenticates).
    const auto& auth = api::auth_variables();
    names.insert(auth.begin(), auth.end());
    return names;
  }();
  return kExcluded;
}

const std::vector<std::string>& passthrough_variables() {
  static const std::vector<std::string> kPassthrough = {
      "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_PERSONAL_ACCESS_TOKEN", "USER", "XDG_CONFIG_HOME", "GITHUB_SERVER_URL",
      "GITHUB_API_URL", "AZURE_CONFIG_DIR", "ADO_MCP_AUTH_TOKEN", "DOCKER_HOST", "DOCKER_TLS", "DOCKER_TLS_VERIFY",
      "DOCKER_CERT_PATH", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_API_VERSION", "DOCKER_DEFAULT_PLATFORM",
      "COPILOT_OTEL_FILE_EXPORTER_PATH", "GITHUB_AW_OTEL_TRACE_ID", "GITHUB_AW_OTEL_PARENT_SPAN_ID"};
  return kPassthrough;
}

Result<std::pair<std::string, std::string>> parse_env_assignment(std::string_view text) {
  auto eq = text.find('=');
  // `^([^=]+)=(.*)$`: a non-empty name before the first `=`; `.` stops at
  // line breaks, so a value spanning lines does not match either.
  bool ok = eq != std::string_view::npos && eq > 0 && text.find('\n') == std::string_view::npos &&
            text.find('\r') == std::string_view::npos;
  if (!ok) return Error{"Invalid environment variable format: " + std::string(text) + " (expected KEY=VALUE)"};
  return std::make_pair(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
}

namespace {
bool is_env_name(std::string_view s) {
  if (s.empty()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(s.front())) return false;
  for (char c : s) {
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}
}  // namespace

EnvPairs parse_env_file(std::string_view text) {
  EnvPairs out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = line.substr(0, eq);
    if (!is_env_name(key)) continue;
    out.emplace_back(std::string(key), std::string(line.substr(eq + 1)));
  }
  return out;
}

Result<EnvPairs> read_env_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"--env-file: file not found: " + path};
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_env_file(ss.str());
}

namespace {
// The host part of `https://ghe.example.com/...`.
std::string url_host(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme != std::string_view::npos) url = url.substr(scheme + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  auto at = url.rfind('@');
  if (at != std::string_view::npos) url = url.substr(at + 1);
  return std::string(url);
}
}  // namespace

AgentEnvironment build_agent_environment(const EnvSettings& settings, const Environment& host,
                                         const Environment& core, const Environment& late,
                                         const api::AgentApiEnvironment& api) {
  AgentEnvironment out;
  Environment& env = out.vars;
  std::set<std::string> excluded = excluded_variables();
  excluded.insert(settings.exclude.begin(), settings.exclude.end());
  excluded.insert(api.withheld.begin(), api.withheld.end());
  const auto& withheld = api::withheld_variables();
  auto fill = [&](const std::string& k, const std::string& v) {
    if (!excluded.count(k)) env.emplace(k, v);  // emplace never overwrites
  };

  // 1. What the runtime always sets.
  for (const auto& [k, v] : core) env[k] = v;

  // 2. Host variables forwarded without --env-all.
  for (const auto& name : passthrough_variables()) {
    if (auto it = host.find(name); it != host.end()) fill(name, it->second);
  }
  if (!settings.tty) {
    if (auto it = host.find("TERM"); it != host.end()) fill("TERM", it->second);
  }
  if (auto it = host.find("GITHUB_SERVER_URL"); it != host.end()) {
    std::string h = url_host(it->second);
    if (!h.empty() && h != "github.com") fill("GH_HOST", h);
  }

  // 3. --env-all.
  if (settings.env_all) {
    std::vector<std::string> oversized;
    for (const auto& [k, v] : host) {
      if (excluded.count(k)) continue;
      if (v.size() > kEnvValueMaxBytes) {
        oversized.push_back(k);
        continue;
      }
      env.emplace(k, v);
    }
    if (!oversized.empty()) {
      std::string names;
      for (const auto& n : oversized) names += (names.empty() ? "" : ", ") + n;
      out.warnings.push_back("Skipped environment variables larger than 64 KiB from --env-all: " + names);
    }
  }

  // 4. --env-file.
  for (const auto& [k, v] : settings.env_file) fill(k, v);

  // 5. -e overrides; excluded names are dropped except the proxy variables.
  bool set_no_proxy = false, set_lower_no_proxy = false;
  std::vector<std::string> dropped;
  for (const auto& [k, v] : settings.assignments) {
    if (std::find(withheld.begin(), withheld.end(), k) != withheld.end() ||
        std::find(api.withheld.begin(), api.withheld.end(), k) != api.withheld.end()) {
      if (std::find(dropped.begin(), dropped.end(), k) == dropped.end()) dropped.push_back(k);
      continue;
    }
    if (excluded.count(k) && !is_proxy_variable(k)) continue;
    env[k] = v;
    set_no_proxy = set_no_proxy || k == "NO_PROXY";
    set_lower_no_proxy = set_lower_no_proxy || k == "no_proxy";
  }
  if (set_no_proxy && !set_lower_no_proxy) env["no_proxy"] = env["NO_PROXY"];
  if (set_lower_no_proxy && !set_no_proxy) env["NO_PROXY"] = env["no_proxy"];

  if (!dropped.empty()) {
    std::string names;
    for (const auto& n : dropped) names += (names.empty() ? "" : ", ") + n;
    out.warnings.push_back("-e " + names +
                           ": not passed to the agent; awf never gives it credentials (with a provider key in "
                           "awf's environment, the API proxy holds it and the agent gets a placeholder)");
  }

  // 6. Runtime switches win over everything.
  for (const auto& [k, v] : late) env[k] = v;

  // 7. The API proxy's variables, last: nothing the user passed can put a
  // real credential or another base URL in their place.
  for (const auto& [k, v] : api.set) env[k] = v;
  for (const char* name : {"NO_PROXY", "no_proxy"}) {
    if (api.no_proxy.empty()) break;
    std::string& list = env[name];
    std::set<std::string> present;
    for (std::size_t start = 0; start <= list.size();) {
      const std::size_t comma = std::min(list.find(',', start), list.size());
      present.insert(std::string(trim(std::string_view(list).substr(start, comma - start))));
      start = comma + 1;
    }
    for (const auto& entry : api.no_proxy) {
      if (present.insert(entry).second) list += (list.empty() ? "" : ",") + entry;
    }
  }

  std::size_t total = 0;
  for (const auto& [k, v] : env) total += k.size() + v.size() + 2;
  if (total > kEnvTotalWarnBytes) {
    out.warnings.push_back("The agent environment is " + std::to_string(total / 1024) +
                           " KiB; more than about 1.5 MB can make exec fail with E2BIG "
                           "(use --exclude-env to drop large variables)");
  }
  return out;
}

std::string host_home(const Environment& host, bool is_root,
                      const std::function<std::optional<std::string>(const std::string& user)>& home_of) {
  if (is_root) {
    auto sudo_user = host.find("SUDO_USER");
    if (sudo_user != host.end() && !sudo_user->second.empty() && sudo_user->second != "root" && home_of) {
      if (auto home = home_of(sudo_user->second)) return *home;
    }
  }
  if (auto it = host.find("HOME"); it != host.end() && !it->second.empty()) return it->second;
  return "/root";
}

std::vector<std::string> read_github_path(const Environment& host) {
  std::vector<std::string> out;
  auto it = host.find("GITHUB_PATH");
  if (it == host.end() || it->second.empty()) return out;
  std::ifstream in(it->second);
  std::string line;
  while (std::getline(in, line)) {
    std::string_view t = trim(line);
    if (!t.empty()) out.emplace_back(t);
  }
  return out;
}

Environment core_environment(const CoreInputs& in, const Environment& host) {
  Environment env;
  for (const char* name : {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}) env[name] = in.proxy_url;
  std::string no_proxy = "localhost,127.0.0.1,::1,0.0.0.0";
  for (const auto& extra : in.no_proxy_extra) no_proxy += "," + extra;
  env["NO_PROXY"] = no_proxy;
  env["no_proxy"] = no_proxy;
  env["HOME"] = in.home;
  env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

  // The host PATH as the agent's tools expect it, $GITHUB_PATH additions first.
  std::vector<std::string> parts = in.github_path_entries;
  if (auto it = host.find("PATH"); it != host.end()) {
    std::string_view rest = it->second;
    while (true) {
      auto colon = rest.find(':');
      std::string part(rest.substr(0, colon));
      if (!part.empty()) parts.push_back(part);
      if (colon == std::string_view::npos) break;
      rest = rest.substr(colon + 1);
    }
  }
  std::set<std::string> seen;
  std::string host_path;
  for (const auto& p : parts) {
    if (seen.insert(p).second) host_path += (host_path.empty() ? "" : ":") + p;
  }
  if (!host_path.empty()) env["AWF_HOST_PATH"] = host_path;

  for (const char* name : {"GOROOT", "CARGO_HOME", "RUSTUP_HOME", "JAVA_HOME", "DOTNET_ROOT", "BUN_INSTALL"}) {
    if (auto it = host.find(name); it != host.end() && !it->second.empty()) {
      env[std::string("AWF_") + name] = it->second;
    }
  }
  if (in.tty) {
    env["FORCE_COLOR"] = "1";
    env["TERM"] = "xterm-256color";
    env["COLUMNS"] = "120";
  } else {
    env["NO_COLOR"] = "1";
  }
  return env;
}

Environment late_environment(const CoreInputs& in) {
  Environment env;
  std::string dns;
  for (const auto& s : in.dns_servers) dns += (dns.empty() ? "" : ",") + s;
  env["AWF_DNS_SERVERS"] = dns;
  env["AWF_CHROOT_ENABLED"] = "true";
  env["AWF_WORKDIR"] = in.workdir.empty() ? in.home : in.workdir;
  env["AWF_USER_UID"] = std::to_string(agent_id(in.uid));
  env["AWF_USER_GID"] = std::to_string(agent_id(in.gid));
  if (in.host_access) {
    env["AWF_ENABLE_HOST_ACCESS"] = "1";
    if (!in.allow_host_ports.empty()) env["AWF_ALLOW_HOST_PORTS"] = in.allow_host_ports;
  }
  return env;
}

}  // namespace awf::cli
