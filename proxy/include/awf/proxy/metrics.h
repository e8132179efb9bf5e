// What awf-proxy has done since it started, for the admin listener's
// /metrics (Prometheus text format 0.0.4). Transactions are counted by the
// access-log writer thread, which formats every record anyway, so the I/O
// threads pay nothing for them; the gauges and the DNS answer counts are
// read from where the proxy keeps them already when a scrape asks.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "awf/proxy/access_log.h"

namespace awf::proxy {

class Metrics {
 public:
  // The reasons a transaction is counted under: "allowed", then every code
  // the proxy writes into a refused record's "reason" (policy, SSRF guard,
  // DLP, TLS, SSL bump, DNS), then "other" for a refusal without a known
  // code. A closed set, so the label's cardinality stays fixed.
  static constexpr std::array<std::string_view, 22> kReasons = {
      "allowed",        "not_in_allowlist",         "empty_allowlist",    "blocklisted",
      "port_not_allowed", "ip_literal",             "scope_mismatch",     "invalid_host",
      "private_address", "credential_in_url",       "unacceptable_client_hello",
      "tunnel_not_inspectable", "host_mismatch",    "method_not_allowed", "url_not_allowed",
      "not_allowed",    "invalid_name",             "zone_transfer",      "budget_rps",
      "budget_tunnels", "budget_bytes",             "other"};
  static constexpr std::size_t kListeners = 6;  // Listener's values
  // Upper bounds of the duration histogram's buckets, in milliseconds.
  static constexpr std::array<std::int64_t, 15> kDurationBucketsMs = {
      5, 10, 25, 50, 100, 250, 500, 1'000, 2'500, 5'000, 10'000, 30'000, 60'000, 300'000, 1'800'000};

  // The index into kReasons a record is counted under.
  static std::size_t reason_index(const LogRecord& r);
  // The front end a record came through (api, dns and socks records are
  // told by their own fields).
  static Listener listener_of(const LogRecord& r);

  void count(const LogRecord& r);  // the access-log writer thread only
  void count_reload(bool ok);      // the signal-handling thread only
  // Lines the access-log writer could not write (a full disk): its thread only.
  void count_lost_lines(bool audit, std::uint64_t n) { add(audit ? lost_audit_ : lost_access_, n); }

  // Read from any thread.
  std::uint64_t requests(Listener listener, std::size_t reason) const;
  std::uint64_t bytes_to_client() const { return bytes_to_client_.load(std::memory_order_relaxed); }
  std::uint64_t duration_bucket(std::size_t i) const { return duration_buckets_[i].load(std::memory_order_relaxed); }
  std::uint64_t duration_count() const { return duration_count_.load(std::memory_order_relaxed); }
  std::uint64_t duration_sum_ms() const { return duration_sum_ms_.load(std::memory_order_relaxed); }
  std::uint64_t reloads(bool ok) const { return (ok ? reloads_ok_ : reloads_failed_).load(std::memory_order_relaxed); }
  std::uint64_t lost_lines(bool audit) const {
    return (audit ? lost_audit_ : lost_access_).load(std::memory_order_relaxed);
  }

 private:
  // Each counter has one writing thread: a plain load and store (no
  // read-modify-write) keeps it exact, and readers see whole values.
  static void add(std::atomic<std::uint64_t>& a, std::uint64_t n) {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::array<std::array<std::atomic<std::uint64_t>, kReasons.size()>, kListeners> requests_{};
  std::atomic<std::uint64_t> bytes_to_client_{0};
  std::array<std::atomic<std::uint64_t>, kDurationBucketsMs.size()> duration_buckets_{};  // not cumulative
  std::atomic<std::uint64_t> duration_count_{0};
  std::atomic<std::uint64_t> duration_sum_ms_{0};
  std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
  std::atomic<std::uint64_t> lost_access_{0};
  std::atomic<std::uint64_t> lost_audit_{0};
};

// What a scrape reads besides the counters.
struct LiveValues {
  std::uint64_t active_connections = 0;
  std::uint64_t active_tunnels = 0;
  std::uint64_t dns_forwarded = 0;
  std::uint64_t dns_refused = 0;
  std::uint64_t policy_generation = 0;
  // Clients closed at accept: out of file descriptors, over --max-connections,
  // over --dns-tcp-max-connections.
  std::uint64_t refused_out_of_fds = 0;
  std::uint64_t refused_max_connections = 0;
  std::uint64_t refused_dns_tcp_max_connections = 0;
  double start_time_seconds = 0;  // since the Unix epoch
  std::string version;
};

// The exposition text (format 0.0.4): HELP and TYPE for every family,
// counters ending in _total, request series only where non-zero.
std::string render_metrics(const Metrics& metrics, const LiveValues& live);

}  // namespace awf::proxy
