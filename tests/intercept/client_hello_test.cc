// Tests of the ClientHello peek: splits at every offset and across records,
// the refusals of malformed TLS shapes, SNI validation, hello limits.
#include "awf/intercept/client_hello.h"

#include <gtest/gtest.h>

#include "hello_builder.h"
#include "test_support.h"

namespace awf::intercept {
namespace {

using test::Bytes;

HelloParse parse(const Bytes& b) { return parse_client_hello(b); }

void expect_error(const Bytes& b, HelloError error) {
  const HelloParse p = parse(b);
  ASSERT_TRUE(p.failed()) << "status " << static_cast<int>(p.status);
  EXPECT_EQ(to_string(p.error), std::string(to_string(error)));
}

// Every proper prefix must ask for more, the whole input must finish.
void expect_done_only_when_complete(const Bytes& b, const std::string& sni) {
  for (std::size_t cut = 0; cut < b.size(); ++cut) {
    const HelloParse p = parse_client_hello(std::span(b.data(), cut));
    ASSERT_TRUE(p.need_more()) << "prefix of " << cut << " bytes gave status " << static_cast<int>(p.status)
                               << " error " << to_string(p.error);
  }
  const HelloParse whole = parse(b);
  ASSERT_TRUE(whole.done()) << to_string(whole.error);
  EXPECT_EQ(whole.hello.sni, sni);
  EXPECT_EQ(whole.hello.consumed, b.size());
}

TEST(ClientHello, TypicalHelloGivesSniAlpnAndVersions) {
  const Bytes b = test::typical_hello("api.allowed.test");
  const HelloParse p = parse(b);
  ASSERT_TRUE(p.done()) << to_string(p.error);
  EXPECT_EQ(p.hello.sni, "api.allowed.test");
  EXPECT_EQ(p.hello.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_TRUE(p.hello.offers_tls13);
  EXPECT_FALSE(p.hello.has_ech);
  EXPECT_EQ(p.hello.legacy_version, 0x0303);
  EXPECT_EQ(p.hello.record_version, 0x0301);
  EXPECT_EQ(p.hello.records, 1u);
  EXPECT_EQ(p.hello.consumed, b.size());
}

TEST(ClientHello, SplitAtEveryOffsetNeedsMoreThenDone) {
  expect_done_only_when_complete(test::typical_hello(), "allowed.test");
}

TEST(ClientHello, SniSplitAcrossTwoRecordsIsFound) {
  const Bytes msg = test::client_hello_message({test::sni_extension({"two.allowed.test"})});
  const Bytes b = test::in_records(msg, {msg.size() - 8});  // the name straddles the records
  const HelloParse p = parse(b);
  ASSERT_TRUE(p.done()) << to_string(p.error);
  EXPECT_EQ(p.hello.sni, "two.allowed.test");
  EXPECT_EQ(p.hello.records, 2u);
}

TEST(ClientHello, SniSplitAcrossThreeRecordsIsFoundAtEveryOffset) {
  const Bytes msg = test::client_hello_message(
      {test::supported_versions_tls13(), test::sni_extension({"three.allowed.test"})});
  const std::size_t third = msg.size() / 3;
  const Bytes b = test::in_records(msg, {third, third});
  expect_done_only_when_complete(b, "three.allowed.test");
  EXPECT_EQ(parse(b).hello.records, 3u);
}

TEST(ClientHello, HandshakeHeaderInOneByteRecordsIsReassembled) {
  const Bytes msg = test::client_hello_message({test::sni_extension({"tiny.allowed.test"})});
  expect_done_only_when_complete(test::in_records(msg, {1, 1, 1, 1, 2}), "tiny.allowed.test");
}

TEST(ClientHello, CapturedHellosSplitAtEveryOffset) {
  for (const char* name : {"done__curl-7.88-allowed.test.bin", "done__openssl-3.0-tls1.3-allowed.test.bin",
                           "done__openssl-3.0-tls1.2-allowed.test.bin"}) {
    SCOPED_TRACE(name);
    const Bytes b = test::read_file(test::corpus_dir("client_hello") / name);
    ASSERT_FALSE(b.empty());
    expect_done_only_when_complete(b, "allowed.test");
  }
}

TEST(ClientHello, CapturedCurlHelloOffersH2AndTls13) {
  const Bytes b = test::read_file(test::corpus_dir("client_hello") / "done__curl-7.88-allowed.test.bin");
  const HelloParse p = parse(b);
  ASSERT_TRUE(p.done());
  EXPECT_TRUE(p.hello.offers_tls13);
  EXPECT_EQ(p.hello.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
}

TEST(ClientHello, CapturedHelloWithoutServerNameIsNoSni) {
  expect_error(test::read_file(test::corpus_dir("client_hello") / "no_sni__openssl-3.0-noservername.bin"),
               HelloError::no_sni);
}

TEST(ClientHello, BytesAfterTheHelloAreNotConsumed) {
  Bytes b = test::typical_hello();
  const std::size_t hello_size = b.size();
  test::append(b, Bytes{20, 3, 3, 0, 1, 1});  // a middlebox-compat ChangeCipherSpec
  const HelloParse p = parse(b);
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.hello.consumed, hello_size);
}

TEST(ClientHello, Sslv2CompatibleHelloIsRefused) {
  const Bytes b{0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10};
  expect_error(b, HelloError::sslv2_hello);
  EXPECT_TRUE(parse(Bytes{0x80, 0x2e}).need_more());
}

TEST(ClientHello, HttpRequestOn443IsNotTlsFromTheFirstByte) {
  expect_error(test::bytes_of("GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n"), HelloError::not_tls);
  expect_error(Bytes{'G'}, HelloError::not_tls);
  expect_error(Bytes{0x16, 0x02}, HelloError::not_tls);  // not a 3.x record
}

TEST(ClientHello, EmptyInputNeedsMore) { EXPECT_TRUE(parse(Bytes{}).need_more()); }

TEST(ClientHello, HelloWithoutSniIsNoSni) {
  expect_error(test::in_records(test::client_hello_message({test::supported_versions_tls13()})), HelloError::no_sni);
  expect_error(test::in_records(test::client_hello_message({}, 0x0303, false)), HelloError::no_sni);
}

TEST(ClientHello, EchHelloReturnsOuterSniAndSaysSo) {
  const Bytes b = test::in_records(test::client_hello_message(
      {test::sni_extension({"public.allowed.test"}), test::ech_extension(), test::supported_versions_tls13()}));
  const HelloParse p = parse(b);
  ASSERT_TRUE(p.done()) << to_string(p.error);
  EXPECT_TRUE(p.hello.has_ech);
  EXPECT_EQ(p.hello.sni, "public.allowed.test");
}

TEST(ClientHello, EchWithoutOuterSniIsNoSni) {
  expect_error(test::in_records(test::client_hello_message({test::ech_extension()})), HelloError::no_sni);
}

TEST(ClientHello, DuplicateServerNameExtensionIsMalformed) {
  expect_error(test::in_records(test::client_hello_message(
                   {test::sni_extension({"allowed.test"}), test::sni_extension({"denied.test"})})),
               HelloError::malformed);
}

TEST(ClientHello, DuplicateOtherExtensionIsMalformed) {
  expect_error(test::in_records(test::client_hello_message({test::sni_extension({"allowed.test"}),
                                                            test::alpn_extension({"h2"}),
                                                            test::alpn_extension({"h2"})})),
               HelloError::malformed);
}

TEST(ClientHello, TwoNamesInOneServerNameListIsMalformed) {
  expect_error(test::in_records(test::client_hello_message({test::sni_extension({"allowed.test", "denied.test"})})),
               HelloError::malformed);
}

TEST(ClientHello, UnknownNameTypeIsMalformed) {
  expect_error(test::in_records(test::client_hello_message({test::sni_extension({"allowed.test"}, 1)})),
               HelloError::malformed);
}

TEST(ClientHello, ExtensionLengthPastTheBlockIsMalformed) {
  Bytes ext = test::sni_extension({"allowed.test"});
  ext[3] = static_cast<std::uint8_t>(ext[3] + 10);  // extension_data length runs past the block
  expect_error(test::in_records(test::client_hello_message({ext})), HelloError::malformed);
}

TEST(ClientHello, ServerNameListLengthMismatchIsMalformed) {
  Bytes ext = test::sni_extension({"allowed.test"});
  ext[5] = static_cast<std::uint8_t>(ext[5] - 1);  // list shorter than the extension
  expect_error(test::in_records(test::client_hello_message({ext})), HelloError::malformed);
}

TEST(ClientHello, EmptyAlpnNameIsMalformed) {
  expect_error(test::in_records(test::client_hello_message(
                   {test::sni_extension({"allowed.test"}), test::alpn_extension({"h2", ""})})),
               HelloError::malformed);
}

TEST(ClientHello, EveryTruncationOfTheBodyIsMalformedNotAnOverread) {
  // Shrink the message while keeping its headers consistent, so the body
  // parser (not the record walk) meets every possible short vector.
  const Bytes full = test::client_hello_message(
      {test::sni_extension({"allowed.test"}), test::alpn_extension({"h2"}), test::supported_versions_tls13()});
  for (std::size_t body = 0; body + 4 < full.size(); ++body) {
    Bytes msg(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(4 + body));
    msg[1] = static_cast<std::uint8_t>(body >> 16);
    msg[2] = static_cast<std::uint8_t>(body >> 8);
    msg[3] = static_cast<std::uint8_t>(body);
    const HelloParse p = parse(test::in_records(msg));
    ASSERT_TRUE(p.failed()) << "body of " << body << " bytes";
    // A hello that stops right before its extension block is a valid TLS 1.2 hello without SNI.
    EXPECT_TRUE(p.error == HelloError::malformed || p.error == HelloError::no_sni ||
                (body < 2 && p.error == HelloError::malformed))
        << "body of " << body << ": " << to_string(p.error);
  }
}

TEST(ClientHello, DeclaredHelloOverLimitIsTooLargeBeforeItArrives) {
  expect_error(Bytes{22, 3, 1, 0, 4, 1, 0, 0x4e, 0x20}, HelloError::too_large);  // 20000 bytes announced
}

TEST(ClientHello, HelloOverSeventeenRecordsIsTooLarge) {
  const Bytes msg = test::client_hello_message({test::sni_extension({"allowed.test"})});
  const Bytes b = test::in_records(msg, std::vector<std::size_t>(kMaxClientHelloRecords, 1));
  expect_error(b, HelloError::too_large);
  // Known as soon as the sixteenth record is complete.
  expect_error(Bytes(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(kMaxClientHelloRecords * 6)),
               HelloError::too_large);
  // Exactly the limit still works.
  const Bytes at_limit = test::in_records(msg, std::vector<std::size_t>(kMaxClientHelloRecords - 1, 1));
  EXPECT_TRUE(parse(at_limit).done());
}

TEST(ClientHello, LargestAllowedHelloIsAccepted) {
  Bytes padding_data(kMaxClientHelloBytes - 200, 0);
  Bytes msg = test::client_hello_message({test::sni_extension({"allowed.test"}), test::extension(21, padding_data)});
  ASSERT_LE(msg.size(), kMaxClientHelloBytes);
  padding_data.resize(padding_data.size() + (kMaxClientHelloBytes - msg.size()));
  msg = test::client_hello_message({test::sni_extension({"allowed.test"}), test::extension(21, padding_data)});
  ASSERT_EQ(msg.size(), kMaxClientHelloBytes);
  const std::size_t half = msg.size() / 2;
  EXPECT_TRUE(parse(test::in_records(msg, {half})).done());
  padding_data.push_back(0);
  msg = test::client_hello_message({test::sni_extension({"allowed.test"}), test::extension(21, padding_data)});
  expect_error(test::in_records(msg, {half}), HelloError::too_large);
}

TEST(ClientHello, RecordOverTwoToTheFourteenIsMalformed) {
  expect_error(Bytes{22, 3, 1, 0x40, 0x01, 1}, HelloError::malformed);
}

TEST(ClientHello, ZeroLengthRecordIsMalformed) { expect_error(Bytes{22, 3, 1, 0, 0}, HelloError::malformed); }

TEST(ClientHello, AlertBetweenHandshakeFragmentsIsMalformed) {
  const Bytes msg = test::client_hello_message({test::sni_extension({"allowed.test"})});
  Bytes b = test::in_records(Bytes(msg.begin(), msg.begin() + 10));
  test::append(b, Bytes{21, 3, 3, 0, 2, 2, 40});
  test::append(b, test::in_records(Bytes(msg.begin() + 10, msg.end())));
  expect_error(b, HelloError::malformed);
}

TEST(ClientHello, HandshakeBytesAfterTheHelloInItsRecordAreMalformed) {
  Bytes msg = test::client_hello_message({test::sni_extension({"allowed.test"})});
  msg.push_back(0);
  expect_error(test::in_records(msg), HelloError::malformed);
}

TEST(ClientHello, ServerHelloIsNotClientHello) {
  Bytes msg = test::client_hello_message({test::sni_extension({"allowed.test"})});
  msg[0] = 2;
  expect_error(test::in_records(msg), HelloError::not_client_hello);
  expect_error(Bytes{22, 3, 1, 0, 10, 2}, HelloError::not_client_hello);  // known from the first body byte
}

TEST(ClientHello, Ssl3HelloIsUnsupportedVersion) {
  expect_error(test::in_records(test::client_hello_message({test::sni_extension({"allowed.test"})}, 0x0300)),
               HelloError::unsupported_version);
}

struct SniCase {
  const char* sentence;
  std::string name;
  HelloError error;  // malformed stands for "accepted" in this table
};

TEST(ClientHello, SniValidationTable) {
  const std::vector<SniCase> cases = {
      {"a plain host name is accepted", "allowed.test", HelloError::malformed},
      {"upper case and digits are accepted", "API2.Allowed.TEST", HelloError::malformed},
      {"an underscore label is accepted", "_acme.allowed.test", HelloError::malformed},
      {"a single label is accepted", "localhost", HelloError::malformed},
      {"a trailing dot is refused (RFC 6066)", "allowed.test.", HelloError::invalid_sni},
      {"a leading dot is refused", ".allowed.test", HelloError::invalid_sni},
      {"an empty label is refused", "allowed..test", HelloError::invalid_sni},
      {"a NUL byte is refused", std::string("allowed.test\0.denied.test", 25), HelloError::invalid_sni},
      {"a space is refused", "allowed test", HelloError::invalid_sni},
      {"a slash is refused", "allowed.test/x", HelloError::invalid_sni},
      {"a percent sign is refused", "allowed%2etest", HelloError::invalid_sni},
      {"UTF-8 bytes are refused", "\xc3\xa9.allowed.test", HelloError::invalid_sni},
      {"a 64-byte label is refused", std::string(64, 'a') + ".test", HelloError::invalid_sni},
      {"a 253-byte name is accepted", std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                                          std::string(63, 'c') + "." + std::string(61, 'd'),
       HelloError::malformed},
      {"a 254-byte name is refused", std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                                         std::string(63, 'c') + "." + std::string(62, 'd'),
       HelloError::invalid_sni},
      {"an IPv4 literal is refused", "127.0.0.1", HelloError::sni_ip_literal},
      {"an IPv6 literal is refused", "::1", HelloError::sni_ip_literal},
      {"a bracketed IPv6 literal is not a name", "[::1]", HelloError::invalid_sni},
      {"a hex IPv4 form is an address", "0x7f000001", HelloError::sni_ip_literal},
      {"a decimal IPv4 form is an address", "2130706433", HelloError::sni_ip_literal},
      {"a short IPv4 form is an address", "127.1", HelloError::sni_ip_literal},
      {"an all-digit top label is an address", "allowed.123", HelloError::sni_ip_literal},
      {"a host:port is refused", "allowed.test:443", HelloError::invalid_sni},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.sentence);
    const HelloParse p = parse(test::in_records(test::client_hello_message({test::sni_extension({c.name})})));
    if (c.error == HelloError::malformed) {
      ASSERT_TRUE(p.done()) << to_string(p.error);
      EXPECT_EQ(p.hello.sni, c.name);
    } else {
      ASSERT_TRUE(p.failed());
      EXPECT_STREQ(to_string(p.error), to_string(c.error));
    }
  }
}

TEST(ClientHello, EmptyHostNameIsInvalidSni) {
  // server_name_list with one entry whose HostName has length zero.
  const Bytes ext = test::extension(0, Bytes{0, 3, 0, 0, 0});
  expect_error(test::in_records(test::client_hello_message({ext})), HelloError::invalid_sni);
}

}  // namespace
}  // namespace awf::intercept
