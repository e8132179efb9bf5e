// OpenSSL on the socket itself for the API proxy's provider connections:
// see tls_client_stream.h.
#include "awf/proxy/tls_client_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/append.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace awf::proxy {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

// The BIO under the SSL object: recv(2) and send(2) on the descriptor,
// send with MSG_NOSIGNAL so that writing to a provider that has gone
// raises no SIGPIPE (the descriptor's owner, the socket, closes it).
TlsClientStream::Source& source_of(BIO* bio) { return *static_cast<TlsClientStream::Source*>(::BIO_get_data(bio)); }
int descriptor_of(BIO* bio) { return source_of(bio).fd; }

bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }

int bio_write(BIO* bio, const char* data, int size) {
  ::BIO_clear_retry_flags(bio);
  const ssize_t n = ::send(descriptor_of(bio), data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && would_block(errno)) ::BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

int bio_read(BIO* bio, char* data, int size) {
  ::BIO_clear_retry_flags(bio);
  if (data == nullptr || size <= 0) return 0;
  TlsClientStream::Source& source = source_of(bio);
  if (source.taken < source.already_read.size()) {
    const std::size_t n = std::min(static_cast<std::size_t>(size), source.already_read.size() - source.taken);
    std::memcpy(data, source.already_read.data() + source.taken, n);
    source.taken += n;
    if (source.taken == source.already_read.size()) std::string().swap(source.already_read);
    return static_cast<int>(n);
  }
  const ssize_t n = ::recv(descriptor_of(bio), data, static_cast<std::size_t>(size), 0);
  if (n < 0 && would_block(errno)) ::BIO_set_retry_read(bio);
  return static_cast<int>(n);
}

long bio_ctrl(BIO* bio, int command, long, void*) {
  switch (command) {
    case BIO_CTRL_FLUSH: return 1;  // nothing is held back here
    case BIO_C_GET_FD: return descriptor_of(bio);
    default: return 0;
  }
}

BIO_METHOD* socket_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = ::BIO_meth_new(::BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "awf socket");
    if (m == nullptr || ::BIO_meth_set_write(m, bio_write) != 1 || ::BIO_meth_set_read(m, bio_read) != 1 ||
        ::BIO_meth_set_ctrl(m, bio_ctrl) != 1) {
      return static_cast<BIO_METHOD*>(nullptr);
    }
    return m;
  }();
  return method;
}

error_code openssl_error(unsigned long e) {
  return error_code(static_cast<int>(e), asio::error::get_ssl_category());
}

[[noreturn]] void fail(const char* what) {
  throw boost::system::system_error(openssl_error(::ERR_get_error()), what);
}

enum class Kind : std::uint8_t { handshake, read, write };

// One call into OpenSSL and what came of it.
struct Attempt {
  enum class Next : std::uint8_t { done, wait_read, wait_write } next = Next::done;
  error_code ec;
  std::size_t bytes = 0;
};

Attempt attempt(SSL* ssl, Kind kind, void* data, std::size_t size) {
  ::ERR_clear_error();  // the queue is per thread and shared with every other connection on it
  errno = 0;
  std::size_t bytes = 0;
  int ret = 0;
  switch (kind) {
    case Kind::handshake: ret = ::SSL_do_handshake(ssl); break;
    case Kind::read: ret = ::SSL_read_ex(ssl, data, size, &bytes); break;
    case Kind::write: ret = ::SSL_write_ex(ssl, data, size, &bytes); break;
  }
  const int saved_errno = errno;
  if (ret == 1) return {Attempt::Next::done, {}, bytes};
  switch (::SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ: return {Attempt::Next::wait_read, {}, 0};
    case SSL_ERROR_WANT_WRITE: return {Attempt::Next::wait_write, {}, 0};
    case SSL_ERROR_ZERO_RETURN: return {Attempt::Next::done, asio::error::eof, 0};  // the peer's close_notify
    case SSL_ERROR_SYSCALL:
      if (const unsigned long e = ::ERR_get_error(); e != 0) return {Attempt::Next::done, openssl_error(e), 0};
      if (saved_errno != 0) return {Attempt::Next::done, error_code(saved_errno, asio::error::get_system_category()), 0};
      return {Attempt::Next::done, asio::ssl::error::stream_truncated, 0};  // the connection ended, no close_notify
    default: {
      const unsigned long e = ::ERR_get_error();
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        return {Attempt::Next::done, asio::ssl::error::stream_truncated, 0};
      }
      return {Attempt::Next::done, e != 0 ? openssl_error(e) : error_code(asio::error::fault), 0};
    }
  }
}

