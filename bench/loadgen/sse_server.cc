// awf-loadgen --serve-sse: the fake LLM provider of bench/api_stream.py. HTTPS
// with the certificate it is given; POST */chat/completions answers with an
// OpenAI-style SSE stream, the first event written with the response head.
// Built for load: one coroutine per connection, the event chunk formatted
// once, every write a single send.
#include <openssl/ssl.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "load.h"

namespace awf::loadgen {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using asio::awaitable;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// One content chunk as OpenAI streams it (about the size of a real one).
constexpr std::string_view kEvent =
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
    "\"model\":\"gpt-bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello\"},"
    "\"finish_reason\":null}]}\n\n";
constexpr std::string_view kDone = "data: [DONE]\n\n";
constexpr long long kMaxEvents = 10'000'000;
constexpr long long kMaxIntervalMs = 3'600'000;

std::string chunk(std::string_view data) {
  char size[16];
  auto [end, ec] = std::to_chars(size, size + sizeof size, data.size(), 16);
  (void)ec;
  std::string out(size, end);
  out += "\r\n";
  out += data;
  out += "\r\n";
  return out;
}

struct Server {
  const SseServerOptions& opts;
  ssl::context tls{ssl::context::tls_server};
  std::string event_chunk = chunk(kEvent);
  std::string end_chunks = chunk(kDone) + "0\r\n\r\n";
  std::string last_chunks = event_chunk + end_chunks;  // the last event, [DONE], the end
};

// A request header's whole-number value in [0, max] into out; false with a
// message naming the header and the value otherwise. Absent: out unchanged.
bool header_number(const http::request<http::string_body>& req, std::string_view name, long long max,
                   long long& out, std::string& error) {
  auto it = req.find(name);
  if (it == req.end()) return true;
  std::string_view text(it->value().data(), it->value().size());
  long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > max) {
    error = std::string(name) + ": \"" + std::string(text) + "\" is not a whole number from 0 to " +
            std::to_string(max);
    return false;
  }
  out = value;
  return true;
}

std::string json_reply(int status, std::string_view reason, const std::string& message, bool keep_alive) {
  std::string body = "{\"error\":{\"type\":\"bench\",\"message\":\"" + message + "\"}}";
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         (keep_alive ? "" : "Connection: close\r\n") + "\r\n" + body;
}

awaitable<void> session(Server& srv, tcp::socket socket) {
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  ssl::stream<tcp::socket> tls(std::move(socket), srv.tls);
  auto [hec] = co_await tls.async_handshake(ssl::stream_base::server, use_tuple);
  if (hec) co_return;
  beast::flat_buffer buffer;
  asio::steady_timer timer(tls.get_executor());
  std::string out;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    auto [rec, rn] = co_await http::async_read(tls, buffer, parser, use_tuple);
    (void)rn;
    if (rec) co_return;  // the client closed, or sent something this server does not take
    const auto& req = parser.get();
    const bool keep_alive = req.keep_alive();
    std::string_view target(req.target().data(), req.target().size());
    target = target.substr(0, target.find('?'));
    long long events = srv.opts.events, interval_ms = srv.opts.interval_ms;
    std::string error;
    bool streaming = false;
    if (req.method() != http::verb::post || !target.ends_with("/chat/completions")) {
      out = json_reply(404, "Not Found", "awf-loadgen serves POST */chat/completions only", keep_alive);
    } else if (!header_number(req, "X-Bench-Events", kMaxEvents, events, error) ||
               !header_number(req, "X-Bench-Interval-Ms", kMaxIntervalMs, interval_ms, error)) {
      out = json_reply(400, "Bad Request", error, keep_alive);
    } else {
      out = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            "Transfer-Encoding: chunked\r\n";
      if (!keep_alive) out += "Connection: close\r\n";
      out += "\r\n";
      out += srv.event_chunk;
      if (events == 0) out += srv.end_chunks;
      streaming = true;
    }
    auto [wec, wn] = co_await asio::async_write(tls, asio::buffer(out), use_tuple);
    (void)wn;
    if (wec) co_return;
    for (long long i = 1; streaming && i <= events; ++i) {
      timer.expires_after(std::chrono::milliseconds(interval_ms));
      co_await timer.async_wait(use_tuple);
      const std::string& piece = i == events ? srv.last_chunks : srv.event_chunk;
      auto [sec, sn] = co_await asio::async_write(tls, asio::buffer(piece), use_tuple);
      (void)sn;
      if (sec) co_return;  // the client went away mid-stream
    }
    if (!keep_alive) co_return;
  }
}

awaitable<void> accept_loop(Server& srv, tcp::acceptor& acceptor) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto [ec, s] = co_await acceptor.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and friends: say so, back off, keep accepting.
      std::cerr << "awf-loadgen: sse accept failed: " << ec.message() << "\n";
      asio::steady_timer pause(ex, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    asio::co_spawn(ex, session(srv, std::move(s)), asio::detached);
  }
}

}  // namespace

int serve_sse(const SseServerOptions& opts) {
  Server srv{opts};
  SSL_CTX_set_min_proto_version(srv.tls.native_handle(), TLS1_2_VERSION);
  error_code ec;
  srv.tls.use_certificate_chain_file(opts.cert_file, ec);
  if (ec) {
    std::cerr << "awf-loadgen: --cert \"" << opts.cert_file << "\": " << ec.message() << "\n";
    return 2;
  }
  srv.tls.use_private_key_file(opts.key_file, ssl::context::pem, ec);
  if (ec) {
    std::cerr << "awf-loadgen: --key \"" << opts.key_file << "\": " << ec.message() << "\n";
    return 2;
  }
  auto addr = asio::ip::make_address(opts.listen.host, ec);
  if (ec) {
    std::cerr << "awf-loadgen: --serve-sse: \"" << opts.listen.host << "\" is not an IP address\n";
    return 2;
  }
  const int threads = std::max(1, opts.threads);
  asio::io_context io(threads);
  tcp::acceptor acceptor(io);
  tcp::endpoint ep(addr, opts.listen.port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "awf-loadgen: sse server cannot listen on " << opts.listen.authority() << ": " << ec.message()
              << "\n";
    return 1;
  }
  std::cerr << "awf-loadgen: sse listening on " << opts.listen.host << ":" << acceptor.local_endpoint().port()
            << std::endl;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](error_code, int) { io.stop(); });
  asio::steady_timer stop_timer(io);
  if (opts.run_for.count() > 0) {
    stop_timer.expires_after(opts.run_for);
    stop_timer.async_wait([&](error_code e) {
      if (!e) io.stop();
    });
  }
  asio::co_spawn(io, accept_loop(srv, acceptor), asio::detached);
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  return 0;
}

}  // namespace awf::loadgen
