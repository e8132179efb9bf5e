// SSL bump sessions: see bump_session.h. One session per client
// connection, on the worker that accepted it. Requests on a connection are
// handled one after another (a pipelined one waits in the buffer); the
// upstream connection is kept while responses leave it in step and dialled
// again when it is gone.
#include "awf/proxy/bump_session.h"

#include "awf/proxy/budgets.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <memory>

#include "awf/policy/dlp.h"
#include "awf/policy/host.h"
#include "awf/proxy/bump_authority.h"
#include "awf/proxy/error_page.h"
#include "awf/proxy/http_head.h"
#include "awf/proxy/parent_proxy.h"
#include "awf/proxy/tls_client_stream.h"
#include "awf/proxy/transaction_log.h"
#include "awf/proxy/upstream.h"

namespace awf::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

bool is_bumped(const ProxyContext& context, std::string_view host) {
  return context.bump != nullptr && !context.bump->is_excluded(host);
}

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;  // one TLS record

// Where a session stands; late handlers compare and stand down.
enum class Phase : std::uint8_t { handshake, head, upstream, exchange, reply, closed };

// The https URL of a bumped request as Squid writes %ru: the port only when
// it is not 443.
std::string bumped_url(const std::string& name, std::uint16_t port, std::string_view path) {
  std::string url = "https://" + name;
  if (port != 443) url += ":" + std::to_string(port);
  url += path;
  return url;
}

// The URL logged: the query cut after '?', as plain HTTP logs it
// (transaction_log.cc, Squid's strip_query_terms).
std::string logged_url(std::string_view url) {
  const std::size_t query = url.find('?');
  if (query == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, query + 1));
}

class BumpSession final : public Connection, public std::enable_shared_from_this<BumpSession> {
 public:
  BumpSession(BumpStart s, Worker& worker)
      : worker_(worker),
        ctx_(worker.context),
        start_(std::move(s)),
        timer_(start_.client.get_executor()) {}

