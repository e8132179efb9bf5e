// TlsClientStream (OpenSSL on the socket, the API proxy's provider
// connections) against the fake provider over real TLS on loopback: an
// exchange read with Beast, certificate and name verification, the errors
// of a connection the provider ended, and no SIGPIPE when writing to it.
#include "awf/proxy/tls_client_stream.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "awf/testing/fake_provider.h"
#include "awf/testing/files.h"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using awf::proxy::TlsClientStream;
using awf::testing::FakeProvider;
using awf::testing::TempDir;
using error_code = boost::system::error_code;
using namespace std::chrono_literals;

class TlsClientStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeProvider::Options options;
    options.cert_dir = dir_.path();
    provider_ = FakeProvider::start(options);
    ASSERT_NE(provider_, nullptr);
  }

  // A context that trusts the fake provider's CA (or only the system
  // store, `trust_fake_ca` false) and checks `name`.
  std::unique_ptr<TlsClientStream> connect(bool trust_fake_ca, const std::string& name = "api.openai.test") {
    context_.emplace(asio::ssl::context::tls_client);
    context_->set_verify_mode(asio::ssl::verify_peer);
    if (trust_fake_ca) context_->load_verify_file(provider_->ca_cert_path());
    asio::ip::tcp::socket socket(io_);
    socket.connect({asio::ip::make_address(provider_->host()), provider_->port()});
    auto stream = std::make_unique<TlsClientStream>(std::move(socket), context_->native_handle());
    SSL* ssl = stream->native_handle();
    EXPECT_EQ(SSL_set_tlsext_host_name(ssl, name.c_str()), 1);
    EXPECT_EQ(::SSL_set1_host(ssl, name.c_str()), 1);
    return stream;
  }

  error_code handshake(TlsClientStream& stream) {
    std::optional<error_code> result;
    stream.async_handshake([&](const error_code& ec) { result = ec; });
    run_until([&] { return result.has_value(); });
    return result.value_or(asio::error::timed_out);
  }

  template <typename Done>
  void run_until(Done done) {
    io_.restart();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(20ms);
      io_.restart();
    }
  }

  TempDir dir_;
  std::unique_ptr<FakeProvider> provider_;
  asio::io_context io_;
  std::optional<asio::ssl::context> context_;
};

TEST_F(TlsClientStreamTest, ExchangeOverVerifiedTlsIsReadWithBeast) {
  auto stream = connect(true);
  ASSERT_FALSE(handshake(*stream)) << "handshake";
  bool called_inline = true;
  std::optional<error_code> wrote;
  const std::string request = "GET /v1/models HTTP/1.1\r\nHost: api.openai.test\r\nAuthorization: Bearer k\r\n\r\n";
  asio::async_write(*stream, asio::buffer(request), [&](const error_code& ec, std::size_t) { wrote = ec; });
  called_inline = wrote.has_value();
  run_until([&] { return wrote.has_value(); });
  EXPECT_FALSE(called_inline) << "a handler ran inside the initiating call";
  ASSERT_TRUE(wrote.has_value());
  ASSERT_FALSE(*wrote) << wrote->message();

  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  std::optional<error_code> read;
  http::async_read(*stream, buffer, response, [&](const error_code& ec, std::size_t) { read = ec; });
  run_until([&] { return read.has_value(); });
  ASSERT_TRUE(read.has_value());
  ASSERT_FALSE(*read) << read->message();
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_FALSE(stream->has_buffered_input());
  ASSERT_EQ(provider_->recorded_requests().size(), 1u);
  EXPECT_EQ(provider_->recorded_requests()[0].target, "/v1/models");
}

TEST_F(TlsClientStreamTest, UntrustedCertificateFailsTheHandshakeWithTheVerifyResult) {
  auto stream = connect(false);
  const error_code ec = handshake(*stream);
  ASSERT_TRUE(ec);
  EXPECT_EQ(ec.category(), asio::error::get_ssl_category()) << ec.message();
  EXPECT_NE(::SSL_get_verify_result(stream->native_handle()), X509_V_OK);
}

TEST_F(TlsClientStreamTest, WrongNameFailsTheHandshake) {
  auto stream = connect(true, "other.test");
  const error_code ec = handshake(*stream);
  ASSERT_TRUE(ec);
  EXPECT_EQ(::SSL_get_verify_result(stream->native_handle()), X509_V_ERR_HOSTNAME_MISMATCH);
}

// A provider that closes the connection: a read ends with end of stream
// (or truncation, without close_notify), and writes fail with an error
// instead of killing the process with SIGPIPE.
TEST_F(TlsClientStreamTest, ConnectionTheProviderClosedGivesErrorsNotSigpipe) {
  auto stream = connect(true);
  ASSERT_FALSE(handshake(*stream));
  // Let the provider see the connection idle, then close it.
  std::size_t closed = 0;
  for (int i = 0; i < 100 && closed == 0; ++i) {
    run_until([] { return true; });
    closed = provider_->close_idle_connections();
  }
  ASSERT_EQ(closed, 1u);

  char byte = 0;
  std::optional<error_code> read;
  stream->async_read_some(asio::buffer(&byte, 1), [&](const error_code& ec, std::size_t) { read = ec; });
  run_until([&] { return read.has_value(); });
  ASSERT_TRUE(read.has_value());
  EXPECT_TRUE(*read == asio::error::eof || *read == asio::ssl::error::stream_truncated ||
              *read == asio::error::connection_reset)
      << read->message();

  const std::string data(4096, 'x');
  error_code last;
  for (int i = 0; i < 50 && !last; ++i) {
    std::optional<error_code> wrote;
    asio::async_write(*stream, asio::buffer(data), [&](const error_code& ec, std::size_t) { wrote = ec; });
    run_until([&] { return wrote.has_value(); });
    ASSERT_TRUE(wrote.has_value());
    last = *wrote;
  }
  EXPECT_TRUE(last) << "writes to a closed connection kept succeeding";
}

TEST_F(TlsClientStreamTest, ClosedSocketEndsOperationsWithoutTouchingTheDescriptor) {
  auto stream = connect(true);
  ASSERT_FALSE(handshake(*stream));
  char byte = 0;
  std::optional<error_code> read;
  stream->async_read_some(asio::buffer(&byte, 1), [&](const error_code& ec, std::size_t) { read = ec; });
  error_code ignored;
  stream->lowest_layer().close(ignored);
  run_until([&] { return read.has_value(); });
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(*read, asio::error::operation_aborted) << read->message();

  std::optional<error_code> again;
  stream->async_read_some(asio::buffer(&byte, 1), [&](const error_code& ec, std::size_t) { again = ec; });
  run_until([&] { return again.has_value(); });
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, asio::error::bad_descriptor);
}

}  // namespace
