// Percentiles and the text / JSON renderings of a load run's report.
#include "report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace awf::loadgen {

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::forward: return "forward";
    case Mode::tunnel_http: return "tunnel-http";
    case Mode::tunnel_tls: return "tunnel-tls";
    case Mode::echo: return "echo";
    case Mode::connect_only: return "connect-only";
    case Mode::idle: return "idle";
    case Mode::sse: return "sse";
    case Mode::sse_hold: return "sse-hold";
  }
  return "?";
}

std::string Endpoint::authority() const {
  bool is_v6 = host.find(':') != std::string::npos;
  return (is_v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

const char* failure_name(Failure f) {
  switch (f) {
    case Failure::connect: return "connect";
    case Failure::proxy_status: return "proxy_status";
    case Failure::tls_handshake: return "tls_handshake";
    case Failure::bad_response: return "bad_response";
    case Failure::status: return "status";
    case Failure::closed: return "closed";
    case Failure::timeout: return "timeout";
    case Failure::echo_mismatch: return "echo_mismatch";
    case Failure::ended_early: return "ended_early";
    case Failure::io: return "io";
    case Failure::count_: break;
  }
  return "?";
}

std::uint64_t Report::failure_total() const {
  std::uint64_t n = 0;
  for (auto v : failures) n += v;
  return n;
}

void Report::merge(Report&& other) {
  successes += other.successes;
  bytes_received += other.bytes_received;
  for (std::size_t i = 0; i < failures.size(); ++i) failures[i] += other.failures[i];
  latencies_us.insert(latencies_us.end(), other.latencies_us.begin(), other.latencies_us.end());
  setup_latencies_us.insert(setup_latencies_us.end(), other.setup_latencies_us.begin(),
                            other.setup_latencies_us.end());
  tunnels_held += other.tunnels_held;
  events += other.events;
  streams_held += other.streams_held;
}

namespace {

// Nearest-rank percentile over sorted samples; 0 when there are none.
std::uint32_t percentile(const std::vector<std::uint32_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(q * static_cast<double>(sorted.size()));
  return sorted[std::min(rank, sorted.size() - 1)];
}

struct Percentiles {
  std::uint32_t p50, p99, p999, max;
};

struct Summary {
  double rps;
  std::uint32_t p50, p99, p999, max;
  Percentiles setup;  // SSE modes: the latencies including connection set-up
};

Percentiles percentiles(std::vector<std::uint32_t>& samples) {
  std::sort(samples.begin(), samples.end());
  return {percentile(samples, 0.50), percentile(samples, 0.99), percentile(samples, 0.999),
          samples.empty() ? 0 : samples.back()};
}

bool is_sse(Mode m) { return m == Mode::sse || m == Mode::sse_hold; }

Summary summarise(Report& r) {
  Summary s{};
  s.rps = r.elapsed_s > 0 ? static_cast<double>(r.successes) / r.elapsed_s : 0;
  Percentiles p = percentiles(r.latencies_us);
  s.p50 = p.p50;
  s.p99 = p.p99;
  s.p999 = p.p999;
  s.max = p.max;
  s.setup = percentiles(r.setup_latencies_us);
  return s;
}

}  // namespace

std::string format_text(const Options& opts, Report& r) {
  Summary s = summarise(r);
  std::ostringstream out;
  out << "mode " << mode_name(opts.mode) << ", proxy " << opts.proxy.authority() << ", target "
      << opts.target.authority() << ", concurrency " << opts.concurrency
      << (opts.keep_alive ? ", keep-alive" : ", new connection per request") << "\n";
  if (opts.mode == Mode::idle) out << "tunnels held  " << r.tunnels_held << "\n";
  if (opts.mode == Mode::sse_hold) out << "streams held  " << r.streams_held << "\n";
  char line[256];
  std::snprintf(line, sizeof line, "requests      %llu ok, %llu failed in %.2f s (%.1f req/s)\n",
                static_cast<unsigned long long>(r.successes),
                static_cast<unsigned long long>(r.failure_total()), r.elapsed_s, s.rps);
  out << line;
  std::snprintf(line, sizeof line, "latency (us)  p50 %u  p99 %u  p99.9 %u  max %u\n", s.p50, s.p99,
                s.p999, s.max);
  out << line;
  if (is_sse(opts.mode)) {
    std::snprintf(line, sizeof line, "with set-up   p50 %u  p99 %u  p99.9 %u  max %u (from connect, us)\n",
                  s.setup.p50, s.setup.p99, s.setup.p999, s.setup.max);
    out << line;
    out << "events        " << r.events << "\n";
  }
  out << "received      " << r.bytes_received << " bytes\n";
  for (std::size_t i = 0; i < r.failures.size(); ++i) {
    if (r.failures[i] != 0)
      out << "error         " << failure_name(static_cast<Failure>(i)) << ": " << r.failures[i] << "\n";
  }
  return out.str();
}

std::string format_json(const Options& opts, Report& r) {
  Summary s = summarise(r);
  std::ostringstream out;
  char rps[64];
  std::snprintf(rps, sizeof rps, "%.2f", s.rps);
  char elapsed[64];
  std::snprintf(elapsed, sizeof elapsed, "%.3f", r.elapsed_s);
  out << "{\"mode\":\"" << mode_name(opts.mode) << "\",\"concurrency\":" << opts.concurrency
      << ",\"keep_alive\":" << (opts.keep_alive ? "true" : "false") << ",\"elapsed_s\":" << elapsed
      << ",\"requests\":" << r.successes << ",\"errors\":" << r.failure_total()
      << ",\"rps\":" << rps << ",\"bytes\":" << r.bytes_received
      << ",\"tunnels_held\":" << r.tunnels_held << ",\"latency_us\":{\"p50\":" << s.p50
      << ",\"p99\":" << s.p99 << ",\"p999\":" << s.p999 << ",\"max\":" << s.max << "}";
  if (is_sse(opts.mode)) {
    out << ",\"tls\":" << (opts.tls ? "true" : "false") << ",\"events\":" << r.events
        << ",\"streams_held\":" << r.streams_held << ",\"latency_with_setup_us\":{\"p50\":" << s.setup.p50
        << ",\"p99\":" << s.setup.p99 << ",\"p999\":" << s.setup.p999 << ",\"max\":" << s.setup.max << "}";
  }
  out << ",\"errors_by_kind\":{";
  bool first = true;
  for (std::size_t i = 0; i < r.failures.size(); ++i) {
    if (r.failures[i] == 0) continue;
    out << (first ? "" : ",") << "\"" << failure_name(static_cast<Failure>(i)) << "\":" << r.failures[i];
    first = false;
  }
  out << "}}";
  return out.str();
}

}  // namespace awf::loadgen
