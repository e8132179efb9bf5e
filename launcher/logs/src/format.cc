// Single-entry formatting for `awf logs`.
#include "awf/logs/format.h"

#include "awf/logs/json.h"

namespace awf::logs {

bool parse_output_format(std::string_view text, OutputFormat& out, std::string& error) {
  return parse_format_name(
      text, {{"raw", OutputFormat::raw}, {"pretty", OutputFormat::pretty}, {"json", OutputFormat::json}}, out, error);
}

namespace colour {
namespace {
std::string wrap(std::string_view s, bool enabled, const char* open, const char* close) {
  if (!enabled) return std::string(s);
  return std::string(open) + std::string(s) + close;
}
}  // namespace
std::string bold(std::string_view s, bool enabled) { return wrap(s, enabled, "\x1b[1m", "\x1b[22m"); }
std::string gray(std::string_view s, bool enabled) { return wrap(s, enabled, "\x1b[90m", "\x1b[39m"); }
std::string green(std::string_view s, bool enabled) { return wrap(s, enabled, "\x1b[32m", "\x1b[39m"); }
std::string red(std::string_view s, bool enabled) { return wrap(s, enabled, "\x1b[31m", "\x1b[39m"); }
}  // namespace colour

namespace {

// The port worth showing: CONNECT takes it from the URL (hiding 443), other
// methods from the upstream port (hiding 80 and 443).
std::string display_port(const LogEntry& e) {
  if (e.method == "CONNECT") {
    auto colon = e.url.rfind(':');
    if (colon != std::string::npos) {
      std::string port = e.url.substr(colon + 1);
      return port == "443" ? "" : port;
    }
  }
  if (!e.dest_port.empty() && e.dest_port != "-" && e.dest_port != "443" && e.dest_port != "80") {
    return e.dest_port;
  }
  return "";
}

}  // namespace

std::string format_pretty(const LogEntry& e, bool colourise) {
  // "YYYY-MM-DDTHH:MM:SS.mmmZ" -> "YYYY-MM-DD HH:MM:SS.mmm" (years past
  // 9999 or before 0 have more characters: found by the position of T and Z)
  std::string time = iso_time(e.timestamp);
  if (const auto t = time.find('T'); t != std::string::npos) time[t] = ' ';
  if (!time.empty() && time.back() == 'Z') time.pop_back();
  std::string port = display_port(e);
  std::string target = port.empty() ? e.domain : e.domain + ":" + port;
  std::string line = "[" + time + "] " + e.method + " " + target + " \u2192 " + std::to_string(e.status_code) +
                     (e.is_allowed ? " (ALLOWED)" : " (DENIED)");
  if (!e.user_agent.empty() && e.user_agent != "-") line += " [" + e.user_agent + "]";
  if (!colourise) return line;
  return e.is_allowed ? colour::green(line, true) : colour::red(line, true);
}

std::string format_json(const LogEntry& e) {
  boost::json::object o;
  o.emplace("timestamp", e.timestamp);
  o.emplace("clientIp", e.client_ip);
  o.emplace("clientPort", e.client_port);
  o.emplace("host", e.host);
  o.emplace("destIp", e.dest_ip);
  o.emplace("destPort", e.dest_port);
  o.emplace("protocol", e.protocol);
  o.emplace("method", e.method);
  o.emplace("statusCode", e.status_code);
  o.emplace("decision", e.decision);
  o.emplace("url", e.url);
  o.emplace("userAgent", e.user_agent);
  o.emplace("domain", e.domain);
  o.emplace("isAllowed", e.is_allowed);
  o.emplace("isHttps", e.is_https);
  return json::stringify(boost::json::value(std::move(o)));
}

}  // namespace awf::logs
