// awf-loadgen settings: what load to drive through which proxy, for how long.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace awf::loadgen {

// The kinds of load the generator can drive through a proxy.
enum class Mode {
  forward,      // GET http://target/path sent to the proxy (absolute-URI form)
  tunnel_http,  // CONNECT target, then a plain HTTP GET inside the tunnel
  tunnel_tls,   // CONNECT target, TLS handshake (SNI = target host), then GET
  echo,         // CONNECT target (an echo server), write N bytes, read them back
  connect_only, // CONNECT target and read the answer; a denied CONNECT is the load
  idle,         // open K CONNECT tunnels, hold them, close them
  sse,          // POST a streaming chat completion straight to the --proxy address
                // (an API proxy listener, or with --tls the provider itself) and read
                // the SSE stream to its end; latency = request write to first event byte
  sse_hold,     // open K such streams, keep reading them for --hold seconds, close them
};

const char* mode_name(Mode m);

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string authority() const;  // host:port, IPv6 literals bracketed
};

struct Options {
  Mode mode = Mode::forward;
  Endpoint proxy;                 // where the proxy listens (an IP literal)
  Endpoint target;                // the origin as named in the request
  std::string path = "/";
  std::string bind_address;       // local address for outgoing sockets ("" = any)
  int concurrency = 8;
  int threads = 1;
  std::chrono::milliseconds duration{3000};
  std::uint64_t max_requests = 0; // 0 = no cap besides the duration
  bool keep_alive = false;        // reuse the connection/tunnel between requests
  int expect_status = 200;        // the status a successful request answers with
  std::uint64_t echo_bytes = 1024;
  int idle_tunnels = 1000;
  std::chrono::milliseconds hold{3000};        // idle mode: how long to hold tunnels
  std::chrono::milliseconds request_timeout{10000};
  bool json = false;
  // SSE modes: TLS to the --proxy address (SNI = target host, no verification).
  bool tls = false;
  int streams = 1000;             // sse-hold: streams to open
  // SSE modes: asked of the provider per request (X-Bench-Events,
  // X-Bench-Interval-Ms); negative: not asked, the provider's default applies.
  long long sse_events = -1;
  long long sse_interval_ms = -1;
};

// awf-loadgen --serve-sse: the fake provider for the API proxy benchmark.
struct SseServerOptions {
  Endpoint listen;
  std::string cert_file;          // PEM leaf (and chain) the server presents
  std::string key_file;           // its private key
  int threads = 1;
  long long events = 0;           // further events after the first, by default
  long long interval_ms = 1000;   // between further events, by default
  std::chrono::milliseconds run_for{0};  // 0: until SIGINT/SIGTERM
};

}  // namespace awf::loadgen
