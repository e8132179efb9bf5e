// Parsing of access.log (firewall_detailed) and audit.jsonl lines.
#include "awf/logs/entry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>

#include "awf/host_port.h"
#include "awf/iso8601.h"
#include "awf/logs/json.h"

namespace awf::logs {

namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Strips `:<digits>` from the end, if present.
std::string_view strip_numeric_port(std::string_view s) {
  auto colon = s.rfind(':');
  if (colon != std::string_view::npos && all_digits(s.substr(colon + 1))) return s.substr(0, colon);
  return s;
}

// The hostname a WHATWG URL parser would report for a simple http(s) URL:
// authority without userinfo and port, lower-cased, IPv6 kept in brackets.
std::string url_hostname(std::string_view url) {
  std::string_view rest = url;
  auto scheme = rest.find("://");
  if (scheme != std::string_view::npos) rest = rest.substr(scheme + 3);
  auto end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  auto at = authority.rfind('@');
  if (at != std::string_view::npos) authority = authority.substr(at + 1);
  // Leniently: an unclosed `[` runs to the end, text after `]` is dropped.
  std::string host(split_host_port(authority).host_as_written);
  for (char& c : host) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return host;
}

// Splits on runs of whitespace, up to `max` fields; the remainder (if any)
// goes into `rest`.
std::vector<std::string_view> fields(std::string_view s, std::size_t max, std::string_view* rest) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (out.size() < max) {
    while (i < s.size() && is_ws(s[i])) ++i;
    if (i >= s.size()) break;
    std::size_t start = i;
    while (i < s.size() && !is_ws(s[i])) ++i;
    out.push_back(s.substr(start, i - start));
  }
  *rest = s.substr(i);
  return out;
}

bool parse_double(std::string_view s, double& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// `<digits>.<digits>`, as awf's regex `(\d+\.\d+)` requires.
bool is_decimal_timestamp(std::string_view s) {
  auto dot = s.find('.');
  return dot != std::string_view::npos && all_digits(s.substr(0, dot)) && all_digits(s.substr(dot + 1));
}

std::string string_member(const boost::json::value& obj, std::string_view key, std::string_view fallback) {
  const boost::json::value* v = json::find(obj, key);
  if (v && v->is_string() && !v->get_string().empty()) return std::string(v->get_string());
  return std::string(fallback);
}

// A number member as the double JavaScript would hold; nullopt when absent or not a number.
std::optional<double> number_member(const boost::json::value& obj, std::string_view key) {
  const boost::json::value* v = json::find(obj, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->to_number<double>();
}

// "repeated 12 times" -> 12; anything else -> 0.
std::uint64_t repeat_count(std::string_view user_agent) {
  constexpr std::string_view kHead = "repeated ", kTail = " times";
  if (!user_agent.starts_with(kHead) || !user_agent.ends_with(kTail)) return 0;
  const std::string_view digits = user_agent.substr(kHead.size(), user_agent.size() - kHead.size() - kTail.size());
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  return ec == std::errc() && end == digits.data() + digits.size() ? n : 0;
}

}  // namespace

bool is_allowed_decision(std::string_view decision) {
  if (decision.empty()) return false;
  return decision.substr(0, 10) != "TCP_DENIED" && decision.substr(0, 4) != "NONE";
}

std::string extract_domain(std::string_view url, std::string_view host, std::string_view method) {
  if (method == "CONNECT") return std::string(strip_numeric_port(url));
  if (!host.empty() && host != "-") return std::string(strip_numeric_port(host));
  std::string h = url_hostname(url);
  return h.empty() ? std::string(url) : h;
}

namespace {

// `ip:port`; with `ipv6` also `v6:port`, as awf-proxy writes an IPv6
// address (`::1:40000`: the port after the last colon), and `[v6]:port`
// (brackets dropped). Otherwise split at the first colon, as awf's pattern
// does.
bool split_address(std::string_view field, bool ipv6, std::string& address, std::string& port) {
  if (ipv6 && !field.empty() && field.front() == '[') {
    const auto close = field.find("]:");
    if (close == std::string_view::npos || close == 1) return false;
    address = std::string(field.substr(1, close - 1));
    port = std::string(field.substr(close + 2));
    return !port.empty();
  }
  if (ipv6 && field.find(':') != field.rfind(':')) {
    const auto last = field.rfind(':');
    if (last == 0 || last + 1 >= field.size()) return false;
    address = std::string(field.substr(0, last));
    port = std::string(field.substr(last + 1));
    return true;
  }
  const auto colon = field.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= field.size()) return false;
  address = std::string(field.substr(0, colon));
  port = std::string(field.substr(colon + 1));
  return true;
}

std::optional<LogEntry> parse_access_log(std::string_view line, bool ipv6_addresses) {
  line = trim(line);
  if (line.empty()) return std::nullopt;
  std::string_view rest;
  auto f = fields(line, 9, &rest);
  if (f.size() != 9) return std::nullopt;

  LogEntry e;
  if (!is_decimal_timestamp(f[0]) || !parse_double(f[0], e.timestamp)) return std::nullopt;

  // Client `ip:port`: without ipv6_addresses the IP has no colon (awf's text
  // parser is IPv4-only here).
  if (!split_address(f[1], ipv6_addresses, e.client_ip, e.client_port)) return std::nullopt;
  if (!all_digits(e.client_port)) return std::nullopt;

  e.host = std::string(f[2]);

  // Destination `ip:port` or `-:-`.
  if (!split_address(f[3], ipv6_addresses, e.dest_ip, e.dest_port)) return std::nullopt;

  e.protocol = std::string(f[4]);
  e.method = std::string(f[5]);
  if (!all_digits(f[6])) return std::nullopt;
  std::from_chars(f[6].data(), f[6].data() + f[6].size(), e.status_code);
  e.decision = std::string(f[7]);
  e.url = std::string(f[8]);

  // The quoted User-Agent: `"` then anything but `"`, then `"`.
  std::string_view ua = rest;
  while (!ua.empty() && is_ws(ua.front())) ua.remove_prefix(1);
  if (ua.size() == rest.size() || ua.empty() || ua.front() != '"') return std::nullopt;
  auto close = ua.find('"', 1);
  if (close == std::string_view::npos) return std::nullopt;
  e.user_agent = std::string(ua.substr(1, close - 1));

  e.is_allowed = is_allowed_decision(e.decision);
  e.is_https = e.method == "CONNECT";
  e.domain = extract_domain(e.url, e.host, e.method);
  if (e.method == "DNS") e.repeated = repeat_count(e.user_agent);
  return e;
}

}  // namespace

