// SOCKS5 sessions (--listen-socks): the greeting (no authentication is the
// only method), one request under a deadline, and for CONNECT the decision
// an HTTP CONNECT to the same host:port gets: --enable-dlp's scan, the
// policy (ports included), the dial through the SSRF guard or the parent
// proxy, the ClientHello check of tunnels to port 443, then the Relay (or,
// with --ssl-bump-cert, the bump session). The
// record written is a CONNECT's (TCP_TUNNEL, TCP_DENIED, NONE_NONE and the
// same statuses), marked as SOCKS in audit.jsonl.
#include "awf/proxy/socks_session.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <optional>

#include "awf/intercept/client_hello.h"
#include "awf/intercept/tls_alert.h"
#include "awf/policy/dlp.h"
#include "awf/policy/host.h"
#include "awf/proxy/bump_authority.h"
#include "awf/proxy/bump_session.h"
#include "awf/proxy/budgets.h"
#include "awf/proxy/context.h"
#include "awf/proxy/parent_proxy.h"
#include "awf/proxy/relay.h"
#include "awf/proxy/socks_message.h"
#include "awf/proxy/transaction_log.h"
#include "awf/proxy/upstream.h"

namespace awf::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;
using socks::Reply;

namespace {

// A greeting and a request fit in one read; a ClientHello takes a few.
constexpr std::size_t kReadChunk = 4096;
// Writing a reply of a few bytes to a client that stopped reading.
constexpr std::chrono::milliseconds kWriteLimit{5'000};

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// The name a CONNECT to `host` is routed to and logged as (http_session.cc).
std::string canonical_host(std::string_view host) {
  if (auto ip = policy::parse_ip_literal(host)) return ip->canonical;
  return policy::normalise_host(host);
}

// What the client is told when no connection to the destination could be
// made. Errors other than these name no cause a client could act on.
Reply reply_for_connect_error(const error_code& ec) {
  if (ec == asio::error::connection_refused) return Reply::connection_refused;
  if (ec == asio::error::timed_out) return Reply::ttl_expired;
  if (ec == asio::error::network_unreachable) return Reply::network_unreachable;
  if (ec == asio::error::host_unreachable) return Reply::host_unreachable;
  return Reply::general_failure;
}

class SocksSession final : public Connection, public std::enable_shared_from_this<SocksSession> {
 public:
  SocksSession(tcp::socket client, const tcp::endpoint& peer, Worker& worker)
      : worker_(worker), ctx_(worker.context), client_(std::move(client)), peer_(peer), timer_(client_.get_executor()) {}

  ~SocksSession() override {
    worker_.remove(this);
    ctx_.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() {
    worker_.add(this);
    policy_ = worker_.current_policy();
    started_ = Clock::now();
    lifetime_end_ = started_ + ctx_.config.client_lifetime;
    rec_.client_ip = peer_address_text(peer_.address());
    rec_.client_port = peer_.port();
    rec_.via_socks = true;
    rec_.version = "-";  // no HTTP version: the request was not HTTP
    // The greeting and the request are this front end's request head: one
    // --request-timeout for both, counted from the accept. Reads do not
    // extend it, so a client trickling bytes gains nothing.
    arm(ctx_.config.request_timeout, "request timeout");
    read_client();
  }

  void stop(bool force) override {
    asio::post(client_.get_executor(), [self = shared_from_this(), force] { self->on_stop(force); });
  }

 private:
  enum class Phase : std::uint8_t { greeting, request, upstream, hello, reply, tunnel, closed };

  void on_stop(bool force) {
    if (phase_ == Phase::closed) return;
    if (phase_ == Phase::tunnel) {
      if (force && relay_) relay_->close("shutdown");
      return;
    }
    // Nothing received yet: nobody is waiting for this connection. (in_ is
    // sized for the pending read, so its size says nothing here.)
    if (phase_ == Phase::greeting && !received_any_) return close(false);
    if (force) {
      if (phase_ == Phase::greeting || phase_ == Phase::request) return ended_before_request("shutdown");
      spdlog::info("socks client {}:{}: closed at shutdown before the tunnel started", rec_.client_ip,
                   rec_.client_port);
      close(true);
    }
  }

  // ------------------------------------------------- greeting and request

  void read_client() {
    const std::size_t have = in_.size();
    in_.resize(have + kReadChunk);
    client_.async_read_some(asio::buffer(in_.data() + have, kReadChunk),
                            [self = shared_from_this(), have](const error_code& ec, std::size_t n) {
                              self->in_.resize(have + n);
                              if (n > 0) self->received_any_ = true;
                              if (self->phase_ == Phase::greeting || self->phase_ == Phase::request) {
                                self->on_client_bytes(ec);
                              } else if (self->phase_ == Phase::hello) {
                                self->on_hello_bytes(ec);
                              }
                            });
  }

  // Both parsers finish within their protocol maxima (kMaxGreeting,
  // kMaxRequest), so the buffer never holds more than those plus one read.
  void on_client_bytes(const error_code& ec) {
    if (phase_ == Phase::greeting) {
      const socks::GreetingParse g = socks::parse_greeting(bytes_of(in_));
      if (g.status == socks::ParseStatus::done) {
        in_.erase(0, g.size);
        return on_greeting(g);
      }
      if (g.status == socks::ParseStatus::error) return malformed(socks::to_string(g.error));
    } else {
      socks::RequestParse r = socks::parse_request(bytes_of(in_));
      if (r.status == socks::ParseStatus::done) {
        in_.erase(0, r.size);  // what is left is the client's first tunnel bytes
        return on_request(std::move(r.request));
      }
      if (r.status == socks::ParseStatus::error) {
        // The one error with a reply of its own; the rest are not SOCKS5.
        if (r.error == socks::MessageError::address_type_unknown) {
          spdlog::info("socks client {}:{}: request with an unknown address type refused", rec_.client_ip,
                       rec_.client_port);
          rec_.url = "error:invalid-request";
          rec_.status = 400;
          return reply_and_close(socks::encode_reply(Reply::address_type_not_supported));
        }
        return malformed(socks::to_string(r.error));
      }
    }
    if (ec) return ended_before_request(ec == asio::error::eof ? "client closed" : ec.message());
    read_client();
  }

  void on_greeting(const socks::GreetingParse& g) {
    if (!g.offers_no_authentication) {
      // Only authentication methods were offered: "no acceptable method",
      // after which the client must close; we close too.
      spdlog::info("socks client {}:{}: refused: it offers only authentication methods, and only \"no "
                   "authentication\" is served",
                   rec_.client_ip, rec_.client_port);
      rec_.url = "error:no-acceptable-auth-method";
      rec_.status = 400;
      return reply_and_close(std::string{static_cast<char>(socks::kVersion),
                                         static_cast<char>(socks::kNoAcceptableMethod)});
    }
    out_ = std::string{static_cast<char>(socks::kVersion), static_cast<char>(socks::kNoAuthentication)};
    phase_ = Phase::request;
    asio::async_write(client_, asio::buffer(out_), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->phase_ != Phase::request) return;
      if (ec) return self->ended_before_request("client write failed: " + ec.message());
      self->on_client_bytes(error_code{});  // the request may be here already
    });
  }

  // Bytes that are not a SOCKS5 greeting or request: no reply (the client
  // may not speak SOCKS5 at all), a close and one record, as for an HTTP
  // request that does not parse.
  void malformed(const char* why) {
    spdlog::info("socks client {}:{}: malformed {} refused: {}", rec_.client_ip, rec_.client_port,
                 phase_ == Phase::greeting ? "greeting" : "request", why);
    rec_.url = "error:invalid-request";
    rec_.status = 400;
    close(true);
  }

  // The client left or stalled before a whole request: Squid's record for a
  // connection that ended before its request head.
  void ended_before_request(const std::string& why) {
    spdlog::info("socks client {}:{}: {} before a complete request", rec_.client_ip, rec_.client_port, why);
    record_end_before_request(rec_);
    close(true);
  }

  void on_request(socks::Request r) {
    rec_.method = socks::command_name(r.command);
    const std::string authority = r.host + ":" + std::to_string(r.port);
    rec_.url = authority;
    rec_.host = authority;
    if (r.command != static_cast<std::uint8_t>(socks::Command::connect)) {
      // BIND would open a listening port for the agent, UDP ASSOCIATE a UDP
      // relay: neither has a name the policy could decide on, nor a record
      // of what flowed. Refused as an HTTP proxy refuses a method it does
      // not serve.
      spdlog::info("socks client {}:{}: {} {} refused: only CONNECT is served", rec_.client_ip, rec_.client_port,
                   rec_.method, authority);
      rec_.status = 405;
      return reply_and_close(socks::encode_reply(Reply::command_not_supported));
    }
    decide(r.host, r.port);
  }

  // Exactly an HTTP CONNECT's decision (http_session.cc, decide): the
  // credential scan over what the client named, then the policy on the name
  // as sent, with the https scope and the port rules.
  void decide(const std::string& as_sent, std::uint16_t port) {
    host_ = canonical_host(as_sent);
    port_ = port;
    rec_.url = host_ + ":" + std::to_string(port_);
    rec_.host = rec_.url;
    if (ctx_.dlp) {
      if (auto pattern = ctx_.dlp->scan(as_sent + " " + as_sent + ":" + std::to_string(port_))) {
        rec_.url = ctx_.dlp->redact(rec_.url);
        rec_.host = ctx_.dlp->redact(rec_.host);
        rec_.dlp_pattern = *pattern;
        rec_.reason = "credential_in_url";
        host_ = ctx_.dlp->redact(host_);
        return deny("it carries a credential (" + *pattern + "); nothing was sent upstream");
      }
    }
    const policy::Decision d = policy_->decide(policy::Request{as_sent, port_, true});
    if (!ctx_.config.raw_tunnels_allowed() && !is_bumped(ctx_, host_) &&
        !let_through_in_report_mode("tunnel_not_inspectable")) {
      // --allowed-methods without CONNECT: the requests inside a tunnel that
      // is not bumped cannot be checked.
      rec_.reason = "tunnel_not_inspectable";
      return deny("--allowed-methods: the requests inside this tunnel cannot be seen (not bumped)");
    }
    if (!d.allowed && !(ctx_.bump && ctx_.bump->lifts_block(d, host_)) &&
        !let_through_in_report_mode(policy::to_string(d.reason))) {
      rec_.reason = policy::to_string(d.reason);
      const policy::Rule* rule = policy_->rule(d);
      return deny(std::string("policy: ") + policy::to_string(d.reason) + (rule ? " (rule " + rule->text + ")" : ""));
    }
    if (ctx_.budgets && !is_bumped(ctx_, host_)) {  // a bumped one is charged per request inside
      budget_key_ = ctx_.budgets->key_of(host_);
      Budgets::Verdict v = ctx_.budgets->admit(budget_key_, true);
      if (v.refused && !let_through_in_report_mode(v.refused)) {
        rec_.reason = v.refused;
        return deny(std::string(v.refused) + " spent for " + budget_key_);
      }
      budget_tunnel_ = std::move(v.tunnel);
    }
    phase_ = Phase::upstream;
    arm(ctx_.config.connect_timeout, "connect timeout");
    via_parent_ = via_parent(ctx_.config, host_);
    if (via_parent_) {
      // The operator's parent proxy: the SSRF guard stays out (see HttpSession::dial).
      const UpstreamProxy& parent = *ctx_.config.upstream_proxy;
      return dial_.start(shared_from_this(), &SocksSession::on_dialled, worker_, client_.get_executor(), parent.host,
                         parent.port, /*trusted=*/true);
    }
    dial_.start(shared_from_this(), &SocksSession::on_dialled, worker_, client_.get_executor(), host_, port_);
  }

  // --policy-mode report, as for a CONNECT: a refusal (its reason code) is
  // noted (log record, stderr) and the tunnel goes on. False when enforcing.
  bool let_through_in_report_mode(const char* reason) {
    if (!ctx_.config.report_only) return false;
    rec_.would_deny = reason;
    spdlog::info("report mode: would deny socks CONNECT {}: {}", rec_.url, rec_.would_deny);
    return true;
  }

  // -------------------------------------------------- resolve and connect

  void on_dialled(DialOutcome o) {
    if (phase_ != Phase::upstream) return;  // timed out or closed meanwhile
    switch (o.failure) {
      case DialFailure::unresolved:
        return upstream_failed(via_parent_ ? Reply::general_failure : Reply::host_unreachable, 503,
                               "cannot resolve " + (via_parent_ ? parent_name() : host_) + ": " + o.detail);
      case DialFailure::refused_only:
        rec_.reason = "private_address";
        return deny("private_address: " + host_ + " resolves only to refused addresses (" + o.detail +
                    "; allow the range with --allow-private-ranges)");
      case DialFailure::connect_failed:
      case DialFailure::none: break;
    }
    rec_.dest = std::move(o.dest);
    rec_.hierarchy = via_parent_ ? Hierarchy::default_parent : Hierarchy::direct;
    if (o.failure == DialFailure::connect_failed) {
      // A parent that is down is not the destination refusing: the client
      // is told of a failure, not of a refusal by the host it named.
      return upstream_failed(via_parent_ ? Reply::general_failure : reply_for_connect_error(o.error), 503,
                             "cannot connect to " + (via_parent_ ? parent_name() : rec_.url) + ": " + o.detail);
    }
    upstream_ = std::move(o.socket);
    if (!via_parent_) return reply_success();
    connect_through_parent(*upstream_, host_, port_, shared_from_this(),
                           [self = shared_from_this()](ParentConnectResult r) {
                             if (self->phase_ != Phase::upstream) return;
                             if (!r.ok) return self->upstream_failed(Reply::general_failure, 502, r.error);
                             self->parent_leftover_ = std::move(r.leftover);
                             self->reply_success();
                           });
  }

  std::string parent_name() const { return "upstream proxy " + ctx_.config.upstream_proxy->url(); }

  // Squid logs a CONNECT it could not complete as NONE_NONE with 503 (502
  // when the parent refused, 504 for a timeout); the client gets the reply
  // code closest to the cause.
  void upstream_failed(Reply reply, int status, const std::string& detail) {
    spdlog::info("socks CONNECT {}: {}", rec_.url, detail);
    rec_.status = status;
    rec_.code = ResultCode::none_none;
    reply_and_close(socks::encode_reply(reply));
  }

  // The reply carries the address the proxy connected from (to the origin,
  // or to the parent), as the protocol asks.
  void reply_success() {
    rec_.status = 200;
    rec_.code = ResultCode::tcp_tunnel;
    error_code ignored;  // a socket with no local address: the reply says 0.0.0.0:0
    const tcp::endpoint bound = upstream_->local_endpoint(ignored);
    if (bound.address().is_v6()) {
      const auto raw = bound.address().to_v6().to_bytes();
      out_ = socks::encode_reply(Reply::succeeded, raw, bound.port());
    } else {
      const auto raw = bound.address().to_v4().to_bytes();
      out_ = socks::encode_reply(Reply::succeeded, raw, bound.port());
    }
    arm(kWriteLimit, "reply write timeout");
    asio::async_write(client_, asio::buffer(out_), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->phase_ != Phase::upstream) return;
      if (ec) {
        spdlog::debug("socks CONNECT {}: client gone before its reply: {}", self->rec_.url, ec.message());
        return self->close(true);
      }
      // A tunnel that may be bumped needs its ClientHello too (the name the
      // certificate is minted for), as a CONNECT's does.
      if ((self->ctx_.config.tunnel_sni_check && self->port_ == 443) || is_bumped(self->ctx_, self->host_)) {
        return self->await_hello();
      }
      self->start_relay();
    });
  }

  // ------------------------------------------- the tunnel's ClientHello

  // As for a CONNECT tunnel to port 443 (http_session.cc): relayed only once
  // the client's ClientHello names a host the policy allows, so SOCKS to an
  // allowed name cannot carry a hello for another one. Nothing reaches the
  // origin before that.
  void await_hello() {
    phase_ = Phase::hello;
    arm(ctx_.config.client_hello_timeout, "ClientHello timeout");
    on_hello_bytes(error_code{});
  }

  void on_hello_bytes(const error_code& ec) {
    const intercept::HelloParse parse = intercept::parse_client_hello(bytes_of(in_));
    if (parse.done()) return on_hello(parse.hello);
    if (parse.failed()) {
      // A client that reaches an allowed address by its IP literal sends no
      // name: there is none to check but the one the request named.
      if (parse.error == intercept::HelloError::no_sni && policy::parse_ip_literal(host_)) {
        if (is_bumped(ctx_, host_)) return hand_to_bump(host_);
        return start_relay();
      }
      return refuse_tunnel(std::string("unacceptable ClientHello: ") + intercept::to_string(parse.error),
                           intercept::alert_for(parse.error), 0x0303);
    }
    if (ec) {
      const std::string why = ec == asio::error::eof ? "client closed" : ec.message();
      if (in_.empty()) {
        // Gone before sending a byte: an allowed tunnel that carried nothing.
        spdlog::debug("socks tunnel {}: {} before its ClientHello", rec_.url, why);
        return close(true);
      }
      return refuse_tunnel("incomplete ClientHello (" + why + " after " + std::to_string(in_.size()) + " bytes)",
                           std::nullopt, 0x0303);
    }
    if (in_.size() >= intercept::kMaxClientHelloInput) {
      return refuse_tunnel("ClientHello larger than the limit", intercept::TlsAlert::decode_error, 0x0303);
    }
    read_client();
  }

  void on_hello(const intercept::ClientHello& hello) {
    const std::string sni = policy::normalise_host(hello.sni);
    if (sni != host_) rec_.tunnel_sni = sni;
    rec_.ech = hello.has_ech;
    if (ctx_.dlp) {
      if (auto pattern = ctx_.dlp->scan(hello.sni)) {
        const std::string redacted = ctx_.dlp->redact(sni);
        rec_.tunnel_sni = redacted;
        rec_.url = redacted + ":" + std::to_string(port_);
        rec_.dlp_pattern = *pattern;
        rec_.reason = "credential_in_url";
        return refuse_tunnel("its ClientHello's server name carries a credential (" + *pattern + ")",
                             intercept::TlsAlert::access_denied, intercept::alert_record_version(hello));
      }
    }
    const policy::Decision d = policy_->decide(policy::Request{hello.sni, port_, true});
    if (!d.allowed && !(ctx_.bump && ctx_.bump->lifts_block(d, sni)) &&
        !let_through_in_report_mode(policy::to_string(d.reason))) {
      rec_.reason = policy::to_string(d.reason);
      rec_.url = sni + ":" + std::to_string(port_);
      const policy::Rule* rule = policy_->rule(d);
      return refuse_tunnel("its ClientHello names " + sni + ": policy: " + policy::to_string(d.reason) +
                               (rule ? " (rule " + rule->text + ")" : ""),
                           intercept::TlsAlert::access_denied, intercept::alert_record_version(hello));
    }
    if (is_bumped(ctx_, sni)) return hand_to_bump(sni);
    start_relay();
  }

  // SSL bump, as for a CONNECT (http_session.cc): the tunnel's record is
  // written now; the client, its ClientHello and the upstream connection
  // (when it leads to `name`) go to a bump session, which logs each request.
  void hand_to_bump(const std::string& name) {
    timer_.cancel();
    log_now();
    const bool same = name == host_;
    BumpStart start{.client = std::move(client_),
                    .client_bytes = std::move(in_),
                    .upstream = std::nullopt,
                    .upstream_bytes = same ? std::move(parent_leftover_) : std::string(),
                    .upstream_dest = same ? rec_.dest : std::string(),
                    .via_parent = via_parent(ctx_.config, name),
                    .name = name,
                    .port = port_,
                    .client_ip = rec_.client_ip,
                    .client_port = rec_.client_port,
                    .original_dest = std::string(),
                    .lifetime_end = lifetime_end_,
                    .listener = Listener::socks};
    if (same && upstream_) start.upstream = std::move(*upstream_);
    in_.clear();
    close_upstream();
    phase_ = Phase::closed;
    start_bump_session(std::move(start), worker_);
  }

  // Logs the tunnel as denied, sends a TLS alert where the client spoke TLS
  // (it has its success reply already) and closes both sides.
  void refuse_tunnel(const std::string& why, std::optional<intercept::TlsAlert> alert, std::uint16_t version) {
    spdlog::info("socks client {}:{}: tunnel {}:{} refused: {}", rec_.client_ip, rec_.client_port, host_, port_, why);
    rec_.status = 403;
    rec_.code = ResultCode::tcp_denied;
    rec_.hierarchy = Hierarchy::none;
    rec_.dest = "-:-";
    // Bytes that are not a usable ClientHello are this reason.
    if (rec_.reason.empty()) rec_.reason = "unacceptable_client_hello";
    close_upstream();
    if (!alert) return close(true);
    const auto record = intercept::tls_alert_record(*alert, version);
    rec_.bytes_to_client += record.size();
    reply_and_close(std::string(record.begin(), record.end()));
  }

  void start_relay() {
    if (!ctx_.config.raw_tunnels_allowed() && !let_through_in_report_mode("tunnel_not_inspectable")) {
      // --allowed-methods: a tunnel whose name turned out not to be bumped
      // (its ClientHello named an excluded one, or none) cannot be read.
      rec_.reason = "tunnel_not_inspectable";
      return refuse_tunnel("--allowed-methods: the requests inside this tunnel cannot be seen", std::nullopt, 0x0303);
    }
    phase_ = Phase::tunnel;
    timer_.cancel();
    Relay::Options o;
    o.idle_timeout = ctx_.config.read_timeout;
    o.lifetime_end = lifetime_end_;
    tcp::socket up = std::move(*upstream_);
    upstream_.reset();
    relay_ = Relay::start(std::move(client_), std::move(up), std::move(in_), std::move(parent_leftover_), o,
                          [self = shared_from_this()](const Relay::Totals& t) {
                            self->rec_.bytes_to_client += t.upstream_to_client;
                            if (self->ctx_.budgets && !self->budget_key_.empty()) {
                              self->ctx_.budgets->spend_bytes(self->budget_key_,
                                                              t.client_to_upstream + t.upstream_to_client);
                            }
                            spdlog::debug("socks tunnel {} ended: {} ({} B up, {} B down)", self->rec_.url, t.end,
                                          t.client_to_upstream, t.upstream_to_client);
                            self->log_now();
                            self->phase_ = Phase::closed;
                            self->relay_.reset();
                          });
  }

  // -------------------------------------------------------------- denials

  // A refusal by the policy, --enable-dlp or the SSRF guard: reply 2
  // ("connection not allowed by ruleset") and a TCP_DENIED record, 403 as
  // for a CONNECT.
  void deny(const std::string& why) {
    spdlog::info("socks client {}:{}: denied CONNECT {}: {}", rec_.client_ip, rec_.client_port, rec_.url, why);
    rec_.status = 403;
    rec_.code = ResultCode::tcp_denied;
    rec_.hierarchy = Hierarchy::none;
    rec_.dest = "-:-";
    reply_and_close(socks::encode_reply(Reply::not_allowed));
  }

  // Writes a final message (a failure reply, a TLS alert), then closes and
  // logs.
  void reply_and_close(std::string message) {
    phase_ = Phase::reply;
    out_ = std::move(message);
    arm(kWriteLimit, "reply write timeout");
    asio::async_write(client_, asio::buffer(out_), [self = shared_from_this()](const error_code&, std::size_t) {
      self->close(true);
    });
  }

  // ------------------------------------------------------------- plumbing

  // One deadline per phase, capped by --client-lifetime.
  void arm(std::chrono::milliseconds limit, const char* what) {
    deadline_what_ = what;
    timer_.expires_at(std::min(Clock::now() + limit, lifetime_end_));
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec) return;  // cancelled or re-armed
      self->on_deadline();
    });
  }

  void on_deadline() {
    switch (phase_) {
      case Phase::greeting:
      case Phase::request: return ended_before_request(deadline_what_);
      case Phase::upstream:
        if (rec_.code == ResultCode::tcp_tunnel) return close(true);  // the success reply was not taken
        return upstream_failed(Reply::ttl_expired, 504, std::string(deadline_what_) + " reaching " + rec_.url);
      case Phase::hello:
        if (in_.empty()) return refuse_tunnel(std::string(deadline_what_) + " before any byte", std::nullopt, 0x0303);
        return refuse_tunnel("incomplete ClientHello (" + std::string(deadline_what_) + " after " +
                                 std::to_string(in_.size()) + " bytes)",
                             std::nullopt, 0x0303);
      case Phase::reply: return close(true);
      case Phase::tunnel:
      case Phase::closed: return;
    }
  }

  void log_now() {
    if (logged_) return;
    logged_ = true;
    record_end(rec_, started_);
    ctx_.log->write(rec_);
  }

  void close_upstream() {
    dial_.cancel();
    if (upstream_) {
      error_code ec;
      upstream_->close(ec);
      upstream_.reset();
    }
  }

  void close(bool log) {
    if (phase_ == Phase::closed) return;
    if (log) log_now();
    phase_ = Phase::closed;
    timer_.cancel();
    error_code ec;
    client_.close(ec);
    close_upstream();
  }

  Worker& worker_;
  ProxyContext& ctx_;
  tcp::socket client_;
  tcp::endpoint peer_;  // the client, as accept(2) reported it
  asio::steady_timer timer_;
  std::shared_ptr<const policy::Ruleset> policy_;
  Clock::time_point started_, lifetime_end_;
  const char* deadline_what_ = "";
  Phase phase_ = Phase::greeting;

  std::string in_;   // client bytes not consumed yet
  bool received_any_ = false;  // the client sent at least one byte
  std::string budget_key_;              // --budget-*: the registrable domain charged
  std::shared_ptr<void> budget_tunnel_;  // this tunnel's place in --budget-tunnels
  std::string out_;  // the message being written
  std::string host_;  // canonical destination host
  std::uint16_t port_ = 0;
  bool via_parent_ = false;      // out through --upstream-proxy
  std::string parent_leftover_;  // what the parent sent past its 200, for the client

  std::optional<tcp::socket> upstream_;
  UpstreamDial dial_;  // while resolving and connecting
  std::shared_ptr<Relay> relay_;

  LogRecord rec_;
  bool logged_ = false;
};

}  // namespace

void start_socks_session(tcp::socket client, const tcp::endpoint& peer, Worker& worker) {
  worker.context.connections.fetch_add(1, std::memory_order_relaxed);
  std::make_shared<SocksSession>(std::move(client), peer, worker)->start();
}

}  // namespace awf::proxy
