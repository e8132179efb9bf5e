// The load workers: one coroutine per concurrent client, each on its thread's io_context.
#include "load.h"

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>

namespace awf::loadgen {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;
using asio::awaitable;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// State every worker of every thread reads; the request budget is the only
// thing they write, and it is atomic.
struct Shared {
  const Options& opts;
  Clock::time_point deadline;
  std::atomic<std::uint64_t> issued{0};
  std::atomic<std::uint64_t> idle_next{0};

  bool may_issue() {
    if (Clock::now() >= deadline) return false;
    if (opts.max_requests == 0) return true;
    return issued.fetch_add(1, std::memory_order_relaxed) < opts.max_requests;
  }
};

// One client connection to the proxy, possibly a tunnel, possibly with TLS on top.
struct Connection {
  Connection(const asio::any_io_executor& ex, ssl::context& tls_ctx)
      : socket(ex), watchdog(ex), tls_ctx(tls_ctx) {}

  tcp::socket socket;
  std::optional<ssl::stream<tcp::socket&>> tls;
  beast::flat_buffer buffer;
  asio::steady_timer watchdog;
  ssl::context& tls_ctx;
  bool is_open = false;
  bool timed_out = false;
  // Bumped on every arm/disarm; a watchdog completion from an earlier request,
  // already queued when it was cancelled, sees a stale value and does nothing.
  std::shared_ptr<std::uint64_t> generation = std::make_shared<std::uint64_t>(0);

  void reset() {
    tls.reset();
    error_code ignored;
    socket.close(ignored);
    buffer.clear();
    is_open = false;
  }

  // Closes the socket if the request is still running when d has passed; every
  // pending operation then fails and the worker records a timeout.
  void arm(std::chrono::milliseconds d) {
    timed_out = false;
    watchdog.expires_after(d);
    std::weak_ptr<std::uint64_t> alive = generation;
    watchdog.async_wait([this, alive, armed = ++*generation](error_code ec) {
      auto current = alive.lock();
      if (ec || !current || *current != armed) return;  // finished in time
      timed_out = true;
      error_code ignored;
      socket.close(ignored);
    });
  }
  void disarm() {
    ++*generation;
    watchdog.cancel();
  }
};

Failure classify(const error_code& ec, bool timed_out) {
  if (timed_out) return Failure::timeout;
  if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
      ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == ssl::error::stream_truncated)
    return Failure::closed;
  if (ec.category() == http::make_error_code(http::error::bad_version).category())
    return Failure::bad_response;
  return Failure::io;
}

using Outcome = std::optional<Failure>;  // nullopt: success

std::uint32_t micros(Clock::duration d) {
  return static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

struct ResponseInfo {
  int status = 0;
  bool keep_alive = false;
};

// Reads one whole HTTP response, discarding the body through a fixed buffer so a
// 100 MiB download costs no memory.
template <class Stream>
awaitable<Outcome> read_response(Stream& stream, Connection& c, Report& report, ResponseInfo& info) {
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  auto [ec, n] = co_await http::async_read_header(stream, c.buffer, parser, use_tuple);
  (void)n;
  if (ec) co_return classify(ec, c.timed_out);
  info.status = parser.get().result_int();
  std::array<char, 32 * 1024> chunk;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    auto [rec, rn] = co_await http::async_read(stream, c.buffer, parser, use_tuple);
    (void)rn;
    if (rec == http::error::need_buffer) rec = {};
    if (rec) co_return classify(rec, c.timed_out);
    report.bytes_received += chunk.size() - parser.get().body().size;
  }
  info.keep_alive = parser.keep_alive();
  co_return std::nullopt;
}

awaitable<Outcome> connect_to_proxy(Connection& c, const Options& opts) {
  error_code ec;
  auto proxy_addr = asio::ip::make_address(opts.proxy.host, ec);
  if (ec) co_return Failure::connect;
  tcp::endpoint ep(proxy_addr, opts.proxy.port);
  c.socket.open(ep.protocol(), ec);
  if (ec) co_return Failure::connect;
  if (!opts.bind_address.empty()) {
    c.socket.bind(tcp::endpoint(asio::ip::make_address(opts.bind_address, ec), 0), ec);
    if (ec) co_return Failure::connect;
  }
  auto [cec] = co_await c.socket.async_connect(ep, use_tuple);
  if (cec) co_return c.timed_out ? Failure::timeout : Failure::connect;
  c.socket.set_option(tcp::no_delay(true), ec);
  c.is_open = true;
  co_return std::nullopt;
}

