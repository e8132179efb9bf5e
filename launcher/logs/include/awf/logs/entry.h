// One access-log record and the two parsers that produce it: Squid's
// `firewall_detailed` text line (access.log) and awf's audit.jsonl line,
// with awf's rules for the domain, the decision and aborted transactions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace awf::logs {

struct LogEntry {
  double timestamp = 0;        // epoch seconds with milliseconds
  std::string client_ip;       // "-" when unknown
  std::string client_port;     // "-" in audit.jsonl
  std::string host;            // Host header as logged, "-" if absent
  std::string dest_ip;         // "-" when not connected
  std::string dest_port;       // "-" when not connected
  std::string protocol;        // HTTP version, "-" in audit.jsonl
  std::string method;          // CONNECT, GET, NONE, ...
  int status_code = 0;
  std::string decision;        // "TCP_TUNNEL:HIER_DIRECT", "TCP_DENIED:HIER_NONE", "TCP_TUNNEL"
  std::string url;
  std::string user_agent;      // "-" if absent, always "-" in audit.jsonl
  std::string domain;          // see extract_domain()
  bool is_allowed = false;     // see is_allowed_decision()
  bool is_https = false;       // method == CONNECT
  // awf-proxy logs the first refusal of a name and type at once and folds the
  // identical ones that follow into one summary line: on that line, how many
  // refusals it stands for ("repeated N times" as the user agent in
  // access.log, "repeated":N in audit.jsonl). 0 on every other line.
  std::uint64_t repeated = 0;
};

// awf-proxy's line for a query its DNS front end refused (method `DNS`, URL
// `dns://NAME/TYPE`): a name lookup, not a request; stub resolvers ask A and
// AAAA and retry, so one name is several of them.
inline bool is_dns_refusal(const LogEntry& e) { return e.method == "DNS" && !e.is_allowed; }

// The URL Squid logs for a connection that closed before sending a request;
// health checks and keep-alive closes produce it. Aggregates skip it.
inline constexpr std::string_view kAbortedTransactionUrl = "error:transaction-end-before-headers";
inline bool is_aborted_transaction(const LogEntry& e) { return e.url == kAbortedTransactionUrl; }

// Allowed iff the Squid result code is non-empty and starts with neither
// TCP_DENIED nor NONE (TCP_TUNNEL, TCP_MISS, TCP_HIT, ... are allowed).
bool is_allowed_decision(std::string_view decision);

// CONNECT: the URL minus a trailing numeric `:port`. Otherwise the Host
// header minus a numeric port; if the Host is `-` or empty, the hostname of
// the URL (an `http://` scheme is assumed when the URL has none).
std::string extract_domain(std::string_view url, std::string_view host, std::string_view method);

// One `firewall_detailed` line:
//   %ts.%03tu %>a:%>p %{Host}>h %<a:%<p %rv %rm %>Hs %Ss:%Sh %ru "%{User-Agent}>h"
// Leading/trailing whitespace ignored; anything not in that shape yields nullopt.
// The client must be IPv4, as awf's own parser wants it (`awf logs` reads
// access.log the same way).
std::optional<LogEntry> parse_access_log_line(std::string_view line);

// The same line, also with an IPv6 client or destination (`::1:40000`, as
// awf-proxy writes it, or `[::1]:40000`).
// For the report after a run: the agent's requests over ::1 are its own and
// must be counted and shown, not dropped as awf's parser drops them.
std::optional<LogEntry> parse_access_log_line_any_client(std::string_view line);

// One audit.jsonl line. Accepts `timestamp` (ISO 8601, `...Z`) or the legacy
// numeric `ts`; `dest` split on the last colon or as `[v6]:port`. Lines that
// are not a JSON object yield nullopt (Squid does not escape JSON, so a
// stray quote in a URL can break one line; awf drops such lines too).
std::optional<LogEntry> parse_audit_jsonl_line(std::string_view line);

// access_log_any_client: access.log through parse_access_log_line_any_client.
enum class LogFormat { access_log, access_log_any_client, audit_jsonl };

// Every non-blank line of `content` through the chosen parser, in order;
// unparseable lines are skipped and counted in `skipped` if given.
std::vector<LogEntry> parse_log_text(std::string_view content, LogFormat format, std::size_t* skipped = nullptr);

// ISO 8601 UTC as JavaScript's Date#toISOString prints it for epoch seconds
// `ts` (milliseconds truncated): "2025-10-21T19:19:34.646Z".
std::string iso_time(double ts);

// The inverse, for `YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm]`; nullopt if malformed.
std::optional<double> parse_iso_time(std::string_view text);

}  // namespace awf::logs
