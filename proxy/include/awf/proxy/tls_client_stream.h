// A TLS client connection that OpenSSL runs straight on the socket, for the
// API proxy's provider connections (docs/api-proxy.md, "Provider
// connections"). Asio's ssl::stream keeps four copy buffers of 17 KiB per
// connection (two of its own and a BIO pair's) beside OpenSSL's record
// buffers; an SSE stream held open for minutes would pay over 100 KiB for
// them. Here OpenSSL reads and writes the socket itself, and with
// SSL_MODE_RELEASE_BUFFERS it frees its record buffers whenever they are
// empty, so an open, quiet stream costs little more than its SSL object.
//
// It offers the part of ssl::stream the API proxy uses: an AsyncReadStream
// and AsyncWriteStream (for Beast's parser and asio::async_write), a client
// handshake, and native_handle() for the verification settings. One read
// and one write may be in flight at once. Each operation tries OpenSSL
// first and, when OpenSSL needs the socket readable or writable, waits for
// that and tries again; its handler never runs inside the initiating call.
// The same stream serves the server side of SSL bump (Role::server): there
// the client's first bytes (its ClientHello, peeked to decide) were read
// from the socket already and are handed over to be read first.
// Errors are those ssl::stream gives: OpenSSL's in asio's SSL category,
// asio::error::eof for a close_notify, ssl::error::stream_truncated for an
// end without one. Cancelling or closing the socket ends pending operations
// with operation_aborted; nothing touches the descriptor once it is closed.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <algorithm>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <string>

struct ssl_st;
struct ssl_ctx_st;

namespace awf::proxy {

class TlsClientStream {
 public:
  using socket_type = boost::asio::ip::tcp::socket;
  using executor_type = socket_type::executor_type;
  using next_layer_type = socket_type;
  using lowest_layer_type = socket_type::lowest_layer_type;
  using ReadHandler = boost::asio::any_completion_handler<void(boost::system::error_code, std::size_t)>;
  using WriteHandler = ReadHandler;
  using HandshakeHandler = boost::asio::any_completion_handler<void(boost::system::error_code)>;

  enum class Role : unsigned char { client, server };

  // What the BIO under the SSL object reads from: the handed-over bytes,
  // then the descriptor (tls_client_stream.cc's BIO methods). The stream
  // never moves, so the BIO keeps its address.
  struct Source {
    int fd = -1;
    std::string already_read;
    std::size_t taken = 0;
  };

  // Takes a connected socket; the SSL object comes from `context` (its
  // verification settings apply). Throws boost::system::system_error when
  // OpenSSL cannot make one. `already_read`: bytes of the peer's taken off
  // the socket before, which OpenSSL reads before the socket's.
  TlsClientStream(socket_type socket, ssl_ctx_st* context, Role role = Role::client, std::string already_read = {});
  ~TlsClientStream();
  TlsClientStream(const TlsClientStream&) = delete;
  TlsClientStream& operator=(const TlsClientStream&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  socket_type& next_layer() { return socket_; }
  lowest_layer_type& lowest_layer() { return socket_.lowest_layer(); }
  ssl_st* native_handle() { return ssl_; }

  // Whether OpenSSL holds bytes of the peer's that no read has taken yet.
  bool has_buffered_input() const;

  template <typename Token>
  auto async_handshake(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) { start_handshake(HandshakeHandler(std::move(handler))); }, token);
  }

  template <typename MutableBufferSequence, typename Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, boost::asio::mutable_buffer first) { start_read(first, ReadHandler(std::move(handler))); },
        token, first_non_empty(buffers));
  }

  template <typename ConstBufferSequence, typename Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, boost::asio::const_buffer data) { start_write(data, WriteHandler(std::move(handler))); },
        token, gather(buffers));
  }

 private:
  template <typename MutableBufferSequence>
  static boost::asio::mutable_buffer first_non_empty(const MutableBufferSequence& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::mutable_buffer b(*it);
      if (b.size() != 0) return b;
    }
    return {};
  }

  // What one write sends: the first buffer as it is when it stands alone
  // or is large; else the small buffers in front copied into one piece
  // (one TLS record instead of one per piece; a head and a chunk's size
  // line are such pieces), kept in gather_ until the write completes.
  template <typename ConstBufferSequence>
  boost::asio::const_buffer gather(const ConstBufferSequence& buffers) {
    constexpr std::size_t kRecord = 16 * 1024;
    auto it = boost::asio::buffer_sequence_begin(buffers);
    const auto end = boost::asio::buffer_sequence_end(buffers);
    while (it != end && boost::asio::const_buffer(*it).size() == 0) ++it;
    if (it == end) return {};
    const boost::asio::const_buffer first(*it);
    auto next = it;
    ++next;
    while (next != end && boost::asio::const_buffer(*next).size() == 0) ++next;
    if (next == end || first.size() >= kRecord / 4) return first;
    gather_.clear();
    for (; it != end && gather_.size() < kRecord; ++it) {
      const boost::asio::const_buffer b(*it);
      gather_.append(static_cast<const char*>(b.data()), std::min(b.size(), kRecord - gather_.size()));
    }
    return boost::asio::buffer(gather_);
  }

  void start_handshake(HandshakeHandler handler);
  void start_read(boost::asio::mutable_buffer buffer, ReadHandler handler);
  void start_write(boost::asio::const_buffer data, WriteHandler handler);

  socket_type socket_;
  Source source_;
  ssl_st* ssl_ = nullptr;
  std::string gather_;  // the small buffers of the write in flight, copied together
};

}  // namespace awf::proxy
