// The access-log reader of `awf logs` under arbitrary text, shared by the
// log_line fuzz target and logs_tests' corpus replay: every line through the
// access.log parsers (IPv4-only and any client) and the audit.jsonl parser,
// each entry printed pretty and as JSON; an access.log entry written back as
// a firewall_detailed line parses to the same entry, and an ISO time
// written and read back is the same instant. check_log_text() returns ""
// when every invariant held, else what broke.
#pragma once

#include <boost/json.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

#include "awf/logs/entry.h"
#include "awf/logs/format.h"
#include "awf/logs/json.h"

namespace awf::logs::fuzz {

// The firewall_detailed line of an entry (awf-proxy's access.log format).
// `any_client`: written for the any-client parser, which splits `[a]:p` at
// the first `]:`, other text with several colons at the last one, and the
// rest at the first; the IPv4 parser always splits at the first colon. An
// address goes in brackets only where nothing else reads back the same (its
// port has a colon, or it starts with `[`).
inline std::string to_access_line(const LogEntry& e, std::string_view timestamp, bool any_client) {
  auto address = [any_client](const std::string& ip, const std::string& port) {
    const bool bracket = any_client && (port.find(':') != std::string::npos || ip.starts_with('['));
    return (bracket ? "[" + ip + "]" : ip) + ":" + port;
  };
  return std::string(timestamp) + " " + address(e.client_ip, e.client_port) + " " + e.host + " " +
         address(e.dest_ip, e.dest_port) + " " + e.protocol + " " + e.method + " " + std::to_string(e.status_code) +
         " " + e.decision + " " + e.url + " \"" + e.user_agent + "\"";
}

inline bool same_entry(const LogEntry& a, const LogEntry& b) {
  return a.timestamp == b.timestamp && a.client_ip == b.client_ip && a.client_port == b.client_port &&
         a.host == b.host && a.dest_ip == b.dest_ip && a.dest_port == b.dest_port && a.protocol == b.protocol &&
         a.method == b.method && a.status_code == b.status_code && a.decision == b.decision && a.url == b.url &&
         a.user_agent == b.user_agent && a.domain == b.domain && a.is_allowed == b.is_allowed &&
         a.is_https == b.is_https && a.repeated == b.repeated;
}

// Printing an entry must not fail, and its JSON must read back as the same
// values (awf logs --format json is read by other programs).
inline std::string check_printing(const LogEntry& e) {
  (void)format_pretty(e, false);
  (void)format_pretty(e, true);
  const std::string text = format_json(e);
  const auto parsed = json::parse_value(text);
  if (!parsed.ok() || !parsed->is_object()) return "format_json wrote no JSON object: " + text;
  const auto& o = parsed->as_object();
  auto str = [&](const char* key) -> std::string {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string("\x01missing");
  };
  if (str("url") != e.url || str("method") != e.method || str("host") != e.host || str("domain") != e.domain ||
      str("userAgent") != e.user_agent || str("decision") != e.decision || str("clientIp") != e.client_ip) {
    return "format_json changed a text field";
  }
  const auto* allowed = o.if_contains("isAllowed");
  if (!allowed || !allowed->is_bool() || allowed->as_bool() != e.is_allowed) return "format_json changed isAllowed";
  return "";
}

// An instant JavaScript's Date can show (years 0 to 9999) survives
// iso_time -> parse_iso_time, to the millisecond iso_time keeps.
inline std::string check_iso_round_trip(double ts) {
  if (!(ts >= 0 && ts < 253402300800.0)) return "";
  const std::string text = iso_time(ts);
  const auto back = parse_iso_time(text);
  if (!back) return "parse_iso_time refused iso_time's own text " + text;
  const double want = std::trunc(ts * 1000.0) / 1000.0;
  if (std::fabs(*back - want) > 0.0015) return "iso_time round trip moved " + text;
  return "";
}

inline std::string check_line(std::string_view line) {
  for (const bool any_client : {false, true}) {
    const auto e = any_client ? parse_access_log_line_any_client(line) : parse_access_log_line(line);
    if (!e) continue;
    if (e->is_https != (e->method == "CONNECT")) return "is_https is not CONNECT";
    if (e->is_allowed != is_allowed_decision(e->decision)) return "is_allowed is not the decision's";
    if (e->user_agent.find('"') != std::string::npos) return "a user agent with a quote";
    if (auto broken = check_printing(*e); !broken.empty()) return broken;
    if (auto broken = check_iso_round_trip(e->timestamp); !broken.empty()) return broken;
    // Written back with the same timestamp text, the line reads the same.
    const std::string_view trimmed = line.substr(line.find_first_not_of(" \t\n\r\f\v"));
    const std::string_view timestamp = trimmed.substr(0, trimmed.find_first_of(" \t\n\r\f\v"));
    const std::string written = to_access_line(*e, timestamp, any_client);
    const auto back = any_client ? parse_access_log_line_any_client(written) : parse_access_log_line(written);
    if (!back) return "an access.log entry written back does not parse: " + written;
    if (!same_entry(*back, *e)) return "an access.log entry written back reads differently: " + written;
  }
  if (const auto e = parse_audit_jsonl_line(line)) {
    if (e->is_https != (e->method == "CONNECT")) return "audit: is_https is not CONNECT";
    if (auto broken = check_printing(*e); !broken.empty()) return "audit: " + broken;
    if (auto broken = check_iso_round_trip(e->timestamp); !broken.empty()) return "audit: " + broken;
  }
  return "";
}

inline std::string check_log_text(std::string_view text) {
  std::size_t lines = 0;
  for (std::string_view rest = text; !rest.empty();) {
    const auto nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (line.find_first_not_of(" \t\n\r\f\v") == std::string_view::npos) continue;
    ++lines;
    if (auto broken = check_line(line); !broken.empty()) return broken;
  }
  // The whole text: every non-blank line is an entry or counted as skipped.
  for (const LogFormat f : {LogFormat::access_log, LogFormat::access_log_any_client, LogFormat::audit_jsonl}) {
    std::size_t skipped = 0;
    const auto entries = parse_log_text(text, f, &skipped);
    if (entries.size() + skipped != lines) return "parse_log_text lost or invented lines";
  }
  return "";
}

}  // namespace awf::logs::fuzz
