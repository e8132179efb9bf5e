// Forward-proxy sessions: request heads, policy decisions on every request,
// resolution and connection through the SSRF guard, streamed bodies in both
// directions, keep-alive on both sides, CONNECT and WebSocket hand-off to the
// Relay (a tunnel to port 443 only after its ClientHello names an allowed
// host), Squid's status and result codes, one log record per transaction.
// What a transaction logs is derived in transaction_log.cc; the pages the
// proxy answers with itself are rendered by error_page.cc.
#include "awf/proxy/http_session.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <optional>

#include "awf/intercept/client_hello.h"
#include "awf/intercept/original_dst.h"
#include "awf/intercept/tls_alert.h"
#include "awf/policy/dlp.h"
#include "awf/policy/host.h"
#include "awf/proxy/bump_authority.h"
#include "awf/proxy/bump_session.h"
#include "awf/proxy/budgets.h"
#include "awf/proxy/context.h"
#include "awf/proxy/error_page.h"
#include "awf/proxy/http_head.h"
#include "awf/proxy/parent_proxy.h"
#include "awf/proxy/relay.h"
#include "awf/proxy/transaction_log.h"
#include "awf/proxy/upstream.h"

namespace awf::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kHeadChunk = 8 * 1024;  // idle keep-alive clients hold this much

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

// Where a transaction stands. Late handlers compare it with the phase they
// were started in and stand down when it moved on.
enum class Phase : std::uint8_t { head, upstream, exchange, reply, hello, tunnel, closed };

// Everything one request and its response own on a keep-alive client
// connection. It lives inside the session and is reset as a whole when the
// next request head is awaited, so no field leaks from one request into the
// next.
struct Transaction {
  Phase phase = Phase::head;
  Clock::time_point started;
  LogRecord rec;
  bool logged = false;

  RequestHead req;
  HeadCursor req_cursor;  // resumable head search of the session's client buffer
  Target target;
  std::string host;  // canonical target host
  bool is_connect = false, websocket = false;
  bool via_parent = false;  // out through --upstream-proxy
  // --budget-*: the registrable domain charged, and a tunnel's place in
  // --budget-tunnels (given back when the transaction goes).
  std::string budget_key;
  std::shared_ptr<void> budget_tunnel;
  std::uint64_t bytes_from_client = 0;  // tunnels: what the relay carried upstream
  bool host_had_port = false;  // transparent mode: the client's Host (or URL) carried the port

  bool up_reused = false;  // the upstream connection served an earlier request
  bool connected = false;  // an upstream connection carries this request
  bool retried = false;    // the one retry on a fresh connection was spent

  std::uint64_t req_remaining = 0;
  ChunkedScanner req_chunks;
  bool req_done = false;  // the request went upstream whole

  ResponseHead resp;
  HeadCursor resp_cursor;  // resumable head search of the upstream buffer
  BodyKind resp_kind = BodyKind::none;
  std::uint64_t resp_remaining = 0;
  ChunkedScanner resp_chunks;
  bool response_started = false;  // bytes of the response (or a page) reached the client
  bool resp_done = false;         // the response reached the client whole
  std::size_t head_pending = 0;   // size of a response head in out_client_ not written yet
  bool close_client = false;       // the client connection ends with this transaction
  bool upstream_reusable = false;  // the response's framing leaves the upstream connection usable
};

// How a transaction fails: data for fail(), the one place that turns each
// kind into what the client sees and what is logged.
enum class FailureKind : std::uint8_t {
  refuse,          // the proxy answers with its own page: a refused request, a denial
  upstream,        // the origin failed: a page while no response byte went out, else a close
  upstream_write,  // a write to the origin failed: one retry on a fresh connection if allowed, else upstream
  abort,           // both sides are closed now; the transaction is logged if it was not yet
};

struct Failure {
  FailureKind kind = FailureKind::abort;
  int status = 0;                           // refuse, upstream: the page's status
  ResultCode code = ResultCode::none_none;  // refuse: the result code logged
  const char* squid_error = "";             // refuse, upstream: X-Squid-Error
  std::string text{};                       // refuse: the page's text; upstream: the detail
  bool close = true;                        // refuse: close the client connection after the page
  const char* why = nullptr;                // abort: the reason, also the relay's
  error_code error{};                       // upstream_write
  int retry_after = 0;                      // refuse: Retry-After seconds, none when 0
  bool timed_out = false;                   // abort: an idle or lifetime deadline ended it
};

