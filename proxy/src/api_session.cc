// The API proxy's sessions (see api_session.h). Per request, in order: the
// head (our strict parser, --max-header-bytes, --request-timeout), the body
// (Content-Length or chunked, refused past 10 MiB), awf_api's rewrite, then
// either its local reply or: a kept provider connection of this worker
// (api_upstream_pool.h), else resolve the configured host (the proxy's
// resolver: --hosts-file, --dns-servers), connect, TLS with the host's name
// checked; the request, and the response relayed piece by piece as Beast's
// parser yields it, unless the retry rules (awf/api/retry.h) send the
// request again first. One deadline at a time, named in the 502 or the log.
//
// The address guard (SSRF filter) is not applied here: the host is the
// operator's configuration, never the agent's choice, and the certificate
// must be valid for that name, so an answer pointing elsewhere cannot carry
// the credential anywhere but a server holding the name's key. A provider
// or gateway on a private address then works without --allow-private-ranges,
// which would also open those ranges to the agent's own traffic.
#include "awf/proxy/api_session.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <optional>
#include <variant>

#include "awf/api/redaction.h"
#include "awf/api/request_path.h"
#include "awf/api/retry.h"
#include "awf/api/rewrite.h"
#include "awf/proxy/api_settings.h"
#include "awf/proxy/api_upstream_pool.h"
#include "awf/proxy/api_token_source.h"
#include "awf/proxy/chunked_decoder.h"
#include "awf/proxy/connector.h"
#include "awf/proxy/context.h"
#include "awf/proxy/http_head.h"

namespace awf::proxy {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

namespace {

constexpr std::size_t kHeadChunk = 4 * 1024;  // a request head's first read; longer heads take more
constexpr std::size_t kBodyChunk = 64 * 1024;
constexpr std::size_t kPieceBytes = ApiUpstream::kPieceBytes;  // one read of a response body or WebSocket direction
constexpr std::uint64_t kMaxLingerBytes = 16 * 1024 * 1024;  // dropped at most after a refusal

// The client's address as Squid prints it: IPv4-mapped IPv6 as plain IPv4.
std::string address_text(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

std::string seconds_text(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100) + " s";
}

std::string hex_size(std::size_t n) {
  char buf[24];
  const int len = std::snprintf(buf, sizeof buf, "%zx\r\n", n);
  return std::string(buf, static_cast<std::size_t>(len));
}

std::string reason_for(int status) {
  const std::string_view r = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
  return r.empty() || r == "<unknown-status>" ? "Unknown" : std::string(r);
}

// Headers that describe one connection, not the message: never relayed.
bool is_hop_by_hop(std::string_view lower) {
  for (std::string_view h : {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                             "upgrade", "proxy-authenticate", "proxy-authorization"}) {
    if (lower == h) return true;
  }
  return false;
}

// A request target as logged: the query cut after '?', as Squid's
// strip_query_terms does (it may hold an agent's key parameter), the
// fragment dropped.
std::string without_query(std::string_view target) {
  const std::size_t q = target.find_first_of("?#");
  if (q == std::string_view::npos) return std::string(target);
  return std::string(target.substr(0, q)) + (target[q] == '?' ? "?" : "");
}

// How the response body reaches the agent.
enum class Framing : std::uint8_t {
  none,         // HEAD, 1xx, 204, 304
  length,       // the provider's Content-Length, bytes passed as they come
  chunked,      // provider chunked or close-delimited, re-framed per piece
  until_close,  // an HTTP/1.0 agent: the body ends with the connection
};

// What a deadline was waiting for: its name in the 502 or the log line.
enum class Wait : std::uint8_t {
  request_head, request_body, connect, handshake, send, first_byte, idle, reply, retry_delay,
};

class ApiSession final : public Connection, public std::enable_shared_from_this<ApiSession> {
 public:
  ApiSession(tcp::socket client, const tcp::endpoint& peer, Worker& worker, api::Provider provider)
      : worker_(worker),
        ctx_(worker.context),
        api_(*worker.context.api),
        provider_(provider),
        client_(std::move(client)),
        timer_(client_.get_executor()),
        client_ip_(address_text(peer.address())),
        client_port_(peer.port()) {}

