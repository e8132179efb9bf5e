// Anthropic workload identity federation tokens for the API proxy: see
// api_token_source.h. Two small HTTP/1.1 requests in a loop, each one
// connection (resolve, connect, TLS when https, write, read the whole
// answer, close) under one deadline; the loop's state behind a mutex that
// the workers take only to copy the current token's pointer.
#include "awf/proxy/api_token_source.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "awf/api/redaction.h"
#include "awf/proxy/api_settings.h"
#include "awf/proxy/connector.h"
#include "awf/proxy/resolver.h"

namespace awf::proxy {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;
using std::chrono::milliseconds;

namespace {

constexpr std::uint64_t kMaxAnswerBytes = 64 * 1024;  // a JWT or a token answer is a few KiB
constexpr std::uint32_t kMaxAnswerHeadBytes = 16 * 1024;

struct HttpAnswer {
  int status = 0;
  std::string body;
};

std::string seconds_text(milliseconds d) {
  const auto ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100) + " s";
}

// One request on one connection, its answer read whole. `done` runs once,
// on the io_context's thread, unless cancel() comes first.
class HttpCall : public std::enable_shared_from_this<HttpCall> {
 public:
  using Done = std::function<void(Result<HttpAnswer>)>;

  HttpCall(asio::io_context& io, Resolver& resolver, ssl::context& tls, const api::HttpUrl& url, std::string request,
           milliseconds timeout, Done done)
      : io_(io), resolver_(resolver), tls_context_(tls), url_(url), request_(std::move(request)),
        timeout_(timeout), timer_(io), done_(std::move(done)) {}

  void start() {
    timer_.expires_after(timeout_);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec || self->finished_) return;
      self->finish(Error{"no answer from " + self->url_.authority() + " within " + seconds_text(self->timeout_) +
                         " (" + self->step_ + ")"});
    });
    step_ = "resolving";
    error_code ec;
    const asio::ip::address literal = asio::ip::make_address(url_.host, ec);
    if (!ec) return connect({tcp::endpoint(literal, url_.port)});
    resolver_.resolve(url_.host, io_.get_executor(), [self = shared_from_this()](Resolution r) {
      if (self->finished_) return;
      if (r.addresses.empty()) return self->finish(Error{"cannot resolve " + self->url_.host + ": " + r.error});
      std::vector<tcp::endpoint> candidates;
      for (const auto& a : r.addresses) candidates.emplace_back(a, self->url_.port);
      self->connect(std::move(candidates));
    });
  }

  // Drops the call: `done` will not run.
  void cancel() {
    finished_ = true;
    close();
  }

 private:
  void connect(std::vector<tcp::endpoint> candidates) {
    step_ = "connecting";
    connector_ = Connector::start(io_.get_executor(), std::move(candidates), Connector::kDefaultAttemptDelay,
                                  [self = shared_from_this()](Connector::Outcome o) {
                                    self->connector_.reset();
                                    if (self->finished_) return;
                                    self->on_connected(std::move(o));
                                  });
  }

  void on_connected(Connector::Outcome o) {
    if (o.error) return finish(Error{"cannot connect to " + url_.authority() + ": " + o.error.message()});
    if (!url_.tls) {
      plain_.emplace(std::move(o.socket));
      return send();
    }
    tls_.emplace(std::move(o.socket), tls_context_);
    SSL* ssl = tls_->native_handle();
    error_code ec;
    asio::ip::make_address(url_.host, ec);
    // Verified as provider connections are: the chain to a trusted CA, and
    // the URL's host name (SNI carries it) or IP address in the certificate.
    const bool named = ec.failed();
    const int ok = named ? (SSL_set_tlsext_host_name(ssl, url_.host.c_str()) == 1 &&
                            ::SSL_set1_host(ssl, url_.host.c_str()) == 1)
                         : ::X509_VERIFY_PARAM_set1_ip_asc(::SSL_get0_param(ssl), url_.host.c_str()) == 1;
    if (!ok) return finish(Error{"cannot set up TLS for " + url_.host});
    ::SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    step_ = "TLS handshake";
    tls_->async_handshake(ssl::stream_base::client, [self = shared_from_this()](const error_code& e) {
      if (self->finished_) return;
      if (e) {
        const long verify = ::SSL_get_verify_result(self->tls_->native_handle());
        if (verify != X509_V_OK) {
          return self->finish(Error{"TLS certificate verification failed for " + self->url_.host + ": " +
                                    ::X509_verify_cert_error_string(verify)});
        }
        return self->finish(Error{"TLS handshake with " + self->url_.authority() + " failed: " + e.message()});
      }
      self->send();
    });
  }

  template <typename F>
  void with_stream(F&& f) {
    if (tls_) f(*tls_);
    else f(*plain_);
  }

  void send() {
    step_ = "sending the request";
    with_stream([this](auto& stream) {
      asio::async_write(stream, asio::buffer(request_), [self = shared_from_this()](const error_code& ec, std::size_t) {
        if (self->finished_) return;
        if (ec) return self->finish(Error{"cannot send the request to " + self->url_.authority() + ": " + ec.message()});
        self->read();
      });
    });
  }

  void read() {
    step_ = "waiting for the answer";
    parser_.header_limit(kMaxAnswerHeadBytes);
    parser_.body_limit(kMaxAnswerBytes);
    with_stream([this](auto& stream) {
      http::async_read(stream, buffer_, parser_, [self = shared_from_this()](error_code ec, std::size_t) {
        if (self->finished_) return;
        // A server that closes without TLS's close_notify still ends a
        // close-delimited answer.
        if (ec == ssl::error::stream_truncated && self->parser_.need_eof()) self->parser_.put_eof(ec);
        if (ec || !self->parser_.is_done()) {
          if (ec == http::error::body_limit) {
            return self->finish(Error{"the answer from " + self->url_.authority() + " is larger than " +
                                      std::to_string(kMaxAnswerBytes) + " bytes"});
          }
          return self->finish(Error{"unreadable answer from " + self->url_.authority() + ": " +
                                    (ec ? ec.message() : std::string("incomplete"))});
        }
        auto& msg = self->parser_.get();
        self->finish(HttpAnswer{static_cast<int>(msg.result_int()), std::move(msg.body())});
      });
    });
  }

  void close() {
    timer_.cancel();
    if (connector_) {
      connector_->cancel();
      connector_.reset();
    }
    error_code ec;
    if (tls_) tls_->lowest_layer().close(ec);
    if (plain_) plain_->close(ec);
  }

  void finish(Result<HttpAnswer> result) {
    if (finished_) return;
    finished_ = true;
    close();
    Done done = std::move(done_);
    done(std::move(result));
  }

  asio::io_context& io_;
  Resolver& resolver_;
  ssl::context& tls_context_;
  const api::HttpUrl url_;
  const std::string request_;
  const milliseconds timeout_;
  asio::steady_timer timer_;
  Done done_;
  bool finished_ = false;
  std::string step_;  // what the deadline caught it doing
  std::shared_ptr<Connector> connector_;
  std::optional<ssl::stream<tcp::socket>> tls_;
  std::optional<tcp::socket> plain_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
};

