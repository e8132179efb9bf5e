// The test origin: Asio coroutines on one thread, plain TCP or TLS (a
// certificate made with the openssl command at start), or a raw echo.
#include "awf/testing/origin.h"

#include <openssl/evp.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdio>
#include <mutex>
#include <thread>

#include "awf/testing/files.h"
#include "awf/testing/process.h"

namespace awf::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

struct Origin::Impl {
  Options options;
  asio::io_context io{1};
  std::optional<asio::ssl::context> tls;
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::atomic<std::size_t> connections{0}, requests{0};
  mutable std::mutex mutex;
  std::string last_head;
  std::vector<std::string> heads;
  std::uint16_t port = 0;

  template <typename Stream>
  awaitable<void> read_more(Stream& s, std::string& buf) {
    char tmp[65536];
    std::size_t n = co_await s.async_read_some(asio::buffer(tmp), use_awaitable);
    buf.append(tmp, n);
  }

  template <typename Stream>
  awaitable<void> write(Stream& s, std::string_view data) {
    co_await asio::async_write(s, asio::buffer(data.data(), data.size()), use_awaitable);
  }

  // Reads a body (Content-Length or chunked) and feeds it to `sink`.
  template <typename Stream, typename Sink>
  awaitable<void> read_body(Stream& s, std::string& buf, const std::string& lower_head, Sink& sink) {
    if (auto cl = lower_head.find("\r\ncontent-length:"); cl != std::string::npos) {
      std::size_t remaining = std::stoull(lower_head.substr(cl + 17));
      while (remaining > 0) {
        if (buf.empty()) co_await read_more(s, buf);
        std::size_t k = std::min(remaining, buf.size());
        sink(std::string_view(buf).substr(0, k));
        buf.erase(0, k);
        remaining -= k;
      }
      co_return;
    }
    if (lower_head.find("transfer-encoding: chunked") == std::string::npos) co_return;
    for (;;) {
      std::size_t eol;
      while ((eol = buf.find("\r\n")) == std::string::npos) co_await read_more(s, buf);
      std::size_t size = std::stoull(buf.substr(0, eol), nullptr, 16);
      buf.erase(0, eol + 2);
      if (size == 0) {
        // trailers until the empty line
        for (;;) {
          while ((eol = buf.find("\r\n")) == std::string::npos) co_await read_more(s, buf);
          bool empty = eol == 0;
          buf.erase(0, eol + 2);
          if (empty) co_return;
        }
      }
      while (size > 0) {
        if (buf.empty()) co_await read_more(s, buf);
        std::size_t k = std::min(size, buf.size());
        sink(std::string_view(buf).substr(0, k));
        buf.erase(0, k);
        size -= k;
      }
      while (buf.size() < 2) co_await read_more(s, buf);
      buf.erase(0, 2);
    }
  }