  ~ApiSession() override {
    worker_.remove(this);
    ctx_.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() {
    worker_.add(this);
    started_ = Clock::now();
    lifetime_end_ = started_ + ctx_.config.client_lifetime;
    // The configured host as logs may show it: a secret one (a BYOK URL's)
    // is [REDACTED] everywhere.
    host_shown_ = api_.redactor.scrub(api_.settings.at(provider_).host);
    read_head();
  }

  void stop(bool force) override {
    asio::post(client_.get_executor(), [self = shared_from_this(), force] { self->on_stop(force); });
  }

 private:
  enum class Phase : std::uint8_t {
    head,           // waiting for (more of) a request head
    body,           // reading the request body
    connect,        // resolving, connecting, TLS handshake
    send,           // writing the request to the provider
    response_head,  // waiting for the provider's response head
    inspect,        // reading an answer's body whole before deciding whether to send again
    retry_delay,    // waiting before sending again
    response_body,  // relaying the response body
    reply,          // writing a reply made here
    websocket,      // relaying both ways after a 101
    closing,        // our side shut, dropping what the agent still sends
    closed,
  };

  // One request and its response.
  struct Transaction {
    Clock::time_point started;
    bool active = false;  // a head arrived: the transaction is logged once it ends
    bool logged = false;
    bool head_request = false;
    bool keep_alive = false;  // read another request after this one
    bool unread_input = false;  // the reply refuses a request not read to its end
    std::string request_id;
    std::string model;  // for the log
    std::uint64_t request_bytes = 0;
    api::UpstreamRequest upstream;  // what goes to the provider
    std::string upstream_head;      // its head as written
    api::RetryState retry;          // what the retry rules have used up
    std::string inspected;          // the body of an answer read before deciding (api/retry.h)
    bool whole_body = false;        // `inspected` is the whole body: sent with its length
    // Fallback models (AWF_FALLBACK_MODELS) for this route, the next one to
    // look at, the request for it once checked, and the models sent so far.
    std::vector<std::string> fallbacks;
    bool fallbacks_read = false;
    std::size_t next_fallback = 0;
    std::optional<api::UpstreamRequest> fallback_request;
    std::vector<std::string> models_sent;
    bool fresh_retry_done = false;  // a reused connection failed before an answer; sent again on a new one
    Framing framing = Framing::none;
    LogRecord rec;
  };

  void on_stop(bool force) {
    draining_ = true;
    if (phase_ == Phase::closed) return;
    // Between requests nobody waits for this connection.
    if (phase_ == Phase::head && in_.empty()) return close_all();
    if (force) {
      spdlog::info("api {} client {}:{}: closed at shutdown", api::provider_name(provider_), client_ip_, client_port_);
      close_all();
    }
  }

  // ------------------------------------------------------------- requests

  void read_head() {
    tx_ = Transaction{};
    tx_.started = Clock::now();
    phase_ = Phase::head;
    head_ = RequestHead{};
    cursor_ = HeadCursor{};
    set_deadline(ctx_.config.request_timeout, Wait::request_head);
    parse_head();
  }

  void parse_head() {
    const ParseResult r = parse_request_head(in_, ctx_.config.max_header_bytes, head_, cursor_);
    if (r.status == ParseStatus::done) {
      in_.erase(0, head_.head_size);
      return on_head();
    }
    if (r.status == ParseStatus::error) return refuse_head(r.error);
    if (draining_ && in_.empty()) return close_all();
    read_client(kHeadChunk, [self = shared_from_this()](const error_code& ec) {
      if (self->phase_ != Phase::head) return;
      if (ec) return self->close_all();  // the agent left; a partial head is not a request
      self->parse_head();
    });
  }

  void refuse_head(HeadError error) {
    tx_.active = true;
    const bool too_large = error == HeadError::too_large;
    spdlog::info("api {} client {}:{}: request head refused: {}", api::provider_name(provider_), client_ip_,
                 client_port_, to_string(error));
    tx_.rec.url = too_large ? "error:request-too-large" : "error:invalid-request";
    tx_.request_id = api::random_uuid_v4();
    const int status = too_large ? 431 : 400;
    api::LocalReply reply;
    reply.status = status;
    reply.headers = {{"Content-Type", "application/json"}, {"X-Request-ID", tx_.request_id}};
    reply.body = "{\"error\":\"" + reason_for(status) + "\",\"message\":\"the request head was refused: " +
                 to_string(error) + "\"}";
    tx_.unread_input = true;
    send_local(std::move(reply), true);
  }

  void on_head() {
    ++requests_;
    tx_.active = true;
    tx_.rec.method = head_.method;
    tx_.rec.version = head_.version_minor == 0 ? "1.0" : "1.1";
    tx_.head_request = head_.method == "HEAD";
    tx_.keep_alive = head_.version_minor == 1 && !head_.connection_lists("close") && !draining_;
    tx_.rec.url = local_url();
    if (head_.body == BodyKind::length && head_.content_length > api::kMaxBodyBytes) {
      return body_too_large();  // refused before a byte of it is read
    }
    phase_ = Phase::body;
    body_.clear();
    decoder_ = ChunkedDecoder{};
    if (head_.body == BodyKind::length) body_.reserve(static_cast<std::size_t>(head_.content_length));
    // We answer Expect ourselves (and never pass it on): the agent's SDK
    // then sends the body at once instead of waiting for a timer.
    const std::string* expect = head_.find("expect");
    if (expect && iequals(*expect, "100-continue") && head_.body != BodyKind::none && head_.version_minor == 1) {
      out_ = "HTTP/1.1 100 Continue\r\n\r\n";
      set_deadline(ctx_.config.read_timeout, Wait::reply);
      asio::async_write(client_, asio::buffer(out_), [self = shared_from_this()](const error_code& ec, std::size_t) {
        if (self->phase_ != Phase::body) return;
        if (ec) return self->close_all();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    set_deadline(ctx_.config.read_timeout, Wait::request_body);
    switch (head_.body) {
      case BodyKind::none: return on_request();
      case BodyKind::length: {
        const auto need = static_cast<std::size_t>(head_.content_length - body_.size());
        const std::size_t take = std::min(need, in_.size());
        body_.append(in_, 0, take);
        in_.erase(0, take);
        if (body_.size() == head_.content_length) return on_request();
        break;
      }
      case BodyKind::chunked: {
        const std::size_t used = decoder_.feed(in_, body_, api::kMaxBodyBytes);
        in_.erase(0, used);
        if (decoder_.failed()) return refuse_body("malformed chunked body");
        if (body_.size() > api::kMaxBodyBytes) return body_too_large();
        if (decoder_.done()) return on_request();
        break;
      }
      case BodyKind::until_close: return refuse_body("request body without framing");
    }
    read_client(kBodyChunk, [self = shared_from_this()](const error_code& ec) {
      if (self->phase_ != Phase::body) return;
      if (ec) {
        spdlog::info("api {} client {}:{}: left during the request body ({} bytes read)",
                     api::provider_name(self->provider_), self->client_ip_, self->client_port_, self->body_.size());
        return self->close_all();
      }
      self->read_body();
    });
  }

  void body_too_large() {
    tx_.request_bytes = body_.size();
    tx_.request_id = api::choose_request_id(agent_headers());
    // The rest of the body is never read: the connection ends after the 413.
    tx_.unread_input = true;
    send_local(api::body_too_large_reply(tx_.request_id), true);
  }

  void refuse_body(const char* why) {
    spdlog::info("api {} client {}:{}: {}", api::provider_name(provider_), client_ip_, client_port_, why);
    tx_.request_id = api::choose_request_id(agent_headers());
    api::LocalReply reply;
    reply.status = 400;
    reply.headers = {{"Content-Type", "application/json"}, {"X-Request-ID", tx_.request_id}};
    reply.body = std::string("{\"error\":\"Bad Request\",\"message\":\"") + why + "\"}";
    tx_.unread_input = true;
    send_local(std::move(reply), true);
  }

  std::vector<api::Header> agent_headers() const {
    std::vector<api::Header> out;
    out.reserve(head_.headers.size());
    for (const auto& h : head_.headers) {
      if (!iequals(h.name, "expect")) out.push_back({h.name, h.value});
    }
    return out;
  }

  void on_request() {
    api::ApiRequest request;
    request.method = head_.method;
    request.target = head_.target;
    request.headers = agent_headers();
    request.body = std::move(body_);
    body_.clear();
    tx_.request_bytes = request.body.size();
    // With workload identity federation, the token held now (nullptr: none yet).
    const auto federated = federated_token(api_, provider_);
    api::Rewritten rewritten = api::rewrite_request(api_.settings, provider_, std::move(request), federated.get());
    if (auto* reply = std::get_if<api::LocalReply>(&rewritten)) {
      tx_.model = reply->model;
      if (const std::string* id = api::find_header(reply->headers, "X-Request-ID")) tx_.request_id = *id;
      const bool close = !tx_.keep_alive || websocket_requested();
      return send_local(std::move(*reply), close);
    }
    tx_.upstream = std::move(std::get<api::UpstreamRequest>(rewritten));
    tx_.model = tx_.upstream.model;
    tx_.request_id = tx_.upstream.request_id;
    tx_.request_bytes = tx_.upstream.body.size();
    tx_.rec.url = "https://" + host_shown_ + api::log_safe_text(without_query(tx_.upstream.target), api_.redactor);
    if (tx_.upstream.websocket) tx_.keep_alive = false;
    drop_remembered_values();
    dial();
  }

  // Header values the provider refused before (api/retry.h) are left out up
  // front, so only the first request carrying one pays for a second attempt.
  void drop_remembered_values() {
    for (const auto& dropped : api_.remembered_values[api::index_of(provider_)].drop_from(tx_.upstream.headers)) {
      spdlog::debug("api {} {} {}: left out {} value(s) the provider refused before: {}",
                    api::provider_name(provider_), tx_.rec.method, tx_.rec.url, dropped.header,
                    api::log_safe_text(join(dropped.values), api_.redactor));
    }
  }

  static std::string join(const std::vector<std::string>& values) {
    std::string out;
    for (const auto& v : values) out += (out.empty() ? "" : ", ") + v;
    return out;
  }

  bool websocket_requested() const { return head_.has_token("upgrade", "websocket"); }

  // The URL logged for a request answered here: the agent's path on the
  // provider's host (nothing was sent there; the code says so).
  std::string local_url() const {
    if (api::is_origin_form(head_.target)) {
      return "https://" + host_shown_ + api::log_safe_text(without_query(head_.target), api_.redactor);
    }
    return api::log_safe_text(without_query(head_.target), api_.redactor);
  }

  // ------------------------------------------------------- to the provider

  // Provider connections are kept per worker by host and port
  // (api_upstream_pool.h): an idle one is used when there is one, else a
  // new one is made. `pooled`: false for a new connection only.
  void dial(bool pooled = true) {
    phase_ = Phase::connect;
    if (pooled && !tx_.upstream.websocket) {
      if (auto up = pool().take(pool_key())) {
        up_ = std::move(up);
        tx_.rec.dest = up_->dest;
        tx_.rec.hierarchy = Hierarchy::direct;
        return send_request();
      }
    }
    set_deadline(ctx_.config.connect_timeout, Wait::connect);
    const std::string& host = tx_.upstream.host;
    error_code ec;
    const asio::ip::address literal = asio::ip::make_address(host, ec);
    if (!ec) return connect({tcp::endpoint(literal, tx_.upstream.port)});
    ctx_.resolver->resolve(
        host, client_.get_executor(),
        [self = shared_from_this(), generation = ++dial_generation_](Resolution r) {
          if (generation != self->dial_generation_ || self->phase_ != Phase::connect) return;
          self->on_resolved(std::move(r));
        },
        &worker_.resolver_cache);
  }

  ApiUpstreamPool& pool() {
    if (!worker_.api_upstreams) worker_.api_upstreams = std::make_shared<ApiUpstreamPool>();
    return *worker_.api_upstreams;
  }

  std::string pool_key() const { return tx_.upstream.host + ":" + std::to_string(tx_.upstream.port); }

  // A connection taken from the pool that ended (end of stream, reset)
  // before a byte of the answer: the provider dropped it while idle, as
  // servers do, and the request never reached it. Once per request.
  bool stale_connection(const error_code& ec) const {
    return up_ && up_->exchanges > 0 && !tx_.fresh_retry_done && (is_closed_error(ec) || ec == asio::error::broken_pipe) &&
           !(up_->parser && up_->parser->got_some()) && up_->buffer.size() == 0;
  }

  void send_on_new_connection(const std::string& why) {
    spdlog::debug("api {} {} {}: {} on a reused connection; sending on a new one", api::provider_name(provider_),
                  tx_.rec.method, tx_.rec.url, api_.redactor.scrub(why));
    tx_.fresh_retry_done = true;
    drop_upstream();
    dial(false);
  }

  // After an exchange: the connection goes back to the pool when its answer
  // was read whole and the provider keeps it open (never a WebSocket's, never
  // while draining); otherwise it is closed.
  void release_upstream() {
    if (up_ && !tx_.upstream.websocket && !ctx_.draining.load(std::memory_order_relaxed) && up_->in_step()) {
      ++up_->exchanges;
      ++dial_generation_;
      pool().park(pool_key(), std::move(up_));
      up_.reset();
    }
    drop_upstream();
  }

  void on_resolved(Resolution r) {
    if (r.addresses.empty()) {
      return connection_failed("cannot resolve " + host_shown_ + ": " + api_.redactor.scrub(r.error));
    }
    std::vector<tcp::endpoint> candidates;
    for (const auto& a : r.addresses) candidates.emplace_back(a, tx_.upstream.port);
    connect(std::move(candidates));
  }

  void connect(std::vector<tcp::endpoint> candidates) {
    connector_ = Connector::start(client_.get_executor(), std::move(candidates), Connector::kDefaultAttemptDelay,
                                  [self = shared_from_this(), generation = dial_generation_](Connector::Outcome o) {
                                    if (generation != self->dial_generation_ || self->phase_ != Phase::connect) return;
                                    self->connector_.reset();
                                    self->on_connected(std::move(o));
                                  });
  }

  void on_connected(Connector::Outcome o) {
    tx_.rec.dest = o.endpoint.address().to_string() + ":" + std::to_string(o.endpoint.port());
    tx_.rec.hierarchy = Hierarchy::direct;
    if (o.error) {
      spdlog::info("api {}: cannot connect to {}: {}", api::provider_name(provider_), host_shown_, o.detail);
      return connection_failed("cannot connect to " + host_shown_ + ": " + o.error.message());
    }
    auto up = std::make_shared<ApiUpstream>(std::move(o.socket), api_.tls);
    up->dest = tx_.rec.dest;
    up_ = up;
    SSL* ssl = up->stream.native_handle();
    const std::string& host = tx_.upstream.host;
    error_code ec;
    asio::ip::make_address(host, ec);
    // Verification is never relaxed: the chain must lead to a trusted CA
    // (system store, --api-ca-cert) and the certificate must name the
    // configured host (SNI carries the same name).
    const bool named = ec.failed();
    const int ok = named ? (SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && ::SSL_set1_host(ssl, host.c_str()) == 1)
                         : ::X509_VERIFY_PARAM_set1_ip_asc(::SSL_get0_param(ssl), host.c_str()) == 1;
    if (!ok) return fail_upstream("cannot set up TLS for " + host_shown_);
    ::SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    wait_ = Wait::handshake;  // the same connect budget, named for the step
    up->stream.async_handshake([self = shared_from_this(), up](const error_code& e) {
      if (up != self->up_ || self->phase_ != Phase::connect) return;
      self->on_handshake(e);
    });
  }

  void on_handshake(const error_code& ec) {
    if (ec) {
      const long verify = ::SSL_get_verify_result(up_->stream.native_handle());
      if (verify != X509_V_OK) {
        return fail_upstream("TLS certificate verification failed for " + host_shown_ + ": " +
                             ::X509_verify_cert_error_string(verify));
      }
      return connection_failed("TLS handshake with " + host_shown_ + " failed: " + ec.message());
    }
    send_request();
  }

  void send_request() {
    phase_ = Phase::send;
    set_deadline(ctx_.config.read_timeout, Wait::send);
    const api::UpstreamRequest& u = tx_.upstream;
    std::string& h = tx_.upstream_head;
    h = u.method + " " + u.target + " HTTP/1.1\r\n";
    for (const auto& header : u.headers) h += header.name + ": " + header.value + "\r\n";
    // HTTP/1.1: the connection stays open for the next request unless the
    // provider says otherwise (a WebSocket upgrade carries its own
    // Connection header).
    h += "\r\n";
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(h), asio::buffer(u.body)};
    auto up = up_;
    asio::async_write(up->stream, buffers, [self = shared_from_this(), up](const error_code& ec, std::size_t) {
      if (up != self->up_ || self->phase_ != Phase::send) return;
      if (ec) {
        const std::string why = "cannot send the request to " + self->host_shown_ + ": " + ec.message();
        if (self->stale_connection(ec)) return self->send_on_new_connection(why);
        return self->connection_failed(why);
      }
      self->read_response_head(true);
    });
  }

  // `arm`: false after an interim (1xx) response, so a provider cannot
  // push the first-byte deadline back by sending them forever.
  void read_response_head(bool arm) {
    phase_ = Phase::response_head;
    if (arm) set_deadline(ctx_.config.read_timeout, Wait::first_byte);
    auto up = up_;
    up->parser.emplace();
    up->parser->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(ctx_.config.max_header_bytes, UINT32_MAX)));
    up->parser->body_limit(boost::none);  // the agent takes what the provider sends, piece by piece
    if (tx_.head_request) up->parser->skip(true);
    http::async_read_header(up->stream, up->buffer, *up->parser,
                            [self = shared_from_this(), up](const error_code& ec, std::size_t) {
                              if (up != self->up_ || self->phase_ != Phase::response_head) return;
                              self->on_response_head(ec);
                            });
  }

  static bool is_closed_error(const error_code& ec) {
    return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
           ec == ssl::error::stream_truncated || ec == asio::error::connection_reset;
  }

  void on_response_head(const error_code& ec) {
    if (ec) {
      if (is_closed_error(ec)) {
        const std::string why = host_shown_ + " closed the connection before a response";
        if (stale_connection(ec)) return send_on_new_connection(why);
        return connection_failed(why);
      }
      return fail_upstream("unreadable response from " + host_shown_ + ": " + ec.message());
    }
    const auto& msg = up_->parser->get();
    const int status = static_cast<int>(msg.result_int());
    if (status >= 100 && status < 200 && status != 101) return read_response_head(false);
    tx_.rec.status = status;
    tx_.rec.code = ResultCode::tcp_miss;
    if (const auto type = msg[http::field::content_type]; !type.empty()) {
      std::string_view media(type.data(), type.size());
      media = media.substr(0, media.find(';'));
      while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
      tx_.rec.content_type = std::string(media);
    }
    const bool upgraded = tx_.upstream.websocket && status == 101;
    if (!tx_.upstream.websocket && !tx_.head_request) {
      // Nothing of the answer has reached the agent yet: the retry rules
      // may still send the request again instead.
      if (api::needs_body(provider_, status, fallback_left())) return inspect_body();
      if (send_again_after(status)) return;
    }
    std::string head = agent_response_head(status, upgraded);
    if (upgraded) return start_websocket(std::move(head));
    write_response_head(std::move(head));
  }

  // ------------------------------------------------------------- retries

  // An answer whose body decides (a 400 from Anthropic or Copilot) is read
  // whole first, up to api::kMaxInspectedBodyBytes; a bigger one goes to
  // the agent unchanged, the bytes read so far first.
  void inspect_body() {
    phase_ = Phase::inspect;
    if (up_->parser->is_done()) return on_inspected();
    read_piece([self = shared_from_this()](std::size_t produced, const error_code& ec) {
      if (produced != 0) self->tx_.inspected.append(self->up_->piece(), produced);
      if (ec) {
        return self->fail_upstream(self->host_shown_ + " ended its answer early: " +
                                   (is_closed_error(ec) ? "the connection closed" : ec.message()));
      }
      if (self->tx_.inspected.size() > api::kMaxInspectedBodyBytes) {
        // Too big to be a refusal we act on: relayed as it comes.
        std::string first = std::move(self->tx_.inspected);
        self->tx_.inspected.clear();
        const int status = static_cast<int>(self->up_->parser->get().result_int());
        return self->write_response_head(self->agent_response_head(status, false), std::move(first));
      }
      self->inspect_body();
    });
  }

  // Reads the next piece of the response body into the provider
  // connection's piece; `then(produced, ec)` runs unless the session moved
  // on meanwhile (another phase, another connection). When nothing of the
  // provider's is held here or in OpenSSL, it first waits for the socket
  // with the piece and the read buffer freed: a stream waiting for its next
  // event holds no buffer.
  template <typename Then>
  void read_piece(Then then) {
    auto up = up_;
    set_deadline(ctx_.config.read_timeout, Wait::idle);
    if (up->stream.has_buffered_input()) return read_piece_now(std::move(then));
    if (up->buffer.size() != 0) {
      // What the read buffer holds first: body bytes that came with the
      // head or behind a chunk's size line. Bytes it cannot take are an
      // unfinished unit (a chunk's CRLF, half a size line) that needs the
      // socket's next bytes.
      error_code ec;
      const std::size_t produced = parse_buffered(*up, ec);
      if (produced != 0 || ec || up->parser->is_done()) return then(produced, ec);
    }
    up->release_buffers();
    up->stream.next_layer().async_wait(
        tcp::socket::wait_read,
        [self = shared_from_this(), up, phase = phase_, then = std::move(then)](const error_code& ec) mutable {
          if (up != self->up_ || self->phase_ != phase) return;
          if (ec) return then(0, ec);
          self->read_piece_now(std::move(then));
        });
  }

  // Runs the parser over the read buffer into the piece without reading;
  // returns the body bytes produced.
  static std::size_t parse_buffered(ApiUpstream& up, error_code& ec) {
    auto& body = aim_at_piece(up);
    while (up.buffer.size() != 0 && !up.parser->is_done() && body.size != 0) {
      const std::size_t used = up.parser->put(up.buffer.data(), ec);
      up.buffer.consume(used);
      if (ec == http::error::need_more || ec == http::error::need_buffer) {
        ec = {};
        break;
      }
      if (ec || used == 0) break;
    }
    return kPieceBytes - body.size;
  }

  // Points the parser's body at the whole piece: what it parses next goes
  // there.
  static http::buffer_body::value_type& aim_at_piece(ApiUpstream& up) {
    auto& body = up.parser->get().body();
    body.data = up.piece();
    body.size = kPieceBytes;
    return body;
  }

  template <typename Then>
  void read_piece_now(Then then) {
    auto up = up_;
    aim_at_piece(*up);
    up->buffer.reserve(kPieceBytes);  // reads of a piece each, not of the 512 bytes an empty buffer asks for
    http::async_read_some(up->stream, up->buffer, *up->parser,
                          [self = shared_from_this(), up, phase = phase_, then = std::move(then)](
                              error_code ec, std::size_t) mutable {
                            if (up != self->up_ || self->phase_ != phase) return;
                            if (ec == http::error::need_buffer) ec = {};  // the piece is full
                            // A provider that closes without TLS's
                            // close_notify still ends a close-delimited body.
                            if (ec == ssl::error::stream_truncated && up->parser->need_eof()) up->parser->put_eof(ec);
                            then(kPieceBytes - up->parser->get().body().size, ec);
                          });
  }

  void on_inspected() {
    const int status = static_cast<int>(up_->parser->get().result_int());
    if (send_again_after(status)) return;
    tx_.whole_body = true;
    std::string head = agent_response_head(status, false);  // with the length of tx_.inspected
    std::string body = std::move(tx_.inspected);
    tx_.inspected.clear();
    write_response_head(std::move(head), std::move(body));
  }

  // Applies the retry rules to an answer (its body in tx_.inspected when it
  // was read); true when the request goes out again instead.
  bool send_again_after(int status) {
    const api::ProviderConfig& config = api_.settings.at(provider_);
    const api::RetryDecision d =
        api::decide_retry(provider_, config, status, tx_.inspected, tx_.upstream, tx_.retry, fallback_left());
    const std::string where = std::string(api::provider_name(provider_)) + " " + tx_.rec.method + " " + tx_.rec.url;
    switch (d.action) {
      case api::RetryDecision::Action::deliver: return false;
      case api::RetryDecision::Action::drop_values: {
        const std::string values = api::log_safe_text(join(d.refused.values), api_.redactor);
        spdlog::info("api {}: {} refused {} value(s) {}; sending again without them", where, status,
                     d.refused.header, values);
        tx_.fallback_request.reset();  // made from the request before the values went
        const auto left_out = api_.remembered_values[api::index_of(provider_)].remember(d.refused);
        if (!left_out.empty()) {
          spdlog::warn("api {}: {} already has {} refused values remembered; not remembering {}", where,
                       d.refused.header, api::RememberedHeaderValues::kMaxValuesPerHeader,
                       api::log_safe_text(join(left_out), api_.redactor));
        }
        send_again(std::chrono::milliseconds(0));
        return true;
      }
      case api::RetryDecision::Action::resend:
        spdlog::info("api {}: {} says the model is not supported (yet); sending again in {}", where, status,
                     seconds_text(d.delay));
        send_again(d.delay);
        return true;
      case api::RetryDecision::Action::fall_back:
        fall_back(std::to_string(status) + " " + reason_for(status) + " from " + host_shown_);
        return true;
    }
    return false;
  }

  // Whether a fallback model is left for this request: the next entry of
  // AWF_FALLBACK_MODELS for this route not sent yet, whose request passes
  // the model policy (one refused is skipped with a warning, never sent;
  // settings refuse such entries at start, this holds whatever they say).
  // Only requests whose body names the model (api::can_change_model).
  bool fallback_left() {
    if (api_.settings.fallback_models.empty()) return false;
    if (!tx_.fallbacks_read) {
      tx_.fallbacks_read = true;
      if (api::can_change_model(tx_.upstream)) tx_.fallbacks = api::fallback_models_for(api_.settings, provider_);
      tx_.models_sent.push_back(tx_.upstream.model);
    }
    if (tx_.fallback_request) return true;
    for (; tx_.next_fallback < tx_.fallbacks.size(); ++tx_.next_fallback) {
      const std::string& model = tx_.fallbacks[tx_.next_fallback];
      if (std::any_of(tx_.models_sent.begin(), tx_.models_sent.end(),
                      [&](const std::string& sent) { return iequals(sent, model); })) {
        continue;
      }
      auto next = api::with_model(api_.settings, tx_.upstream, model);
      if (!next) return false;
      if (auto* refused = std::get_if<api::LocalReply>(&*next)) {
        spdlog::warn("api {} {} {}: fallback model {} is refused by the model policy; skipped",
                     api::provider_name(provider_), tx_.rec.method, tx_.rec.url,
                     api::log_safe_text(refused->model, api_.redactor));
        continue;
      }
      tx_.fallback_request = std::move(std::get<api::UpstreamRequest>(*next));
      return true;
    }
    return false;
  }

  // The request goes out again with the next fallback model (fallback_left()
  // said there is one); `why` the last attempt failed, for the log.
  void fall_back(const std::string& why) {
    api::UpstreamRequest next = std::move(*tx_.fallback_request);
    tx_.fallback_request.reset();
    ++tx_.next_fallback;
    spdlog::info("api {} {} {}: {}; falling back from model {} to {}", api::provider_name(provider_), tx_.rec.method,
                 tx_.rec.url, api_.redactor.scrub(why), api::log_safe_text(tx_.upstream.model, api_.redactor),
                 api::log_safe_text(next.model, api_.redactor));
    tx_.models_sent.push_back(next.model);
    tx_.upstream = std::move(next);
    tx_.model = tx_.upstream.model;
    tx_.request_bytes = tx_.upstream.body.size();
    send_again(std::chrono::milliseconds(0));
  }

  // A failure to reach the provider or to get an answer head from it: the
  // next fallback model when one is left, else the 502.
  void connection_failed(const std::string& reason) {
    if (fallback_left()) return fall_back(reason);
    fail_upstream(reason);
  }

  // The same transaction's request goes out again (after `delay`) on a new
  // exchange: what the last answer left is dropped, nothing of it was sent.
  void send_again(std::chrono::milliseconds delay) {
    release_upstream();
    tx_.inspected.clear();
    tx_.whole_body = false;
    tx_.rec.status = 0;
    tx_.rec.code = ResultCode::none_none;
    tx_.rec.content_type.clear();
    if (delay.count() == 0) return dial();
    phase_ = Phase::retry_delay;
    set_deadline(delay, Wait::retry_delay);
  }

  // The provider's status and headers for the agent: hop-by-hop headers
  // (and those its Connection names) dropped, our X-Request-ID instead of
  // any it sent, the framing chosen here.
  std::string agent_response_head(int status, bool upgraded) {
    const auto& msg = up_->parser->get();
    std::vector<std::string> listed;
    for (const auto& f : msg) {
      if (!iequals(f.name_string(), "connection")) continue;
      std::string_view v = f.value();
      while (!v.empty()) {
        const std::size_t comma = v.find(',');
        std::string_view token = v.substr(0, comma);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
        if (!token.empty()) listed.push_back(ascii_lower(token));
        v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
      }
    }
    const std::string_view reason = msg.reason();
    std::string h = "HTTP/1.1 " + std::to_string(status) + " " +
                    (reason.empty() ? reason_for(status) : std::string(reason)) + "\r\n";
    for (const auto& f : msg) {
      const std::string lower = ascii_lower(f.name_string());
      const bool kept_for_upgrade = upgraded && lower == "upgrade";
      if (!kept_for_upgrade && (is_hop_by_hop(lower) || lower == "content-length" || lower == "x-request-id" ||
                                std::find(listed.begin(), listed.end(), lower) != listed.end())) {
        continue;
      }
      h.append(f.name_string()).append(": ").append(f.value()).append("\r\n");
    }
    h += "X-Request-ID: " + tx_.request_id + "\r\n";
    if (upgraded) {
      tx_.framing = Framing::none;
      h += "Connection: Upgrade\r\n\r\n";
      return h;
    }
    const bool no_body = tx_.head_request || status / 100 == 1 || status == 204 || status == 304;
    if (no_body) {
      tx_.framing = Framing::none;
      if (const auto length = msg[http::field::content_length]; !length.empty()) {
        h.append("Content-Length: ").append(length).append("\r\n");
      }
    } else if (tx_.whole_body) {
      tx_.framing = Framing::length;
      h += "Content-Length: " + std::to_string(tx_.inspected.size()) + "\r\n";
    } else if (const auto length = up_->parser->content_length(); length && !up_->parser->chunked()) {
      tx_.framing = Framing::length;
      h += "Content-Length: " + std::to_string(*length) + "\r\n";
    } else if (head_.version_minor == 1) {
      // Chunked from the provider, or ended by its close: chunked to the
      // agent either way, so the connection stays usable and each piece
      // goes out as it arrives.
      tx_.framing = Framing::chunked;
      h += "Transfer-Encoding: chunked\r\n";
    } else {
      tx_.framing = Framing::until_close;
      tx_.keep_alive = false;
    }
    if (!tx_.keep_alive || draining_) h += "Connection: close\r\n";
    h += "\r\n";
    return h;
  }

  // `first`: body bytes already read (an inspected answer), sent behind the
  // head in the framing chosen for the agent.
  void write_response_head(std::string head, std::string first = {}) {
    phase_ = Phase::response_body;
    release_request_buffers();
    if (tx_.models_sent.size() > 1) {
      spdlog::info("api {} {} {}: {} answered by fallback model {} (asked for {})", api::provider_name(provider_),
                   tx_.rec.method, tx_.rec.url, tx_.rec.status, api::log_safe_text(tx_.upstream.model, api_.redactor),
                   api::log_safe_text(tx_.models_sent.front(), api_.redactor));
    }
    out_ = std::move(head);
    if (!first.empty()) {
      if (tx_.framing == Framing::chunked) out_ += hex_size(first.size()) + first + "\r\n";
      else if (tx_.framing != Framing::none) out_ += first;
    }
    tx_.rec.bytes_to_client += out_.size();
    set_deadline(ctx_.config.read_timeout, Wait::idle);
    auto up = up_;
    asio::async_write(client_, asio::buffer(out_), [self = shared_from_this(), up](const error_code& ec, std::size_t) {
      if (up != self->up_ || self->phase_ != Phase::response_body) return;
      if (ec) return self->abort_response("the agent left");
      self->pump_body();
    });
  }

  // Once the answer's head goes to the agent the request is never sent
  // again: its copies and the agent's read buffer are freed for the rest of
  // an answer that may stream for minutes.
  void release_request_buffers() {
    std::string().swap(tx_.upstream.body);
    std::string().swap(tx_.upstream_head);
    tx_.fallback_request.reset();
    if (in_.empty()) std::string().swap(in_);
    else in_.shrink_to_fit();
  }

  void pump_body() {
    if (up_->parser->is_done()) return finish_body();
    read_piece([self = shared_from_this()](std::size_t produced, const error_code& ec) {
      self->on_body_piece(produced, ec);
    });
  }

  void on_body_piece(std::size_t produced, const error_code& ec) {
    if (produced == 0) {
      if (ec) return abort_response(is_closed_error(ec) ? "the provider ended the response early" : ec.message());
      return pump_body();
    }
    auto up = up_;
    auto done = [self = shared_from_this(), up, ec](const error_code& write_error, std::size_t) {
      if (up != self->up_ || self->phase_ != Phase::response_body) return;
      if (write_error) return self->abort_response("the agent left");
      if (ec) return self->abort_response(is_closed_error(ec) ? "the provider ended the response early" : ec.message());
      self->pump_body();
    };
    if (tx_.framing == Framing::chunked) {
      chunk_head_ = hex_size(produced);
      tx_.rec.bytes_to_client += chunk_head_.size() + produced + 2;
      const std::array<asio::const_buffer, 3> buffers{asio::buffer(chunk_head_), asio::buffer(up->piece(), produced),
                                                      asio::buffer("\r\n", 2)};
      asio::async_write(client_, buffers, std::move(done));
    } else {
      tx_.rec.bytes_to_client += produced;
      asio::async_write(client_, asio::buffer(up->piece(), produced), std::move(done));
    }
  }

  void finish_body() {
    if (tx_.framing != Framing::chunked) return transaction_done();
    out_ = "0\r\n\r\n";
    tx_.rec.bytes_to_client += out_.size();
    auto up = up_;
    asio::async_write(client_, asio::buffer(out_), [self = shared_from_this(), up](const error_code& ec, std::size_t) {
      if (up != self->up_ || self->phase_ != Phase::response_body) return;
      if (ec) return self->abort_response("the agent left");
      self->transaction_done();
    });
  }

  // After the head went out nothing can be said to the agent any more: the
  // connection ends, short, and the line logs what was sent.
  void abort_response(const std::string& why) {
    spdlog::info("api {} {} {}: response cut: {}", api::provider_name(provider_), tx_.rec.method, tx_.rec.url, why);
    close_all();
  }

  // Before a response head, a failure is a 502 naming it.
  void fail_upstream(const std::string& reason) {
    const std::string shown = api_.redactor.scrub(reason);
    spdlog::info("api {} {} {}: {}", api::provider_name(provider_), tx_.rec.method, tx_.rec.url, shown);
    drop_upstream();
    tx_.rec.code = ResultCode::none_none;
    send_local(api::upstream_failure_reply(tx_.request_id, shown), !tx_.keep_alive);
  }

  void drop_upstream() {
    ++dial_generation_;
    if (connector_) {
      connector_->cancel();
      connector_.reset();
    }
    if (up_) {
      up_->close();
      up_.reset();
    }
  }

  // ------------------------------------------------------------ WebSocket

  // After the provider's 101 the two connections carry WebSocket frames,
  // copied both ways unchanged until either side ends (WebSocket has its
  // own close handshake, so there is no half-close to keep). The provider's
  // side is TLS, so this is a copy loop, not the splicing Relay.
  void start_websocket(std::string head) {
    phase_ = Phase::websocket;
    tx_.framing = Framing::none;
    auto up = up_;
    // Frames the provider sent right behind its 101 go out behind our head;
    // bytes the agent sent behind its request go up first.
    ws_down_ = std::move(head);
    ws_down_ += beast::buffers_to_string(up->buffer.data());
    up->buffer.consume(up->buffer.size());
    tx_.rec.bytes_to_client += ws_down_.size();
    ws_up_ = std::move(in_);
    in_.clear();
    std::string().swap(tx_.upstream.body);
    tx_.fallback_request.reset();
    set_deadline(ctx_.config.read_timeout, Wait::idle);
    asio::async_write(client_, asio::buffer(ws_down_), [self = shared_from_this(), up](const error_code& ec, std::size_t) {
      if (!self->websocket_live(up)) return;
      if (ec) return self->end_websocket("the agent left");
      self->ws_read_provider();
    });
    if (ws_up_.empty()) return ws_read_agent();
    tx_.request_bytes += ws_up_.size();
    asio::async_write(up->stream, asio::buffer(ws_up_), [self = shared_from_this(), up](const error_code& ec, std::size_t) {
      if (!self->websocket_live(up)) return;
      if (ec) return self->end_websocket("the provider left");
      self->ws_read_agent();
    });
  }

  bool websocket_live(const std::shared_ptr<ApiUpstream>& up) const { return phase_ == Phase::websocket && up == up_; }

  void ws_read_provider() {
    auto up = up_;
    up->stream.async_read_some(asio::buffer(up->piece(), kPieceBytes), [self = shared_from_this(), up](const error_code& ec, std::size_t n) {
      if (!self->websocket_live(up)) return;
      if (ec) return self->end_websocket(is_closed_error(ec) ? "the provider closed" : ec.message());
      self->set_deadline(self->ctx_.config.read_timeout, Wait::idle);
      self->tx_.rec.bytes_to_client += n;
      asio::async_write(self->client_, asio::buffer(up->piece(), n),
                        [self, up](const error_code& write_error, std::size_t) {
                          if (!self->websocket_live(up)) return;
                          if (write_error) return self->end_websocket("the agent left");
                          self->ws_read_provider();
                        });
    });
  }

  void ws_read_agent() {
    auto up = up_;
    client_.async_read_some(asio::buffer(agent_piece(), kPieceBytes), [self = shared_from_this(), up](const error_code& ec, std::size_t n) {
      if (!self->websocket_live(up)) return;
      if (ec) return self->end_websocket(is_closed_error(ec) ? "the agent closed" : ec.message());
      self->set_deadline(self->ctx_.config.read_timeout, Wait::idle);
      self->tx_.request_bytes += n;
      asio::async_write(up->stream, asio::buffer(self->agent_piece(), n),
                        [self, up](const error_code& write_error, std::size_t) {
                          if (!self->websocket_live(up)) return;
                          if (write_error) return self->end_websocket("the provider left");
                          self->ws_read_agent();
                        });
    });
  }

  void end_websocket(const std::string& why) {
    spdlog::debug("api {} WebSocket {} ended: {}", api::provider_name(provider_), tx_.rec.url, why);
    close_all();
  }

  // -------------------------------------------------------------- replies

  // A reply made here (awf_api's, a 413, a 502): JSON, whole, then the
  // next request or the end of the connection.
  void send_local(api::LocalReply reply, bool close) {
    phase_ = Phase::reply;
    drop_upstream();
    if (close) tx_.keep_alive = false;
    tx_.rec.status = reply.status;
    tx_.rec.content_type = "application/json";
    if (tx_.request_id.empty()) {
      if (const std::string* id = api::find_header(reply.headers, "X-Request-ID")) tx_.request_id = *id;
    }
    out_ = "HTTP/1.1 " + std::to_string(reply.status) + " " + reason_for(reply.status) + "\r\n";
    for (const auto& h : reply.headers) out_ += h.name + ": " + h.value + "\r\n";
    out_ += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
    if (!tx_.keep_alive || draining_) out_ += "Connection: close\r\n";
    out_ += "\r\n";
    if (!tx_.head_request) out_ += reply.body;
    tx_.rec.bytes_to_client += out_.size();
    set_deadline(ctx_.config.read_timeout, Wait::reply);
    asio::async_write(client_, asio::buffer(out_), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->phase_ != Phase::reply) return;
      if (ec) return self->close_all();
      self->transaction_done();
    });
  }