class HttpSession final : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket client, const tcp::endpoint& peer, Worker& worker, SessionMode mode)
      : worker_(worker),
        ctx_(worker.context),
        client_(std::move(client)),
        timer_(client_.get_executor()),
        client_ip_(peer_address_text(peer.address())),
        client_port_(peer.port()),
        transparent_(mode == SessionMode::transparent) {
    tx_.logged = true;  // nothing to log before the first request is awaited
  }

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
  // ---------------------------------------------------------------- heads

  void on_stop(bool force) {
    draining_ = true;
    if (tx_.phase == Phase::closed) return;
    if (relay_) {
      if (force) relay_->close("shutdown");
      return;
    }
    if (tx_.phase == Phase::head && client_buffered() == 0) return close_connection();
    if (force) fail({.kind = FailureKind::abort, .why = "shutdown"});
  }

  void read_head() {
    begin_transaction();
    set_deadline(ctx_.config.request_timeout, "request timeout");
    parse_head();
  }

  void begin_transaction() {
    tx_ = Transaction{};
    tx_.started = Clock::now();
    tx_.rec.client_ip = client_ip_;
    tx_.rec.client_port = client_port_;
    if (original_) tx_.rec.original_dest = original_->to_string();
    if (transparent_) tx_.rec.listener = Listener::http_intercept;
  }

  void parse_head() {
    ParseResult r = parse_request_head(in_, ctx_.config.max_header_bytes, tx_.req, tx_.req_cursor);
    if (r.status == ParseStatus::done) {
      in_.erase(0, tx_.req.head_size);
      return dispatch();
    }
    if (r.status == ParseStatus::error) {
      if (r.error == HeadError::too_large) {
        spdlog::warn("client {}:{}: request head larger than --max-header-bytes {}", client_ip_, client_port_,
                     ctx_.config.max_header_bytes);
        tx_.rec.url = "error:request-too-large";
      } else {
        spdlog::info("client {}:{}: malformed request refused: {}", client_ip_, client_port_, to_string(r.error));
        tx_.rec.url = "error:invalid-request";
      }
      HeadRefusal refusal = refusal_for(r.error);
      return fail({.kind = FailureKind::refuse,
                   .status = refusal.status,
                   .squid_error = refusal.squid_error,
                   .text = std::move(refusal.text)});
    }
    if (draining_ && in_.empty()) return close_connection();
    read_client([self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->tx_.phase == Phase::closed) return;
      if (ec) {
        // A connection that ends before a full request: Squid logs it once.
        if (self->requests_ == 0 || self->client_buffered() > 0) {
          record_end_before_request(self->tx_.rec);
          self->log_now();
        }
        return self->close_connection();
      }
      self->parse_head();
    }, kHeadChunk);
  }

  void dispatch() {
    ++requests_;
    record_request(tx_.rec, tx_.req);  // the Host field is the host routed to, set by decide()
    tx_.is_connect = tx_.req.method == "CONNECT";
    if (!transparent_ && tx_.req.method == "GET" && tx_.req.target == kHealthCheckPath) return reply_health();
    if (transparent_) {
      if (tx_.is_connect) {
        tx_.rec.url = tx_.req.target;
        return fail({.kind = FailureKind::refuse,
                     .status = 405,
                     .squid_error = "ERR_UNSUP_REQ",
                     .text = "CONNECT is for proxies; this connection was redirected to the proxy transparently"});
      }
      std::string why;
      std::optional<Target> t = intercepted_target(why);
      if (!t) {
        tx_.rec.url = tx_.req.target;
        spdlog::info("client {}:{}: intercepted request refused: {}", client_ip_, client_port_, why);
        return fail({.kind = FailureKind::refuse, .status = 400, .squid_error = "ERR_INVALID_URL", .text = why});
      }
      return decide(std::move(*t));
    }
    std::optional<Target> t =
        tx_.is_connect ? parse_authority(tx_.req.target) : parse_absolute_http(tx_.req.target);
    if (!t) {
      tx_.rec.url = tx_.req.target;
      const bool origin_form = !tx_.req.target.empty() && tx_.req.target.front() == '/';
      return fail({.kind = FailureKind::refuse,
                   .status = 400,
                   .squid_error = "ERR_INVALID_URL",
                   .text = origin_form ? "this is a proxy: send the absolute URL (http://host/path) or CONNECT host:port"
                                       : "invalid URL or authority \"" + tx_.req.target + "\""});
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
    const RequestHead& req = tx_.req;
    why = "the Host header does not name a destination";
    std::size_t hosts = 0;
    for (const auto& h : req.headers) hosts += iequals(h.name, "host") ? 1 : 0;
    if (hosts > 1) return std::nullopt;  // which one is real? neither (RFC 9112 §3.2)
    const std::string* host_header = req.find("host");
    if (!req.target.empty() && req.target.front() != '/') {
      // absolute-form may be sent to origins too (RFC 9112 §3.2.2): like a
      // forward proxy, the URL then names the destination. A Host naming
      // another one is refused: the log would show one name while the
      // request went to the other.
      std::optional<Target> t = parse_absolute_http(req.target);
      if (!t) {
        why = "the request target is not an http URL";
        return std::nullopt;
      }
      if (host_header && !host_header_names(*host_header, *t)) {
        why = "the request target names " + t->host + ":" + std::to_string(t->port) + " but the Host header \"" +
              *host_header + "\" names another destination";
        return std::nullopt;
      }
      tx_.host_had_port = t->port != 80;
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
    tx_.host_had_port = has_port;
    t->path = req.target.empty() ? "/" : req.target;
    if (original_) {
      spdlog::debug("client {}:{}: intercepted {} {} (original destination {})", client_ip_, client_port_,
                    req.method, authority, original_->to_string());
    }
    return t;
  }

  // The health probe (awf-proxy --health-check): answered here, not logged.
  void reply_health() {
    tx_.logged = true;
    tx_.phase = Phase::reply;
    out_client_ =
        "HTTP/1.1 200 OK\r\nServer: awf-proxy\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
        "Connection: close\r\n\r\nok\n";
    set_deadline(ctx_.config.request_timeout, "write timeout");
    asio::async_write(client_, asio::buffer(out_client_), [self = shared_from_this()](const error_code&, std::size_t) {
      self->close_connection();
    });
  }

  void decide(Target t) {
    tx_.target = std::move(t);
    tx_.host = canonical_host(tx_.target.host);
    const std::string as_sent = tx_.target.host;
    const std::uint16_t port = tx_.target.port;
    record_destination(tx_.rec, tx_.req, tx_.host, tx_.target, tx_.is_connect,
                       logged_host_has_port(transparent_, tx_.host_had_port, tx_.is_connect, port));
    if (ctx_.dlp) {
      // Everything the client named: the host and the target as written
      // (absolute URI, origin-form path, CONNECT authority).
      if (auto pattern = ctx_.dlp->scan(as_sent + " " + tx_.req.target)) return refuse_for_credential(*pattern);
    }
    policy::Decision d = policy_->decide(policy::Request{as_sent, port, tx_.is_connect});
    tx_.target.host = tx_.host;  // from here on only the canonical name: routed, sent as Host, logged
    tx_.websocket = !tx_.is_connect && tx_.req.connection_lists("upgrade") && tx_.req.find("upgrade") != nullptr;
    if (const char* why = method_refusal(); why && !let_through_in_report_mode(why)) {
      spdlog::debug("denied {} {}:{}: {}", tx_.req.method, tx_.host, port, why);
      tx_.rec.reason = why;
      return fail({.kind = FailureKind::refuse,
                   .status = 403,
                   .code = ResultCode::tcp_denied,
                   .squid_error = "ERR_ACCESS_DENIED",
                   .text = method_denial_text(why),
                   .close = tx_.is_connect || tx_.req.body != BodyKind::none});
    }
    if (!d.allowed && !(tx_.is_connect && ctx_.bump && ctx_.bump->lifts_block(d, tx_.host)) &&
        !let_through_in_report_mode(policy::to_string(d.reason))) {
      spdlog::debug("denied {} {}:{}: {}", tx_.req.method, tx_.host, port, policy::to_string(d.reason));
      tx_.rec.reason = policy::to_string(d.reason);
      return fail({.kind = FailureKind::refuse,
                   .status = 403,
                   .code = ResultCode::tcp_denied,
                   .squid_error = "ERR_ACCESS_DENIED",
                   .text = denial_text(tx_.host, port, d.reason, policy_->rule(d)),
                   .close = tx_.is_connect || tx_.req.body != BodyKind::none});
    }
    if (ctx_.budgets && !(tx_.is_connect && is_bumped(ctx_, tx_.host))) {
      // A CONNECT that will be bumped is charged per request inside.
      tx_.budget_key = ctx_.budgets->key_of(tx_.host);
      Budgets::Verdict v = ctx_.budgets->admit(tx_.budget_key, tx_.is_connect || tx_.websocket);
      if (v.refused && !let_through_in_report_mode(v.refused)) return refuse_over_budget(v);
      tx_.budget_tunnel = std::move(v.tunnel);
    }
    tx_.via_parent = via_parent(ctx_.config, tx_.host);
    tx_.phase = Phase::upstream;
    // Connections to the parent are kept per destination too: an idle one
    // carries the next request for the same host only, as a direct one does.
    std::string key = (tx_.via_parent ? "parent " : "") + tx_.host + ":" + std::to_string(port);
    if (up_ && up_key_ == key && !tx_.is_connect && !tx_.websocket && upstream_in_step()) {
      return use_idle_upstream();
    }
    park_upstream();  // an idle connection to another host: someone else's later
    drop_upstream();
    up_key_ = std::move(key);
    set_deadline(ctx_.config.connect_timeout, "connect timeout");
    if (!tx_.is_connect && !tx_.websocket) {
      if (auto parked = worker_.take_upstream(up_key_)) {
        up_.emplace(std::move(parked->first));
        up_dest_ = std::move(parked->second);
        return use_idle_upstream();
      }
    }
    dial();
  }

  // --policy-mode report: a refusal of the domain policy is noted (log
  // record, stderr) and the request goes on. False when enforcing.
  bool let_through_in_report_mode(const char* reason) {
    if (!ctx_.config.report_only) return false;
    tx_.rec.would_deny = reason;
    spdlog::info("report mode: would deny {} {}:{}: {}", tx_.req.method, tx_.host, tx_.target.port,
                 tx_.rec.would_deny);
    return true;
  }

  // --allowed-methods: why this request may not go on (a reason code), or
  // nullptr. A CONNECT is let on only toward a name the proxy will bump,
  // where each request inside is checked; a WebSocket upgrade never, since
  // after it data flows both ways unseen.
  const char* method_refusal() const {
    const auto& allowed = ctx_.config.allowed_methods;
    if (allowed.empty()) return nullptr;
    if (tx_.is_connect) {
      return ctx_.config.raw_tunnels_allowed() || is_bumped(ctx_, tx_.host) ? nullptr : "tunnel_not_inspectable";
    }
    if (!policy::method_listed(allowed, tx_.req.method)) return "method_not_allowed";
    return tx_.websocket && !ctx_.config.raw_tunnels_allowed() ? "tunnel_not_inspectable" : nullptr;
  }

  std::string method_denial_text(const char* why) const {
    std::string methods;
    for (const auto& m : ctx_.config.allowed_methods) methods += (methods.empty() ? "" : ",") + m;
    std::string text = "access to " + tx_.host + ":" + std::to_string(tx_.target.port) + " denied\nreason: " + why;
    if (std::string_view(why) == "method_not_allowed") {
      text += " (" + tx_.req.method + " is not among --allowed-methods " + methods + ")\nto allow it: --allowed-methods " +
              methods + "," + tx_.req.method + "\n";
    } else {
      text += " (only " + methods + " are allowed, and the proxy cannot see the requests inside " +
              (tx_.is_connect ? "this tunnel" : "a WebSocket") + ")\nto allow it: --ssl-bump (requests inside are then " +
              "checked), or --allowed-methods " + methods + ",CONNECT\n";
    }
    return text;
  }

  // --budget-*: this registrable domain has spent what it may. 429 (the
  // client may try again after Retry-After; a bytes budget is spent for the
  // run).
  void refuse_over_budget(const Budgets::Verdict& v) {
    spdlog::info("client {}:{}: {} {}:{} refused: {} for {}", client_ip_, client_port_, tx_.req.method, tx_.host,
                 tx_.target.port, v.refused, tx_.budget_key);
    tx_.rec.reason = v.refused;
    std::string text = "access to " + tx_.host + ":" + std::to_string(tx_.target.port) + " refused\nreason: " +
                       v.refused + " (" + tx_.budget_key + ", with every name under it, has spent its ";
    const std::string_view which(v.refused);
    text += which == "budget_rps"       ? "--budget-rps requests per second"
            : which == "budget_tunnels" ? "--budget-tunnels concurrent tunnels"
                                        : "--budget-bytes for this run";
    text += ")\n";
    return fail({.kind = FailureKind::refuse,
                 .status = 429,
                 .code = ResultCode::tcp_denied,
                 .squid_error = "ERR_ACCESS_DENIED",
                 .text = text,
                 .close = tx_.is_connect || tx_.req.body != BodyKind::none,
                 .retry_after = static_cast<int>(v.retry_after.count())});
  }

  // --enable-dlp found a credential shape in what the client named. The
  // secret goes nowhere: not upstream, and not into the logs, which get the
  // URL and Host redacted and the pattern's name.
  void refuse_for_credential(const std::string& pattern) {
    tx_.rec.url = ctx_.dlp->redact(tx_.rec.url);
    tx_.rec.host = ctx_.dlp->redact(tx_.rec.host);
    tx_.rec.dlp_pattern = pattern;
    tx_.rec.reason = "credential_in_url";
    tx_.host = ctx_.dlp->redact(tx_.host);
    spdlog::info("client {}:{}: {} {} refused: it carries a credential ({})", client_ip_, client_port_,
                 tx_.req.method, tx_.rec.url, pattern);
    return fail({.kind = FailureKind::refuse,
                 .status = 403,
                 .code = ResultCode::tcp_denied,
                 .squid_error = "ERR_ACCESS_DENIED",
                 .text = "request refused: its URL carries what looks like a credential (" + pattern +
                         "); nothing was sent upstream",
                 .close = true});
  }

  // The upstream connection in up_ served earlier requests and is in step.
  void use_idle_upstream() {
    tx_.up_reused = true;
    tx_.connected = true;
    tx_.rec.hierarchy = tx_.via_parent ? Hierarchy::default_parent : Hierarchy::direct;
    tx_.rec.dest = up_dest_;
    on_upstream_ready();
  }

  // ---------------------------------------------------------------- failures

  // The one way a transaction fails; see FailureKind.
  void fail(Failure f) {
    switch (f.kind) {
      case FailureKind::upstream_write:
        if (tx_.up_reused && !tx_.response_started && retry_allowed()) return retry_fresh();
        f.status = 502;
        f.squid_error = "ERR_WRITE_ERROR";
        f.text = "write to " + up_dest_ + " failed: " + f.error.message();
        [[fallthrough]];
      case FailureKind::upstream:
        spdlog::info("{} {}:{}: {}", tx_.req.method, tx_.host, tx_.target.port, f.text);
        if (tx_.response_started) {
          f.why = f.text.c_str();
          break;  // the client has part of a response: all that is left is to close
        }
        // Squid 5/6 log a failed CONNECT as NONE_NONE, a failed GET as TCP_MISS.
        f.code = tx_.is_connect ? ResultCode::none_none : ResultCode::tcp_miss;
        f.close = true;
        return reply_page(f);
      case FailureKind::refuse: return reply_page(f);
      case FailureKind::abort: break;
    }
    if (tx_.phase == Phase::closed) return;
    if (tx_.phase == Phase::exchange && tx_.response_started && !tx_.resp_done) cut_response_short(f.timed_out);
    if (!tx_.logged && requests_ > 0 && tx_.phase != Phase::tunnel) log_now();
    close_connection(f.why);
  }

  // Part of the response went out and the rest never will (the origin reset
  // or went silent, the client left). Logged as Squid does, TCP_MISS_ABORTED
  // with the status and bytes the client got. A body framed by Content-Length
  // or chunked shows the client it is incomplete when the connection closes;
  // a body that ends with the connection cannot, so the client gets a reset
  // instead of a FIN that would pass a truncated body for a complete one.
  void cut_response_short(bool timed_out) {
    tx_.rec.aborted = true;
    tx_.rec.timed_out = timed_out;
    if (tx_.resp_kind == BodyKind::until_close) {
      error_code ec;
      client_.set_option(asio::socket_base::linger(true, 0), ec);
    }
  }

  // Answers with a page the proxy makes itself (a refusal, a denial, an
  // origin that failed), then reads the next request unless the connection
  // must close. Only fail() comes here.
  void reply_page(const Failure& f) {
    tx_.rec.status = f.status;
    tx_.rec.code = f.code;
    const RequestHead& req = tx_.req;
    tx_.close_client = f.close || draining_ || req.version_minor == 0 || req.connection_lists("close") ||
                       req.body != BodyKind::none;
    render_error_page(out_client_, ErrorPage{.status = f.status,
                                             .text = f.text,
                                             .squid_error = f.squid_error,
                                             .retry_after = f.retry_after,
                                             .proxy_error = tx_.rec.reason,
                                             .close_connection = tx_.close_client,
                                             .head_only = req.method == "HEAD"});
    tx_.rec.bytes_to_client = out_client_.size();
    tx_.rec.content_type = "text/plain";
    if (tx_.phase == Phase::head) park_upstream();  // a refusal leaves the idle upstream reusable
    drop_upstream();
    tx_.phase = Phase::reply;  // late upstream handlers see this and stand down
    set_deadline(ctx_.config.read_timeout, "write timeout");
    asio::async_write(client_, asio::buffer(out_client_), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->tx_.phase == Phase::closed) return;
      self->log_now();
      if (ec || self->tx_.close_client) return self->close_connection();
      self->read_head();
    });
  }

  // ----------------------------------------------- resolution and connect

  void dial() {
    if (tx_.via_parent) {
      // The parent is the operator's, named in the configuration: its
      // address is not the client's choice, so the SSRF guard stays out.
      const UpstreamProxy& parent = *ctx_.config.upstream_proxy;
      return dial_.start(shared_from_this(), &HttpSession::on_dialled, worker_, client_.get_executor(), parent.host,
                         parent.port, /*trusted=*/true);
    }
    dial_.start(shared_from_this(), &HttpSession::on_dialled, worker_, client_.get_executor(), tx_.host,
                tx_.target.port);
  }

  // "upstream proxy http://parent:3128" or "host:port", for messages.
  std::string dialled_name() const {
    if (tx_.via_parent) return "upstream proxy " + ctx_.config.upstream_proxy->url();
    return tx_.host + ":" + std::to_string(tx_.target.port);
  }

  void on_dialled(DialOutcome o) {
    if (tx_.phase != Phase::upstream) return;  // timed out or closed meanwhile
    const std::uint16_t port = tx_.target.port;
    switch (o.failure) {
      case DialFailure::unresolved:
        // Squid: ERR_DNS_FAIL, 503.
        return fail({.kind = FailureKind::upstream,
                     .status = 503,
                     .squid_error = "ERR_DNS_FAIL",
                     .text = "cannot resolve " + (tx_.via_parent ? dialled_name() : tx_.host) + ": " + o.detail});
      case DialFailure::refused_only:
        spdlog::info("refused {} {}:{}: resolves only to refused addresses ({})", tx_.req.method, tx_.host, port,
                     o.detail);
        tx_.rec.reason = "private_address";
        return fail({.kind = FailureKind::refuse,
                     .status = 403,
                     .code = ResultCode::tcp_denied,
                     .squid_error = "ERR_ACCESS_DENIED",
                     .text = refused_addresses_text(tx_.host, port, o.detail)});
      case DialFailure::connect_failed:
      case DialFailure::none: break;
    }
    // Squid logs the address it connected to, or the last it tried, with HIER_DIRECT.
    tx_.rec.dest = std::move(o.dest);
    tx_.rec.hierarchy = tx_.via_parent ? Hierarchy::default_parent : Hierarchy::direct;
    if (o.failure == DialFailure::connect_failed) {
      // Squid: ERR_CONNECT_FAIL, 503.
      return fail({.kind = FailureKind::upstream,
                   .status = 503,
                   .squid_error = "ERR_CONNECT_FAIL",
                   .text = "cannot connect to " + dialled_name() + ": " + o.detail});
    }
    up_ = std::move(o.socket);
    tx_.connected = true;
    tx_.up_reused = false;
    up_dest_ = tx_.rec.dest;
    on_upstream_ready();
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
    dial_.cancel();
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
    if (tx_.is_connect && tx_.via_parent) return connect_parent();
    if (tx_.is_connect) return start_tunnel();
    send_request();
  }

  // A tunnel through the parent: its own CONNECT first; the client's 200
  // only once the parent has said yes.
  void connect_parent() {
    connect_through_parent(*up_, tx_.host, tx_.target.port, shared_from_this(),
                           [self = shared_from_this()](ParentConnectResult r) {
                             if (self->tx_.phase != Phase::upstream) return;  // timed out or closed meanwhile
                             if (!r.ok) {
                               return self->fail({.kind = FailureKind::upstream,
                                                  .status = 502,
                                                  .squid_error = "ERR_CONNECT_FAIL",
                                                  .text = r.error});
                             }
                             self->parent_leftover_ = std::move(r.leftover);
                             self->start_tunnel();
                           });
  }

  // ------------------------------------------------------------- CONNECT

  void start_tunnel() {
    tx_.rec.code = ResultCode::tcp_tunnel;
    tx_.rec.status = 200;
    out_client_ = "HTTP/1.1 200 Connection established\r\n\r\n";
    asio::async_write(client_, asio::buffer(out_client_), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->tx_.phase == Phase::closed) return;
      if (ec) return self->fail({.kind = FailureKind::abort, .why = "client write failed"});
      // A tunnel that may be bumped needs its ClientHello too: the name the
      // certificate is minted for. One to an excluded name stays a plain tunnel.
      if ((self->ctx_.config.tunnel_sni_check && self->tx_.target.port == 443) ||
          is_bumped(self->ctx_, self->tx_.host)) {
        return self->await_tunnel_hello();
      }
      self->hand_to_relay(std::move(self->in_), std::move(self->parent_leftover_));
    });
  }

  // --------------------------------------------- the tunnel's ClientHello

  // A tunnel to the TLS port is relayed only once the client's ClientHello
  // names a host the policy allows: otherwise CONNECT allowed.test:443
  // followed by a hello for another name (domain fronting) would reach a
  // server of that name at an allowed address. Nothing goes to the origin
  // until then; the connection to it is already open (its failure was the
  // CONNECT's 503), and is dropped unused on a refusal.
  void await_tunnel_hello() {
    tx_.phase = Phase::hello;
    // One deadline for the whole hello: reads do not extend it.
    set_deadline(ctx_.config.client_hello_timeout, "ClientHello timeout");
    // The CONNECT head was read into a large buffer; a client that has sent
    // nothing past it must not keep that while it waits (idle tunnels are
    // the case to hold by the ten thousand).
    if (in_.empty()) std::string().swap(in_);
    on_tunnel_hello_bytes(error_code{});
  }

  void on_tunnel_hello_bytes(const error_code& ec) {
    const intercept::HelloParse parse = intercept::parse_client_hello(
        std::span(reinterpret_cast<const std::uint8_t*>(in_.data()), in_.size()));
    if (parse.done()) return on_tunnel_hello(parse.hello);
    if (parse.failed()) {
      // A client that reaches an allowed address by its IP literal sends no
      // name (RFC 6066 §3): there is none to check but the one CONNECT named.
      if (parse.error == intercept::HelloError::no_sni && policy::parse_ip_literal(tx_.host)) {
        if (is_bumped(ctx_, tx_.host)) return hand_to_bump(tx_.host);
        return hand_to_relay(std::move(in_), std::string());
      }
      return refuse_tunnel(std::string("unacceptable ClientHello: ") + intercept::to_string(parse.error),
                           intercept::alert_for(parse.error), 0x0303);
    }
    if (ec) {
      const std::string why = ec == asio::error::eof ? "client closed" : ec.message();
      if (in_.empty()) {
        // Gone before sending a byte: an allowed tunnel that carried nothing.
        spdlog::debug("tunnel {}: {} before its ClientHello", tx_.rec.url, why);
        return fail({.kind = FailureKind::abort, .why = "client closed"});
      }
      return refuse_tunnel("incomplete ClientHello (" + why + " after " + std::to_string(in_.size()) + " bytes)",
                           std::nullopt, 0x0303);
    }
    if (in_.size() >= intercept::kMaxClientHelloInput) {
      return refuse_tunnel("ClientHello larger than the limit", intercept::TlsAlert::decode_error, 0x0303);
    }
    await_tunnel_hello_bytes();
  }

  // Waits for the client to be readable before reading, as the Relay does:
  // a tunnel whose client has not spoken yet holds no read buffer.
  void await_tunnel_hello_bytes() {
    client_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](const error_code& ec) {
      if (self->tx_.phase != Phase::hello) return;
      if (ec) return self->on_tunnel_hello_bytes(ec);
      self->read_tunnel_hello_bytes();
    });
  }

  void read_tunnel_hello_bytes() {
    error_code ec;
    if (!client_.native_non_blocking()) client_.native_non_blocking(true, ec);
    const std::size_t have = in_.size();
    in_.resize(have + std::min(kHeadChunk, intercept::kMaxClientHelloInput - have));
    const std::size_t n = ec ? 0 : client_.read_some(asio::buffer(in_.data() + have, in_.size() - have), ec);
    in_.resize(have + n);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return await_tunnel_hello_bytes();
    on_tunnel_hello_bytes(ec);
  }

  void on_tunnel_hello(const intercept::ClientHello& hello) {
    const std::string sni = policy::normalise_host(hello.sni);
    // Logged where it says more than the CONNECT line does: a line for the
    // usual hello stays the same as Squid's.
    if (sni != tx_.host) tx_.rec.tunnel_sni = sni;
    // ECH: the outer name is all there is to decide on, as in tls-intercept.
    tx_.rec.ech = hello.has_ech;
    if (ctx_.dlp) {
      if (auto pattern = ctx_.dlp->scan(hello.sni)) {
        const std::string redacted = ctx_.dlp->redact(sni);
        tx_.rec.tunnel_sni = redacted;
        tx_.rec.url = redacted + ":" + std::to_string(tx_.target.port);
        tx_.rec.dlp_pattern = *pattern;
        tx_.rec.reason = "credential_in_url";
        return refuse_tunnel("its ClientHello's server name carries a credential (" + *pattern + ")",
                             intercept::TlsAlert::access_denied, intercept::alert_record_version(hello));
      }
    }
    const policy::Decision d = policy_->decide(policy::Request{hello.sni, tx_.target.port, true});
    if (!d.allowed && !(ctx_.bump && ctx_.bump->lifts_block(d, sni)) &&
        !let_through_in_report_mode(policy::to_string(d.reason))) {
      tx_.rec.url = sni + ":" + std::to_string(tx_.target.port);
      tx_.rec.reason = policy::to_string(d.reason);
      const policy::Rule* rule = policy_->rule(d);
      return refuse_tunnel("its ClientHello names " + sni + ": policy: " + policy::to_string(d.reason) +
                               (rule ? " (rule " + rule->text + ")" : ""),
                           intercept::TlsAlert::access_denied, intercept::alert_record_version(hello));
    }
    if (sni != tx_.host) spdlog::debug("tunnel {}: ClientHello names {}, also allowed", tx_.rec.url, sni);
    if (is_bumped(ctx_, sni)) return hand_to_bump(sni);
    hand_to_relay(std::move(in_), std::move(parent_leftover_));
  }

  // SSL bump: the tunnel's record (CONNECT 200) is written now, and the
  // client, its ClientHello and the upstream connection go to a bump
  // session, which logs each request inside. The upstream connection goes
  // along only when it leads to `name`; else the session dials `name`.
  void hand_to_bump(const std::string& name) {
    timer_.cancel();
    log_now();
    const bool same = name == tx_.host;
    BumpStart start{.client = std::move(client_),
                    .client_bytes = std::move(in_),
                    .upstream = std::nullopt,
                    .upstream_bytes = same ? std::move(parent_leftover_) : std::string(),
                    .upstream_dest = same ? up_dest_ : std::string(),
                    .via_parent = via_parent(ctx_.config, name),
                    .name = name,
                    .port = tx_.target.port,
                    .client_ip = client_ip_,
                    .client_port = client_port_,
                    .original_dest = tx_.rec.original_dest,
                    .lifetime_end = lifetime_end_};
    if (same && up_) start.upstream = std::move(*up_);
    in_.clear();
    drop_upstream();
    tx_.phase = Phase::closed;
    start_bump_session(std::move(start), worker_);
  }

  // Logs the tunnel as denied, sends a TLS alert where the client spoke TLS
  // (it has its 200 already: no page can follow) and closes both sides.
  void refuse_tunnel(const std::string& why, std::optional<intercept::TlsAlert> alert, std::uint16_t record_version) {
    spdlog::info("client {}:{}: tunnel {} refused: {}", client_ip_, client_port_, tx_.host + ":" +
                 std::to_string(tx_.target.port), why);
    tx_.rec.status = 403;
    tx_.rec.code = ResultCode::tcp_denied;
    tx_.rec.hierarchy = Hierarchy::none;
    tx_.rec.dest = "-:-";
    // No page can carry the reason inside a tunnel: the log does. Bytes
    // that are not a usable ClientHello are this reason.
    if (tx_.rec.reason.empty()) tx_.rec.reason = "unacceptable_client_hello";
    drop_upstream();
    tx_.close_client = true;
    if (!alert) {
      log_now();
      return close_connection();
    }
    tx_.phase = Phase::reply;
    const auto record = intercept::tls_alert_record(*alert, record_version);
    out_client_.assign(record.begin(), record.end());
    tx_.rec.bytes_to_client += out_client_.size();
    set_deadline(ctx_.config.read_timeout, "write timeout");
    asio::async_write(client_, asio::buffer(out_client_), [self = shared_from_this()](const error_code&, std::size_t) {
      if (self->tx_.phase == Phase::closed) return;
      self->log_now();
      self->close_connection();
    });
  }

  void hand_to_relay(std::string to_upstream, std::string to_client) {
    if (!ctx_.config.raw_tunnels_allowed() && !let_through_in_report_mode("tunnel_not_inspectable")) {
      // --allowed-methods: a tunnel whose name turned out not to be bumped
      // (its ClientHello named an excluded one, or none) cannot be read.
      tx_.rec.reason = "tunnel_not_inspectable";
      return refuse_tunnel("--allowed-methods: the requests inside this tunnel cannot be seen", std::nullopt, 0x0303);
    }
    tx_.phase = Phase::tunnel;
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
                            self->tx_.rec.bytes_to_client += t.upstream_to_client;
                            self->tx_.bytes_from_client += t.client_to_upstream;
                            spdlog::debug("tunnel {} ended: {} ({} B up, {} B down)", self->tx_.rec.url, t.end,
                                          t.client_to_upstream, t.upstream_to_client);
                            self->log_now();
                            self->tx_.phase = Phase::closed;
                            self->relay_.reset();
                          });
  }

  // ------------------------------------------------------ forward exchange

  void send_request() {
    tx_.phase = Phase::exchange;
    set_deadline(ctx_.config.read_timeout, "read timeout");
    tx_.rec.code = ResultCode::tcp_miss;
    out_up_ = build_upstream_request(tx_.req, tx_.target, tx_.websocket, tx_.via_parent);
    tx_.req_remaining = tx_.req.content_length;
    tx_.req_chunks = ChunkedScanner{};
    tx_.req_done = tx_.req.body == BodyKind::none;
    up_in_.clear();
    up_in_step_ = false;  // until this exchange ends in step (part_done)
    tx_.resp_cursor = HeadCursor{};
    asio::async_write(*up_, asio::buffer(out_up_), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->tx_.phase != Phase::exchange) return;
      if (ec) return self->fail({.kind = FailureKind::upstream_write, .error = ec});
      if (!self->tx_.req_done) self->pump_request_body();
    });
    read_response();
  }

  // A reused connection the origin closed meanwhile: one retry on a fresh
  // connection, for requests without a body only (nothing was consumed).
  bool retry_allowed() const { return tx_.req.body == BodyKind::none && !tx_.retried; }
  void retry_fresh() {
    tx_.retried = true;
    std::string key = up_key_;
    drop_upstream();
    up_key_ = key;
    tx_.phase = Phase::upstream;
    tx_.connected = false;
    set_deadline(ctx_.config.connect_timeout, "connect timeout");
    dial();
  }

  // Returns how many leading bytes of `data` belong to the request body.
  std::size_t take_request_body(const char* data, std::size_t n, bool& complete, bool& broken) {
    broken = false;
    if (tx_.req.body == BodyKind::chunked) {
      std::size_t k = tx_.req_chunks.feed(data, n);
      broken = tx_.req_chunks.failed();
      complete = tx_.req_chunks.done();
      return k;
    }
    std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(tx_.req_remaining, n));
    tx_.req_remaining -= k;
    complete = tx_.req_remaining == 0;
    return k;
  }

  void pump_request_body() {
    if (!in_.empty()) {
      bool complete = false, broken = false;
      std::size_t k = take_request_body(in_.data(), in_.size(), complete, broken);
      if (broken) {
        spdlog::info("client {}:{}: malformed chunked request body", client_ip_, client_port_);
        return fail({.kind = FailureKind::abort, .why = "malformed chunked body"});
      }
      out_up_.assign(in_, 0, k);
      in_.erase(0, k);
      last_activity_ = Clock::now();
      asio::async_write(*up_, asio::buffer(out_up_),
                        [self = shared_from_this(), complete](const error_code& ec, std::size_t) {
                          if (self->tx_.phase != Phase::exchange) return;
                          if (ec) return self->fail({.kind = FailureKind::upstream_write, .error = ec});
                          if (complete) {
                            self->tx_.req_done = true;
                            return self->part_done();
                          }
                          self->pump_request_body();
                        });
      return;
    }
    read_client([self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->tx_.phase != Phase::exchange) return;
      if (ec) return self->fail({.kind = FailureKind::abort, .why = "client closed during the request body"});
      self->pump_request_body();
    });
  }

  void read_response() {
    ParseResult r = parse_response_head(up_in_, ctx_.config.max_header_bytes, tx_.resp, tx_.resp_cursor);
    if (r.status == ParseStatus::done) return on_response_head();
    if (r.status == ParseStatus::error) {
      return fail({.kind = FailureKind::upstream,
                   .status = 502,
                   .squid_error = "ERR_INVALID_RESP",
                   .text = std::string("invalid response from ") + up_dest_ + ": " + to_string(r.error)});
    }
    read_upstream([self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->tx_.phase != Phase::exchange) return;
      if (ec) {
        if (self->up_in_.empty() && self->tx_.up_reused && self->retry_allowed()) return self->retry_fresh();
        if (ec == asio::error::eof && self->up_in_.empty()) {
          return self->fail({.kind = FailureKind::upstream,
                             .status = 502,
                             .squid_error = "ERR_ZERO_SIZE_OBJECT",
                             .text = "the origin " + self->up_dest_ + " closed the connection without a response"});
        }
        return self->fail({.kind = FailureKind::upstream,
                           .status = 502,
                           .squid_error = "ERR_READ_ERROR",
                           .text = "reading the response from " + self->up_dest_ + " failed: " + ec.message()});
      }
      self->last_activity_ = Clock::now();
      self->read_response();
    }, 16 * 1024);
  }

  void on_response_head() {
    ResponseHead& resp = tx_.resp;
    const RequestHead& req = tx_.req;
    up_in_.erase(0, resp.head_size);
    if (resp.status >= 100 && resp.status < 200 && resp.status != 101) {
      // 100 Continue and friends: pass on, then wait for the final response.
      out_client_ = build_client_response(resp, false, false);
      asio::async_write(client_, asio::buffer(out_client_), [self = shared_from_this()](const error_code& ec, std::size_t) {
        if (self->tx_.phase != Phase::exchange) return;
        if (ec) return self->fail({.kind = FailureKind::abort, .why = "client write failed"});
        self->tx_.resp = ResponseHead{};
        self->tx_.resp_cursor = HeadCursor{};  // its head was erased from up_in_
        self->read_response();
      });
      return;
    }
    record_response(tx_.rec, resp);
    if (resp.status == 101) {
      if (!tx_.websocket) {
        return fail({.kind = FailureKind::upstream,
                     .status = 502,
                     .squid_error = "ERR_INVALID_RESP",
                     .text = "unrequested protocol switch from " + up_dest_});
      }
      out_client_ = build_client_response(resp, false, true);
      tx_.response_started = true;
      asio::async_write(client_, asio::buffer(out_client_), [self = shared_from_this()](const error_code& ec, std::size_t n) {
        if (self->tx_.phase != Phase::exchange) return;
        if (ec) return self->fail({.kind = FailureKind::abort, .why = "client write failed"});
        self->tx_.rec.bytes_to_client += n;
        self->hand_to_relay(std::move(self->in_), std::move(self->up_in_));
      });
      return;
    }
    tx_.resp_kind = resp.body_kind(req.method);
    tx_.resp_remaining = resp.content_length.value_or(0);
    tx_.resp_chunks = ChunkedScanner{};
    tx_.close_client = tx_.resp_kind == BodyKind::until_close || req.version_minor == 0 ||
                       req.connection_lists("close") || req.has_token("proxy-connection", "close") || draining_;
    // Reusable only with known framing: a body read until close leaves
    // nothing to reuse, and then the response must end exactly where its
    // framing says (pump_response_body).
    tx_.upstream_reusable = tx_.resp_kind != BodyKind::until_close && resp.version_minor == 1 &&
                            !resp.connection_lists("close");
    out_client_ = build_client_response(resp, tx_.close_client, false);
    tx_.response_started = true;
    // The head goes out together with the body bytes that came with it: one
    // send instead of two (on loopback each send is most of a request's cost).
    tx_.head_pending = out_client_.size();
    pump_response_body();
  }

  // Writes the response head held in out_client_ on its own: there are no
  // body bytes to go with it yet, and the client should see it now.
  template <typename Next>
  void flush_head(Next next) {
    tx_.rec.bytes_to_client += tx_.head_pending;
    tx_.head_pending = 0;
    asio::async_write(client_, asio::buffer(out_client_),
                      [self = shared_from_this(), next](const error_code& ec, std::size_t) {
                        if (self->tx_.phase != Phase::exchange) return;
                        if (ec) return self->fail({.kind = FailureKind::abort, .why = "client write failed"});
                        (self.get()->*next)();
                      });
  }

  void pump_response_body() {
    if (tx_.resp_kind == BodyKind::none) {
      // Bytes after a bodiless response (a 204 or 304 with a body, a second
      // response) are not an answer to anything we sent.
      if (!up_in_.empty()) tx_.upstream_reusable = false;
      if (tx_.head_pending) return flush_head(&HttpSession::response_complete);
      return response_complete();
    }
    if (!up_in_.empty()) {
      std::size_t k = up_in_.size();
      bool complete = false;
      if (tx_.resp_kind == BodyKind::chunked) {
        k = tx_.resp_chunks.feed(up_in_.data(), up_in_.size());
        if (tx_.resp_chunks.failed()) return fail({.kind = FailureKind::abort, .why = "malformed chunked response"});
        complete = tx_.resp_chunks.done();
      } else if (tx_.resp_kind == BodyKind::length) {
        k = static_cast<std::size_t>(std::min<std::uint64_t>(tx_.resp_remaining, k));
        tx_.resp_remaining -= k;
        complete = tx_.resp_remaining == 0;
      }
      if (complete && k < up_in_.size()) tx_.upstream_reusable = false;  // bytes after the response: do not trust it
      const std::size_t head = tx_.head_pending;
      tx_.head_pending = 0;
      if (head) out_client_.append(up_in_, 0, k);
      else out_client_.assign(up_in_, 0, k);
      up_in_.erase(0, k);
      if (complete) up_in_.clear();
      last_activity_ = Clock::now();
      asio::async_write(client_, asio::buffer(out_client_),
                        [self = shared_from_this(), complete](const error_code& ec, std::size_t n) {
                          if (self->tx_.phase != Phase::exchange) return;
                          if (ec) return self->fail({.kind = FailureKind::abort, .why = "client write failed"});
                          self->tx_.rec.bytes_to_client += n;  // the head included
                          if (complete) return self->response_complete();
                          self->pump_response_body();
                        });
      return;
    }
    if (tx_.head_pending) return flush_head(&HttpSession::pump_response_body);
    // A body that trickles in (the events of a stream, a slow origin) is read
    // into a small buffer, so a session waiting for its next event holds 8 KiB
    // instead of the 64 KiB a bulk transfer reads at once; a small read that
    // comes back full returns to the large one.
    std::size_t chunk = kReadChunk;
    if (up_trickles_) {
      chunk = kHeadChunk;
      if (up_in_.empty() && up_in_.capacity() > 2 * kHeadChunk) std::string().swap(up_in_);
    }
    read_upstream([self = shared_from_this(), chunk](const error_code& ec, std::size_t n) {
      if (self->tx_.phase != Phase::exchange) return;
      self->up_trickles_ = chunk == kReadChunk ? n < kHeadChunk / 2 : n < chunk;
      if (ec == asio::error::eof && self->tx_.resp_kind == BodyKind::until_close) {
        self->tx_.upstream_reusable = false;
        return self->response_complete();
      }
      if (ec) return self->fail({.kind = FailureKind::abort, .why = "response truncated by the origin"});
      self->pump_response_body();
    }, chunk);
  }

  void response_complete() {
    tx_.resp_done = true;
    if (!tx_.req_done) {
      // The origin answered before the upload ended: neither side can be
      // reused, the rest of the body has no reader.
      tx_.close_client = true;
      tx_.upstream_reusable = false;
    }
    part_done();
  }

  void part_done() {
    if (!tx_.resp_done) return;
    log_now();
    // The one place an exchange ends in step: the request was sent whole
    // with the framing the proxy parsed, the response read whole with known
    // framing and nothing after it. Only then may the connection be reused.
    if (!tx_.upstream_reusable || !tx_.req_done || !up_in_.empty()) drop_upstream();
    else up_in_step_ = true;
    if (tx_.close_client || draining_ || !tx_.req_done) {
      park_upstream();
      return close_connection();
    }
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
    if (tx_.phase == Phase::closed || tx_.phase == Phase::tunnel) return;
    auto now = Clock::now();
    auto due = std::min(last_activity_ + idle_limit_, lifetime_end_);
    if (now < due) {
      timer_armed_ = true;
      timer_.expires_at(due);
      timer_.async_wait([self = shared_from_this()](const error_code& e) { self->on_deadline(e); });
      return;
    }
    const char* what = now >= lifetime_end_ ? "client lifetime" : deadline_what_;
    switch (tx_.phase) {
      case Phase::head:
        if (requests_ == 0 || client_buffered() > 0) {
          spdlog::info("client {}:{}: {} before a complete request", client_ip_, client_port_, what);
          record_end_before_request(tx_.rec);
          log_now();
        }
        return close_connection();
      case Phase::upstream:
        // Squid: connect timeout is ERR_CONNECT_FAIL with 504.
        return fail({.kind = FailureKind::upstream,
                     .status = 504,
                     .squid_error = "ERR_CONNECT_FAIL",
                     .text = std::string(what) + " reaching " + tx_.host + ":" + std::to_string(tx_.target.port)});
      case Phase::exchange:
        if (!tx_.response_started && tx_.connected) {
          return fail({.kind = FailureKind::upstream,
                       .status = 504,
                       .squid_error = "ERR_READ_TIMEOUT",
                       .text = std::string(what) + " waiting for " + up_dest_});
        }
        spdlog::info("{} {}: {}", tx_.req.method, tx_.rec.url, what);
        return fail({.kind = FailureKind::abort, .why = what, .timed_out = true});
      case Phase::reply:
        return fail({.kind = FailureKind::abort, .why = what});
      case Phase::hello:
        if (client_buffered() == 0) return refuse_tunnel(std::string(what) + " before any byte", std::nullopt, 0x0303);
        return refuse_tunnel("incomplete ClientHello (" + std::string(what) + " after " +
                                 std::to_string(client_buffered()) + " bytes)",
                             std::nullopt, 0x0303);
      default:
        return;
    }
  }

  void log_now() {
    if (tx_.logged) return;
    tx_.logged = true;
    record_end(tx_.rec, tx_.started);
    if (ctx_.budgets && !tx_.budget_key.empty() && tx_.rec.code != ResultCode::tcp_denied) {
      // Both directions: a request body of known length, and tunnels' bytes.
      const std::uint64_t sent = tx_.is_connect ? tx_.bytes_from_client : tx_.req.content_length;
      ctx_.budgets->spend_bytes(tx_.budget_key, tx_.rec.bytes_to_client + sent);
    }
    ctx_.log->write(tx_.rec);
  }

  // Ends the connection: both sockets closed, the timer and any dial
  // stopped. Normal endings come here directly, failures through fail().
  // `relay_reason` is what a running relay is told.
  void close_connection(const char* relay_reason = nullptr) {
    if (tx_.phase == Phase::closed) return;
    if (tx_.phase == Phase::head) park_upstream();  // idle between requests: reusable by others
    tx_.phase = Phase::closed;
    error_code ec;
    timer_.cancel();
    if (relay_) relay_->close(relay_reason ? relay_reason : "closed");
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
  Clock::time_point started_, lifetime_end_, last_activity_;
  std::chrono::milliseconds idle_limit_{0};
  const char* deadline_what_ = "";
  bool timer_armed_ = false;
  bool draining_ = false;
  unsigned requests_ = 0;

  Transaction tx_;  // the request being served; reset by begin_transaction()

  std::string in_;  // client bytes not consumed yet
  std::size_t in_base_ = std::string::npos, up_in_base_ = std::string::npos;

  // The upstream connection held for this client, kept across requests
  // while they go to the same host:port.
  std::optional<tcp::socket> up_;
  std::string up_key_, up_dest_;
  // The held upstream connection's last exchange ended in step (part_done):
  // the only state in which it may carry another request or be pooled.
  bool up_in_step_ = false;
  std::string up_in_;  // upstream bytes not consumed yet
  bool up_trickles_ = false;  // the last response body read was small (see pump_response_body)
  std::string parent_leftover_;  // a tunnel through the parent: what it sent past its 200, for the client
  UpstreamDial dial_;  // while resolving and connecting

  std::string out_client_, out_up_;  // write buffers, reused from request to request
  std::shared_ptr<Relay> relay_;
};

}  // namespace

void start_http_session(tcp::socket client, const tcp::endpoint& peer, Worker& worker, SessionMode mode) {
  worker.context.connections.fetch_add(1, std::memory_order_relaxed);
  std::make_shared<HttpSession>(std::move(client), peer, worker, mode)->start();
}

}  // namespace awf::proxy
