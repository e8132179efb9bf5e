// The admin listener: a tiny HTTP/1.1 server (GET, one request per
// connection, a bounded head read within a short deadline) on its own
// thread and io_context, answering from the metrics, the live counters and
// the current policy snapshot.
#include "awf/proxy/admin.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <thread>

#include "awf/host_port.h"
#include "awf/json_quote.h"
#include "awf/proxy/http_head.h"

namespace awf::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// A scraper's request is a line and a few headers: anything bigger or
// slower is not one.
constexpr std::size_t kMaxRequestBytes = 8 * 1024;
constexpr auto kDeadline = std::chrono::seconds(5);
constexpr std::size_t kMaxConnections = 16;

const char* status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
  }
  return "Error";
}

void append_string_array(std::string& out, const std::vector<std::string>& items) {
  out += '[';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    append_json_quoted(out, items[i]);
  }
  out += ']';
}

}  // namespace

std::string policy_json(const ProxyContext& context, const Metrics& metrics, std::uint64_t generation) {
  const std::shared_ptr<const policy::Ruleset> ruleset = context.policy();
  const Config& c = context.config;
  std::size_t allow = 0, block = 0;
  for (const policy::Rule& r : ruleset->rules()) (r.list == policy::ListKind::allow ? allow : block)++;
  std::string out = "{\"generation\":" + std::to_string(generation);
  out += ",\"reloads\":{\"ok\":" + std::to_string(metrics.reloads(true)) +
         ",\"failed\":" + std::to_string(metrics.reloads(false)) + "}";
  out += ",\"policy_mode\":";
  out += c.report_only ? "\"report\"" : "\"enforce\"";
  out += ",\"allow_rules\":" + std::to_string(allow) + ",\"block_rules\":" + std::to_string(block);
  out += ",\"rules\":[";
  bool first = true;
  for (const policy::Rule& r : ruleset->rules()) {
    if (!first) out += ',';
    first = false;
    out += "{\"list\":\"";
    out += policy::to_string(r.list);
    out += "\",\"scope\":\"";
    out += policy::to_string(r.scope);
    out += "\",\"text\":";
    append_json_quoted(out, r.text);
    out += '}';
  }
  out += "],\"extra_ports\":";
  // --allow-host-ports as given at start (it needs --enable-host-access).
  append_json_quoted(out, c.policy.allow_host_ports);
  out += ",\"dns_policy\":";
  out += c.dns_policy.mode == intercept::DnsPolicyMode::open ? "\"open\"" : "\"allowlist\"";
  out += ",\"dns_refuse_code\":";
  out += c.dns_policy.refusal == intercept::DnsRcode::nxdomain ? "\"nxdomain\"" : "\"refused\"";
  out += ",\"enable_dlp\":";
  out += c.enable_dlp ? "true" : "false";
  out += ",\"ssl_bump\":";
  out += c.ssl_bump() ? "true" : "false";
  out += ",\"upstream_proxy\":";
  // The URL holds no credentials: --upstream-proxy refuses any.
  if (c.upstream_proxy) {
    append_json_quoted(out, c.upstream_proxy->url());
  } else {
    out += "null";
  }
  out += ",\"upstream_bypass\":";
  append_string_array(out, c.upstream_bypass);
  out += "}\n";
  return out;
}

AdminResponse answer_admin_request(std::string_view method, std::string_view target, const AdminSources& sources) {
  const std::string_view path = target.substr(0, target.find('?'));
  const bool known = path == "/metrics" || path == "/healthz" || path == "/policy";
  if (!known) return {404, "text/plain; charset=utf-8", "not found: the admin listener serves /metrics, /healthz, /policy\n"};
  if (method != "GET") return {405, "text/plain; charset=utf-8", "only GET\n"};
  if (path == "/healthz") {
    if (sources.context->draining.load(std::memory_order_relaxed)) {
      return {503, "text/plain; charset=utf-8", "draining\n"};
    }
    return {200, "text/plain; charset=utf-8", "ok\n"};
  }
  const LiveValues live = sources.live();
  if (path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(*sources.metrics, live)};
  }
  return {200, "application/json", policy_json(*sources.context, *sources.metrics, live.policy_generation)};
}

