// Building, writing and reading policy-manifest.json in awf's shape.
#include "awf/logs/manifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>

#include "awf/logs/entry.h"
#include "awf/logs/json.h"
#include "awf/policy/entry.h"

namespace awf::logs {

namespace {

constexpr int kDangerousPorts[] = {22,   23,   25,   110,  143,  445,  1433, 1521,  3306,  3389, 5432,
                                   5984, 6379, 6984, 8086, 8088, 9200, 9300, 27017, 27018, 28017};

struct Parsed {
  std::string domain;
  std::string protocol;  // both | http | https
};

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_wildcard_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

// Does pattern[p..] match text[t..]? Memoised over (p, t), so the cost is
// bounded by |pattern| x |text| whatever the stars.
bool match_from(std::string_view pattern, std::string_view text, std::size_t p, std::size_t t,
                std::vector<signed char>& memo) {
  signed char& m = memo[p * (text.size() + 1) + t];
  if (m >= 0) return m;
  bool result;
  if (p == pattern.size()) {
    result = t == text.size();
  } else if (pattern[p] == '*') {
    // Either the star matches nothing, or it takes one more allowed character.
    result = match_from(pattern, text, p + 1, t, memo) ||
             (t < text.size() && is_wildcard_char(text[t]) && match_from(pattern, text, p, t + 1, memo));
  } else {
    result = t < text.size() && lower(pattern[p]) == lower(text[t]) && match_from(pattern, text, p + 1, t + 1, memo);
  }
  m = result ? 1 : 0;
  return result;
}

std::string squid_domain(const std::string& d) { return !d.empty() && d.front() == '.' ? d : "." + d; }

bool is_raw_ipv4(std::string_view s) {
  int dots = 0;
  std::size_t run = 0;
  for (char c : s) {
    if (c == '.') {
      if (run == 0) return false;
      ++dots;
      run = 0;
    } else if (c >= '0' && c <= '9') {
      ++run;
    } else {
      return false;
    }
  }
  return dots == 3 && run > 0;
}

bool protocol_covers(const std::string& outer, const std::string& inner) { return outer == "both" || outer == inner; }

void push(PolicyManifest& m, ManifestRule rule) {
  rule.order = static_cast<int>(m.rules.size()) + 1;
  m.rules.push_back(std::move(rule));
}

std::string now_iso() {
  auto now = std::chrono::system_clock::now();
  double secs = std::chrono::duration<double>(now.time_since_epoch()).count();
  return iso_time(secs);
}

}  // namespace

bool wildcard_matches(std::string_view pattern, std::string_view host) {
  // Hosts are at most a few hundred bytes; refuse absurd sizes rather than allocate.
  if (pattern.size() > 1024 || host.size() > 1024) return false;
  std::vector<signed char> memo((pattern.size() + 1) * (host.size() + 1), -1);
  return match_from(pattern, host, 0, 0, memo);
}

std::string wildcard_to_regex(const std::string& pattern) {
  std::string re = "^";
  for (char c : pattern) {
    switch (c) {
      case '*': re += "[a-zA-Z0-9.-]*"; break;
      case '.': re += "\\."; break;
      case '^': case '$': case '+': case '?': case '{': case '}':
      case '[': case ']': case '|': case '(': case ')': case '\\':
        re.push_back('\\');
        re.push_back(c);
        break;
      default: re.push_back(c);
    }
  }
  re += "$";
  return re;
}

PolicyManifest make_policy_manifest(const policy::PolicySpec& spec, const ManifestSettings& settings) {
  PolicyManifest m;
  m.generated_at = settings.generated_at.empty() ? now_iso() : settings.generated_at;
  m.dangerous_ports.assign(std::begin(kDangerousPorts), std::end(kDangerousPorts));
  m.dns_servers = settings.dns_servers;
  m.ssl_bump_enabled = settings.ssl_bump_enabled;
  m.dlp_enabled = settings.dlp_enabled;
  m.host_access_enabled = settings.host_access_enabled;
  m.allow_host_ports = settings.allow_host_ports;

  // Split the allowlist into plain entries and patterns, per protocol.
  std::vector<Parsed> plain, patterns;
  for (const auto& raw : spec.allow) {
    auto e = policy::parse_entry(raw);
    if (!e.ok()) continue;
    Parsed p{e->domain, policy::to_string(e->scope)};
    (e->is_pattern ? patterns : plain).push_back(std::move(p));
  }

  // awf prunes a plain entry covered by a parent domain or a pattern of a
  // compatible protocol; identical text is never pruned against itself.
  auto is_redundant = [&](const Parsed& entry) {
    if (entry.domain.size() > 512) return false;
    for (const auto& other : plain) {
      if (other.domain == entry.domain || !protocol_covers(other.protocol, entry.protocol)) continue;
      std::string bare = !other.domain.empty() && other.domain.front() == '.' ? other.domain.substr(1) : other.domain;
      if (entry.domain.size() > bare.size() + 1 && entry.domain.ends_with("." + bare)) return true;
    }
    for (const auto& pat : patterns) {
      if (protocol_covers(pat.protocol, entry.protocol) && wildcard_matches(pat.domain, entry.domain)) return true;
    }
    return false;
  };

  std::vector<std::string> plain_by[3], regex_by[3];  // http, https, both
  auto slot = [](const std::string& proto) { return proto == "http" ? 0 : proto == "https" ? 1 : 2; };
  std::set<std::string> seen_plain[3], seen_regex[3];
  for (const auto& entry : plain) {
    if (is_redundant(entry)) continue;
    int s = slot(entry.protocol);
    std::string d = squid_domain(entry.domain);
    if (seen_plain[s].insert(d).second) plain_by[s].push_back(d);
  }
  for (const auto& pat : patterns) {
    int s = slot(pat.protocol);
    std::string re = wildcard_to_regex(pat.domain);
    if (seen_regex[s].insert(re).second) regex_by[s].push_back(re);
  }

  push(m, {"deny-unsafe-ports", "deny", "!Safe_ports", "both", {},
           "Deny requests to ports not in Safe_ports ACL (only 80, 443, and user-specified ports allowed)", 0});
  push(m, {"deny-connect-unsafe-ports", "deny", "CONNECT !Safe_ports", "https", {},
           "Deny CONNECT (HTTPS) to ports not in Safe_ports ACL", 0});

  std::set<std::string> seen_ips;
  for (const auto& raw : spec.allow) {
    auto e = policy::parse_entry(raw);
    if (!e.ok() || !is_raw_ipv4(e->domain) || !seen_ips.insert(e->domain).second) continue;
    std::string dashed = e->domain, underscored = e->domain;
    for (char& c : dashed) c = c == '.' ? '-' : c;
    for (char& c : underscored) c = c == '.' ? '_' : c;
    push(m, {"allow-ip-" + dashed, "allow", "allow_ip_" + underscored, "both", {e->domain},
             "Allow the explicitly allowlisted IPv4 address " + e->domain + " before raw-IP deny rules", 0});
  }

  push(m, {"deny-raw-ipv4", "deny", "dst_ipv4", "both", {"^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$"},
           "Deny requests to raw IPv4 addresses (bypasses domain filtering)", 0});
  push(m, {"deny-raw-ipv6", "deny", "dst_ipv6", "both", {"^\\[?[0-9a-fA-F:]+\\]?$"},
           "Deny requests to raw IPv6 addresses (bypasses domain filtering)", 0});
  if (settings.dlp_enabled) {
    push(m, {"deny-dlp", "deny", "dlp_blocked", "both", {},
             "Deny requests containing credential patterns in URLs (DLP)", 0});
  }

  // Blocklist: protocol prefix and a trailing slash stripped, no pruning.
  std::vector<std::string> blocked_plain, blocked_regex;
  for (const auto& raw : spec.block) {
    auto e = policy::parse_entry(raw);
    if (!e.ok()) continue;
    if (e->is_pattern) {
      blocked_regex.push_back(wildcard_to_regex(e->domain));
    } else {
      blocked_plain.push_back(squid_domain(e->domain));
    }
  }
  auto push_unless_empty = [&m](ManifestRule rule) {
    if (!rule.domains.empty()) push(m, std::move(rule));
  };
  push_unless_empty({"deny-blocked-plain", "deny", "blocked_domains", "both", std::move(blocked_plain),
                     "Deny requests to explicitly blocked domains", 0});
  push_unless_empty({"deny-blocked-regex", "deny", "blocked_domains_regex", "both", std::move(blocked_regex),
                     "Deny requests to explicitly blocked domain patterns", 0});

  // The allow rules for the slots of plain_by and regex_by (HTTP only, HTTPS
  // only, both), each slot's plain names before its patterns.
  struct AllowRules {
    const char* id;        // "allow-<id>-plain" and "allow-<id>-regex"
    const char* acl_name;  // of the plain names; the patterns' adds "_regex"
    const char* protocol;
    const char* plain_description;
    const char* regex_description;
  };
  static constexpr AllowRules kAllowRules[3] = {
      {"http-only", "allowed_http_only", "http", "Allow HTTP-only traffic to these domains (no HTTPS)",
       "Allow HTTP-only traffic matching these patterns"},
      {"https-only", "allowed_https_only", "https", "Allow HTTPS-only traffic to these domains (no HTTP)",
       "Allow HTTPS-only traffic matching these patterns"},
      {"both", "allowed_domains", "both", "Allow HTTP and HTTPS traffic to these domains",
       "Allow HTTP and HTTPS traffic matching these patterns"},
  };
  for (int s = 0; s < 3; ++s) {
    const AllowRules& r = kAllowRules[s];
    push_unless_empty({std::string("allow-") + r.id + "-plain", "allow", r.acl_name, r.protocol,
                       std::move(plain_by[s]), r.plain_description, 0});
    push_unless_empty({std::string("allow-") + r.id + "-regex", "allow", std::string(r.acl_name) + "_regex",
                       r.protocol, std::move(regex_by[s]), r.regex_description, 0});
  }
  push(m, {"deny-default", "deny", "all", "both", {},
           "Deny all traffic not matching any allow rule (default deny)", 0});
  return m;
}

boost::json::value manifest_to_json(const PolicyManifest& m) {
  boost::json::array rules;
  for (const auto& r : m.rules) {
    // Key order as awf writes it: the rule's fields, then `order`.
    boost::json::object o;
    o.emplace("id", r.id);
    o.emplace("action", r.action);
    o.emplace("aclName", r.acl_name);
    o.emplace("protocol", r.protocol);
    o.emplace("domains", boost::json::array(r.domains.begin(), r.domains.end()));
    o.emplace("description", r.description);
    o.emplace("order", r.order);
    rules.emplace_back(std::move(o));
  }
  boost::json::array ports;
  for (int p : m.dangerous_ports) ports.emplace_back(p);
  boost::json::object out;
  out.emplace("version", m.version);
  out.emplace("generatedAt", m.generated_at);
  out.emplace("rules", std::move(rules));
  out.emplace("dangerousPorts", std::move(ports));
  out.emplace("dnsServers", boost::json::array(m.dns_servers.begin(), m.dns_servers.end()));
  out.emplace("sslBumpEnabled", m.ssl_bump_enabled);
  out.emplace("dlpEnabled", m.dlp_enabled);
  out.emplace("hostAccessEnabled", m.host_access_enabled);
  if (m.allow_host_ports) {
    out.emplace("allowHostPorts", *m.allow_host_ports);
  } else {
    out.emplace("allowHostPorts", nullptr);
  }
  if (!m.topology_peers.empty()) {
    out.emplace("topologyPeers", boost::json::array(m.topology_peers.begin(), m.topology_peers.end()));
  }
  return out;
}

std::string manifest_to_text(const PolicyManifest& m) { return json::stringify(manifest_to_json(m), 2) + "\n"; }

namespace {

std::string string_or_empty(const boost::json::value* v) {
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

bool is_true(const boost::json::value* v) { return v && v->is_bool() && v->get_bool(); }

// Numbers become ints as awf's manifest fields are; fractions are cut off.
std::optional<int> int_or_none(const boost::json::value* v) {
  if (!v || !v->is_number()) return std::nullopt;
  return json::integer_part(v->to_number<double>());
}

// The string items of an array member; other items are skipped.
std::vector<std::string> strings_in(const boost::json::value* v) {
  std::vector<std::string> out;
  if (!v || !v->is_array()) return out;
  for (const auto& item : v->get_array()) {
    if (item.is_string()) out.emplace_back(item.get_string());
  }
  return out;
}

}  // namespace

Result<PolicyManifest> manifest_from_json(const boost::json::value& v) {
  if (!v.is_object()) return Error{"policy manifest: expected a JSON object"};
  PolicyManifest m;
  if (auto version = int_or_none(json::find(v, "version"))) m.version = *version;
  m.generated_at = string_or_empty(json::find(v, "generatedAt"));
  const auto* rules = json::find(v, "rules");
  if (!rules || !rules->is_array()) return Error{"policy manifest: `rules` must be an array"};
  for (const auto& r : rules->get_array()) {
    if (!r.is_object()) return Error{"policy manifest: each rule must be an object"};
    ManifestRule rule;
    rule.id = string_or_empty(json::find(r, "id"));
    rule.action = string_or_empty(json::find(r, "action"));
    rule.acl_name = string_or_empty(json::find(r, "aclName"));
    rule.protocol = string_or_empty(json::find(r, "protocol"));
    if (rule.protocol.empty()) rule.protocol = "both";
    rule.description = string_or_empty(json::find(r, "description"));
    if (auto order = int_or_none(json::find(r, "order"))) rule.order = *order;
    rule.domains = strings_in(json::find(r, "domains"));
    m.rules.push_back(std::move(rule));
  }
  if (const auto* ports = json::find(v, "dangerousPorts"); ports && ports->is_array()) {
    for (const auto& p : ports->get_array()) {
      if (auto port = int_or_none(&p)) m.dangerous_ports.push_back(*port);
    }
  }
  m.dns_servers = strings_in(json::find(v, "dnsServers"));
  m.ssl_bump_enabled = is_true(json::find(v, "sslBumpEnabled"));
  m.dlp_enabled = is_true(json::find(v, "dlpEnabled"));
  m.host_access_enabled = is_true(json::find(v, "hostAccessEnabled"));
  if (const auto* p = json::find(v, "allowHostPorts"); p && p->is_string()) {
    m.allow_host_ports = std::string(p->get_string());
  }
  m.topology_peers = strings_in(json::find(v, "topologyPeers"));
  return m;
}

Status write_policy_manifest(const std::string& dir, const PolicyManifest& manifest) {
  // Written by root after the command ran: O_NOFOLLOW, so a link left at the
  // name is refused rather than written through.
  const std::string path = dir + "/policy-manifest.json";
  const std::string text = manifest_to_text(manifest);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return Error{"Failed to write policy manifest '" + path + "': " + std::strerror(errno)};
  size_t done = 0;
  while (done < text.size()) {
    ssize_t put = ::write(fd, text.data() + done, text.size() - done);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) break;
    done += static_cast<size_t>(put);
  }
  const int err = errno;
  ::close(fd);
  if (done != text.size()) return Error{"Failed to write policy manifest '" + path + "': " + std::strerror(err)};
  return ok_status();
}

}  // namespace awf::logs
