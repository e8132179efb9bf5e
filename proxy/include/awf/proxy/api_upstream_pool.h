// The API proxy's provider connections (docs/api-proxy.md, "Provider
// connections"): one verified TLS connection with its HTTP reading state,
// and the per-worker pool that keeps idle ones for the next request to the
// same host and port. A connection is parked only after an exchange that
// ended in step (the answer read whole, no byte behind it, the provider not
// closing) and is never shared by two requests at once. While parked, any
// readable byte or end of stream, or kIdleLimit passing, ends it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "awf/proxy/tls_client_stream.h"

namespace awf::proxy {

// One provider connection. Handlers hold it by shared_ptr: a session that
// gives up on it (a deadline, an error) moves on while an operation it
// cancelled still completes on this object.
struct ApiUpstream {
  static constexpr std::size_t kPieceBytes = 16 * 1024;  // one read of a response body

  ApiUpstream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls)
      : stream(std::move(socket), tls.native_handle()) {}
  TlsClientStream stream;
  boost::beast::flat_buffer buffer;  // bytes read past what the parser has taken
  std::optional<boost::beast::http::response_parser<boost::beast::http::buffer_body>> parser;
  std::string dest;                  // "ip:port" as logged
  std::size_t exchanges = 0;         // answers read whole on it (0: a new connection)

  // Whether the last answer left the connection ready for another request:
  // read to its end, the provider keeping it open, nothing unread behind it.
  bool in_step() const {
    return parser && parser->is_done() && parser->keep_alive() && buffer.size() == 0 && !stream.has_buffered_input();
  }
  // The piece the response body is relayed through (kPieceBytes), made
  // when first needed.
  char* piece();
  // Frees the piece and shrinks the read buffer to the bytes it holds (an
  // unfinished unit the parser waits on) while no read is in flight, so
  // that a stream waiting for its next event holds no buffer.
  void release_buffers();
  void close();

 private:
  std::unique_ptr<char[]> piece_;
};

// Idle provider connections of one worker thread, by "host:port". Used on
// that thread only: no lock.
class ApiUpstreamPool {
 public:
  // As many as the concurrent requests one worker is likely to have to a
  // provider: an idle connection costs a descriptor and its SSL object,
  // a missing one a TLS handshake (about a millisecond of CPU).
  static constexpr std::size_t kIdlePerHost = 256;
  static constexpr std::chrono::seconds kIdleLimit{30};

  ApiUpstreamPool() = default;
  ApiUpstreamPool(const ApiUpstreamPool&) = delete;
  ApiUpstreamPool& operator=(const ApiUpstreamPool&) = delete;
  ~ApiUpstreamPool();

  // Keeps `up` (up->in_step(), nothing pending on it) for the next request
  // to `key`; closes it instead when the host already has kIdlePerHost.
  void park(const std::string& key, std::shared_ptr<ApiUpstream> up);
  // The connection parked last for `key` that is still open, quiet and
  // younger than kIdleLimit; nullptr when there is none.
  std::shared_ptr<ApiUpstream> take(const std::string& key);
  // Closes every idle connection (at shutdown).
  void clear();
  std::size_t idle() const;

 private:
  struct Entry {
    explicit Entry(std::shared_ptr<ApiUpstream> u) : up(std::move(u)), expiry(up->stream.get_executor()) {}
    std::shared_ptr<ApiUpstream> up;
    boost::asio::steady_timer expiry;
    std::chrono::steady_clock::time_point parked;
    bool gone = false;  // taken, expired or closed: its pending waits end quietly
  };
  void end(const std::string& key, const std::shared_ptr<Entry>& entry);

  std::unordered_map<std::string, std::list<std::shared_ptr<Entry>>> idle_;
};

}  // namespace awf::proxy
