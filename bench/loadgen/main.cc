// awf-loadgen: command-line front end of the load generator used by bench/compare.py.
#include <CLI/CLI.hpp>
#include <charconv>
#include <iostream>
#include <map>

#include "load.h"
#include "options.h"
#include "report.h"

namespace {

using awf::loadgen::Endpoint;
using awf::loadgen::Mode;

// Parses HOST:PORT or [V6]:PORT; returns false on anything else.
bool parse_endpoint(const std::string& text, Endpoint& out) {
  std::string host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535) return false;
  out.host = host;
  out.port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  awf::loadgen::Options opts;
  CLI::App app{"awf-loadgen: drive HTTP forward, CONNECT, TLS-in-tunnel, idle-tunnel and SSE-stream loads "
               "through an HTTP proxy (or an API proxy listener) and report req/s, latency percentiles and errors"};
  std::string mode = "forward", proxy, target, serve_echo, serve_sse;
  double duration_s = 3, hold_s = 3, timeout_s = 10;
  awf::loadgen::SseServerOptions sse_server;
  const std::map<std::string, Mode> modes{
      {"forward", Mode::forward},   {"tunnel-http", Mode::tunnel_http},
      {"tunnel-tls", Mode::tunnel_tls}, {"echo", Mode::echo},
      {"connect-only", Mode::connect_only}, {"idle", Mode::idle},
      {"sse", Mode::sse}, {"sse-hold", Mode::sse_hold}};

  app.add_option("--mode", mode,
                 "forward: GET absolute-URI via the proxy; tunnel-http: CONNECT then GET; "
                 "tunnel-tls: CONNECT, TLS handshake, GET; echo: CONNECT then N bytes echoed; "
                 "connect-only: CONNECT and read the answer (denied loads); idle: hold K tunnels; "
                 "sse: POST a streaming chat completion to --proxy (an API proxy listener, or with --tls the "
                 "provider) and read the stream to [DONE]; sse-hold: hold K such streams open")
      ->check(CLI::IsMember(
          {"forward", "tunnel-http", "tunnel-tls", "echo", "connect-only", "idle", "sse", "sse-hold"}));
  app.add_option("--proxy", proxy, "proxy address IP:PORT (sse modes: the address connected to)")->required();
  app.add_option("--target", target, "origin HOST:PORT as named in the request (sse modes: Host and SNI)")
      ->required();
  app.add_option("--path", opts.path, "request path (default /; sse modes: /v1/chat/completions)");
  app.add_option("--bind", opts.bind_address, "local source address of connections to the proxy");
  app.add_option("-c,--concurrency", opts.concurrency, "concurrent clients")->check(CLI::Range(1, 100000));
  app.add_option("--threads", opts.threads, "I/O threads of the generator")->check(CLI::Range(1, 64));
  app.add_option("-d,--duration", duration_s, "seconds to run (idle mode: to establish)")
      ->check(CLI::Range(0.01, 3600.0));
  app.add_option("-n,--max-requests", opts.max_requests, "stop after this many requests (0: no cap)");
  app.add_flag("-k,--keep-alive", opts.keep_alive, "reuse the connection/tunnel between requests");
  app.add_option("--expect-status", opts.expect_status,
                 "status that counts as success (e.g. 403 for a denied load)");
  app.add_option("--bytes", opts.echo_bytes, "echo mode: bytes sent and read back per request")
      ->check(CLI::Range(1ULL, 1ULL << 32));
  app.add_option("--tunnels", opts.idle_tunnels, "idle mode: tunnels to open")->check(CLI::Range(1, 1000000));
  app.add_option("--hold", hold_s, "idle mode: seconds to hold the tunnels open")->check(CLI::Range(0.0, 3600.0));
  app.add_option("--timeout", timeout_s, "per-request timeout in seconds (sse-hold: until the first event)")
      ->check(CLI::Range(0.01, 3600.0));
  app.add_flag("--tls", opts.tls, "sse modes: TLS to --proxy (a provider), SNI = the target host, not verified");
  app.add_option("--streams", opts.streams, "sse-hold: streams to open")->check(CLI::Range(1, 1000000));
  app.add_option("--sse-events", opts.sse_events,
                 "sse modes: events the provider sends after the first (X-Bench-Events); --serve-sse: the "
                 "default (0)")
      ->check(CLI::Range(0LL, 10'000'000LL));
  app.add_option("--sse-interval", opts.sse_interval_ms,
                 "sse modes: milliseconds between those events (X-Bench-Interval-Ms); --serve-sse: the default "
                 "(1000)")
      ->check(CLI::Range(0LL, 3'600'000LL));
  app.add_flag("--json", opts.json, "print one JSON line instead of the text report");
  app.add_option("--serve-echo", serve_echo,
                 "instead of generating load, run a TCP echo server on IP:PORT for --duration seconds "
                 "(0: until SIGTERM)");
  app.add_option("--serve-sse", serve_sse,
                 "instead of generating load, run the benchmark's fake LLM provider: HTTPS on IP:PORT "
                 "(--cert, --key), POST */chat/completions answered by an SSE stream (the first event at once, "
                 "--sse-events more --sse-interval ms apart, then [DONE]), --threads threads, for --duration "
                 "seconds (0: until SIGTERM)");
  app.add_option("--cert", sse_server.cert_file, "--serve-sse: PEM certificate (chain) the server presents");
  app.add_option("--key", sse_server.key_file, "--serve-sse: PEM private key of --cert");
  // --proxy/--target are not needed to serve the echo or the SSE provider.
  app.preparse_callback([&](std::size_t) {
    for (int i = 1; i < argc; ++i) {
      std::string arg(argv[i]);
      if (arg.rfind("--serve-echo", 0) == 0 || arg.rfind("--serve-sse", 0) == 0) {
        app.get_option("--proxy")->required(false);
        app.get_option("--target")->required(false);
      }
    }
  });
  CLI11_PARSE(app, argc, argv);

