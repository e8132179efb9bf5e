// Forward-proxy sessions: request heads, policy decisions on every request,
// resolution and connection through the SSRF guard, streamed bodies in both
// directions, keep-alive on both sides, CONNECT and WebSocket hand-off to the
// Relay, Squid's status and result codes, one log record per transaction.
#include "awf/proxy/http_session.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <optional>

#include "awf/intercept/original_dst.h"
#include "awf/policy/host.h"
#include "awf/proxy/connector.h"
#include "awf/proxy/context.h"
#include "awf/proxy/http_head.h"
#include "awf/proxy/relay.h"

namespace awf::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kHeadChunk = 8 * 1024;  // idle keep-alive clients hold this much

std::string address_text(const asio::ip::address& a) {
  // Squid prints IPv4-mapped clients as IPv4.
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

std::string canonical_host(std::string_view host) {
  if (auto ip = policy::parse_ip_literal(host)) return ip->canonical;
  return policy::normalise_host(host);
}

// True when a Host header names the destination `t`: the same host once
// normalised and the same port (80 when Host names none).
bool host_header_names(std::string_view value, const Target& t) {
  if (value.empty()) return false;
  std::string authority(value);
  const bool has_port = value.front() == '[' ? value.find("]:") != std::string_view::npos
                                             : value.find(':') != std::string_view::npos;
  if (!has_port) authority += ":80";
  std::optional<Target> named = parse_authority(authority);
  return named && named->port == t.port && canonical_host(named->host) == canonical_host(t.host);
}

// The header a Connection-lists refusal is about, for the 400 body; nullptr
// for other errors.
const char* header_listed_in_connection(HeadError e) {
  switch (e) {
    case HeadError::connection_lists_content_length: return "Content-Length";
    case HeadError::connection_lists_transfer_encoding: return "Transfer-Encoding";
    case HeadError::connection_lists_host: return "Host";
    default: return nullptr;
  }
}

const char* explain(policy::Reason r) {
  switch (r) {
    case policy::Reason::allowed: return "allowed";
    case policy::Reason::not_in_allowlist: return "the host is not in the allowlist (--allow-domains)";
    case policy::Reason::empty_allowlist: return "the allowlist is empty, so all egress is denied";
    case policy::Reason::blocklisted: return "the host matches the blocklist (--block-domains)";
    case policy::Reason::port_not_allowed: return "only ports 80, 443 and --allow-host-ports are allowed";
    case policy::Reason::ip_literal: return "IP address destinations are denied unless that address is allowlisted";
    case policy::Reason::scope_mismatch:
      return "the matching entry allows only the other kind of request (http:// entries: plain HTTP; https:// "
             "entries: CONNECT)";
    case policy::Reason::invalid_host: return "the host name is not valid";
  }
  return "denied";
}

const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

class HttpSession final : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket client, const tcp::endpoint& peer, Worker& worker, SessionMode mode)
      : worker_(worker),
        ctx_(worker.context),
        client_(std::move(client)),
        timer_(client_.get_executor()),
        client_ip_(address_text(peer.address())),
        client_port_(peer.port()),
        transparent_(mode == SessionMode::transparent) {}

  ~HttpSession() override {
    worker_.remove(this);
    ctx_.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() {
    worker_.add(this);
    policy_ = worker_.current_policy();
    // TCP_NODELAY comes from the listener (accepted sockets inherit it).
    if (transparent_) {
      // Where the client was headed before the redirect: logged, and the
      // port (and, without a Host header, the address) policy is asked
      // about. Never dialled: the Host name is resolved instead.
      auto original = intercept::original_destination(client_.native_handle());
      if (original) original_ = *original;
      else spdlog::debug("client {}:{}: no original destination: {}", client_ip_, client_port_, original.message());
    }
    started_ = Clock::now();
    lifetime_end_ = started_ + ctx_.config.client_lifetime;
    read_head();
  }

  void stop(bool force) override {
    asio::post(client_.get_executor(), [self = shared_from_this(), force] { self->on_stop(force); });
  }

 private:
  enum class Phase { head, upstream, exchange, reply, tunnel, closed };

  // ---------------------------------------------------------------- heads

  void on_stop(bool force) {
    draining_ = true;
    if (phase_ == Phase::closed) return;
    if (relay_) {
      if (force) relay_->close("shutdown");
      return;
    }
    if (phase_ == Phase::head && client_buffered() == 0) return close_all(nullptr);
    if (force) close_all("shutdown");
  }

  void read_head() {
    phase_ = Phase::head;
    begin_transaction();
    set_deadline(ctx_.config.request_timeout, "request timeout");
    parse_head();
  }

  void begin_transaction() {
    tx_start_ = Clock::now();
    rec_ = LogRecord{};
    rec_.client_ip = client_ip_;
    rec_.client_port = client_port_;
    if (original_) rec_.original_dest = original_->to_string();
    logged_ = false;
    req_ = RequestHead{};
    req_cursor_ = HeadCursor{};
    resp_ = ResponseHead{};
    log_port_ = false;
    is_connect_ = websocket_ = false;
    req_done_ = resp_done_ = false;
    close_client_ = false;
    upstream_reusable_ = false;
    response_started_ = false;
    head_pending_ = 0;
    connected_ = false;
  }

  void parse_head() {
    ParseResult r = parse_request_head(in_, ctx_.config.max_header_bytes, req_, req_cursor_);
    if (r.status == ParseStatus::done) {
      in_.erase(0, req_.head_size);
      return dispatch();
    }
    if (r.status == ParseStatus::error) {
      if (r.error == HeadError::too_large) {
        spdlog::warn("client {}:{}: request head larger than --max-header-bytes {}", client_ip_, client_port_,
                     ctx_.config.max_header_bytes);
        rec_.url = "error:request-too-large";
        return reply_error(431, "the request head is larger than the proxy accepts", ResultCode::none_none,
                           "ERR_TOO_BIG", true);
      }
      spdlog::info("client {}:{}: malformed request refused: {}", client_ip_, client_port_, to_string(r.error));
      rec_.url = "error:invalid-request";
      if (r.error == HeadError::bad_transfer_encoding) {
        return reply_error(501, "unsupported Transfer-Encoding", ResultCode::none_none, "ERR_UNSUP_REQ", true);
      }
      if (const char* header = header_listed_in_connection(r.error)) {
        return reply_error(400,
                           std::string("malformed request: Connection lists ") + header +
                               ", a header the message is framed or routed by (" + to_string(r.error) + ")",
                           ResultCode::none_none, "ERR_INVALID_REQ", true);
      }
      return reply_error(400, std::string("malformed request: ") + to_string(r.error), ResultCode::none_none,
                         "ERR_INVALID_REQ", true);
    }
    if (draining_ && in_.empty()) return close_all(nullptr);
    read_client([self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->phase_ == Phase::closed) return;
      if (ec) {
        // A connection that ends before a full request: Squid logs it once.
        if (self->requests_ == 0 || self->client_buffered() > 0) {
          self->rec_.url = "error:transaction-end-before-headers";
          self->rec_.host = "-:0";
          self->log_now();
        }
        return self->close_all(nullptr);
      }
      self->parse_head();
    }, kHeadChunk);
  }

  void dispatch() {
    ++requests_;
    rec_.method = req_.method;
    rec_.version = req_.version_minor == 0 ? "1.0" : "1.1";
    if (const std::string* ua = req_.find("user-agent")) rec_.user_agent = *ua;
    // The host field is the host the request is routed to, set by decide().
    is_connect_ = req_.method == "CONNECT";
    if (!transparent_ && req_.method == "GET" && req_.target == kHealthCheckPath) return reply_health();
    if (transparent_) {
      if (is_connect_) {
        rec_.url = req_.target;
        return reply_error(405, "CONNECT is for proxies; this connection was redirected to the proxy transparently",
                           ResultCode::none_none, "ERR_UNSUP_REQ", true);
      }
      std::string why;
      std::optional<Target> t = intercepted_target(why);
      if (!t) {
        rec_.url = req_.target;
        spdlog::info("client {}:{}: intercepted request refused: {}", client_ip_, client_port_, why);
        return reply_error(400, why, ResultCode::none_none, "ERR_INVALID_URL", true);
      }
      return decide(std::move(*t));
    }
    std::optional<Target> t = is_connect_ ? parse_authority(req_.target) : parse_absolute_http(req_.target);
    if (!t) {
      rec_.url = req_.target;
      bool origin_form = !req_.target.empty() && req_.target.front() == '/';
      return reply_error(400,
                         origin_form ? "this is a proxy: send the absolute URL (http://host/path) or CONNECT host:port"
                                     : "invalid URL or authority \"" + req_.target + "\"",
                         ResultCode::none_none, "ERR_INVALID_URL", true);
    }
    decide(std::move(*t));
  }

  // Transparent mode: the request line is origin-form and the Host header
  // names the origin. Without a Host header (HTTP/1.0) the address the
  // client dialled is all there is: it goes to policy as an IP literal, which
  // denies it unless that address is allowed. A port in Host wins; else the
  // port the client dialled (a redirected --allow-host-ports port), else 80.
  // `why` says what is wrong when there is no destination.
  std::optional<Target> intercepted_target(std::string& why) {
    why = "the Host header does not name a destination";
    std::size_t hosts = 0;
    for (const auto& h : req_.headers) hosts += iequals(h.name, "host") ? 1 : 0;
    if (hosts > 1) return std::nullopt;  // which one is real? neither (RFC 9112 §3.2)
    const std::string* host_header = req_.find("host");
    if (!req_.target.empty() && req_.target.front() != '/') {
      // absolute-form may be sent to origins too (RFC 9112 §3.2.2): like a
      // forward proxy, the URL then names the destination. A Host naming
      // another one is refused: the log would show one name while the
      // request went to the other.
      std::optional<Target> t = parse_absolute_http(req_.target);
      if (!t) {
        why = "the request target is not an http URL";
        return std::nullopt;
      }
      if (host_header && !host_header_names(*host_header, *t)) {
        why = "the request target names " + t->host + ":" + std::to_string(t->port) + " but the Host header \"" +
              *host_header + "\" names another destination";
        return std::nullopt;
      }
      log_port_ = t->port != 80;
      return t;
    }
    std::string authority;
    if (host_header && !host_header->empty()) authority = *host_header;
    else if (original_) authority = original_->to_string();
    else return std::nullopt;
    if (authority.find_first_of("/@?#\\ \t") != std::string::npos) return std::nullopt;
    const bool has_port = authority.front() == '[' ? authority.find("]:") != std::string::npos
                                                   : authority.find(':') != std::string::npos;
    if (!has_port) authority += ":" + std::to_string(original_ ? original_->port : 80);
    std::optional<Target> t = parse_authority(authority);
    if (!t) return std::nullopt;
    // Logged as the client wrote Host (Squid's %{Host}>h of an intercepted
    // request): with its port only when it had one.
    log_port_ = has_port;
    t->path = req_.target.empty() ? "/" : req_.target;
    if (original_) {
      spdlog::debug("client {}:{}: intercepted {} {} (original destination {})", client_ip_, client_port_,
                    req_.method, authority, original_->to_string());
    }
    return t;
  }

  // The health probe (awf-proxy --health-check): answered here, not logged.
  void reply_health() {
    logged_ = true;
    phase_ = Phase::reply;
    out_client_ =
        "HTTP/1.1 200 OK\r\nServer: awf-proxy\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
        "Connection: close\r\n\r\nok\n";
    set_deadline(ctx_.config.request_timeout, "write timeout");
    asio::async_write(client_, asio::buffer(out_client_), [self = shared_from_this()](const error_code&, std::size_t) {
      self->close_all(nullptr);
    });
  }

  void decide(Target t) {
    target_ = std::move(t);
    host_ = canonical_host(target_.host);
    const std::string as_sent = target_.host;
    if (is_connect_) {
      rec_.url = host_ + ":" + std::to_string(target_.port);
    } else {
      // Squid's strip_query_terms (on by default): the query is cut after '?'.
      std::string path = target_.path.substr(0, target_.path.find('?'));
      if (path.size() < target_.path.size()) path += '?';
      rec_.url = "http://" + host_ + (target_.port == 80 ? "" : ":" + std::to_string(target_.port)) + path;
    }
    if (req_.find("host")) {
      // Squid's %{Host}>h for an absolute-URI or CONNECT request: not what
      // the client wrote in Host (RFC 9112 3.2.2: the target wins) but the
      // target's host, with the port unless it is http's default; "-" when
      // the client sent no Host at all. Intercepted requests too: the name
      // logged is always the one routed to and decided on, never a Host
      // header that merely rode along.
      rec_.host = host_;
      if (transparent_ ? log_port_ : (is_connect_ || target_.port != 80)) {
        rec_.host += ':';
        rec_.host += std::to_string(target_.port);
      }
    }
    policy::Decision d = policy_->decide(policy::Request{as_sent, target_.port, is_connect_});
    target_.host = host_;  // from here on only the canonical name: routed, sent as Host, logged
    if (!d.allowed) {
      const policy::Rule* rule = policy_->rule(d);
      std::string body = "awf-proxy: access to " + host_ + ":" + std::to_string(target_.port) +
                         " denied\nreason: " + policy::to_string(d.reason) + " (" + explain(d.reason) + ")\n";
      if (rule) body += "rule: " + rule->text + "\n";
      spdlog::debug("denied {} {}:{}: {}", req_.method, host_, target_.port, policy::to_string(d.reason));
      return reply_error(403, body, ResultCode::tcp_denied, "ERR_ACCESS_DENIED",
                         is_connect_ || req_.body != BodyKind::none);
    }
    websocket_ = !is_connect_ && req_.connection_lists("upgrade") && req_.find("upgrade") != nullptr;
    phase_ = Phase::upstream;
    std::string key = host_ + ":" + std::to_string(target_.port);
    if (up_ && up_key_ == key && !is_connect_ && !websocket_ && upstream_in_step()) {
      up_reused_ = true;
      connected_ = true;
      rec_.hierarchy = Hierarchy::direct;
      rec_.dest = up_dest_;
      return on_upstream_ready();
    }
    park_upstream();  // an idle connection to another host: someone else's later
    drop_upstream();
    up_key_ = key;
    set_deadline(ctx_.config.connect_timeout, "connect timeout");
    if (!is_connect_ && !websocket_) {
      if (auto parked = worker_.take_upstream(key)) {
        up_.emplace(std::move(parked->first));
        up_dest_ = std::move(parked->second);
        up_reused_ = true;
        connected_ = true;
        rec_.hierarchy = Hierarchy::direct;
        rec_.dest = up_dest_;
        return on_upstream_ready();
      }
    }
    resolve();
  }

  // ------------------------------------------------------ errors to client

  // A response the proxy makes itself (denials, errors). `text` is the body.
  void reply_error(int status, const std::string& text, ResultCode code, const char* squid_error, bool close) {
    rec_.status = status;
    rec_.code = code;
    std::string body = text;
    if (body.empty() || body.back() != '\n') body += '\n';
    if (status != 403) body = "awf-proxy: " + body;
    close_client_ = close || draining_ || req_.version_minor == 0 || req_.connection_lists("close") ||
                    req_.body != BodyKind::none;
    out_client_ = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) +
                  "\r\nServer: awf-proxy\r\nMime-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  "Content-Length: " +
                  std::to_string(body.size()) + "\r\nX-Squid-Error: " + squid_error + " 0\r\nConnection: " +
                  (close_client_ ? "close" : "keep-alive") + "\r\n\r\n";
    if (req_.method != "HEAD") out_client_ += body;
    rec_.bytes_to_client = out_client_.size();
    rec_.content_type = "text/plain";
    if (phase_ == Phase::head) park_upstream();  // a denial leaves the idle upstream reusable
    drop_upstream();
    phase_ = Phase::reply;  // late upstream handlers see this and stand down
    set_deadline(ctx_.config.read_timeout, "write timeout");
    asio::async_write(client_, asio::buffer(out_client_), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->phase_ == Phase::closed) return;
      self->log_now();
      if (ec || self->close_client_) return self->close_all(nullptr);
      self->read_head();
    });
  }

  // An upstream failure before any response reached the client.
  void upstream_failed(int status, const char* squid_error, const std::string& detail) {
    spdlog::info("{} {}:{}: {}", req_.method, host_, target_.port, detail);
    if (response_started_) return close_all(detail.c_str());
    // Squid 5/6 log a failed CONNECT as NONE_NONE, a failed GET as TCP_MISS.
    reply_error(status, detail, is_connect_ ? ResultCode::none_none : ResultCode::tcp_miss, squid_error, true);
  }

  // ----------------------------------------------- resolution and connect

  void resolve() {
    if (auto ip = policy::parse_ip_literal(target_.host)) {
      std::string text = ip->canonical;
      if (!text.empty() && text.front() == '[') text = text.substr(1, text.size() - 2);
      error_code ec;
      auto a = asio::ip::make_address(text, ec);
      Resolution r;
      if (ec) r.error = "cannot use address " + ip->canonical;
      else r.addresses.push_back(a);
      return on_resolved(std::move(r));
    }
    ctx_.resolver->resolve(
        host_, client_.get_executor(),
        [self = shared_from_this()](Resolution r) {
          if (self->phase_ != Phase::upstream) return;  // timed out or closed meanwhile
          self->on_resolved(std::move(r));
        },
        &worker_.resolver_cache);
  }

  void on_resolved(Resolution r) {
    if (r.addresses.empty()) {
      // Squid: ERR_DNS_FAIL, 503.
      return upstream_failed(503, "ERR_DNS_FAIL", "cannot resolve " + host_ + ": " + r.error);
    }
    candidates_.clear();
    std::string refused;
    const bool host_gateway = ctx_.config.enable_host_access && host_ == "host.docker.internal";
    for (const auto& a : r.addresses) {
      if (host_gateway || ctx_.guard.permits(a)) {
        candidates_.emplace_back(a, target_.port);
      } else {
        if (!refused.empty()) refused += ", ";
        refused += std::string(to_string(ctx_.guard.classify(a))) + " " + a.to_string();
      }
    }
    if (candidates_.empty()) {
      spdlog::info("refused {} {}:{}: resolves only to refused addresses ({})", req_.method, host_, target_.port,
                   refused);
      std::string body = "awf-proxy: access to " + host_ + ":" + std::to_string(target_.port) +
                         " denied\nreason: private_address (" + host_ + " resolves to " + refused +
                         "; allow the range with --allow-private-ranges)\n";
      return reply_error(403, body, ResultCode::tcp_denied, "ERR_ACCESS_DENIED", true);
    }
    connect_upstream();
  }

  void connect_upstream() {
    connector_ = Connector::start(
        client_.get_executor(), std::move(candidates_), Connector::kDefaultAttemptDelay,
        [self = shared_from_this()](Connector::Outcome o) {
          self->connector_.reset();
          if (self->phase_ != Phase::upstream) return;
          const tcp::endpoint& ep = o.endpoint;
          // Squid logs the address it connected to, or the last it tried, with HIER_DIRECT.
          self->rec_.dest = ep.address().to_string() + ":" + std::to_string(ep.port());
          self->rec_.hierarchy = Hierarchy::direct;
          if (o.error) {
            // Squid: ERR_CONNECT_FAIL, 503.
            return self->upstream_failed(
                503, "ERR_CONNECT_FAIL",
                "cannot connect to " + self->host_ + ":" + std::to_string(self->target_.port) + ": " + o.detail);
          }
          self->up_.emplace(std::move(o.socket));
          self->connected_ = true;
          self->up_reused_ = false;
          self->up_dest_ = self->rec_.dest;
          self->on_upstream_ready();
        });
  }

  // True when the held upstream connection may carry another request: its
  // last exchange ended in step (see up_in_step_) and it has said nothing
  // since. A response nobody asked for (an origin that read a body as more
  // requests) would otherwise answer the next request, another client's
  // when pooled.
  bool upstream_in_step() {
    if (!up_ || !up_->is_open() || !up_in_step_ || !up_in_.empty() || up_key_.empty()) return false;
    if (!upstream_is_quiet(*up_)) {
      spdlog::info("upstream {} ({}) sent bytes or closed while idle: not reused", up_key_, up_dest_);
      return false;
    }
    return true;
  }

  // Hands a reusable idle upstream connection to the thread's pool; only
  // one whose requests and responses are in step.
  void park_upstream() {
    if (!upstream_in_step()) return;
    worker_.park_upstream(up_key_, std::move(*up_), up_dest_);
    up_.reset();
    up_key_.clear();
    up_in_step_ = false;
  }

  void drop_upstream() {
    if (connector_) {
      connector_->cancel();
      connector_.reset();
    }
    if (up_) {
      error_code ec;
      up_->close(ec);
      up_.reset();
    }
    up_key_.clear();
    up_in_.clear();
    up_in_step_ = false;
  }

  void on_upstream_ready() {
    if (is_connect_) return start_tunnel();
    send_request();
  }

  // ------------------------------------------------------------- CONNECT

  void start_tunnel() {
    rec_.code = ResultCode::tcp_tunnel;
    rec_.status = 200;
    out_client_ = "HTTP/1.1 200 Connection established\r\n\r\n";
    asio::async_write(client_, asio::buffer(out_client_), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->phase_ == Phase::closed) return;
      if (ec) return self->close_all("client write failed");
      self->hand_to_relay(std::move(self->in_), std::string());
    });
  }

  void hand_to_relay(std::string to_upstream, std::string to_client) {
    phase_ = Phase::tunnel;
    timer_.cancel();
    Relay::Options o;
    o.idle_timeout = ctx_.config.read_timeout;
    o.lifetime_end = lifetime_end_;
    tcp::socket up = std::move(*up_);
    up_.reset();
    up_key_.clear();
    in_.clear();
    relay_ = Relay::start(std::move(client_), std::move(up), std::move(to_upstream), std::move(to_client), o,
                          [self = shared_from_this()](const Relay::Totals& t) {
                            self->rec_.bytes_to_client += t.upstream_to_client;
                            spdlog::debug("tunnel {} ended: {} ({} B up, {} B down)", self->rec_.url, t.end,
                                          t.client_to_upstream, t.upstream_to_client);
                            self->log_now();
                            self->phase_ = Phase::closed;
                            self->relay_.reset();
                          });
  }

  // ------------------------------------------------------ forward exchange

  void send_request() {
    phase_ = Phase::exchange;
    set_deadline(ctx_.config.read_timeout, "read timeout");
    rec_.code = ResultCode::tcp_miss;
    out_up_ = build_upstream_request(req_, target_, websocket_);
    req_remaining_ = req_.content_length;
    req_chunks_ = ChunkedScanner{};
    req_done_ = req_.body == BodyKind::none;
    up_in_.clear();
    up_in_step_ = false;  // until this exchange ends in step (part_done)
    resp_cursor_ = HeadCursor{};
    asio::async_write(*up_, asio::buffer(out_up_), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->phase_ != Phase::exchange) return;
      if (ec) return self->upstream_write_failed(ec);
      if (!self->req_done_) self->pump_request_body();
    });
    read_response();
  }

  void upstream_write_failed(const error_code& ec) {
    if (up_reused_ && !response_started_ && retry_allowed()) return retry_fresh();
    upstream_failed(502, "ERR_WRITE_ERROR", "write to " + up_dest_ + " failed: " + ec.message());
  }

  // A reused connection the origin closed meanwhile: one retry on a fresh
  // connection, for requests without a body only (nothing was consumed).
  bool retry_allowed() const { return req_.body == BodyKind::none && !retried_; }
  void retry_fresh() {
    retried_ = true;
    std::string key = up_key_;
    drop_upstream();
    up_key_ = key;
    phase_ = Phase::upstream;
    connected_ = false;
    set_deadline(ctx_.config.connect_timeout, "connect timeout");
    resolve();
  }

  // Returns how many leading bytes of `data` belong to the request body.
  std::size_t take_request_body(const char* data, std::size_t n, bool& complete, bool& broken) {
    broken = false;
    if (req_.body == BodyKind::chunked) {
      std::size_t k = req_chunks_.feed(data, n);
      broken = req_chunks_.failed();
      complete = req_chunks_.done();
      return k;
    }
    std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(req_remaining_, n));
    req_remaining_ -= k;
    complete = req_remaining_ == 0;
    return k;
  }

  void pump_request_body() {
    if (!in_.empty()) {
      bool complete = false, broken = false;
      std::size_t k = take_request_body(in_.data(), in_.size(), complete, broken);
      if (broken) {
        spdlog::info("client {}:{}: malformed chunked request body", client_ip_, client_port_);
        return close_all("malformed chunked body");
      }
      out_up_.assign(in_, 0, k);
      in_.erase(0, k);
      last_activity_ = Clock::now();
      asio::async_write(*up_, asio::buffer(out_up_),
                        [self = shared_from_this(), complete](const error_code& ec, std::size_t) {
                          if (self->phase_ != Phase::exchange) return;
                          if (ec) return self->upstream_write_failed(ec);
                          if (complete) {
                            self->req_done_ = true;
                            return self->part_done();
                          }
                          self->pump_request_body();
                        });
      return;
    }
    read_client([self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->phase_ != Phase::exchange) return;
      if (ec) return self->close_all("client closed during the request body");
      self->pump_request_body();
    });
  }

  void read_response() {
    ParseResult r = parse_response_head(up_in_, ctx_.config.max_header_bytes, resp_, resp_cursor_);
    if (r.status == ParseStatus::done) return on_response_head();
    if (r.status == ParseStatus::error) {
      return upstream_failed(502, "ERR_INVALID_RESP",
                             std::string("invalid response from ") + up_dest_ + ": " + to_string(r.error));
    }
    read_upstream([self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->phase_ != Phase::exchange) return;
      if (ec) {
        if (self->up_in_.empty() && self->up_reused_ && self->retry_allowed()) return self->retry_fresh();
        if (ec == asio::error::eof && self->up_in_.empty()) {
          return self->upstream_failed(502, "ERR_ZERO_SIZE_OBJECT",
                                       "the origin " + self->up_dest_ + " closed the connection without a response");
        }
        return self->upstream_failed(502, "ERR_READ_ERROR",
                                     "reading the response from " + self->up_dest_ + " failed: " + ec.message());
      }
      self->last_activity_ = Clock::now();
      self->read_response();
    }, 16 * 1024);
  }

  void on_response_head() {
    up_in_.erase(0, resp_.head_size);
    if (resp_.status >= 100 && resp_.status < 200 && resp_.status != 101) {
      // 100 Continue and friends: pass on, then wait for the final response.
      out_client_ = build_client_response(resp_, false, false);
      asio::async_write(client_, asio::buffer(out_client_), [self = shared_from_this()](const error_code& ec, std::size_t) {
        if (self->phase_ != Phase::exchange) return;
        if (ec) return self->close_all("client write failed");
        self->resp_ = ResponseHead{};
        self->resp_cursor_ = HeadCursor{};  // its head was erased from up_in_
        self->read_response();
      });
      return;
    }
    rec_.status = resp_.status;
    if (const std::string* ct = resp_.find("content-type")) rec_.content_type = ct->substr(0, ct->find(';'));
    if (resp_.status == 101) {
      if (!websocket_) return upstream_failed(502, "ERR_INVALID_RESP", "unrequested protocol switch from " + up_dest_);
      out_client_ = build_client_response(resp_, false, true);
      response_started_ = true;
      asio::async_write(client_, asio::buffer(out_client_), [self = shared_from_this()](const error_code& ec, std::size_t n) {
        if (self->phase_ != Phase::exchange) return;
        if (ec) return self->close_all("client write failed");
        self->rec_.bytes_to_client += n;
        self->hand_to_relay(std::move(self->in_), std::move(self->up_in_));
      });
      return;
    }
    resp_kind_ = resp_.body_kind(req_.method);
    resp_remaining_ = resp_.content_length.value_or(0);
    resp_chunks_ = ChunkedScanner{};
    close_client_ = resp_kind_ == BodyKind::until_close || req_.version_minor == 0 ||
                    req_.connection_lists("close") || req_.has_token("proxy-connection", "close") || draining_;
    // Reusable only with known framing: a body read until close leaves
    // nothing to reuse, and then the response must end exactly where its
    // framing says (pump_response_body).
    upstream_reusable_ = resp_kind_ != BodyKind::until_close && resp_.version_minor == 1 &&
                         !resp_.connection_lists("close");
    out_client_ = build_client_response(resp_, close_client_, false);
    response_started_ = true;
    // The head goes out together with the body bytes that came with it: one
    // send instead of two (on loopback each send is most of a request's cost).
    head_pending_ = out_client_.size();
    pump_response_body();
  }

  // Writes the response head held in out_client_ on its own: there are no
  // body bytes to go with it yet, and the client should see it now.
  template <typename Next>
  void flush_head(Next next) {
    rec_.bytes_to_client += head_pending_;
    head_pending_ = 0;
    asio::async_write(client_, asio::buffer(out_client_),
                      [self = shared_from_this(), next](const error_code& ec, std::size_t) {
                        if (self->phase_ != Phase::exchange) return;
                        if (ec) return self->close_all("client write failed");
                        (self.get()->*next)();
                      });
  }

  void pump_response_body() {
    if (resp_kind_ == BodyKind::none) {
      // Bytes after a bodiless response (a 204 or 304 with a body, a second
      // response) are not an answer to anything we sent.
      if (!up_in_.empty()) upstream_reusable_ = false;
      if (head_pending_) return flush_head(&HttpSession::response_complete);
      return response_complete();
    }
    if (!up_in_.empty()) {
      std::size_t k = up_in_.size();
      bool complete = false;
      if (resp_kind_ == BodyKind::chunked) {
        k = resp_chunks_.feed(up_in_.data(), up_in_.size());
        if (resp_chunks_.failed()) return close_all("malformed chunked response");
        complete = resp_chunks_.done();
      } else if (resp_kind_ == BodyKind::length) {
        k = static_cast<std::size_t>(std::min<std::uint64_t>(resp_remaining_, k));
        resp_remaining_ -= k;
        complete = resp_remaining_ == 0;
      }
      if (complete && k < up_in_.size()) upstream_reusable_ = false;  // bytes after the response: do not trust it
      const std::size_t head = head_pending_;
      head_pending_ = 0;
      if (head) out_client_.append(up_in_, 0, k);
      else out_client_.assign(up_in_, 0, k);
      up_in_.erase(0, k);
      if (complete) up_in_.clear();
      last_activity_ = Clock::now();
      asio::async_write(client_, asio::buffer(out_client_),
                        [self = shared_from_this(), complete](const error_code& ec, std::size_t n) {
                          if (self->phase_ != Phase::exchange) return;
                          if (ec) return self->close_all("client write failed");
                          self->rec_.bytes_to_client += n;  // the head included
                          if (complete) return self->response_complete();
                          self->pump_response_body();
                        });
      return;
    }
    if (head_pending_) return flush_head(&HttpSession::pump_response_body);
    read_upstream([self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->phase_ != Phase::exchange) return;
      if (ec == asio::error::eof && self->resp_kind_ == BodyKind::until_close) {
        self->upstream_reusable_ = false;
        return self->response_complete();
      }
      if (ec) return self->close_all("response truncated by the origin");
      self->pump_response_body();
    });
  }

  void response_complete() {
    resp_done_ = true;
    if (!req_done_) {
      // The origin answered before the upload ended: neither side can be
      // reused, the rest of the body has no reader.
      close_client_ = true;
      upstream_reusable_ = false;
    }
    part_done();
  }

  void part_done() {
    if (!resp_done_) return;
    log_now();
    // The one place an exchange ends in step: the request was sent whole
    // with the framing the proxy parsed, the response read whole with known
    // framing and nothing after it. Only then may the connection be reused.
    if (!upstream_reusable_ || !req_done_ || !up_in_.empty()) drop_upstream();
    else up_in_step_ = true;
    if (close_client_ || draining_ || !req_done_) {
      park_upstream();
      return close_all(nullptr);
    }
    retried_ = false;
    read_head();
  }

  // --------------------------------------------------------------- plumbing

  // Appends what the next read brings to `buf`. While the read is pending
  // `buf` holds reserved space; `base` remembers the real length.
  template <typename Handler>
  void read_more(tcp::socket& s, std::string& buf, std::size_t& base, std::size_t chunk, Handler&& h) {
    base = buf.size();
    buf.resize(base + chunk);
    s.async_read_some(asio::buffer(buf.data() + base, chunk),
                      [&buf, &base, h = std::forward<Handler>(h)](const error_code& ec, std::size_t n) mutable {
                        buf.resize(base + n);
                        base = std::string::npos;
                        h(ec, n);
                      });
  }
  template <typename Handler>
  void read_client(Handler&& h, std::size_t chunk = kReadChunk) {
    read_more(client_, in_, in_base_, chunk, std::forward<Handler>(h));
  }
  template <typename Handler>
  void read_upstream(Handler&& h, std::size_t chunk = kReadChunk) {
    read_more(*up_, up_in_, up_in_base_, chunk, std::forward<Handler>(h));
  }
  std::size_t client_buffered() const { return in_base_ != std::string::npos ? in_base_ : in_.size(); }

  // Sets the idle limit of the current phase. The timer is only re-armed
  // when the new deadline is earlier than the armed one; a later deadline is
  // picked up when the timer fires (on_deadline re-arms), so a keep-alive
  // request costs no timer system call.
  void set_deadline(std::chrono::milliseconds idle, const char* what) {
    idle_limit_ = idle;
    deadline_what_ = what;
    last_activity_ = Clock::now();
    auto due = std::min(last_activity_ + idle_limit_, lifetime_end_);
    if (timer_armed_ && due >= timer_.expiry()) return;
    timer_armed_ = true;
    timer_.expires_at(due);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) { self->on_deadline(ec); });
  }

  void on_deadline(const error_code& ec) {
    if (ec) return;  // re-armed or cancelled; whoever did it owns the timer now
    timer_armed_ = false;
    if (phase_ == Phase::closed || phase_ == Phase::tunnel) return;
    auto now = Clock::now();
    auto due = std::min(last_activity_ + idle_limit_, lifetime_end_);
    if (now < due) {
      timer_armed_ = true;
      timer_.expires_at(due);
      timer_.async_wait([self = shared_from_this()](const error_code& e) { self->on_deadline(e); });
      return;
    }
    const char* what = now >= lifetime_end_ ? "client lifetime" : deadline_what_;
    switch (phase_) {
      case Phase::head:
        if (requests_ == 0 || client_buffered() > 0) {
          spdlog::info("client {}:{}: {} before a complete request", client_ip_, client_port_, what);
          rec_.url = "error:transaction-end-before-headers";
          rec_.host = "-:0";
          log_now();
        }
        return close_all(nullptr);
      case Phase::upstream:
        // Squid: connect timeout is ERR_CONNECT_FAIL with 504.
        return upstream_failed(504, "ERR_CONNECT_FAIL",
                               std::string(what) + " reaching " + host_ + ":" + std::to_string(target_.port));
      case Phase::exchange:
        if (!response_started_ && connected_) {
          return upstream_failed(504, "ERR_READ_TIMEOUT", std::string(what) + " waiting for " + up_dest_);
        }
        spdlog::info("{} {}: {}", req_.method, rec_.url, what);
        return close_all(what);
      case Phase::reply:
        return close_all(what);
      default:
        return;
    }
  }

  void log_now() {
    if (logged_) return;
    logged_ = true;
    rec_.time = std::chrono::system_clock::now();
    rec_.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - tx_start_);
    ctx_.log->write(rec_);
  }

  void close_all(const char* why) {
    if (phase_ == Phase::closed) return;
    if (phase_ == Phase::head) park_upstream();  // idle between requests: reusable by others
    if (why && !logged_ && requests_ > 0 && phase_ != Phase::tunnel) log_now();
    phase_ = Phase::closed;
    error_code ec;
    timer_.cancel();
    if (relay_) relay_->close(why ? why : "closed");
    // close(2) alone sends the FIN (or the RST when input is left unread),
    // as a shutdown(2) before it would.
    client_.close(ec);
    drop_upstream();
  }

  Worker& worker_;
  ProxyContext& ctx_;
  tcp::socket client_;
  asio::steady_timer timer_;
  std::shared_ptr<const policy::Ruleset> policy_;
  std::string client_ip_;
  std::uint16_t client_port_ = 0;
  const bool transparent_;
  std::optional<intercept::SocketAddress> original_;  // transparent mode: before the redirect
  Clock::time_point started_, lifetime_end_, last_activity_, tx_start_;
  std::chrono::milliseconds idle_limit_{0};
  const char* deadline_what_ = "";
  bool timer_armed_ = false;
  Phase phase_ = Phase::head;
  bool draining_ = false;
  unsigned requests_ = 0;

  std::string in_;  // client bytes not consumed yet
  std::size_t in_base_ = std::string::npos, up_in_base_ = std::string::npos;
  HeadCursor req_cursor_, resp_cursor_;  // resumable head searches of in_ and up_in_
  RequestHead req_;
  Target target_;
  std::string host_;  // canonical target host
  bool is_connect_ = false, websocket_ = false;
  bool log_port_ = false;  // transparent mode: the logged host carries the port
  LogRecord rec_;
  bool logged_ = true;

  std::optional<tcp::socket> up_;
  std::string up_key_, up_dest_;
  bool up_reused_ = false, connected_ = false, retried_ = false;
  // The held upstream connection's last exchange ended in step (part_done):
  // the only state in which it may carry another request or be pooled.
  bool up_in_step_ = false;
  std::vector<tcp::endpoint> candidates_;
  std::shared_ptr<Connector> connector_;  // while connecting

  std::string up_in_;
  ResponseHead resp_;
  BodyKind resp_kind_ = BodyKind::none;
  std::uint64_t resp_remaining_ = 0;
  ChunkedScanner resp_chunks_;
  std::uint64_t req_remaining_ = 0;
  ChunkedScanner req_chunks_;
  bool req_done_ = false, resp_done_ = false, close_client_ = false, upstream_reusable_ = false;
  bool response_started_ = false;
  std::size_t head_pending_ = 0;  // size of a response head in out_client_ not written yet
  std::string out_client_, out_up_;
  std::shared_ptr<Relay> relay_;
};

}  // namespace

void start_http_session(tcp::socket client, const tcp::endpoint& peer, Worker& worker, SessionMode mode) {
  worker.context.connections.fetch_add(1, std::memory_order_relaxed);
  std::make_shared<HttpSession>(std::move(client), peer, worker, mode)->start();
}

}  // namespace awf::proxy
