// A fake LLM provider for API-proxy tests: HTTPS only, bound to a 127.0.0.x
// address, with its own throwaway certificate authority (EC P-256, one day)
// made with the openssl command at start, so that nothing ever needs a real
// provider. Runs on its own thread; every request is recorded (method,
// target, headers in order and case as sent, decoded body, the SNI the
// client sent, arrival time). Paths are matched on their ending, so any base
// path ("/v1", "/v1beta", a gateway prefix) works; the query is ignored
// except for Gemini's alt=sse:
//   POST */chat/completions    chat completion JSON echoing the request's
//                              "model"; with "stream":true an SSE stream
//                              (text/event-stream, chunked) of stream_events
//                              chunks, event_delay apart, then "data: [DONE]";
//                              a usage chunk before [DONE] when
//                              "stream_options":{"include_usage":true}
//   POST */messages            Anthropic message JSON; with "stream":true
//                              Anthropic SSE (message_start .. message_stop)
//   POST */responses           Responses-API JSON; with "stream":true SSE
//                              (response.created .. response.completed)
//   GET  */responses + Upgrade: websocket
//                              101 with Sec-WebSocket-Accept (RFC 6455), then
//                              every data frame is echoed back unmasked, a
//                              ping gets a pong, a close is answered in kind
//   GET  */models              {"object":"list","data":[...]} of fake models
//   POST */models/<id>:generateContent
//                              Gemini JSON naming <id> as modelVersion
//   POST */models/<id>:streamGenerateContent
//                              with alt=sse: SSE of stream_events chunks;
//                              without: a JSON array sent one element at a time
//   anything else              404 {"error":{"type":"not_found",...}}
// Workload identity federation (Options::federation), answered before
// everything below and never by a scripted answer:
//   GET  */idtoken             the GitHub Actions token request: 200
//                              {"count":1,"value":<identity_jwt>} when the
//                              Authorization is "Bearer <request_token>" (any
//                              case of the scheme; any token when
//                              request_token is empty), else 401; 500 while
//                              identity_available is false
//   POST */oauth/token         the token exchange: 200 {"access_token":
//                              <prefix><n>,"token_type":"Bearer",
//                              "expires_in":<expires_in>} (n counts the
//                              tokens issued, from 1; expires_in left out
//                              when unset); the first failing_exchanges
//                              answer 400 quoting the assertion back, as a
//                              careless server might
// Both wait `delay` before answering.
// Before the routes, in this order: a scripted answer queued by
// set_next_status() is used (one request each); then, while
// set_close_reused_connections() has some left, a request on a connection
// that already served one is "answered" by closing the connection (a
// provider dropping an idle connection just as it is used again); then a
// request whose body's "model" has an answer set by set_model_answer() gets
// it (every time); then a request whose anthropic-beta header holds a
// rejected value gets Anthropic's 400 "Unexpected value(s) `b1` for the
// `anthropic-beta` header" (every rejected value present, each in
// backquotes, ", "-separated).
// Timing knobs for timeout tests: first_byte_delay holds every response's
// head back; stall_after_events stops a stream after that many events and
// keeps the connection open, silent, until the fake is destroyed.
// Request bodies may use Content-Length or chunked; Expect: 100-continue is
// answered; keep-alive is honoured; connections are served concurrently.
// Every answer carries "X-Fake-Provider-Request: N" (N: the 1-based number
// of the request). Heads over 64 KiB get 431; bodies over 64 MiB, broken
// chunked framing or a malformed head end the connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace awf::testing {

using Header = std::pair<std::string, std::string>;

struct RecordedRequest {
  std::string method;
  std::string target;   // the request-target as sent: path and query
  std::string version;  // "HTTP/1.1"
  std::vector<Header> headers;  // in order, names spelt as the client sent them
  std::string body;             // the whole body, chunked framing removed
  bool chunked = false;         // the body came with Transfer-Encoding: chunked
  std::string sni;              // the TLS server name the client sent; empty when none
  std::size_t connection = 0;   // 1-based number of the connection it came on
  std::chrono::steady_clock::time_point arrived;  // when its head was complete
  // When each streamed event (SSE event, array element) finished being
  // written; empty for non-streamed answers.
  std::vector<std::chrono::steady_clock::time_point> events_sent;
  int status = 0;  // the status the fake answered with (0: none yet, or the connection was closed instead)