// Sends CONNECT and reads the proxy's answer. Returns the status in status.
awaitable<Outcome> open_tunnel(Connection& c, const Options& opts, int& status) {
  std::string request = "CONNECT " + opts.target.authority() + " HTTP/1.1\r\nHost: " +
                        opts.target.authority() + "\r\nUser-Agent: awf-loadgen\r\n\r\n";
  auto [wec, wn] = co_await asio::async_write(c.socket, asio::buffer(request), use_tuple);
  (void)wn;
  if (wec) co_return classify(wec, c.timed_out);
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // a 200 to CONNECT has no body; what follows is the tunnel
  auto [rec, rn] = co_await http::async_read_header(c.socket, c.buffer, parser, use_tuple);
  (void)rn;
  if (rec) co_return classify(rec, c.timed_out);
  status = parser.get().result_int();
  co_return std::nullopt;
}

awaitable<Outcome> start_tls(Connection& c, const Options& opts) {
  c.tls.emplace(c.socket, c.tls_ctx);
  if (!SSL_set_tlsext_host_name(c.tls->native_handle(), opts.target.host.c_str()))
    co_return Failure::tls_handshake;
  auto [ec] = co_await c.tls->async_handshake(ssl::stream_base::client, use_tuple);
  if (ec) co_return c.timed_out ? Failure::timeout : Failure::tls_handshake;
  co_return std::nullopt;
}

std::string build_get(const Options& opts, bool absolute_uri) {
  // Default ports are left out of the URI and Host header, as curl does.
  std::string host = opts.target.authority();
  if (opts.target.port == 80 || opts.target.port == 443) host.resize(host.rfind(':'));
  std::string target = absolute_uri ? "http://" + host + opts.path : opts.path;
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: awf-loadgen\r\n";
  if (!opts.keep_alive) req += "Connection: close\r\n";
  return req + "\r\n";
}

bool is_sse(Mode m) { return m == Mode::sse || m == Mode::sse_hold; }

// The request of the SSE modes: a streaming chat completion as an OpenAI SDK
// sends it, with the placeholder key an agent holds behind the API proxy.
std::string build_sse_request(const Options& opts) {
  std::string host = opts.target.authority();
  if (opts.target.port == 80 || opts.target.port == 443) host.resize(host.rfind(':'));
  const std::string body =
      R"({"model":"gpt-bench","stream":true,"messages":[{"role":"user","content":"Say hello."}]})";
  std::string req = "POST " + opts.path + " HTTP/1.1\r\nHost: " + host +
                    "\r\nUser-Agent: awf-loadgen\r\nAuthorization: Bearer sk-placeholder-for-api-proxy\r\n"
                    "Content-Type: application/json\r\nAccept: text/event-stream\r\n";
  if (opts.sse_events >= 0) req += "X-Bench-Events: " + std::to_string(opts.sse_events) + "\r\n";
  if (opts.sse_interval_ms >= 0) req += "X-Bench-Interval-Ms: " + std::to_string(opts.sse_interval_ms) + "\r\n";
  if (!opts.keep_alive) req += "Connection: close\r\n";
  return req + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Reads one SSE response: the head, then the body through a fixed buffer,
// piece by piece as it arrives, counting events (each ends with a blank line)
// and keeping the last bytes to check that the stream ended with [DONE].
class SseReader {
 public:
  static constexpr std::string_view kDone = "data: [DONE]\n\n";

  void start() {
    parser_.emplace();
    parser_->body_limit(boost::none);
    events_ = 0;
    body_bytes_ = 0;
    last_newline_ = false;
    head_.clear();
    tail_.clear();
  }

  template <class Stream>
  awaitable<Outcome> read_head(Stream& stream, Connection& c, int expect_status) {
    auto [ec, n] = co_await http::async_read_header(stream, c.buffer, *parser_, use_tuple);
    (void)n;
    if (ec) co_return classify(ec, c.timed_out);
    if (static_cast<int>(parser_->get().result_int()) != expect_status) co_return Failure::status;
    auto type = parser_->get()[http::field::content_type];
    if (!std::string_view(type.data(), type.size()).starts_with("text/event-stream")) co_return Failure::bad_response;
    co_return std::nullopt;
  }

  // One read; got is the number of body bytes it yielded (0 when it only
  // consumed framing). Call only while !done().
  template <class Stream>
  awaitable<Outcome> read_some(Stream& stream, Connection& c, std::size_t& got) {
    parser_->get().body().data = chunk_.data();
    parser_->get().body().size = chunk_.size();
    auto [ec, n] = co_await http::async_read_some(stream, c.buffer, *parser_, use_tuple);
    (void)n;
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return classify(ec, c.timed_out);
    got = chunk_.size() - parser_->get().body().size;
    consume(chunk_.data(), got);
    co_return std::nullopt;
  }

  bool done() const { return parser_->is_done(); }
  bool keep_alive() const { return parser_->keep_alive(); }
  bool starts_with_event() const { return head_.starts_with("data:") || head_.starts_with("event:"); }
  bool ended_with_done() const { return tail_ == kDone; }
  std::uint64_t events() const { return events_; }
  std::uint64_t body_bytes() const { return body_bytes_; }

 private:
  void consume(const char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      bool newline = p[i] == '\n';
      if (newline && last_newline_) ++events_;
      last_newline_ = newline;
    }
    body_bytes_ += n;
    if (head_.size() < 6) head_.append(p, std::min(n, 6 - head_.size()));
    std::size_t keep = std::min(n, kDone.size());
    tail_.append(p + n - keep, keep);
    if (tail_.size() > kDone.size()) tail_.erase(0, tail_.size() - kDone.size());
  }

  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::array<char, 4096> chunk_;
  std::uint64_t events_ = 0, body_bytes_ = 0;
  bool last_newline_ = false;
  std::string head_, tail_;
};