  ~BumpSession() override {
    worker_.remove(this);
    ctx_.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() {
    worker_.add(this);
    started_ = Clock::now();
    auto server = ctx_.bump->server_context(start_.name);
    if (!server) {
      spdlog::warn("bumped {}:{}: {}", start_.name, start_.port, server.message());
      return close();
    }
    server_context_ = *server;
    try {
      client_ = std::make_unique<TlsClientStream>(std::move(start_.client), server_context_.get(),
                                                  TlsClientStream::Role::server, std::move(start_.client_bytes));
    } catch (const boost::system::system_error& e) {
      spdlog::warn("bumped {}:{}: {}", start_.name, start_.port, e.what());
      return close();
    }
    if (start_.upstream) raw_up_ = std::move(start_.upstream);
    up_leftover_ = std::move(start_.upstream_bytes);
    up_dest_ = start_.upstream_dest;
    phase_ = Phase::handshake;
    arm(ctx_.config.client_hello_timeout, "TLS handshake timeout");
    client_->async_handshake([self = shared_from_this()](const error_code& ec) {
      if (self->phase_ != Phase::handshake) return;
      if (ec) {
        // Most often a client that does not trust the CA: it says so with an alert.
        spdlog::info("bumped {}:{} (client {}:{}): TLS handshake with the client failed: {}", self->start_.name,
                     self->start_.port, self->start_.client_ip, self->start_.client_port, ec.message());
        return self->close();
      }
      self->read_head();
    });
  }

  void stop(bool force) override {
    asio::post(timer_.get_executor(), [self = shared_from_this(), force] { self->on_stop(force); });
  }

 private:
  void on_stop(bool force) {
    draining_ = true;
    if (phase_ == Phase::closed) return;
    if ((phase_ == Phase::head && in_.empty()) || phase_ == Phase::handshake || force) {
      if (phase_ != Phase::head && phase_ != Phase::handshake) log_now();
      close();
    }
  }

  // ------------------------------------------------------------- requests

  void read_head() {
    phase_ = Phase::head;
    rec_ = LogRecord{};
    rec_.client_ip = start_.client_ip;
    rec_.client_port = start_.client_port;
    rec_.original_dest = start_.original_dest;
    rec_.listener = start_.listener;
    logged_ = false;
    deny_reason_ = nullptr;
    retry_after_ = 0;
    req_ = RequestHead{};
    cursor_ = HeadCursor{};
    response_started_ = resp_done_ = false;  // per request: an origin failing later on this connection gets its 502
    tx_started_ = Clock::now();
    if (draining_ && in_.empty()) return close();
    arm(ctx_.config.request_timeout, "request timeout");
    parse_head();
  }

  void parse_head() {
    const ParseResult r = parse_request_head(in_, ctx_.config.max_header_bytes, req_, cursor_);
    if (r.status == ParseStatus::done) {
      in_.erase(0, req_.head_size);
      return dispatch();
    }
    if (r.status == ParseStatus::error) {
      rec_.url = r.error == HeadError::too_large ? "error:request-too-large" : "error:invalid-request";
      HeadRefusal refusal = refusal_for(r.error);
      return reply(refusal.status, ResultCode::none_none, refusal.squid_error, refusal.text, true);
    }
    read_client([self = shared_from_this()](const error_code& ec) {
      if (self->phase_ != Phase::head) return;
      if (ec) {
        if (!self->in_.empty()) {
          record_end_before_request(self->rec_);
          self->log_now();
        }
        return self->close();
      }
      self->parse_head();
    });
  }

  void dispatch() {
    record_request(rec_, req_);
    const std::string authority = start_.name + (start_.port != 443 ? ":" + std::to_string(start_.port) : "");
    rec_.host = req_.find("host") ? authority : "-";
    if (req_.target.empty() || req_.target.front() != '/') {
      rec_.url = req_.target;
      return reply(400, ResultCode::none_none, "ERR_INVALID_URL",
                   "inside a bumped TLS connection requests are origin-form (GET /path), not \"" + req_.target + "\"",
                   true);
    }
    url_ = bumped_url(start_.name, start_.port, req_.target);
    rec_.url = logged_url(url_);
    // The connection was decided, and its certificate minted, for this name:
    // a Host naming another would send the request where the log does not say.
    if (const std::string* host = req_.find("host"); host && !host_names_us(*host)) {
      deny_reason_ = "host_mismatch";
      return reply(403, ResultCode::tcp_denied, "ERR_ACCESS_DENIED",
                   "the Host header \"" + *host + "\" does not name " + authority +
                       ", the server this TLS connection was opened for",
                   true);
    }
    if (ctx_.dlp) {
      if (auto pattern = ctx_.dlp->scan(url_)) {
        rec_.url = ctx_.dlp->redact(rec_.url);
        rec_.dlp_pattern = *pattern;
        deny_reason_ = "credential_in_url";
        spdlog::info("client {}:{}: {} {} refused: it carries a credential ({})", rec_.client_ip, rec_.client_port,
                     req_.method, rec_.url, *pattern);
        return reply(403, ResultCode::tcp_denied, "ERR_ACCESS_DENIED",
                     "request refused: its URL carries what looks like a credential (" + *pattern +
                         "); nothing was sent upstream",
                     true);
      }
    }
    if (!ctx_.config.allowed_methods.empty() && !policy::method_listed(ctx_.config.allowed_methods, req_.method)) {
      if (ctx_.config.report_only) {
        rec_.would_deny = "method_not_allowed";
      } else {
        deny_reason_ = "method_not_allowed";
        return reply(403, ResultCode::tcp_denied, "ERR_ACCESS_DENIED",
                     req_.method + " is not among --allowed-methods", req_.body != BodyKind::none);
      }
    }
    if (const policy::UrlAllowlist* urls = ctx_.bump->allow_urls(); urls && !urls->match(url_)) {
      spdlog::debug("denied {} {}: no --allow-urls pattern matches", req_.method, rec_.url);
      deny_reason_ = "url_not_allowed";
      return reply(403, ResultCode::tcp_denied, "ERR_ACCESS_DENIED",
                   "the URL " + rec_.url + " matches none of the --allow-urls patterns", req_.body != BodyKind::none);
    }
    if (ctx_.budgets) {
      // --budget-rps: each request inside counts, against the name's
      // registrable domain.
      budget_key_ = ctx_.budgets->key_of(start_.name);
      const Budgets::Verdict v = ctx_.budgets->admit(budget_key_, false);
      if (v.refused && ctx_.config.report_only) {
        rec_.would_deny = v.refused;
      } else if (v.refused) {
        deny_reason_ = v.refused;
        retry_after_ = static_cast<int>(v.retry_after.count());
        return reply(429, ResultCode::tcp_denied, "ERR_ACCESS_DENIED",
                     std::string(v.refused) + ": " + budget_key_ + ", with every name under it, has spent its budget",
                     req_.body != BodyKind::none);
      }
    }
    if (up_) return send_request();
    if (raw_up_) return start_upstream_tls();
    dial();
  }

  bool host_names_us(const std::string& value) const {
    std::string authority = value;
    const bool has_port = !value.empty() && (value.front() == '[' ? value.find("]:") != std::string::npos
                                                                  : value.find(':') != std::string::npos);
    if (!has_port) authority += ":443";
    std::optional<Target> t = parse_authority(authority);
    if (!t || t->port != start_.port) return false;
    std::string host = t->host;
    if (auto ip = policy::parse_ip_literal(host)) host = ip->canonical;
    else host = policy::normalise_host(host);
    return host == start_.name;
  }

  // ------------------------------------------------------------ upstream

  void dial() {
    phase_ = Phase::upstream;
    arm(ctx_.config.connect_timeout, "connect timeout");
    if (start_.via_parent) {
      const UpstreamProxy& parent = *ctx_.config.upstream_proxy;
      return dial_.start(shared_from_this(), &BumpSession::on_dialled, worker_, timer_.get_executor(), parent.host,
                         parent.port, /*trusted=*/true);
    }
    dial_.start(shared_from_this(), &BumpSession::on_dialled, worker_, timer_.get_executor(), start_.name,
                start_.port);
  }

  std::string dialled_name() const {
    if (start_.via_parent) return "upstream proxy " + ctx_.config.upstream_proxy->url();
    return start_.name + ":" + std::to_string(start_.port);
  }

  void on_dialled(DialOutcome o) {
    if (phase_ != Phase::upstream) return;
    switch (o.failure) {
      case DialFailure::unresolved:
        return reply(503, ResultCode::tcp_miss, "ERR_DNS_FAIL", "cannot resolve " + dialled_name() + ": " + o.detail,
                     true);
      case DialFailure::refused_only:
        deny_reason_ = "private_address";
        return reply(403, ResultCode::tcp_denied, "ERR_ACCESS_DENIED",
                     refused_addresses_text(start_.name, start_.port, o.detail), true);
      case DialFailure::connect_failed:
        rec_.dest = o.dest;
        return reply(503, ResultCode::tcp_miss, "ERR_CONNECT_FAIL",
                     "cannot connect to " + dialled_name() + ": " + o.detail, true);
      case DialFailure::none: break;
    }
    up_dest_ = std::move(o.dest);
    raw_up_ = std::move(o.socket);
    if (!start_.via_parent) return start_upstream_tls();
    connect_through_parent(*raw_up_, start_.name, start_.port, shared_from_this(),
                           [self = shared_from_this()](ParentConnectResult r) {
                             if (self->phase_ != Phase::upstream) return;
                             if (!r.ok) return self->reply(502, ResultCode::tcp_miss, "ERR_CONNECT_FAIL", r.error, true);
                             self->up_leftover_ = std::move(r.leftover);
                             self->start_upstream_tls();
                           });
  }

  // TLS to the origin, verified against the system store (and
  // --ssl-bump-upstream-ca) for the name the client asked for. A failure is
  // the client's 502 naming the reason, never a connection without checks.
  void start_upstream_tls() {
    phase_ = Phase::upstream;
    arm(ctx_.config.connect_timeout, "TLS handshake with the origin timeout");
    rec_.dest = up_dest_;
    rec_.hierarchy = start_.via_parent ? Hierarchy::default_parent : Hierarchy::direct;
    tcp::socket raw = std::move(*raw_up_);
    raw_up_.reset();
    try {
      up_ = std::make_unique<TlsClientStream>(std::move(raw), ctx_.bump->upstream_context(),
                                              TlsClientStream::Role::client, std::move(up_leftover_));
    } catch (const boost::system::system_error& e) {
      return reply(502, ResultCode::tcp_miss, "ERR_SECURE_CONNECT_FAIL", std::string("TLS: ") + e.what(), true);
    }
    up_leftover_.clear();
    SSL* ssl = up_->native_handle();
    const auto ip = policy::parse_ip_literal(start_.name);
    if (ip) {
      std::string plain = ip->canonical;
      if (!plain.empty() && plain.front() == '[') plain = plain.substr(1, plain.size() - 2);
      ::X509_VERIFY_PARAM_set1_ip_asc(::SSL_get0_param(ssl), plain.c_str());
    } else {
      ::SSL_set_tlsext_host_name(ssl, start_.name.c_str());
      ::SSL_set1_host(ssl, start_.name.c_str());
    }
    up_->async_handshake([self = shared_from_this()](const error_code& ec) {
      if (self->phase_ != Phase::upstream) return;
      if (ec) {
        const long verify = ::SSL_get_verify_result(self->up_->native_handle());
        const std::string why = verify != X509_V_OK
                                    ? std::string("certificate verify failed: ") +
                                          ::X509_verify_cert_error_string(verify)
                                    : ec.message();
        self->up_.reset();
        return self->reply(502, ResultCode::tcp_miss, "ERR_SECURE_CONNECT_FAIL",
                           "TLS to " + self->start_.name + ":" + std::to_string(self->start_.port) + " failed: " + why,
                           true);
      }
      self->send_request();
    });
  }

  // ------------------------------------------------------------ exchange

  void send_request() {
    phase_ = Phase::exchange;
    arm(ctx_.config.read_timeout, "read timeout");
    rec_.code = ResultCode::tcp_miss;
    rec_.dest = up_dest_;
    rec_.hierarchy = start_.via_parent ? Hierarchy::default_parent : Hierarchy::direct;
    // The Host sent is the name decided on; build_upstream_request leaves
    // the port out for 80, which here stands for https' 443.
    const Target target{start_.name, start_.port == 443 ? std::uint16_t{80} : start_.port, req_.target};
    out_up_ = build_upstream_request(req_, target, /*keep_upgrade=*/false);
    req_remaining_ = req_.content_length;
    req_chunks_ = ChunkedScanner{};
    take_request_body();
    asio::async_write(*up_, asio::buffer(out_up_), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->phase_ != Phase::exchange) return;
      if (ec) return self->upstream_failed("write to " + self->up_dest_ + " failed: " + ec.message());
      if (!self->req_body_done_) return self->pump_request_body();
      self->read_response_head();
    });
  }

  // Moves the request body bytes buffered in in_ to out_up_; sets
  // req_body_done_ once the body is whole.
  void take_request_body() {
    switch (req_.body) {
      case BodyKind::none:
      case BodyKind::until_close: req_body_done_ = true; return;
      case BodyKind::length: {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(req_remaining_, in_.size()));
        out_up_.append(in_, 0, n);
        in_.erase(0, n);
        req_remaining_ -= n;
        req_body_done_ = req_remaining_ == 0;
        return;
      }
      case BodyKind::chunked: {
        const std::size_t n = req_chunks_.feed(in_.data(), in_.size());
        out_up_.append(in_, 0, n);
        in_.erase(0, n);
        req_body_done_ = req_chunks_.done();
        return;
      }
    }
  }

  void pump_request_body() {
    read_client([self = shared_from_this()](const error_code& ec) {
      if (self->phase_ != Phase::exchange) return;
      if (ec) return self->abort("client closed during the request body");
      self->out_up_.clear();
      self->take_request_body();
      if (self->req_.body == BodyKind::chunked && self->req_chunks_.failed()) {
        return self->abort("malformed chunked request body");
      }
      asio::async_write(*self->up_, asio::buffer(self->out_up_), [self](const error_code& ec2, std::size_t) {
        if (self->phase_ != Phase::exchange) return;
        if (ec2) return self->upstream_failed("write to " + self->up_dest_ + " failed: " + ec2.message());
        if (!self->req_body_done_) return self->pump_request_body();
        self->read_response_head();
      });
    });
  }

  void read_response_head() {
    resp_ = ResponseHead{};
    resp_cursor_ = HeadCursor{};
    parse_response();
  }

  void parse_response() {
    const ParseResult r = parse_response_head(up_in_, ctx_.config.max_header_bytes, resp_, resp_cursor_);
    if (r.status == ParseStatus::error) {
      return upstream_failed(std::string("invalid response head: ") + to_string(r.error));
    }
    if (r.status == ParseStatus::need_more) {
      return read_upstream([self = shared_from_this()](const error_code& ec) {
        if (self->phase_ != Phase::exchange) return;
        if (ec) return self->upstream_failed("the origin closed before a response (" + ec.message() + ")");
        self->parse_response();
      });
    }
    up_in_.erase(0, resp_.head_size);
    if (resp_.status >= 100 && resp_.status < 200) {
      // An interim answer (100 Continue): passed on; the final one follows.
      out_client_ = build_client_response(resp_, false, false);
      return write_client([self = shared_from_this()] { self->read_response_head(); });
    }
    resp_kind_ = resp_.body_kind(req_.method);
    resp_remaining_ = resp_kind_ == BodyKind::length ? *resp_.content_length : 0;
    resp_chunks_ = ChunkedScanner{};
    close_client_ = draining_ || req_.version_minor == 0 || req_.connection_lists("close") ||
                    resp_kind_ == BodyKind::until_close;
    upstream_reusable_ = resp_.version_minor == 1 && !resp_.connection_lists("close") &&
                         resp_kind_ != BodyKind::until_close;
    record_response(rec_, resp_);
    response_started_ = true;
    out_client_ = build_client_response(resp_, close_client_, false);
    rec_.bytes_to_client += out_client_.size();
    take_response_body();
    write_client([self = shared_from_this()] { self->after_response_write(); });
  }

  // Moves response body bytes from up_in_ to out_client_ (appending);
  // sets resp_done_ when the body is whole.
  void take_response_body() {
    resp_done_ = false;
    switch (resp_kind_) {
      case BodyKind::none: resp_done_ = true; break;
      case BodyKind::length: {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(resp_remaining_, up_in_.size()));
        out_client_.append(up_in_, 0, n);
        up_in_.erase(0, n);
        resp_remaining_ -= n;
        resp_done_ = resp_remaining_ == 0;
        rec_.bytes_to_client += n;
        break;
      }
      case BodyKind::chunked: {
        const std::size_t n = resp_chunks_.feed(up_in_.data(), up_in_.size());
        out_client_.append(up_in_, 0, n);
        up_in_.erase(0, n);
        resp_done_ = resp_chunks_.done();
        rec_.bytes_to_client += n;
        break;
      }
      case BodyKind::until_close:
        out_client_.append(up_in_);
        rec_.bytes_to_client += up_in_.size();
        up_in_.clear();
        break;
    }
  }

  void after_response_write() {
    if (resp_done_) return response_done();
    if (resp_kind_ == BodyKind::chunked && resp_chunks_.failed()) return abort("malformed chunked response body");
    read_upstream([self = shared_from_this()](const error_code& ec) {
      if (self->phase_ != Phase::exchange) return;
      if (ec) {
        // The origin's end of a body that runs until the close: its
        // close_notify, or the TCP close without one many servers send. A
        // reset or another error cut the body short.
        const bool ended = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
        if (self->resp_kind_ == BodyKind::until_close && ended) {
          self->upstream_reusable_ = false;
          return self->response_done();
        }
        return self->abort("the origin ended the connection during the response body (" + ec.message() + ")");
      }
      self->out_client_.clear();
      self->take_response_body();
      self->write_client([self] { self->after_response_write(); });
    });
  }

  void response_done() {
    log_now();
    if (!upstream_reusable_ || !up_in_.empty()) up_.reset();  // the next request dials again
    if (close_client_) {
      // A body that runs until the close is whole only if the TLS session
      // ends with close_notify (RFC 8446 6.1): without it the client cannot
      // tell the end from a cut (abort() leaves it out). Best effort: one
      // small record written now, not waited for.
      if (resp_kind_ == BodyKind::until_close && client_) {
        ::SSL_shutdown(client_->native_handle());
        ::ERR_clear_error();
      }
      return close();
    }
    read_head();
  }

  // The origin failed: a 502 while the client has no byte of the response,
  // else all that is left is to close.
  void upstream_failed(const std::string& why) {
    up_.reset();
    if (response_started_) return abort(why.c_str());
    reply(502, ResultCode::tcp_miss, "ERR_READ_ERROR", why, true);
  }

  // Ends the exchange without a word to the client. A response cut short
  // after it started is logged with Squid's tags (TCP_MISS_ABORTED,
  // _TIMEDOUT_ABORTED when a deadline ended it), and no close_notify goes
  // out, so a TLS client sees the cut.
  void abort(const std::string& why, bool timed_out = false) {
    if (phase_ == Phase::exchange && response_started_ && !resp_done_) {
      rec_.aborted = true;
      rec_.timed_out = timed_out;
      // Clients forgive a TLS end without close_notify (curl does), so for a
      // body that ends with the connection only a reset shows the cut.
      reset_client_ = resp_kind_ == BodyKind::until_close;
    }
    spdlog::info("bumped {} {}: {}", req_.method, rec_.url, why);
    log_now();
    close();
  }

  // ------------------------------------------------- the proxy's answers

  // An answer of the proxy's own inside the TLS session: a denial (403),
  // a refused head (400), an origin that failed (502, 503).
  void reply(int status, ResultCode code, const char* squid_error, const std::string& text, bool close_after) {
    if (status >= 500) spdlog::info("bumped {} {}: {}", req_.method, rec_.url, text);
    phase_ = Phase::reply;
    rec_.status = status;
    rec_.code = code;
    if (code == ResultCode::tcp_denied) {
      rec_.hierarchy = Hierarchy::none;
      rec_.dest = "-:-";
      if (deny_reason_) rec_.reason = deny_reason_;
    }
    close_client_ = close_after || draining_ || req_.version_minor == 0 || req_.connection_lists("close");
    ErrorPage page;
    page.status = status;
    page.text = text;
    page.squid_error = squid_error;
    page.close_connection = close_client_;
    page.head_only = req_.method == "HEAD";
    if (code == ResultCode::tcp_denied && deny_reason_) page.proxy_error = deny_reason_;
    page.retry_after = retry_after_;
    render_error_page(out_client_, page);
    rec_.bytes_to_client = out_client_.size();
    rec_.content_type = "text/plain";
    arm(ctx_.config.read_timeout, "write timeout");
    asio::async_write(*client_, asio::buffer(out_client_), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->phase_ != Phase::reply) return;
      self->log_now();
      if (ec || self->close_client_) return self->close();
      self->read_head();
    });
  }

  // ------------------------------------------------------------- plumbing

  template <typename Then>
  void write_client(Then then) {
    asio::async_write(*client_, asio::buffer(out_client_),
                      [self = shared_from_this(), then = std::move(then)](const error_code& ec, std::size_t) {
                        if (self->phase_ != Phase::exchange) return;
                        if (ec) return self->abort("client write failed: " + ec.message());
                        self->arm(self->ctx_.config.read_timeout, "read timeout");
                        then();
                      });
  }

  template <typename Then>
  void read_client(Then then) {
    const std::size_t have = in_.size();
    in_.resize(have + kReadChunk);
    client_->async_read_some(asio::buffer(in_.data() + have, kReadChunk),
                             [self = shared_from_this(), have, then = std::move(then)](const error_code& ec,
                                                                                      std::size_t n) {
                               self->in_.resize(have + n);
                               then(ec);
                             });
  }

  template <typename Then>
  void read_upstream(Then then) {
    const std::size_t have = up_in_.size();
    up_in_.resize(have + kReadChunk);
    up_->async_read_some(asio::buffer(up_in_.data() + have, kReadChunk),
                         [self = shared_from_this(), have, then = std::move(then)](const error_code& ec, std::size_t n) {
                           self->up_in_.resize(have + n);
                           if (!ec) self->arm(self->ctx_.config.read_timeout, "read timeout");
                           then(ec);
                         });
  }

  void arm(std::chrono::milliseconds limit, const char* what) {
    deadline_what_ = what;
    timer_.expires_at(std::min(Clock::now() + limit, start_.lifetime_end));
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec) return;  // cancelled or re-armed
      self->on_deadline();
    });
  }

  void on_deadline() {
    switch (phase_) {
      case Phase::handshake:
        spdlog::info("bumped {}:{}: {}", start_.name, start_.port, deadline_what_);
        return close();
      case Phase::head:
        if (!in_.empty()) {
          record_end_before_request(rec_);
          log_now();
        }
        return close();
      case Phase::upstream:
        dial_.cancel();
        up_.reset();
        return reply(504, ResultCode::tcp_miss, "ERR_CONNECT_FAIL",
                     std::string(deadline_what_) + " reaching " + dialled_name(), true);
      case Phase::exchange: return abort(deadline_what_, true);
      case Phase::reply: return close();
      case Phase::closed: return;
    }
  }

  void log_now() {
    if (logged_ || phase_ == Phase::closed) return;
    logged_ = true;
    record_end(rec_, tx_started_);
    if (ctx_.budgets && !budget_key_.empty() && rec_.code != ResultCode::tcp_denied) {
      ctx_.budgets->spend_bytes(budget_key_, rec_.bytes_to_client + req_.content_length);
    }
    ctx_.log->write(rec_);
  }

  void close() {
    if (phase_ == Phase::closed) return;
    phase_ = Phase::closed;
    timer_.cancel();
    dial_.cancel();
    error_code ec;
    if (client_) {
      if (reset_client_) client_->next_layer().set_option(tcp::socket::linger(true, 0), ec);
      else client_->next_layer().shutdown(tcp::socket::shutdown_both, ec);
      client_->next_layer().close(ec);
    } else if (start_.client.is_open()) {
      start_.client.close(ec);
    }
    if (up_) up_->next_layer().close(ec);
    if (raw_up_) raw_up_->close(ec);
  }

  Worker& worker_;
  ProxyContext& ctx_;
  BumpStart start_;
  asio::steady_timer timer_;
  Clock::time_point started_, tx_started_;
  const char* deadline_what_ = "";
  Phase phase_ = Phase::handshake;
  bool draining_ = false;

  std::shared_ptr<ssl_ctx_st> server_context_;
  std::unique_ptr<TlsClientStream> client_;
  std::unique_ptr<TlsClientStream> up_;  // TLS to the origin, once established
  std::optional<tcp::socket> raw_up_;    // connected, TLS not yet started
  std::string up_leftover_;
  std::string up_dest_;
  UpstreamDial dial_;

  std::string in_, up_in_, out_up_, out_client_;
  RequestHead req_;
  HeadCursor cursor_;
  std::string url_;  // the full https URL, query included: what --allow-urls and DLP see
  std::uint64_t req_remaining_ = 0;
  ChunkedScanner req_chunks_;
  bool req_body_done_ = true;

  ResponseHead resp_;
  HeadCursor resp_cursor_;
  BodyKind resp_kind_ = BodyKind::none;
  std::uint64_t resp_remaining_ = 0;
  ChunkedScanner resp_chunks_;
  bool resp_done_ = false, response_started_ = false, close_client_ = false, upstream_reusable_ = false;
  bool reset_client_ = false;  // close() resets the client connection instead of a FIN

  LogRecord rec_;
  bool logged_ = true;  // nothing to log before the first request
  // Why the request is refused (X-Proxy-Error, audit.jsonl's "reason"):
  // url_not_allowed (--allow-urls), credential_in_url (--enable-dlp),
  // host_mismatch (Host names another server), private_address.
  const char* deny_reason_ = nullptr;
  int retry_after_ = 0;     // a budget refusal's Retry-After, seconds
  std::string budget_key_;  // --budget-*: the registrable domain charged
};

}  // namespace

void start_bump_session(BumpStart start, Worker& worker) {
  worker.context.connections.fetch_add(1, std::memory_order_relaxed);
  std::make_shared<BumpSession>(std::move(start), worker)->start();
}

}  // namespace awf::proxy