  template <typename Stream>
  awaitable<void> serve_http(Stream& s, tcp::socket& raw) {
    std::string buf;
    for (;;) {
      std::size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) co_await read_more(s, buf);
      std::string head = buf.substr(0, end + 4);
      buf.erase(0, end + 4);
      ++requests;
      {
        std::lock_guard lock(mutex);
        last_head = head;
        heads.push_back(head);
      }
      std::string lower = head;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
      std::string method = head.substr(0, sp1);
      std::string path = head.substr(sp1 + 1, sp2 - sp1 - 1);
      path = path.substr(0, path.find('?'));
      bool close = lower.find("\r\nconnection: close") != std::string::npos;
      if (path == "/hang") {
        asio::steady_timer t(io, std::chrono::minutes(10));
        co_await t.async_wait(use_awaitable);
        co_return;
      }
      if (path == "/reset") {
        raw.set_option(tcp::socket::linger(true, 0));
        raw.close();
        co_return;
      }
      if (path == "/close") co_return;
      if (path.rfind("/unframed/", 0) == 0 || path.rfind("/unframed-reset/", 0) == 0) {
        // No length: the body ends with the connection, after 100 ms, with
        // a reset for /unframed-reset (an origin failing mid-body).
        const bool reset = path[9] == '-';
        const std::size_t n = std::stoull(path.substr(path.rfind('/') + 1));
        std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + pattern_bytes(n);
        co_await write(s, response);
        asio::steady_timer t(io, std::chrono::milliseconds(100));
        co_await t.async_wait(use_awaitable);
        if (reset) {
          raw.set_option(tcp::socket::linger(true, 0));
          raw.close();
        }
        co_return;
      }
      if (path == "/twice" || path == "/twice204") {
        std::string first = path == "/twice" ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                                             : "HTTP/1.1 204 No Content\r\n\r\n";
        co_await write(s, first);
        asio::steady_timer t(io, std::chrono::milliseconds(100));
        co_await t.async_wait(use_awaitable);
        std::string stale = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale";
        co_await write(s, stale);
        continue;
      }
      if (path == "/upgrade") {
        // A protocol switch, then the connection echoes like Kind::echo.
        std::string switching = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        co_await write(s, switching);
        if (!buf.empty()) co_await write(s, buf);
        for (;;) {
          std::string more;
          co_await read_more(s, more);
          co_await write(s, more);
        }
      }
      std::string body_hash;
      std::size_t body_len = 0;
      {
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
        auto sink = [&](std::string_view piece) {
          body_len += piece.size();
          EVP_DigestUpdate(ctx, piece.data(), piece.size());
        };
        co_await read_body(s, buf, lower, sink);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        EVP_DigestFinal_ex(ctx, md, &len);
        EVP_MD_CTX_free(ctx);
        static const char* digits = "0123456789abcdef";
        for (unsigned i = 0; i < len; ++i) {
          body_hash += digits[md[i] >> 4];
          body_hash += digits[md[i] & 15];
        }
      }
      std::string conn = close ? "Connection: close\r\n" : "";
      bool head_only = method == "HEAD";
      if (path.rfind("/bytes/", 0) == 0 || path.rfind("/chunked/", 0) == 0 || path.rfind("/slow/", 0) == 0) {
        bool chunked = path[1] == 'c';
        bool slow = path[1] == 's';
        std::size_t n = std::stoull(path.substr(path.rfind('/') + 1));
        std::string h = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n" + conn +
                        (chunked ? std::string("Transfer-Encoding: chunked\r\n")
                                 : "Content-Length: " + std::to_string(n) + "\r\n") +
                        "\r\n";
        co_await write(s, h);
        if (!head_only) {
          std::string piece;
          std::size_t step = slow ? 1024 : 256 * 1024;
          for (std::size_t off = 0; off < n; off += step) {
            std::size_t k = std::min(step, n - off);
            piece.resize(k);
            pattern_fill(piece.data(), off, k);
            if (chunked) {
              char size[32];
              std::snprintf(size, sizeof size, "%zx\r\n", k);
              co_await write(s, size);
              co_await write(s, piece);
              co_await write(s, "\r\n");
            } else {
              co_await write(s, piece);
            }
            if (slow) {
              asio::steady_timer t(io, std::chrono::milliseconds(100));
              co_await t.async_wait(use_awaitable);
            }
          }
          if (chunked) co_await write(s, "0\r\n\r\n");
        }
      } else {
        std::string body;
        if (path.rfind("/bighead/", 0) == 0) conn += "X-Big: " + std::string(std::stoull(path.substr(9)), 'a') + "\r\n";
        if (path == "/echo") body = head;
        else if (path == "/upload") body = "len=" + std::to_string(body_len) + " sha256=" + body_hash;
        else body = "ok";
        std::string h = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + conn +
                        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
        // (no temporaries inside co_await: GCC 12 destroys them twice)
        std::string response = h;
        if (!head_only) response += body;
        co_await write(s, response);
      }
      if (close) co_return;
    }
  }

  awaitable<void> serve_echo(tcp::socket s) {
    char tmp[65536];
    for (;;) {
      boost::system::error_code ec;
      std::size_t n = co_await s.async_read_some(asio::buffer(tmp), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      co_await asio::async_write(s, asio::buffer(tmp, n), use_awaitable);
    }
    // Client sent FIN: answer with ours after everything was echoed (half-close).
    s.shutdown(tcp::socket::shutdown_send);
    asio::steady_timer t(io, std::chrono::milliseconds(200));
    co_await t.async_wait(use_awaitable);
  }

  awaitable<void> session(tcp::socket s) {
    try {
      if (options.kind == Kind::echo) {
        co_await serve_echo(std::move(s));
      } else if (options.kind == Kind::https) {
        asio::ssl::stream<tcp::socket> tls_stream(std::move(s), *tls);
        co_await tls_stream.async_handshake(asio::ssl::stream_base::server, use_awaitable);
        co_await serve_http(tls_stream, tls_stream.next_layer());
      } else {
        co_await serve_http(s, s);
      }
    } catch (const std::exception&) {
      // peer went away: nothing to do in a test origin
    }
  }

  awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket s = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (!acceptor.is_open()) co_return;
        continue;
      }
      ++connections;
      asio::co_spawn(io, session(std::move(s)), asio::detached);
    }
  }
};

Origin::Origin(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<Origin> Origin::start(const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.kind == Kind::https) {
    std::string key = options.cert_dir + "/origin-key.pem", cert = options.cert_dir + "/origin-cert.pem";
    auto r = run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=origin.test", "-addext",
                  "subjectAltName=" + options.cert_names});
    if (r.exit_code != 0) {
      std::fprintf(stderr, "origin: openssl failed: %s\n", r.err.c_str());
      return nullptr;
    }
    impl->tls.emplace(asio::ssl::context::tls_server);
    impl->tls->use_certificate_chain_file(cert);
    impl->tls->use_private_key_file(key, asio::ssl::context::pem);
  }
  boost::system::error_code ec;
  tcp::endpoint ep(asio::ip::make_address(options.host), options.port);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(1024, ec);
  if (ec) {
    std::fprintf(stderr, "origin: cannot listen on %s: %s\n", options.host.c_str(), ec.message().c_str());
    return nullptr;
  }
  impl->port = impl->acceptor.local_endpoint().port();
  asio::co_spawn(impl->io, impl->accept_loop(), asio::detached);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<Origin>(new Origin(std::move(impl)));
}

Origin::~Origin() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

const std::string& Origin::host() const { return impl_->options.host; }
std::uint16_t Origin::port() const { return impl_->port; }
std::size_t Origin::connections() const { return impl_->connections; }
std::size_t Origin::requests() const { return impl_->requests; }
std::string Origin::last_request_head() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->last_head;
}

std::vector<std::string> Origin::request_heads() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->heads;
}

}  // namespace awf::testing