  void transaction_done() {
    release_upstream();
    log_now();
    if (tx_.keep_alive && !draining_) return read_head();
    if (tx_.unread_input) return linger();
    close_all();
  }

  // A reply that refuses a request before its end (413, a broken body)
  // leaves the agent still sending. Closing at once would answer its bytes
  // with a reset, which can destroy the reply before the agent reads it; so
  // our side is shut, and what the agent still sends is read and dropped
  // for a moment (a lingering close, as web servers do).
  void linger() {
    phase_ = Phase::closing;
    error_code ec;
    client_.shutdown(tcp::socket::shutdown_send, ec);
    in_.clear();
    set_deadline(std::chrono::milliseconds(2'000), Wait::reply);
    drain_input();
  }

  void drain_input() {
    client_.async_read_some(asio::buffer(agent_piece(), kPieceBytes), [self = shared_from_this()](const error_code& ec, std::size_t n) {
      if (self->phase_ != Phase::closing) return;
      self->lingered_ += n;
      if (ec || self->lingered_ > kMaxLingerBytes) return self->close_all();
      self->drain_input();
    });
  }

  // ------------------------------------------------------------- plumbing

  template <typename Handler>
  void read_client(std::size_t chunk, Handler&& handler) {
    const std::size_t have = in_.size();
    in_.resize(have + chunk);
    client_.async_read_some(asio::buffer(in_.data() + have, chunk),
                            [self = shared_from_this(), have, h = std::forward<Handler>(handler)](
                                const error_code& ec, std::size_t n) mutable {
                              self->in_.resize(have + n);
                              h(ec);
                            });
  }

  void set_deadline(std::chrono::milliseconds limit, Wait what) {
    wait_ = what;
    wait_limit_ = limit;
    timer_.expires_at(std::min(Clock::now() + limit, lifetime_end_));
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec) return;
      if (self->timer_.expiry() > Clock::now()) return;  // re-armed after this wait was queued
      self->on_deadline();
    });
  }

