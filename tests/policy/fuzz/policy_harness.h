// Policy entries, compiled rulesets, URL patterns and port lists under
// arbitrary input, shared by the policy fuzz target and policy_tests'
// corpus replay. The input is lines: `a ENTRY` (allow), `b ENTRY` (block),
// `h HOST` (a request host), `u LIST` (--allow-urls), `p LIST`
// (--allow-host-ports); any other line is one entry parsed alone.
// check_policy() returns "" when every invariant held, else what broke.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "awf/policy/entry.h"
#include "awf/policy/ports.h"
#include "awf/policy/ruleset.h"
#include "awf/policy/url_pattern.h"
#include "../ruleset_reference.h"

namespace awf::policy::fuzz {

// Bounds that keep one input fast: RE2 compiles each pattern.
inline constexpr std::size_t kMaxEntries = 24;
inline constexpr std::size_t kMaxHosts = 24;

inline const char* prefix_of(Scope s) {
  switch (s) {
    case Scope::http: return "http://";
    case Scope::https: return "https://";
    case Scope::both: break;
  }
  return "";
}

inline std::string check_entry(std::string_view raw) {
  auto parsed = parse_entry(raw);
  if (!parsed) {
    if (parsed.message().empty()) return "entry refused without a message";
    return "";
  }
  const Entry& e = *parsed;
  (void)entry_warnings(e);
  if (e.domain.empty()) return "entry accepted with an empty domain";
  for (unsigned char c : e.domain) {
    if (c < 0x21 || c == 0x7f || c == '"' || c == '\'' || c == '`' || c == ';' || c == '#' || c == '\\') {
      return "entry accepted with a byte awf refuses";
    }
  }
  if (e.is_pattern != (e.domain.find('*') != std::string::npos)) return "is_pattern wrong";
  // The scope prefix and the one trailing '/' put back give the same entry.
  auto again = parse_entry(std::string(prefix_of(e.scope)) + e.domain + "/");
  if (!again || again->domain != e.domain || again->scope != e.scope || again->is_pattern != e.is_pattern) {
    return "entry '" + e.domain + "' does not round-trip";
  }
  return "";
}

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

inline std::string check_decisions(const PolicySpec& spec, const std::vector<std::string>& hosts) {
  std::vector<std::string> warnings;
  auto compiled = Ruleset::compile(spec, &warnings);
  if (!compiled) {
    // Refused only for an entry awf refuses or a pattern RE2 cannot take.
    if (compiled.message().find("domain or pattern") == std::string::npos) {
      return "ruleset refused with an unexpected message: " + compiled.message();
    }
    return "";
  }
  const Ruleset& rs = **compiled;
  if (rs.rules().size() != spec.allow.size() + spec.block.size()) return "a rule per entry";
  const Reference ref(spec.allow, spec.block);
  for (const std::string& host : hosts) {
    for (const bool connect : {true, false}) {
      const Decision d = rs.decide({host, 443, connect});
      if (d.allowed != (d.reason == Reason::allowed)) return "allowed without the reason allowed";
      if (d.rule >= static_cast<std::int32_t>(rs.rules().size()) || (d.allowed && d.rule < 0)) {
        return "decision names no rule";
      }
      if (d.allowed && d.rule >= 0 && rs.rules()[static_cast<std::size_t>(d.rule)].list != ListKind::allow) {
        return "allowed by a block rule";
      }
      // Case and one trailing dot do not change a decision; port 80 is
      // allowed like 443.
      const Decision upper = rs.decide({lower(host), 80, connect});
      if (upper.allowed != d.allowed || upper.rule != d.rule || upper.reason != d.reason) {
        return "decision on '" + host + "' depends on case or port";
      }
      if (!host.empty() && host.back() != '.' && host.size() < 254) {
        const Decision dotted = rs.decide({host + ".", 443, connect});
        if (dotted.allowed != d.allowed || dotted.rule != d.rule || dotted.reason != d.reason) {
          return "decision on '" + host + ".' differs from '" + host + "'";
        }
      }
      if (rs.decide({host, 22, connect}).allowed && !rs.allows_port(22)) return "port 22 allowed";
      if (!is_reference_host(host)) continue;
      const Decision want = ref.decide(host, connect, spec.allow.empty());
      if (d.allowed != want.allowed || d.reason != want.reason || d.rule != want.rule) {
        return "trie and reference disagree on '" + host + "' (connect=" + std::to_string(connect) + "): " +
               to_string(d.reason) + "/" + std::to_string(d.rule) + " vs " + to_string(want.reason) + "/" +
               std::to_string(want.rule);
      }
    }
    // The DNS front end may resolve a name only if some entry allows it.
    if (is_reference_host(host)) {
      const bool any = ref.decide(host, true, spec.allow.empty()).allowed ||
                       ref.decide(host, false, spec.allow.empty()).allowed;
      if (rs.allows_name(host) != any) return "allows_name('" + host + "') disagrees with the decisions";
    } else if (rs.allows_name(host) && !rs.decide({host, 443, true}).allowed && !rs.decide({host, 80, false}).allowed) {
      return "allows_name('" + host + "') for a host no request may reach";
    }
  }
  return "";
}

inline std::string check_url_patterns(std::string_view list) {
  auto parsed = parse_url_patterns(list);
  if (!parsed) return "";
  for (const UrlPattern& p : *parsed) {
    if (!p.text.starts_with("https://") || p.regex.empty() || p.regex.front() != '^') return "pattern shape";
  }
  auto compiled = UrlAllowlist::compile(*parsed);
  if (!compiled) return "";
  // Every pattern matches its own text (less the one trailing '/' awf
  // drops), through the first pattern that does.
  for (std::size_t i = 0; i < parsed->size(); ++i) {
    std::string url = (*parsed)[i].text;
    if (url.size() > 8 && url.back() == '/') url.pop_back();
    const UrlPattern* hit = (*compiled)->match(url);
    if (hit == nullptr) return "URL pattern '" + (*parsed)[i].text + "' does not match its own text";
    if (hit - (*compiled)->patterns().data() > static_cast<std::ptrdiff_t>(i)) return "a later pattern matched first";
  }
  return "";
}

inline std::string check_port_list(std::string_view list) {
  auto ranges = parse_port_list(list);
  if (!ranges) return "";
  for (const PortRange& r : *ranges) {
    if (r.first > r.last || r.first == 0) return "port range empty or from 0";
  }
  return "";
}

inline std::string check_policy(std::string_view input) {
  PolicySpec spec;
  std::vector<std::string> hosts;
  while (!input.empty()) {
    const auto nl = input.find('\n');
    const std::string_view line = input.substr(0, nl);
    input.remove_prefix(nl == std::string_view::npos ? input.size() : nl + 1);
    const std::string_view rest = line.size() >= 2 && line[1] == ' ' ? line.substr(2) : std::string_view();
    const char kind = line.size() >= 2 && line[1] == ' ' ? line[0] : '\0';
    std::string broken;
    switch (kind) {
      case 'a':
        if (spec.allow.size() + spec.block.size() < kMaxEntries) spec.allow.emplace_back(rest);
        broken = check_entry(rest);
        break;
      case 'b':
        if (spec.allow.size() + spec.block.size() < kMaxEntries) spec.block.emplace_back(rest);
        broken = check_entry(rest);
        break;
      case 'h':
        if (hosts.size() < kMaxHosts) hosts.emplace_back(rest);
        break;
      case 'u': broken = check_url_patterns(rest); break;
      case 'p': broken = check_port_list(rest); break;
      default: broken = check_entry(line); break;
    }
    if (!broken.empty()) return broken;
  }
  return check_decisions(spec, hosts);
}

}  // namespace awf::policy::fuzz
