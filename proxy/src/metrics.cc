// Counting access-log records into fixed arrays and writing the Prometheus
// text exposition of them.
#include "awf/proxy/metrics.h"

#include <charconv>
#include <cstdio>

namespace awf::proxy {

namespace {

constexpr std::array<Listener, Metrics::kListeners> kListenerOrder = {
    Listener::forward, Listener::http_intercept, Listener::tls_intercept,
    Listener::socks,   Listener::dns,            Listener::api};

void append_number(std::string& out, std::uint64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

// Seconds from milliseconds, exact to the millisecond ("0.005", "1800").
void append_seconds(std::string& out, std::uint64_t ms) {
  append_number(out, ms / 1000);
  if (const std::uint64_t frac = ms % 1000; frac != 0) {
    char buf[16];
    std::snprintf(buf, sizeof buf, ".%03u", static_cast<unsigned>(frac));
    std::string_view digits(buf);
    while (digits.back() == '0') digits.remove_suffix(1);
    out += digits;
  }
}

void append_family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void append_sample(std::string& out, std::string_view name, std::string_view labels, std::uint64_t value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  append_number(out, value);
  out += '\n';
}

// A label value in the exposition format's escaping (backslash, quote,
// newline); only the version string can hold such bytes.
std::string label_value(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::size_t Metrics::reason_index(const LogRecord& r) {
  // Refused: by a rule (TCP_DENIED, a reason code), or as malformed or not
  // supported (NONE_NONE with a 4xx). A 5xx (an origin that failed) was
  // allowed.
  const bool denied = r.code == ResultCode::tcp_denied || !r.reason.empty() ||
                      (r.code == ResultCode::none_none && r.status >= 400 && r.status < 500);
  if (!denied) return 0;
  for (std::size_t i = 1; i + 1 < kReasons.size(); ++i) {
    if (kReasons[i] == r.reason) return i;
  }
  return kReasons.size() - 1;
}

Listener Metrics::listener_of(const LogRecord& r) {
  if (!r.api_provider.empty()) return Listener::api;
  if (r.via_socks) return Listener::socks;
  if (r.method == "DNS") return Listener::dns;
  return r.listener;
}

void Metrics::count(const LogRecord& r) {
  // A summary of folded DNS refusals stands for that many queries.
  const std::uint64_t n = r.repeated ? r.repeated : 1;
  add(requests_[static_cast<std::size_t>(listener_of(r))][reason_index(r)], n);
  if (r.repeated) return;  // the summary is no transaction of its own
  add(bytes_to_client_, r.bytes_to_client);
  const std::int64_t ms = r.duration.count() < 0 ? 0 : r.duration.count();
  std::size_t bucket = 0;
  while (bucket < kDurationBucketsMs.size() && ms > kDurationBucketsMs[bucket]) ++bucket;
  if (bucket < kDurationBucketsMs.size()) add(duration_buckets_[bucket], 1);
  add(duration_count_, 1);
  add(duration_sum_ms_, static_cast<std::uint64_t>(ms));
}

void Metrics::count_reload(bool ok) { add(ok ? reloads_ok_ : reloads_failed_, 1); }

std::uint64_t Metrics::requests(Listener listener, std::size_t reason) const {
  return requests_[static_cast<std::size_t>(listener)][reason].load(std::memory_order_relaxed);
}

std::string render_metrics(const Metrics& m, const LiveValues& live) {
  std::string out;
  out.reserve(4096);

  append_family(out, "awf_proxy_requests_total", "counter",
                "Transactions logged, by front end, decision and reason (a refused record's reason code).");
  for (Listener listener : kListenerOrder) {
    for (std::size_t reason = 0; reason < Metrics::kReasons.size(); ++reason) {
      const std::uint64_t n = m.requests(listener, reason);
      if (n == 0) continue;
      std::string labels = "listener=\"";
      labels += to_string(listener);
      labels += reason == 0 ? "\",decision=\"allowed\",reason=\"" : "\",decision=\"denied\",reason=\"";
      labels += Metrics::kReasons[reason];
      labels += '"';
      append_sample(out, "awf_proxy_requests_total", labels, n);
    }
  }

  append_family(out, "awf_proxy_bytes_total", "counter",
                "Bytes sent to clients (response heads and bodies, tunnel bytes), as logged.");
  append_sample(out, "awf_proxy_bytes_total", "direction=\"to_client\"", m.bytes_to_client());

  append_family(out, "awf_proxy_request_duration_seconds", "histogram",
                "Transaction durations, as the access log records them.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < Metrics::kDurationBucketsMs.size(); ++i) {
    cumulative += m.duration_bucket(i);
    std::string labels = "le=\"";
    append_seconds(labels, static_cast<std::uint64_t>(Metrics::kDurationBucketsMs[i]));
    labels += '"';
    append_sample(out, "awf_proxy_request_duration_seconds_bucket", labels, cumulative);
  }
  // The count is read after the buckets: a record counted in between makes
  // +Inf (the count) larger, never smaller, than the last bucket.
  const std::uint64_t count = m.duration_count();
  append_sample(out, "awf_proxy_request_duration_seconds_bucket", "le=\"+Inf\"", count < cumulative ? cumulative : count);
  out += "awf_proxy_request_duration_seconds_sum ";
  append_seconds(out, m.duration_sum_ms());
  out += '\n';
  append_sample(out, "awf_proxy_request_duration_seconds_count", "", count < cumulative ? cumulative : count);

  append_family(out, "awf_proxy_active_connections", "gauge", "Client connections open now, every front end.");
  append_sample(out, "awf_proxy_active_connections", "", live.active_connections);
  append_family(out, "awf_proxy_active_tunnels", "gauge",
                "Tunnels relaying now (CONNECT, SOCKS5 and intercepted TLS).");
  append_sample(out, "awf_proxy_active_tunnels", "", live.active_tunnels);

  append_family(out, "awf_proxy_connections_refused_total", "counter",
                "Client connections closed at accept, by cause: out of file descriptors, or a connection limit.");
  append_sample(out, "awf_proxy_connections_refused_total", "cause=\"out_of_fds\"", live.refused_out_of_fds);
  append_sample(out, "awf_proxy_connections_refused_total", "cause=\"max_connections\"", live.refused_max_connections);
  append_sample(out, "awf_proxy_connections_refused_total", "cause=\"dns_tcp_max_connections\"",
                live.refused_dns_tcp_max_connections);

  append_family(out, "awf_proxy_dns_queries_total", "counter",
                "Queries the DNS front end forwarded upstream or refused.");
  append_sample(out, "awf_proxy_dns_queries_total", "answer=\"forwarded\"", live.dns_forwarded);
  append_sample(out, "awf_proxy_dns_queries_total", "answer=\"refused\"", live.dns_refused);

  append_family(out, "awf_proxy_reloads_total", "counter", "SIGHUP reloads of the configuration and policy.");
  append_sample(out, "awf_proxy_reloads_total", "result=\"ok\"", m.reloads(true));
  append_sample(out, "awf_proxy_reloads_total", "result=\"failed\"", m.reloads(false));

  append_family(out, "awf_proxy_log_lines_lost_total", "counter",
                "Log lines that could not be written (a full disk, an I/O error), by file.");
  append_sample(out, "awf_proxy_log_lines_lost_total", "file=\"access.log\"", m.lost_lines(false));
  append_sample(out, "awf_proxy_log_lines_lost_total", "file=\"audit.jsonl\"", m.lost_lines(true));

  append_family(out, "awf_proxy_policy_generation", "gauge", "Policies installed since start (1 before any reload).");
  append_sample(out, "awf_proxy_policy_generation", "", live.policy_generation);

  append_family(out, "awf_proxy_build_info", "gauge", "The running awf-proxy's version.");
  append_sample(out, "awf_proxy_build_info", "version=\"" + label_value(live.version) + "\"", 1);

  append_family(out, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.");
  char start[64];
  std::snprintf(start, sizeof start, "%.3f", live.start_time_seconds);
  out += "process_start_time_seconds ";
  out += start;
  out += '\n';
  return out;
}

}  // namespace awf::proxy