// Writes the request and reads until the first byte of the first event.
// written / first_event: when the write started and that byte was read.
template <class Stream>
awaitable<Outcome> sse_open(Stream& stream, Connection& c, SseReader& reader, const std::string& request,
                            int expect_status, Clock::time_point& written, Clock::time_point& first_event) {
  written = Clock::now();
  auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(request), use_tuple);
  (void)wn;
  if (wec) co_return classify(wec, c.timed_out);
  reader.start();
  if (auto f = co_await reader.read_head(stream, c, expect_status)) co_return f;
  std::size_t got = 0;
  while (got == 0) {
    if (reader.done()) co_return Failure::bad_response;  // a stream without events
    if (auto f = co_await reader.read_some(stream, c, got)) co_return f;
  }
  first_event = Clock::now();
  if (!reader.starts_with_event()) co_return Failure::bad_response;
  co_return std::nullopt;
}

// Reads the rest of the stream; it must end with "data: [DONE]".
template <class Stream>
awaitable<Outcome> sse_read_to_end(Stream& stream, Connection& c, SseReader& reader) {
  while (!reader.done()) {
    std::size_t got = 0;
    if (auto f = co_await reader.read_some(stream, c, got)) co_return f;
  }
  if (!reader.ended_with_done()) co_return Failure::bad_response;
  co_return std::nullopt;
}

// One request of the configured mode; opens the connection (and tunnel) first
// when there is none.
class Worker {
 public:
  Worker(Shared& shared, Report& report, asio::any_io_executor ex, ssl::context& tls_ctx)
      : shared_(shared), opts_(shared.opts), report_(report), conn_(ex, tls_ctx),
        get_(is_sse(opts_.mode) ? build_sse_request(opts_) : build_get(opts_, opts_.mode == Mode::forward)) {
    if (opts_.mode == Mode::echo) {
      sent_.resize(opts_.echo_bytes);
      for (std::size_t i = 0; i < sent_.size(); ++i) sent_[i] = static_cast<char>('a' + i % 26);
      echoed_.resize(opts_.echo_bytes);
    }
  }

  awaitable<void> run() {
    while (shared_.may_issue()) {
      auto start = Clock::now();
      conn_.arm(opts_.request_timeout);
      Outcome outcome = co_await one_request();
      conn_.disarm();
      if (outcome) {
        report_.record_failure(*outcome);
        conn_.reset();
        if (*outcome == Failure::connect) {
          // Avoid spinning when the proxy refuses: a short pause, then retry.
          asio::steady_timer pause(conn_.socket.get_executor(), std::chrono::milliseconds(5));
          co_await pause.async_wait(use_tuple);
        }
        continue;
      }
      auto end = Clock::now();
      if (opts_.mode == Mode::sse) {
        // Time to the first event byte: from the request write, and from the
        // start including the connection set-up when one was opened for it.
        end = first_event_at_;
        report_.setup_latencies_us.push_back(micros(end - start));
        start = written_at_;
      }
      report_.latencies_us.push_back(micros(end - start));
      ++report_.successes;
      if (!opts_.keep_alive || !reusable_) conn_.reset();
    }
    conn_.reset();
  }

