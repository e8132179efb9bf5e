// Transparent HTTPS sessions: ClientHello peek under a deadline and a size
// cap, the policy decision on the SNI (CONNECT semantics, the dialled port),
// resolution of the SNI name through the SSRF guard, replay of the peeked
// bytes and the hand-off to the Relay; denials get a TLS alert and one
// TCP_DENIED record, tunnels one CONNECT host:port TCP_TUNNEL record.
#include "awf/proxy/tls_intercept.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
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
#include "awf/proxy/parent_proxy.h"
#include "awf/proxy/relay.h"
#include "awf/proxy/upstream.h"

namespace awf::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;
using intercept::HelloParse;
using intercept::TlsAlert;

namespace {

// A hello arrives in one or two segments; the read size only matters for a
// client that trickles it, and the parser caps the total anyway.
constexpr std::size_t kHelloReadChunk = 4096;

class TlsInterceptSession final : public Connection, public std::enable_shared_from_this<TlsInterceptSession> {
 public:
  TlsInterceptSession(tcp::socket client, const tcp::endpoint& peer, Worker& worker)
      : worker_(worker),
        ctx_(worker.context),
        client_(std::move(client)),
        peer_(peer),
        timer_(client_.get_executor()) {}

  ~TlsInterceptSession() override {
    worker_.remove(this);
    ctx_.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() {
    worker_.add(this);
    policy_ = worker_.current_policy();
    started_ = Clock::now();
    rec_.client_ip = peer_address_text(peer_.address());
    rec_.client_port = peer_.port();
    // TCP_NODELAY comes from the listener (accepted sockets inherit it).
    // The port the client dialled is the port policy is asked about; its
    // address is only logged (the dialled address is the agent's choice, never trusted).
    auto original = intercept::original_destination(client_.native_handle());
    if (original) {
      original_ = *original;
      port_ = original->port;
      rec_.original_dest = original->to_string();
    } else {
      spdlog::debug("tls-intercept client {}:{}: no original destination ({}); assuming port 443", rec_.client_ip,
                    rec_.client_port, original.message());
    }
    rec_.method = "CONNECT";
    rec_.listener = Listener::tls_intercept;
    arm(ctx_.config.client_hello_timeout, "ClientHello timeout");
    read_hello();
  }

  void stop(bool force) override {
    asio::post(client_.get_executor(), [self = shared_from_this(), force] { self->on_stop(force); });
  }

 private:
  enum class Phase { hello, upstream, reply, tunnel, closed };

  void on_stop(bool force) {
    if (phase_ == Phase::closed) return;
    if (phase_ == Phase::tunnel) {
      if (force && relay_) relay_->close("shutdown");
      return;
    }
    // Nothing received yet: nobody is waiting for this connection. (The
    // buffer is grown for the pending read: its size says nothing here.)
    if (phase_ == Phase::hello && hello_received_ == 0) return close(false);
    if (force) {
      spdlog::info("tls-intercept client {}:{}: closed at shutdown before the tunnel started", rec_.client_ip,
                   rec_.client_port);
      close(true);
    }
  }

  // ----------------------------------------------------------- ClientHello

  void read_hello() {
    const std::size_t have = hello_bytes_.size();
    const std::size_t room = intercept::kMaxClientHelloInput - have;
    const std::size_t chunk = std::min(room, kHelloReadChunk);
    hello_bytes_.resize(have + chunk);
    client_.async_read_some(asio::buffer(hello_bytes_.data() + have, chunk),
                            [self = shared_from_this(), have](const error_code& ec, std::size_t n) {
                              self->hello_bytes_.resize(have + n);
                              self->hello_received_ += n;
                              if (self->phase_ != Phase::hello) return;
                              self->on_hello_bytes(ec);
                            });
  }

  void on_hello_bytes(const error_code& ec) {
    HelloParse parse = intercept::parse_client_hello(
        std::span(reinterpret_cast<const std::uint8_t*>(hello_bytes_.data()), hello_bytes_.size()));
    if (parse.done()) return on_hello(parse.hello);
    if (parse.failed()) {
      return deny("unacceptable ClientHello: " + std::string(intercept::to_string(parse.error)),
                  intercept::alert_for(parse.error), 0x0303);
    }
    if (ec) return ended_before_hello(ec == asio::error::eof ? "client closed" : ec.message().c_str());
    // need_more: the parser never asks for more than kMaxClientHelloInput.
    if (hello_bytes_.size() >= intercept::kMaxClientHelloInput) {
      return deny("ClientHello larger than the limit", TlsAlert::decode_error, 0x0303);
    }
    read_hello();
  }

  // The client left (or stalled) before a whole hello: Squid logs an empty
  // connection as error:transaction-end-before-headers; a partial hello is
  // a denial like any unparseable one.
  void ended_before_hello(const std::string& why) {
    if (hello_bytes_.empty()) {
      rec_.method = "NONE";
      rec_.url = "error:transaction-end-before-headers";
      rec_.host = "-:0";
      spdlog::debug("tls-intercept client {}:{}: {} before sending anything", rec_.client_ip, rec_.client_port, why);
      return close(true);
    }
    deny("incomplete ClientHello (" + why + " after " + std::to_string(hello_bytes_.size()) + " bytes)",
         std::nullopt, 0x0303);
  }

  void on_hello(const intercept::ClientHello& hello) {
    host_ = policy::normalise_host(hello.sni);
    rec_.url = host_ + ":" + std::to_string(port_);
    rec_.host = rec_.url;
    alert_version_ = intercept::alert_record_version(hello);
    if (hello.has_ech) {
      // ECH hides the real name; the outer SNI is all we can see, and all we
      // route to. The line is marked so a reader knows the name may not be
      // the one the client reached (the DNS front end removes ECH configs
      // from HTTPS answers, so real ECH needs a config from elsewhere; GREASE
      // ECH, which browsers send to everyone, is marked too).
      rec_.ech = true;
      spdlog::debug("tls-intercept client {}:{}: ClientHello carries ECH; deciding on the outer SNI {}",
                    rec_.client_ip, rec_.client_port, host_);
    }
    if (ctx_.dlp) {
      // A credential in a server name (a label under an allowed wildcard):
      // refused, and never logged as it is.
      if (auto pattern = ctx_.dlp->scan(hello.sni)) {
        host_ = ctx_.dlp->redact(host_);
        rec_.url = host_ + ":" + std::to_string(port_);
        rec_.host = rec_.url;
        rec_.dlp_pattern = *pattern;
        rec_.reason = "credential_in_url";
        return deny("its server name carries a credential (" + *pattern + ")", TlsAlert::access_denied,
                    alert_version_);
      }
    }
    const policy::Decision d = policy_->decide(policy::Request{hello.sni, port_, true});
    if (!d.allowed && ctx_.config.report_only) {
      // --policy-mode report: noted, and the connection goes on.
      rec_.would_deny = policy::to_string(d.reason);
      spdlog::info("report mode: would deny tls-intercept {}: {}", rec_.url, rec_.would_deny);
    } else if (!d.allowed && !(ctx_.bump && ctx_.bump->lifts_block(d, host_))) {
      const policy::Rule* rule = policy_->rule(d);
      rec_.reason = policy::to_string(d.reason);
      return deny(std::string("policy: ") + policy::to_string(d.reason) + (rule ? " (rule " + rule->text + ")" : ""),
                  TlsAlert::access_denied, alert_version_);
    }
    if (!ctx_.config.raw_tunnels_allowed() && !is_bumped(ctx_, host_)) {
      // --allowed-methods: the requests inside unbumped TLS cannot be seen.
      if (ctx_.config.report_only) {
        rec_.would_deny = "tunnel_not_inspectable";
      } else {
        rec_.reason = "tunnel_not_inspectable";
        return deny("--allowed-methods: the requests inside this TLS connection cannot be seen (not bumped)",
                    TlsAlert::access_denied, alert_version_);
      }
    }
    if (ctx_.budgets && !is_bumped(ctx_, host_)) {  // a bumped one is charged per request inside
      budget_key_ = ctx_.budgets->key_of(host_);
      Budgets::Verdict v = ctx_.budgets->admit(budget_key_, true);
      if (v.refused && ctx_.config.report_only) {
        rec_.would_deny = v.refused;
      } else if (v.refused) {
        // No page can carry a Retry-After to a TLS client: the log says why.
        rec_.reason = v.refused;
        return deny(std::string(v.refused) + " spent for " + budget_key_, TlsAlert::access_denied, alert_version_);
      }
      budget_tunnel_ = std::move(v.tunnel);
    }
    phase_ = Phase::upstream;
    arm(ctx_.config.connect_timeout, "connect timeout");
    via_parent_ = via_parent(ctx_.config, host_);
    if (via_parent_) {
      // The operator's parent proxy: the SSRF guard stays out (see HttpSession::dial).
      const UpstreamProxy& parent = *ctx_.config.upstream_proxy;
      return dial_.start(shared_from_this(), &TlsInterceptSession::on_dialled, worker_, client_.get_executor(),
                         parent.host, parent.port, /*trusted=*/true);
    }
    dial_.start(shared_from_this(), &TlsInterceptSession::on_dialled, worker_, client_.get_executor(), host_, port_);
  }

  // -------------------------------------------------- resolve and connect

  void on_dialled(DialOutcome o) {
    if (phase_ != Phase::upstream) return;
    switch (o.failure) {
      case DialFailure::unresolved:
        return upstream_failed(503, "cannot resolve " + (via_parent_ ? parent_name() : host_) + ": " + o.detail);
      case DialFailure::refused_only:
        rec_.reason = "private_address";
        return deny("private_address: " + host_ + " resolves only to refused addresses (" + o.detail +
                        "; allow the range with --allow-private-ranges)",
                    TlsAlert::access_denied, alert_version_);
      case DialFailure::connect_failed:
      case DialFailure::none: break;
    }
    rec_.dest = std::move(o.dest);
    rec_.hierarchy = via_parent_ ? Hierarchy::default_parent : Hierarchy::direct;
    if (o.failure == DialFailure::connect_failed) {
      return upstream_failed(503, "cannot connect to " + (via_parent_ ? parent_name() : rec_.url) + ": " + o.detail);
    }
    upstream_ = std::move(o.socket);
    if (!via_parent_) return start_tunnel();
    connect_through_parent(*upstream_, host_, port_, shared_from_this(),
                           [self = shared_from_this()](ParentConnectResult r) {
                             if (self->phase_ != Phase::upstream) return;
                             if (!r.ok) return self->upstream_failed(502, r.error);
                             self->parent_leftover_ = std::move(r.leftover);
                             self->start_tunnel();
                           });
  }

  std::string parent_name() const { return "upstream proxy " + ctx_.config.upstream_proxy->url(); }

  // Squid logs a CONNECT it could not complete as NONE_NONE with 503 (504
  // for a timeout); the client, which expected a TLS server, sees a close.
  void upstream_failed(int status, const std::string& detail) {
    spdlog::info("tls-intercept {}: {}", rec_.url, detail);
    rec_.status = status;
    rec_.code = ResultCode::none_none;
    close(true);
  }

  void start_tunnel() {
    phase_ = Phase::tunnel;
    timer_.cancel();
    rec_.status = 200;
    rec_.code = ResultCode::tcp_tunnel;
    if (is_bumped(ctx_, host_)) return hand_to_bump();
    if (original_) {
      spdlog::debug("tls-intercept {}:{} -> {} (dialled {}, connected to {})", rec_.client_ip, rec_.client_port,
                    rec_.url, original_->to_string(), rec_.dest);
    }
    Relay::Options o;
    o.idle_timeout = ctx_.config.read_timeout;
    o.lifetime_end = started_ + ctx_.config.client_lifetime;
    tcp::socket up = std::move(*upstream_);
    upstream_.reset();
    // The peeked bytes (the hello and anything after it) go first, unchanged.
    relay_ = Relay::start(std::move(client_), std::move(up), std::move(hello_bytes_), std::move(parent_leftover_), o,
                          [self = shared_from_this()](const Relay::Totals& t) {
                            self->rec_.bytes_to_client += t.upstream_to_client;
                            if (self->ctx_.budgets && !self->budget_key_.empty()) {
                              self->ctx_.budgets->spend_bytes(self->budget_key_,
                                                              t.client_to_upstream + t.upstream_to_client);
                            }
                            spdlog::debug("tls-intercept tunnel {} ended: {} ({} B up, {} B down)", self->rec_.url,
                                          t.end, t.client_to_upstream, t.upstream_to_client);
                            self->log_now();
                            self->phase_ = Phase::closed;
                            self->relay_.reset();
                          });
  }

  // SSL bump: the connection's record (CONNECT 200) now, then the client,
  // its hello and the upstream connection go to a bump session, which logs
  // each request inside.
  void hand_to_bump() {
    log_now();
    BumpStart start{.client = std::move(client_),
                    .client_bytes = std::move(hello_bytes_),
                    .upstream = std::move(upstream_),
                    .upstream_bytes = std::move(parent_leftover_),
                    .upstream_dest = rec_.dest,
                    .via_parent = via_parent_,
                    .name = host_,
                    .port = port_,
                    .client_ip = rec_.client_ip,
                    .client_port = rec_.client_port,
                    .original_dest = rec_.original_dest,
                    .lifetime_end = started_ + ctx_.config.client_lifetime,
                    .listener = Listener::tls_intercept};
    upstream_.reset();
    phase_ = Phase::closed;
    start_bump_session(std::move(start), worker_);
  }

  // -------------------------------------------------------------- denials

  // Logs TCP_DENIED, sends the alert when the peer speaks TLS, then closes.
  void deny(const std::string& why, std::optional<TlsAlert> alert, std::uint16_t record_version) {
    spdlog::info("tls-intercept client {}:{}: denied {}: {}", rec_.client_ip, rec_.client_port,
                 rec_.url == "-" ? "(no name)" : rec_.url, why);
    if (rec_.url == "-") {
      // No usable name: the dialled address is the only destination there is.
      rec_.url = original_ ? original_->to_string() : "-:" + std::to_string(port_);
      rec_.host = "-";
    }
    rec_.status = 403;
    rec_.code = ResultCode::tcp_denied;
    rec_.hierarchy = Hierarchy::none;
    rec_.dest = "-:-";
    // No page can carry the reason to a TLS client: the log does.
    if (rec_.reason.empty()) rec_.reason = "unacceptable_client_hello";
    if (!alert) return close(true);
    phase_ = Phase::reply;
    alert_ = intercept::tls_alert_record(*alert, record_version);
    rec_.bytes_to_client = alert_.size();
    arm(std::chrono::milliseconds(5'000), "alert write timeout");
    asio::async_write(client_, asio::buffer(alert_), [self = shared_from_this()](const error_code&, std::size_t) {
      self->close(true);
    });
  }

  // ------------------------------------------------------------- plumbing

  void arm(std::chrono::milliseconds limit, const char* what) {
    deadline_what_ = what;
    timer_.expires_at(std::min(Clock::now() + limit, started_ + ctx_.config.client_lifetime));
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec) return;  // cancelled or re-armed
      self->on_deadline();
    });
  }