// The request's text: the line, the headers, our framing, the body.
std::string request_text(std::string_view method, const api::HttpUrl& url, std::string_view target,
                         const std::vector<std::pair<std::string, std::string>>& headers, std::string_view body) {
  std::string out = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: " + url.authority() + "\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  out += "User-Agent: awf-proxy\r\nConnection: close\r\n";
  if (method == "POST") out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n";
  out += body;
  return out;
}

}  // namespace

struct FederatedTokenSource::Impl {
  Impl(api::AnthropicFederation s, ApiProxy& a, Resolver& r, Timing t)
      : settings(std::move(s)), api(a), resolver(r), timing(t), backoff(t.first_retry) {}

  const api::AnthropicFederation settings;
  ApiProxy& api;
  Resolver& resolver;
  const Timing timing;
  asio::io_context io{1};
  asio::steady_timer next{io};  // the next attempt: a refresh or a retry
  std::shared_ptr<HttpCall> call;  // the request in flight
  milliseconds backoff;
  std::thread thread;

  mutable std::mutex mutex;
  std::shared_ptr<const api::Secret> token;  // guarded by mutex
  Clock::time_point expires{};              // guarded by mutex

  bool have_valid_token() const {
    std::lock_guard lock(mutex);
    return token && Clock::now() < expires;
  }

  // Step 1: the GitHub Actions identity token.
  void fetch() {
    const std::string request =
        request_text("GET", settings.request_url, api::token_request_target(settings),
                     {{"Authorization", "Bearer " + std::string(settings.request_token.reveal())},
                      {"Accept", "application/json"}},
                     {});
    call = std::make_shared<HttpCall>(io, resolver, api.tls, settings.request_url, request, timing.step_timeout,
                                      [this](Result<HttpAnswer> r) { on_identity_token(std::move(r)); });
    call->start();
  }