std::optional<LogEntry> parse_access_log_line(std::string_view line) { return parse_access_log(line, false); }

std::optional<LogEntry> parse_access_log_line_any_client(std::string_view line) {
  return parse_access_log(line, true);
}

std::optional<LogEntry> parse_audit_jsonl_line(std::string_view line) {
  line = trim(line);
  if (line.empty()) return std::nullopt;
  auto parsed = json::parse_value(line);
  if (!parsed.ok() || !parsed->is_object()) return std::nullopt;
  const boost::json::value& obj = *parsed;

  LogEntry e;
  e.method = string_member(obj, "method", "");
  e.is_https = e.method == "CONNECT";
  e.decision = string_member(obj, "decision", "");
  e.is_allowed = is_allowed_decision(e.decision);

  if (const auto* ts = json::find(obj, "timestamp"); ts && ts->is_string()) {
    e.timestamp = parse_iso_time(std::string_view(ts->get_string())).value_or(0);
  } else if (auto when = number_member(obj, "timestamp")) {
    e.timestamp = *when;
  } else if (auto legacy = number_member(obj, "ts")) {
    e.timestamp = *legacy;
  }

  e.dest_ip = "-";
  e.dest_port = "-";
  std::string dest = string_member(obj, "dest", "");
  if (!dest.empty() && dest != "-:-") {
    if (const HostPort split = split_host_port(dest); split.bracketed) {
      if (split.fault == HostPort::Fault::unclosed_bracket) {
        e.dest_ip = dest;
      } else {
        e.dest_ip = split.host.empty() ? "-" : std::string(split.host);
        if (all_digits(split.port_text)) e.dest_port = std::string(split.port_text);
      }
    } else {
      // Unbracketed (IPv6 as Squid prints it, too): the port is after the
      // last colon, when that is a number.
      const std::string_view ip = strip_numeric_port(dest);
      if (ip.size() == dest.size()) {
        e.dest_ip = dest;
      } else {
        e.dest_ip = ip.empty() ? "-" : std::string(ip);
        e.dest_port = dest.substr(ip.size() + 1);
      }
    }
  }

  e.url = string_member(obj, "url", "");
  e.host = string_member(obj, "host", "-");
  e.domain = extract_domain(e.url, e.host, e.method);
  e.client_ip = string_member(obj, "client", "-");
  e.client_port = "-";
  e.protocol = "-";
  e.user_agent = "-";
  if (auto status = number_member(obj, "status")) e.status_code = json::integer_part(*status).value_or(0);
  if (auto repeated = number_member(obj, "repeated"); repeated && *repeated > 0 && *repeated < 1e15) {
    e.repeated = static_cast<std::uint64_t>(*repeated);
  }
  return e;
}

