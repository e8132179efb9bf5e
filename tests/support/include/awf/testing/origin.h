// A tiny origin server for integration tests, bound to a 127.0.0.x address,
// plain HTTP, HTTPS (throwaway certificate made with OpenSSL at start) or a
// raw echo service. Runs on its own thread. HTTP paths:
//   /echo          200, body = the request head as received
//   /bytes/N       200, N bytes of pattern_bytes(N), Content-Length
//   /chunked/N     200, the same bytes, chunked
//   /upload        reads the body (Content-Length or chunked), 200 "len=N sha256=HEX"
//   /hang          reads the request, never answers
//   /reset         resets the connection (RST) without answering
//   /close         closes without answering
//   /unframed/N    200 without a length: N bytes of pattern_bytes(N), then
//                  the connection closes 100 ms later (the end of the body)
//   /unframed-reset/N  the same, but a reset (RST) instead of the close
//   /slow/N        N bytes, one 1 KiB chunk every 100 ms
//   /upgrade       101 Switching Protocols, then echoes bytes back
//   /bighead/N     200 "ok" with an N-byte X-Big response header
//   /twice         200 "ok", then 100 ms later a second, unasked-for 200
//                  "stale" (an origin out of step with its client)
//   /twice204      the same with a 204 first
//   anything else  200 "ok"
// Keep-alive is honoured; connections() counts accepted connections;
// request_heads() is every request head the origin parsed, as received.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace awf::testing {

class Origin {
 public:
  enum class Kind { http, https, echo };
  struct Options {
    std::string host = "127.0.0.1";
    Kind kind = Kind::http;
    std::string cert_dir;  // https: where to write the throwaway key and cert (required)
    std::uint16_t port = 0;  // 0: any free port (80/443 for tests that go through nftables)
    // https: the certificate's subjectAltName (OpenSSL's -addext syntax).
    std::string cert_names = "DNS:*.test,DNS:localhost,IP:127.0.0.1";
  };
  // nullptr when it cannot bind or make a certificate (reason on stderr).
  static std::unique_ptr<Origin> start(const Options& options);
  ~Origin();

  const std::string& host() const;
  std::uint16_t port() const;
  std::size_t connections() const;
  std::size_t requests() const;
  std::string last_request_head() const;
  std::vector<std::string> request_heads() const;

  struct Impl;

 private:
  explicit Origin(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace awf::testing