  void on_identity_token(Result<HttpAnswer> r) {
    call.reset();
    const std::string where = "the GitHub Actions token request to " + settings.request_url.host;
    if (!r) return failed(where + ": " + r.message());
    if (r->status != 200) return failed(where + ": HTTP " + std::to_string(r->status) + ": " + excerpt(r->body));
    auto jwt = api::parse_token_request_answer(r->body);
    if (!jwt) return failed(where + ": " + jwt.message());
    // Known before it travels on: an echo of it in an error is redacted.
    api.redactor.add_secret(jwt->reveal());
    exchange(*jwt);
  }

  // Step 2: the exchange for an Anthropic access token.
  void exchange(const api::Secret& jwt) {
    const std::string request = request_text(
        "POST", settings.token_url, settings.token_url.target,
        {{"Content-Type", "application/json"}, {"Accept", "application/json"},
         {"anthropic-beta", std::string(api::kExchangeBetas)}},
        api::exchange_body(settings, jwt.reveal()));
    call = std::make_shared<HttpCall>(io, resolver, api.tls, settings.token_url, request, timing.step_timeout,
                                      [this](Result<HttpAnswer> r) { on_access_token(std::move(r)); });
    call->start();
  }

  void on_access_token(Result<HttpAnswer> r) {
    call.reset();
    const std::string where = "the token exchange at " + settings.token_url.authority();
    if (!r) return failed(where + ": " + r.message());
    if (r->status != 200) return failed(where + ": HTTP " + std::to_string(r->status) + ": " + excerpt(r->body));
    auto answer = api::parse_exchange_answer(r->body);
    if (!answer) return failed(where + ": " + answer.message());
    api.redactor.add_secret(answer->access_token.reveal());
    const milliseconds refresh = api::refresh_delay(answer->lifetime);
    {
      std::lock_guard lock(mutex);
      token = std::make_shared<const api::Secret>(std::move(answer->access_token));
      expires = Clock::now() + answer->lifetime;
    }
    backoff = timing.first_retry;
    spdlog::info("API proxy: anthropic: workload identity federation access token obtained (valid for {} s, next in {})",
                 answer->lifetime.count(), seconds_text(refresh));
    schedule(refresh);
  }

  void failed(const std::string& why) {
    const milliseconds wait = backoff;
    backoff = std::min(backoff * 2, timing.max_retry);
    spdlog::warn("API proxy: anthropic: workload identity federation: {}; {}, trying again in {}",
                 api.redactor.scrub(why),
                 have_valid_token() ? "the current token stays in use" : "requests get 503 until a token arrives",
                 seconds_text(wait));
    schedule(wait);
  }

  // An answer's body for a log line: one line, scrubbed, at most 200 bytes.
  std::string excerpt(std::string_view body) const {
    return body.empty() ? std::string("(no body)") : api::log_safe_text(body, api.redactor);
  }

  void schedule(milliseconds delay) {
    next.expires_after(delay);
    next.async_wait([this](const error_code& ec) {
      if (!ec) fetch();
    });
  }
};

FederatedTokenSource::FederatedTokenSource(api::AnthropicFederation settings, ApiProxy& api, Resolver& resolver,
                                           Timing timing)
    : impl_(std::make_unique<Impl>(std::move(settings), api, resolver, timing)) {
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl] { impl->fetch(); });
  impl->thread = std::thread([impl] {
    for (;;) {
      try {
        impl->io.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("API proxy: anthropic: token source: unexpected exception: {}", e.what());
      }
    }
  });
}

FederatedTokenSource::~FederatedTokenSource() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->call) impl_->call->cancel();
}

std::shared_ptr<const api::Secret> FederatedTokenSource::current() const {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->token || Clock::now() >= impl_->expires) return nullptr;
  return impl_->token;
}

Status start_federation(ApiProxy& api, Resolver& resolver) {
  const auto& settings = api.settings.anthropic_federation;
  if (!settings) return ok_status();
  spdlog::info("API proxy: anthropic: workload identity federation: identity tokens from the GitHub Actions runtime "
               "({}), exchanged at {}://{}{}",
               settings->request_url.host, settings->token_url.tls ? "https" : "http", settings->token_url.authority(),
               api::log_safe_text(settings->token_url.target, api.redactor));
  api.federation = std::make_shared<FederatedTokenSource>(*settings, api, resolver, FederatedTokenSource::Timing{});
  return ok_status();
}

std::shared_ptr<const api::Secret> federated_token(const ApiProxy& api, api::Provider provider) {
  if (!api.federation || !api.settings.at(provider).federated) return nullptr;
  return api.federation->current();
}

}  // namespace awf::proxy