  void on_deadline() {
    switch (phase_) {
      case Phase::hello: return ended_before_hello(deadline_what_);
      case Phase::upstream: return upstream_failed(504, std::string(deadline_what_) + " reaching " + rec_.url);
      case Phase::reply: return close(true);
      default: return;
    }
  }

  void log_now() {
    if (logged_) return;
    logged_ = true;
    rec_.time = std::chrono::system_clock::now();
    rec_.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
    ctx_.log->write(rec_);
  }

  void close(bool log) {
    if (phase_ == Phase::closed) return;
    if (log) log_now();
    phase_ = Phase::closed;
    timer_.cancel();
    error_code ec;
    if (client_.is_open()) {
      client_.shutdown(tcp::socket::shutdown_both, ec);
      client_.close(ec);
    }
    if (upstream_) upstream_->close(ec);
    dial_.cancel();
  }

  Worker& worker_;
  ProxyContext& ctx_;
  tcp::socket client_;
  tcp::endpoint peer_;  // the client, as accept(2) reported it
  asio::steady_timer timer_;
  std::shared_ptr<const policy::Ruleset> policy_;
  Clock::time_point started_;
  const char* deadline_what_ = "";
  Phase phase_ = Phase::hello;

  std::string hello_bytes_;  // everything read from the client so far
  std::size_t hello_received_ = 0;  // its length, also while a read is pending
  std::string budget_key_;              // --budget-*: the registrable domain charged
  std::shared_ptr<void> budget_tunnel_;  // this tunnel's place in --budget-tunnels
  bool via_parent_ = false;  // out through --upstream-proxy
  std::string parent_leftover_;  // what the parent sent past its 200, for the client
  std::optional<intercept::SocketAddress> original_;
  std::uint16_t port_ = 443;
  std::string host_;
  std::uint16_t alert_version_ = 0x0303;
  std::array<std::uint8_t, 7> alert_{};

  std::optional<tcp::socket> upstream_;
  UpstreamDial dial_;  // while resolving and connecting
  std::shared_ptr<Relay> relay_;

  LogRecord rec_;
  bool logged_ = false;
};

}  // namespace

void start_tls_intercept_session(tcp::socket client, const tcp::endpoint& peer, Worker& worker) {
  worker.context.connections.fetch_add(1, std::memory_order_relaxed);
  std::make_shared<TlsInterceptSession>(std::move(client), peer, worker)->start();
}

}  // namespace awf::proxy