 private:
  awaitable<Outcome> one_request() {
    reusable_ = true;
    if (!conn_.is_open) {
      if (auto f = co_await connect_to_proxy(conn_, opts_)) co_return f;
      if (opts_.mode == Mode::sse) {
        if (opts_.tls) {
          if (auto f = co_await start_tls(conn_, opts_)) co_return f;
        }
      } else if (opts_.mode != Mode::forward) {
        int status = 0;
        if (auto f = co_await open_tunnel(conn_, opts_, status)) co_return f;
        if (opts_.mode == Mode::connect_only) {
          reusable_ = false;
          co_return status == opts_.expect_status ? Outcome{} : Outcome{Failure::proxy_status};
        }
        if (status != 200) co_return Failure::proxy_status;
        if (opts_.mode == Mode::tunnel_tls) {
          if (auto f = co_await start_tls(conn_, opts_)) co_return f;
        }
      }
    }
    switch (opts_.mode) {
      case Mode::forward:
      case Mode::tunnel_http:
        co_return co_await http_get(conn_.socket);
      case Mode::tunnel_tls:
        co_return co_await http_get(*conn_.tls);
      case Mode::echo:
        co_return co_await echo();
      case Mode::sse:
        // if/else, not ?: -- GCC evaluates both co_awaits of a conditional expression.
        if (opts_.tls) co_return co_await sse_request(*conn_.tls);
        co_return co_await sse_request(conn_.socket);
      case Mode::connect_only:
      case Mode::idle:
      case Mode::sse_hold:
        break;
    }
    co_return Failure::io;
  }

  template <class Stream>
  awaitable<Outcome> http_get(Stream& stream) {
    auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(get_), use_tuple);
    (void)wn;
    if (wec) co_return classify(wec, conn_.timed_out);
    ResponseInfo info;
    if (auto f = co_await read_response(stream, conn_, report_, info)) co_return f;
    reusable_ = info.keep_alive;
    if (info.status != opts_.expect_status) co_return Failure::status;
    co_return std::nullopt;
  }

  template <class Stream>
  awaitable<Outcome> sse_request(Stream& stream) {
    if (auto f = co_await sse_open(stream, conn_, reader_, get_, opts_.expect_status, written_at_, first_event_at_))
      co_return f;
    Outcome f = co_await sse_read_to_end(stream, conn_, reader_);
    report_.events += reader_.events();
    report_.bytes_received += reader_.body_bytes();
    if (f) co_return f;
    reusable_ = reader_.keep_alive();
    co_return std::nullopt;
  }

  awaitable<Outcome> echo() {
    // Write and read at once: an echo larger than the socket buffers would
    // otherwise deadlock with both sides blocked writing.
    auto [order, wec, wn, rec, rn] =
        co_await asio::experimental::make_parallel_group(
            asio::async_write(conn_.socket, asio::buffer(sent_), asio::deferred),
            asio::async_read(conn_.socket, asio::buffer(echoed_), asio::deferred))
            .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    (void)order;
    (void)wn;
    if (wec) co_return classify(wec, conn_.timed_out);
    if (rec) co_return classify(rec, conn_.timed_out);
    report_.bytes_received += rn;
    if (std::memcmp(sent_.data(), echoed_.data(), sent_.size()) != 0) co_return Failure::echo_mismatch;
    co_return std::nullopt;
  }

  Shared& shared_;
  const Options& opts_;
  Report& report_;
  Connection conn_;
  std::string get_;
  std::vector<char> sent_, echoed_;
  bool reusable_ = true;
  SseReader reader_;
  Clock::time_point written_at_, first_event_at_;
};

awaitable<void> run_worker(Shared& shared, Report& report, ssl::context& tls_ctx) {
  Worker w(shared, report, co_await asio::this_coro::executor, tls_ctx);
  co_await w.run();
}

// Idle mode: each opener establishes tunnels until K exist, keeping the sockets.
awaitable<void> open_idle_tunnels(Shared& shared, Report& report, std::vector<tcp::socket>& held,
                                  ssl::context& tls_ctx) {
  auto ex = co_await asio::this_coro::executor;
  const Options& opts = shared.opts;
  while (Clock::now() < shared.deadline &&
         shared.idle_next.fetch_add(1) < static_cast<std::uint64_t>(opts.idle_tunnels)) {
    Connection c(ex, tls_ctx);
    c.arm(opts.request_timeout);
    int status = 0;
    Outcome f = co_await connect_to_proxy(c, opts);
    if (!f) f = co_await open_tunnel(c, opts, status);
    c.disarm();
    if (!f && status != 200) f = Failure::proxy_status;
    if (f) {
      report.record_failure(*f);
      continue;
    }
    ++report.successes;
    held.push_back(std::move(c.socket));
  }
}