  auto to_ms = [](double s) { return std::chrono::milliseconds(static_cast<long long>(s * 1000)); };
  if (!serve_echo.empty()) {
    Endpoint listen;
    if (!parse_endpoint(serve_echo, listen)) {
      std::cerr << "awf-loadgen: --serve-echo \"" << serve_echo << "\": expected IP:PORT\n";
      return 2;
    }
    bool duration_given = app.count("--duration") > 0;
    return awf::loadgen::serve_echo(listen, duration_given ? to_ms(duration_s) : std::chrono::milliseconds(0));
  }
  if (!serve_sse.empty()) {
    if (!parse_endpoint(serve_sse, sse_server.listen)) {
      std::cerr << "awf-loadgen: --serve-sse \"" << serve_sse << "\": expected IP:PORT\n";
      return 2;
    }
    if (sse_server.cert_file.empty() || sse_server.key_file.empty()) {
      std::cerr << "awf-loadgen: --serve-sse needs --cert and --key\n";
      return 2;
    }
    sse_server.threads = opts.threads;
    if (opts.sse_events >= 0) sse_server.events = opts.sse_events;
    if (opts.sse_interval_ms >= 0) sse_server.interval_ms = opts.sse_interval_ms;
    if (app.count("--duration") > 0) sse_server.run_for = to_ms(duration_s);
    return awf::loadgen::serve_sse(sse_server);
  }
  if (!parse_endpoint(proxy, opts.proxy)) {
    std::cerr << "awf-loadgen: --proxy \"" << proxy << "\": expected IP:PORT or [IPv6]:PORT\n";
    return 2;
  }
  if (!parse_endpoint(target, opts.target)) {
    std::cerr << "awf-loadgen: --target \"" << target << "\": expected HOST:PORT\n";
    return 2;
  }
  opts.mode = modes.at(mode);
  const bool sse = opts.mode == Mode::sse || opts.mode == Mode::sse_hold;
  if (opts.tls && !sse) {
    std::cerr << "awf-loadgen: --tls applies to the sse modes only, not --mode " << mode << "\n";
    return 2;
  }
  if (sse && app.count("--path") == 0) opts.path = "/v1/chat/completions";
  opts.duration = to_ms(duration_s);
  opts.hold = to_ms(hold_s);
  opts.request_timeout = to_ms(timeout_s);

  awf::loadgen::Report report = awf::loadgen::run_load(opts);
  std::cout << (opts.json ? awf::loadgen::format_json(opts, report) + "\n"
                          : awf::loadgen::format_text(opts, report));
  // Non-zero when nothing succeeded, so scripts notice a broken setup.
  return report.successes > 0 ? 0 : 1;
}