struct AdminServer::Impl {
  explicit Impl(AdminSources s) : sources(std::move(s)) {}
  AdminSources sources;
  std::size_t connections = 0;  // the admin thread's alone
  asio::io_context io{1};       // after `connections`: connections it still holds end first
  tcp::acceptor acceptor{io};
  asio::steady_timer backoff{io};
  std::thread thread;
  void accept();
};

namespace {

class AdminConnection : public std::enable_shared_from_this<AdminConnection> {
 public:
  AdminConnection(tcp::socket socket, AdminServer::Impl& server)
      : socket_(std::move(socket)), timer_(server.io), server_(server) {
    ++server_.connections;
  }
  ~AdminConnection() { --server_.connections; }

  void start() {
    timer_.expires_after(kDeadline);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec) return;
      error_code ignored;
      self->socket_.close(ignored);  // the pending read or write ends with an error
    });
    read();
  }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(chunk_), [self = shared_from_this()](const error_code& ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(const error_code& ec, std::size_t n) {
    if (ec) return;  // closed, or the deadline closed it: nothing to answer
    in_.append(chunk_.data(), n);
    // The cursor resumes the search where the last read left it.
    const ParseResult r = parse_request_head(in_, kMaxRequestBytes, head_, cursor_);
    if (r.status == ParseStatus::need_more) return read();
    if (r.status == ParseStatus::error) {
      if (r.error == HeadError::too_large) return respond({431, "text/plain; charset=utf-8", "request too large\n"});
      return respond({400, "text/plain; charset=utf-8", "bad request\n"});
    }
    respond(answer_admin_request(head_.method, head_.target, server_.sources));
  }

  void respond(const AdminResponse& response) {
    out_ = "HTTP/1.1 " + std::to_string(response.status) + " " + status_text(response.status) +
           "\r\nContent-Type: " + response.content_type +
           "\r\nContent-Length: " + std::to_string(response.body.size()) + "\r\nCache-Control: no-store" +
           (response.status == 405 ? "\r\nAllow: GET" : "") + "\r\nConnection: close\r\n\r\n" + response.body;
    asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](const error_code&, std::size_t) {
      error_code ignored;
      self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
      self->socket_.close(ignored);
      self->timer_.cancel();
    });
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  AdminServer::Impl& server_;
  std::array<char, 2048> chunk_{};
  std::string in_, out_;
  RequestHead head_;
  HeadCursor cursor_;
};

}  // namespace

void AdminServer::Impl::accept() {
  acceptor.async_accept([this](const error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of fds: back off and accept again; the listener never stops.
      spdlog::warn("admin listener: accept: {}; retrying", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      backoff.async_wait([this](const error_code& e) {
        if (!e) accept();
      });
      return;
    }
    if (connections >= kMaxConnections) {
      error_code ignored;
      socket.close(ignored);  // a scraper retries; a flood gets nothing
    } else {
      std::make_shared<AdminConnection>(std::move(socket), *this)->start();
    }
    accept();
  });
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminServer::~AdminServer() { stop(); }

Result<std::unique_ptr<AdminServer>> AdminServer::open(const ListenAddress& address, AdminSources sources) {
  auto impl = std::make_unique<Impl>(std::move(sources));
  error_code ec;
  const auto ip = asio::ip::make_address(address.host, ec);
  if (ec) return Error{"--admin-listen " + address.text() + ": " + ec.message()};
  const tcp::endpoint endpoint(ip, address.port);
  auto fail = [&](const char* what) {
    return Error{"--admin-listen " + address.text() + ": " + what + ": " + ec.message()};
  };
  if (impl->acceptor.open(endpoint.protocol(), ec); ec) return fail("socket");
  if (impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec); ec) return fail("SO_REUSEADDR");
  if (impl->acceptor.bind(endpoint, ec); ec) return fail("bind");
  if (impl->acceptor.listen(64, ec); ec) return fail("listen");
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

std::string AdminServer::local_address() const {
  error_code ec;
  const tcp::endpoint e = impl_->acceptor.local_endpoint(ec);
  return join_host_port(e.address().to_string(), e.port());
}

void AdminServer::start() {
  impl_->accept();
  impl_->thread = std::thread([impl = impl_.get()] {
    for (;;) {
      try {
        impl->io.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("admin listener: unexpected exception: {}", e.what());
      }
    }
  });
}

void AdminServer::stop() {
  if (!impl_) return;
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  error_code ignored;
  impl_->acceptor.close(ignored);
}

}  // namespace awf::proxy