  // The first value of a header, name compared without case.
  std::optional<std::string> header(std::string_view name) const;
  std::size_t header_count(std::string_view name) const;
};

class FakeProvider {
 public:
  enum class Certificate {
    signed_by_ca,  // the normal case: verifies against ca_cert_path()
    self_signed,   // right names, but not issued by ca_cert_path()'s CA
    wrong_name,    // issued by the CA, for "wrong-name.test" only (no IP)
  };
  struct Federation {
    std::string identity_jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJmYWtlIn0.c2lnbmF0dXJl";
    std::string request_token;  // the Actions request token expected; empty: any
    std::string access_token_prefix = "sk-ant-oat01-fake-";
    std::optional<long> expires_in = 3600;
    bool identity_available = true;
    std::size_t failing_exchanges = 0;
    std::chrono::milliseconds delay{0};
  };
  struct Options {
    std::string host = "127.0.0.1";  // a loopback address, 127.0.0.x
    std::uint16_t port = 0;          // 0: any free port
    std::string cert_dir;            // where the keys and certificates go (required)
    // subjectAltName DNS entries of the leaf; the bound IP is added too.
    std::vector<std::string> dns_names = {"api.openai.test", "api.anthropic.test", "api.githubcopilot.test",
                                          "generativelanguage.test"};
    Certificate certificate = Certificate::signed_by_ca;
    std::size_t stream_events = 5;  // content chunks in every stream
    std::chrono::milliseconds event_delay{50};
    std::chrono::milliseconds first_byte_delay{0};
    std::optional<std::size_t> stall_after_events;
    std::vector<std::string> rejected_betas;  // anthropic-beta values answered by 400
    Federation federation;
  };

  // nullptr when it cannot bind or make its certificates (reason on stderr).
  static std::unique_ptr<FakeProvider> start(const Options& options);
  ~FakeProvider();
  FakeProvider(const FakeProvider&) = delete;
  FakeProvider& operator=(const FakeProvider&) = delete;

  const std::string& host() const;
  std::uint16_t port() const;
  // PEM files, named with the port so that several fakes may share a directory.
  const std::string& ca_cert_path() const;
  const std::string& cert_path() const;  // the leaf the server presents
  const std::string& key_path() const;

  // The next `times` requests, whatever their path, get this answer.
  // Content-Type defaults to application/json unless `headers` names one.
  void set_next_status(int status, std::string body = {}, std::vector<Header> headers = {}, std::size_t times = 1);
  // Every request whose body's "model" is `model` gets this answer; status
  // 0: the connection is closed instead (recorded, status 0).
  void set_model_answer(std::string model, int status, std::string body = {}, std::vector<Header> headers = {});
  // The next `times` requests that arrive on a connection which already
  // served one are answered by closing that connection (recorded, status 0).
  void set_close_reused_connections(std::size_t times);
  void set_rejected_betas(std::vector<std::string> values);
  void set_first_byte_delay(std::chrono::milliseconds delay);
  void set_stall_after_events(std::optional<std::size_t> events);
  void set_stream(std::size_t events, std::chrono::milliseconds delay);
  void set_federation(Federation federation);
  void set_identity_available(bool available);
  // The access tokens the exchange handed out, in order.
  std::vector<std::string> issued_access_tokens() const;

  std::size_t connections() const;         // TCP connections accepted
  std::size_t failed_handshakes() const;   // TLS handshakes that did not complete
  std::size_t requests() const;            // request heads received
  // Connections open with no request in progress (kept alive by the client).
  std::size_t idle_connections() const;
  // Closes them, as a server's idle timer does (TCP FIN, no TLS
  // close_notify); returns how many there were.
  std::size_t close_idle_connections();
  std::vector<RecordedRequest> recorded_requests() const;
  // nullopt when there is no request `index` (0-based) yet.
  std::optional<RecordedRequest> request(std::size_t index) const;
  std::optional<RecordedRequest> last_request() const;
  // Payloads of the WebSocket data frames received, in order.
  std::vector<std::string> websocket_messages() const;
  // True once at least n requests were received; false at the deadline.
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  explicit FakeProvider(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace awf::testing