Report run_idle(const Options& opts) {
  asio::io_context io;
  ssl::context tls_ctx(ssl::context::tls_client);
  Shared shared{opts, Clock::now() + opts.duration};
  Report report;
  std::vector<tcp::socket> held;
  held.reserve(static_cast<std::size_t>(opts.idle_tunnels));
  auto start = Clock::now();
  for (int i = 0; i < opts.concurrency; ++i)
    asio::co_spawn(io, open_idle_tunnels(shared, report, held, tls_ctx), asio::detached);
  io.run();
  report.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  report.tunnels_held = held.size();
  // Scripts wait for this line before they measure the proxy's memory.
  std::cerr << "awf-loadgen: holding " << held.size() << " tunnels" << std::endl;
  std::this_thread::sleep_for(opts.hold);
  for (auto& s : held) {
    error_code ignored;
    s.close(ignored);
  }
  return report;
}

// sse-hold: one stream, from its opening to the end of the hold.
struct HeldStream {
  HeldStream(const asio::any_io_executor& ex, ssl::context& tls_ctx) : conn(ex, tls_ctx) {}
  Connection conn;
  SseReader reader;
};

struct Hold {
  Hold(const Options& o, Report& r, ssl::context& ctx, asio::io_context& io)
      : opts(o), report(r), tls_ctx(ctx), timer(io), request(build_sse_request(o)) {}
  const Options& opts;
  Report& report;
  ssl::context& tls_ctx;
  asio::steady_timer timer;
  std::string request;
  Clock::time_point opened_from, open_deadline;
  int next = 0;            // streams whose opening has begun
  int openers_left = 0;
  std::vector<std::shared_ptr<HeldStream>> streams;  // every stream opened
  std::uint64_t active = 0;  // opened and not ended
  bool over = false;
};

// Reads a held stream until it ends (counted against the hold) or the hold
// closes it.
awaitable<void> keep_reading(Hold& h, std::shared_ptr<HeldStream> s) {
  Outcome f;
  if (h.opts.tls)
    f = co_await sse_read_to_end(*s->conn.tls, s->conn, s->reader);
  else
    f = co_await sse_read_to_end(s->conn.socket, s->conn, s->reader);
  h.report.events += s->reader.events();
  h.report.bytes_received += s->reader.body_bytes();
  --h.active;
  if (h.over) co_return;  // closed by the end of the hold
  h.report.record_failure(f ? *f : Failure::ended_early);
}

void start_hold(Hold& h) {
  h.report.elapsed_s = std::chrono::duration<double>(Clock::now() - h.opened_from).count();  // the opening
  // Scripts wait for this line before they measure the proxy's memory.
  std::cerr << "awf-loadgen: holding " << h.active << " streams" << std::endl;
  h.timer.expires_after(h.active ? h.opts.hold : std::chrono::milliseconds(0));
  h.timer.async_wait([&h](error_code) {
    h.over = true;
    h.report.streams_held = h.active;
    for (auto& s : h.streams) {
      error_code ignored;
      s->conn.socket.close(ignored);
    }
  });
}

awaitable<void> open_streams(Hold& h) {
  auto ex = co_await asio::this_coro::executor;
  while (Clock::now() < h.open_deadline && h.next < h.opts.streams) {
    ++h.next;
    auto s = std::make_shared<HeldStream>(ex, h.tls_ctx);
    auto start = Clock::now();
    Clock::time_point written, first_event;
    s->conn.arm(h.opts.request_timeout);
    Outcome f = co_await connect_to_proxy(s->conn, h.opts);
    if (!f && h.opts.tls) f = co_await start_tls(s->conn, h.opts);
    if (!f && h.opts.tls)
      f = co_await sse_open(*s->conn.tls, s->conn, s->reader, h.request, h.opts.expect_status, written, first_event);
    else if (!f)
      f = co_await sse_open(s->conn.socket, s->conn, s->reader, h.request, h.opts.expect_status, written,
                            first_event);
    s->conn.disarm();
    if (f) {
      h.report.record_failure(*f);
      s->conn.reset();
      continue;
    }
    h.report.latencies_us.push_back(micros(first_event - written));
    h.report.setup_latencies_us.push_back(micros(first_event - start));
    ++h.report.successes;
    ++h.active;
    h.streams.push_back(s);
    asio::co_spawn(ex, keep_reading(h, s), asio::detached);
  }
  if (--h.openers_left == 0) start_hold(h);
}

