// Counters and latency samples of one load run, merged across threads and printed.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "options.h"

namespace awf::loadgen {

// Why a request did not count as a success; each kind has its own counter.
enum class Failure {
  connect,        // TCP connect to the proxy failed
  proxy_status,   // CONNECT answered with a status other than 200 / the expected one
  tls_handshake,  // TLS handshake through the tunnel failed
  bad_response,   // the HTTP response could not be parsed
  status,         // final status differs from --expect-status
  closed,         // the peer closed or reset the connection mid-request
  timeout,        // --request-timeout fired
  echo_mismatch,  // the echo came back different from what was sent
  ended_early,    // sse-hold: a stream ended (or broke) before the hold did
  io,             // any other socket error
  count_
};

const char* failure_name(Failure f);

struct Report {
  std::uint64_t successes = 0;
  std::uint64_t bytes_received = 0;  // response/echo payload bytes
  std::array<std::uint64_t, static_cast<std::size_t>(Failure::count_)> failures{};
  std::vector<std::uint32_t> latencies_us;  // one per success
  // SSE modes: per success, from the start of the request including the
  // connection (and TLS) set-up when a new connection was opened for it, to
  // the first event byte. latencies_us counts from the request write.
  std::vector<std::uint32_t> setup_latencies_us;
  std::uint64_t tunnels_held = 0;           // idle mode
  std::uint64_t events = 0;                 // SSE modes: events received ("\n\n"-terminated)
  std::uint64_t streams_held = 0;           // sse-hold: streams still open when the hold ended
  double elapsed_s = 0;

  void record_failure(Failure f) { ++failures[static_cast<std::size_t>(f)]; }
  std::uint64_t failure_total() const;
  void merge(Report&& other);
};

// Human-readable summary, several lines.
std::string format_text(const Options& opts, Report& r);
// One JSON object on one line, for scripts.
std::string format_json(const Options& opts, Report& r);

}  // namespace awf::loadgen