  // The deadline's name, as the 502 and the log say it.
  std::string deadline_text() const {
    const std::string in = " within " + seconds_text(wait_limit_);
    switch (wait_) {
      case Wait::request_head: return "request timeout: no whole request head" + in;
      case Wait::request_body: return "request body timeout: no body bytes" + in;
      case Wait::connect: return "connect timeout: no connection to " + host_shown_ + in;
      case Wait::handshake: return "connect timeout: no TLS handshake with " + host_shown_ + in;
      case Wait::send: return "idle timeout: " + host_shown_ + " took no request bytes" + in;
      case Wait::first_byte: return "first-byte timeout: no response head from " + host_shown_ + in;
      case Wait::idle: return "idle timeout: nothing moved" + in;
      case Wait::reply: return "write timeout: the agent took nothing" + in;
      case Wait::retry_delay: return "retry delay";
    }
    return "timeout";
  }

  void on_deadline() {
    if (Clock::now() >= lifetime_end_ && phase_ != Phase::closed) {
      spdlog::info("api {} client {}:{}: --client-lifetime reached", api::provider_name(provider_), client_ip_,
                   client_port_);
      return close_all();
    }
    switch (phase_) {
      case Phase::head:
        if (!in_.empty()) {
          spdlog::info("api {} client {}:{}: {}", api::provider_name(provider_), client_ip_, client_port_,
                       deadline_text());
        }
        return close_all();
      case Phase::body:
        spdlog::info("api {} {} {}: {}", api::provider_name(provider_), tx_.rec.method, tx_.rec.url, deadline_text());
        tx_.rec.status = 408;
        return close_all();
      case Phase::connect:
      case Phase::send:
      case Phase::response_head: return connection_failed(deadline_text());
      case Phase::inspect: return fail_upstream(deadline_text());
      case Phase::retry_delay: return dial();
      case Phase::response_body: return abort_response(deadline_text());
      case Phase::websocket: return end_websocket(deadline_text());
      case Phase::reply:
      case Phase::closing: return close_all();
      case Phase::closed: return;
    }
  }