std::vector<LogEntry> parse_log_text(std::string_view content, LogFormat format, std::size_t* skipped) {
  std::vector<LogEntry> out;
  std::size_t bad = 0;
  while (!content.empty()) {
    auto nl = content.find('\n');
    std::string_view line = content.substr(0, nl);
    content = nl == std::string_view::npos ? std::string_view() : content.substr(nl + 1);
    if (trim(line).empty()) continue;
    std::optional<LogEntry> entry;
    switch (format) {
      case LogFormat::access_log: entry = parse_access_log_line(line); break;
      case LogFormat::access_log_any_client: entry = parse_access_log_line_any_client(line); break;
      case LogFormat::audit_jsonl: entry = parse_audit_jsonl_line(line); break;
    }
    if (entry) {
      out.push_back(std::move(*entry));
    } else {
      ++bad;
    }
  }
  if (skipped) *skipped = bad;
  return out;
}

std::string iso_time(double ts) {
  // Date(ms) truncates the millisecond value toward zero and holds at most
  // 8.64e15 ms either side of the epoch (ECMA-262 §21.4.1.1). A log's
  // timestamp can say anything (`9999...9.5`); beyond that range the
  // nearest instant a Date holds is shown (NaN as the epoch), rather than
  // converting a double no integer holds.
  constexpr double kMaxDateMs = 8.64e15;
  double whole_ms = std::trunc(ts * 1000.0);
  if (std::isnan(whole_ms)) whole_ms = 0;
  const auto ms = static_cast<long long>(std::clamp(whole_ms, -kMaxDateMs, kMaxDateMs));
  return iso8601_utc(std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(ms)));
}

std::optional<double> parse_iso_time(std::string_view text) {
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    if (pos + len > text.size() || !all_digits(text.substr(pos, len))) return false;
    std::from_chars(text.data() + pos, text.data() + pos + len, out);
    return true;
  };
  std::tm tm{};
  int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
  if (!num(0, 4, year) || text.size() < 19 || text[4] != '-' || !num(5, 2, mon) || text[7] != '-' ||
      !num(8, 2, day) || (text[10] != 'T' && text[10] != ' ') || !num(11, 2, hour) || text[13] != ':' ||
      !num(14, 2, min) || text[16] != ':' || !num(17, 2, sec)) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  // Milliseconds as Date.parse keeps them: the first three fraction digits,
  // the rest cut off. (Read as a whole through std::stod, a fraction of
  // hundreds of digits underflowed and threw out of `awf logs`.)
  int frac_ms = 0;
  if (pos < text.size() && text[pos] == '.') {
    std::size_t start = ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start) return std::nullopt;
    for (std::size_t i = 0; i < 3; ++i) {
      frac_ms = frac_ms * 10 + (start + i < pos ? text[start + i] - '0' : 0);
    }
  }
  long offset = 0;
  if (pos < text.size()) {
    if (text[pos] == 'Z') {
      ++pos;
    } else if (text[pos] == '+' || text[pos] == '-') {
      int oh = 0, om = 0;
      if (!num(pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' || !num(pos + 4, 2, om)) {
        return std::nullopt;
      }
      offset = (text[pos] == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
      pos += 6;
    }
  }
  if (pos != text.size()) return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  std::time_t t = timegm(&tm);
  // Milliseconds as Date.parse keeps them, then back to seconds.
  double ms = static_cast<double>(t - offset) * 1000.0 + frac_ms;
  return ms / 1000.0;
}

}  // namespace awf::logs