// Runs `kind` until it completes: on the socket's executor, tried at once
// and again each time the socket becomes ready the way OpenSSL asked.
// `finish(handler, ec, bytes)` hands the result to the handler.
template <typename Handler, typename Finish>
void run(tcp::socket& socket, SSL* ssl, Kind kind, void* data, std::size_t size, Handler handler, Finish finish,
         bool initiating) {
  Attempt a;
  if (!socket.is_open()) a.ec = asio::error::bad_descriptor;  // never SSL on a descriptor number no longer ours
  else if (kind != Kind::handshake && size == 0) a = {};
  else a = attempt(ssl, kind, data, size);
  if (a.next == Attempt::Next::done) {
    if (initiating) {
      // Not inside the initiating call: through the executor, as asio does.
      asio::post(socket.get_executor(), [h = std::move(handler), finish, a]() mutable { finish(std::move(h), a.ec, a.bytes); });
    } else {
      finish(std::move(handler), a.ec, a.bytes);
    }
    return;
  }
  const auto wait = a.next == Attempt::Next::wait_read ? tcp::socket::wait_read : tcp::socket::wait_write;
  socket.async_wait(wait, [&socket, ssl, kind, data, size, h = std::move(handler), finish](const error_code& ec) mutable {
    if (ec) return finish(std::move(h), ec, 0);
    run(socket, ssl, kind, data, size, std::move(h), finish, false);
  });
}

}  // namespace

TlsClientStream::TlsClientStream(socket_type socket, ssl_ctx_st* context, Role role, std::string already_read)
    : socket_(std::move(socket)) {
  source_.fd = socket_.native_handle();
  source_.already_read = std::move(already_read);
  BIO_METHOD* method = socket_method();
  if (method == nullptr) fail("BIO_meth_new");
  ssl_ = ::SSL_new(context);
  if (ssl_ == nullptr) fail("SSL_new");
  BIO* bio = ::BIO_new(method);
  if (bio == nullptr) {
    ::SSL_free(ssl_);
    fail("BIO_new");
  }
  ::BIO_set_data(bio, &source_);
  ::BIO_set_init(bio, 1);
  ::SSL_set_bio(ssl_, bio, bio);  // one reference, read and write side
  // Record buffers freed whenever empty; a write may finish record by
  // record, and its retry may come from another copy of the same bytes.
  ::SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (role == Role::server) ::SSL_set_accept_state(ssl_);
  else ::SSL_set_connect_state(ssl_);
  error_code ec;
  socket_.non_blocking(true, ec);
  if (ec) {
    ::SSL_free(ssl_);
    throw boost::system::system_error(ec, "non_blocking");
  }
}

TlsClientStream::~TlsClientStream() { ::SSL_free(ssl_); }

bool TlsClientStream::has_buffered_input() const {
  return ::SSL_has_pending(ssl_) == 1 || source_.taken < source_.already_read.size();
}

void TlsClientStream::start_handshake(HandshakeHandler handler) {
  run(socket_, ssl_, Kind::handshake, nullptr, 0, std::move(handler),
      [](HandshakeHandler h, const error_code& ec, std::size_t) { asio::dispatch(asio::append(std::move(h), ec)); },
      true);
}

void TlsClientStream::start_read(asio::mutable_buffer buffer, ReadHandler handler) {
  run(socket_, ssl_, Kind::read, buffer.data(), buffer.size(), std::move(handler),
      [](ReadHandler h, const error_code& ec, std::size_t n) { asio::dispatch(asio::append(std::move(h), ec, n)); },
      true);
}

void TlsClientStream::start_write(asio::const_buffer data, WriteHandler handler) {
  // SSL_write_ex takes a const pointer through this void* and never writes
  // through it.
  run(socket_, ssl_, Kind::write, const_cast<void*>(data.data()), data.size(), std::move(handler),
      [this](WriteHandler h, const error_code& ec, std::size_t n) {
        std::string().swap(gather_);  // OpenSSL has taken the bytes (or failed): nothing more reads them
        asio::dispatch(asio::append(std::move(h), ec, n));
      },
      true);
}

}  // namespace awf::proxy