Report run_sse_hold(const Options& opts) {
  asio::io_context io(1);
  ssl::context tls_ctx(ssl::context::tls_client);
  tls_ctx.set_verify_mode(ssl::verify_none);  // the provider's certificate is a throwaway
  SSL_CTX_set_session_cache_mode(tls_ctx.native_handle(), SSL_SESS_CACHE_OFF);
  Report report;
  Hold h(opts, report, tls_ctx, io);
  h.streams.reserve(static_cast<std::size_t>(opts.streams));
  h.openers_left = std::max(1, std::min(opts.concurrency, opts.streams));
  h.opened_from = Clock::now();
  h.open_deadline = h.opened_from + opts.duration;
  for (int i = 0, n = h.openers_left; i < n; ++i) asio::co_spawn(io, open_streams(h), asio::detached);
  io.run();
  return report;
}

}  // namespace

Report run_load(const Options& opts) {
  if (opts.mode == Mode::idle) return run_idle(opts);
  if (opts.mode == Mode::sse_hold) return run_sse_hold(opts);
  const int threads = std::max(1, std::min(opts.threads, opts.concurrency));
  Shared shared{opts, Clock::now() + opts.duration};
  std::vector<Report> reports(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      asio::io_context io(1);
      ssl::context tls_ctx(ssl::context::tls_client);
      tls_ctx.set_verify_mode(ssl::verify_none);  // the origin's certificate is a throwaway
      SSL_CTX_set_session_cache_mode(tls_ctx.native_handle(), SSL_SESS_CACHE_OFF);
      Report& report = reports[static_cast<std::size_t>(t)];
      int workers = opts.concurrency / threads + (t < opts.concurrency % threads ? 1 : 0);
      for (int i = 0; i < workers; ++i)
        asio::co_spawn(io, run_worker(shared, report, tls_ctx), asio::detached);
      io.run();
    });
  }
  for (auto& th : pool) th.join();
  Report total;
  total.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& r : reports) total.merge(std::move(r));
  return total;
}

namespace {

awaitable<void> echo_session(tcp::socket s) {
  // Wait for data before allocating, so thousands of idle tunnels cost little.
  std::vector<char> buf;
  for (;;) {
    auto [wec] = co_await s.async_wait(tcp::socket::wait_read, use_tuple);
    if (wec) co_return;
    if (buf.empty()) buf.resize(16 * 1024);
    auto [rec, n] = co_await s.async_read_some(asio::buffer(buf), use_tuple);
    if (rec) co_return;
    auto [ec, wn] = co_await asio::async_write(s, asio::buffer(buf.data(), n), use_tuple);
    (void)wn;
    if (ec) co_return;
  }
}

awaitable<void> echo_accept(tcp::acceptor& acceptor) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto [ec, s] = co_await acceptor.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and friends: log once per burst, back off, keep accepting.
      std::cerr << "awf-loadgen: echo accept failed: " << ec.message() << "\n";
      asio::steady_timer pause(ex, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    asio::co_spawn(ex, echo_session(std::move(s)), asio::detached);
  }
}

}  // namespace

int serve_echo(const Endpoint& listen, std::chrono::milliseconds run_for) {
  asio::io_context io(1);
  error_code ec;
  auto addr = asio::ip::make_address(listen.host, ec);
  if (ec) {
    std::cerr << "awf-loadgen: --serve-echo: \"" << listen.host << "\" is not an IP address\n";
    return 2;
  }
  tcp::acceptor acceptor(io);
  tcp::endpoint ep(addr, listen.port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "awf-loadgen: echo server cannot listen on " << listen.authority() << ": "
              << ec.message() << "\n";
    return 1;
  }
  std::cerr << "awf-loadgen: echo listening on " << listen.host << ":" << acceptor.local_endpoint().port()
            << std::endl;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](error_code, int) { io.stop(); });
  asio::steady_timer stop_timer(io);
  if (run_for.count() > 0) {
    stop_timer.expires_after(run_for);
    stop_timer.async_wait([&](error_code e) {
      if (!e) io.stop();
    });
  }
  asio::co_spawn(io, echo_accept(acceptor), asio::detached);
  io.run();
  return 0;
}

}  // namespace awf::loadgen
