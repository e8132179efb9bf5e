// The allowlist suggested from a log; see suggest.h.
#include "awf/logs/suggest.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "awf/policy/host.h"

namespace awf::logs {
namespace {

std::string canonical(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  while (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}

// The port a request went to: CONNECT's authority, an absolute URL's, or
// its scheme's. 0 for DNS lookups, which name no port.
unsigned port_of(const LogEntry& e) {
  if (e.method == "DNS") return 0;
  std::string_view authority = e.url;
  unsigned fallback = 80;
  if (e.method != "CONNECT") {
    for (const auto& [scheme, port] : {std::pair<std::string_view, unsigned>{"http://", 80}, {"https://", 443}}) {
      if (authority.starts_with(scheme)) {
        authority.remove_prefix(scheme.size());
        authority = authority.substr(0, authority.find_first_of("/?#"));
        fallback = port;
        break;
      }
    }
  }
  const auto colon = authority.rfind(':');
  const auto bracket = authority.rfind(']');
  if (colon == std::string_view::npos || (bracket != std::string_view::npos && bracket > colon)) return fallback;
  unsigned port = 0;
  for (char c : authority.substr(colon + 1)) {
    if (!std::isdigit(static_cast<unsigned char>(c)) || port > 65535) return fallback;
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  return port == 0 || port > 65535 ? fallback : port;
}

// Whether `name` is `domain` or under it.
bool covered_by(const std::string& name, const std::string& domain) {
  return name == domain || (name.size() > domain.size() && name.ends_with(domain) &&
                            name[name.size() - domain.size() - 1] == '.');
}

}  // namespace

std::string suggest_allowlist(const std::vector<LogEntry>& entries, const policy::PublicSuffixList& psl,
                              const SuggestOptions& options) {
  std::map<std::string, std::size_t> asked;               // name -> requests
  std::map<std::string, std::set<unsigned>> other_ports;  // name -> ports beyond 80 and 443
  std::set<std::string> addresses;
  std::size_t requests = 0;
  for (const LogEntry& e : entries) {
    if (is_aborted_transaction(e)) continue;
    std::string name = canonical(e.domain);
    if (!name.empty() && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
    if (name.empty() || name == "-") continue;
    const std::size_t count = e.repeated ? e.repeated : 1;
    requests += count;
    if (policy::parse_ip_literal(name)) {
      addresses.insert(name);
      continue;
    }
    asked[name] += count;
    const unsigned port = port_of(e);
    if (port != 0 && port != 80 && port != 443) other_ports[name].insert(port);
  }

  // Group by registrable domain; a name that has none (a public suffix
  // itself, a one-label name) is its own group.
  std::map<std::string, std::map<std::string, std::size_t>> groups;
  for (const auto& [name, count] : asked) {
    groups[psl.registrable_domain(name).value_or(name)][name] = count;
  }
  struct Entry {
    std::string domain;
    std::map<std::string, std::size_t> names;  // what it covers
  };
  std::vector<Entry> chosen;
  for (auto& [registrable, names] : groups) {
    const bool collapse =
        names.contains(registrable) || (options.collapse > 0 && names.size() >= options.collapse);
    if (collapse) {
      chosen.push_back({registrable, names});
      continue;
    }
    // Each name as asked, less those under another chosen name.
    for (const auto& [name, count] : names) {
      bool under_another = false;
      for (const auto& [other, unused] : names) {
        if (other != name && covered_by(name, other)) under_another = true;
      }
      if (!under_another) {
        Entry entry{name, {}};
        for (const auto& [n, c] : names) {
          if (covered_by(n, name)) entry.names[n] = c;
        }
        chosen.push_back(std::move(entry));
      }
    }
  }

  std::string out = "# Allowlist suggested by `awf logs suggest`";
  if (!options.source.empty()) out += " from " + options.source;
  out += "\n# " + std::to_string(requests) + " requests for " + std::to_string(asked.size()) + " names";
  out += options.collapse > 0 ? "; names under one registrable domain are merged into it once " +
                                    std::to_string(options.collapse) + " of them were asked for"
                              : "; names as asked";
  out += ".\n# Use: awf --allow-domains-file FILE ...; check: awf policy check --allow-domains-file FILE TARGET...\n";
  for (const Entry& entry : chosen) {
    out += "# ";
    bool first = true;
    for (const auto& [name, count] : entry.names) {
      out += (first ? "" : ", ") + name + " (" + std::to_string(count) + ")";
      first = false;
    }
    out += "\n" + entry.domain + "\n";
  }
  if (!other_ports.empty()) {
    out += "# Ports other than 80 and 443 were asked for (allow them with --allow-host-ports):";
    for (const auto& [name, ports] : other_ports) {
      for (unsigned port : ports) out += " " + name + ":" + std::to_string(port);
    }
    out += "\n";
  }
  if (!addresses.empty()) {
    out += "# IP addresses were asked for; not listed (IP literals are denied; use names, or list an IPv4 "
           "address if it must be):";
    for (const auto& a : addresses) out += " " + a;
    out += "\n";
  }
  return out;
}

}  // namespace awf::logs