  void log_now() {
    if (!tx_.active || tx_.logged) return;
    tx_.logged = true;
    LogRecord& r = tx_.rec;
    r.time = std::chrono::system_clock::now();
    r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - tx_.started);
    r.client_ip = client_ip_;
    r.client_port = client_port_;
    r.host = host_shown_;
    r.user_agent = "-";
    r.api_provider = std::string(api::provider_name(provider_));
    r.api_model = api::log_safe_text(tx_.model, api_.redactor);
    r.api_request_id = api::log_safe_text(tx_.request_id, api_.redactor);
    r.api_request_bytes = tx_.request_bytes;
    ctx_.log->write(std::move(r));
  }

  void close_all() {
    if (phase_ == Phase::closed) return;
    log_now();
    phase_ = Phase::closed;
    timer_.cancel();
    drop_upstream();
    error_code ec;
    if (client_.is_open()) {
      client_.shutdown(tcp::socket::shutdown_both, ec);
      client_.close(ec);
    }
  }

  Worker& worker_;
  ProxyContext& ctx_;
  ApiProxy& api_;
  const api::Provider provider_;
  tcp::socket client_;
  asio::steady_timer timer_;
  const std::string client_ip_;
  const std::uint16_t client_port_;
  std::string host_shown_;
  Clock::time_point started_;
  Clock::time_point lifetime_end_;
  Phase phase_ = Phase::head;
  Wait wait_ = Wait::request_head;
  std::chrono::milliseconds wait_limit_{0};
  bool draining_ = false;
  std::uint64_t requests_ = 0;
  std::uint64_t lingered_ = 0;  // bytes dropped while closing

  std::string in_;  // bytes from the agent not yet used
  RequestHead head_;
  HeadCursor cursor_;
  std::string body_;
  ChunkedDecoder decoder_;
  std::string out_;         // the head or reply being written to the agent
  std::string chunk_head_;  // the size line of the chunk being written
  Transaction tx_;

  unsigned dial_generation_ = 0;  // a resolution or connect started under an older value is stale
  std::shared_ptr<Connector> connector_;
  std::shared_ptr<ApiUpstream> up_;

  std::string ws_down_, ws_up_;  // what each side sent behind the upgrade
  std::unique_ptr<char[]> agent_piece_;  // agent -> provider after an upgrade, or dropped input while closing

  // Made when first needed: most sessions never upgrade or linger.
  char* agent_piece() {
    if (!agent_piece_) agent_piece_ = std::make_unique_for_overwrite<char[]>(kPieceBytes);
    return agent_piece_.get();
  }
};

}  // namespace

void start_api_session(tcp::socket client, const tcp::endpoint& peer, Worker& worker, api::Provider provider) {
  worker.context.connections.fetch_add(1, std::memory_order_relaxed);
  if (worker.context.api == nullptr) {
    // Listeners of this kind exist only with the API proxy set up; a
    // connection here without it is closed rather than served half-way.
    worker.context.connections.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  std::make_shared<ApiSession>(std::move(client), peer, worker, provider)->start();
}

}  // namespace awf::proxy
