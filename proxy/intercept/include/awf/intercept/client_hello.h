// Peeking at a TLS ClientHello without terminating TLS: the record layer, the
// handshake reassembly across records and TCP segments, and the extensions the
// transparent HTTPS front end decides on (server_name, ECH, ALPN).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace awf::intercept {

// Hard limits. A ClientHello with a post-quantum key share is under 2 KiB;
// RFC 8446 §5.1 caps one record at 2^14 bytes, and we refuse a hello that
// needs more than one record's worth. No real client fragments its hello into
// more than a handful of records: dozens of tiny records are an evasion trick.
inline constexpr std::size_t kMaxClientHelloBytes = 16384;  // handshake header + body
inline constexpr std::size_t kMaxClientHelloRecords = 16;
inline constexpr std::size_t kTlsRecordHeaderBytes = 5;
// The most input the parser ever needs to see before answering done or error.
inline constexpr std::size_t kMaxClientHelloInput =
    kMaxClientHelloBytes + kMaxClientHelloRecords * kTlsRecordHeaderBytes;

// Why a ClientHello was not accepted. Closed set: to_string() is the log and
// metric name.
enum class HelloError : std::uint8_t {
  not_tls,              // the first bytes are not a TLS handshake record (e.g. HTTP on 443)
  sslv2_hello,          // SSL 2.0 compatible hello: no extensions, so no SNI
  unsupported_version,  // ClientHello.legacy_version below TLS 1.0 (SSL 3.0) or not 3.x
  not_client_hello,     // a handshake record whose first message is not a ClientHello
  malformed,            // a length, vector or extension that does not add up
  too_large,            // over kMaxClientHelloBytes or kMaxClientHelloRecords
  no_sni,               // no server_name extension (or no extensions at all)
  invalid_sni,          // empty, NUL, non-hostname bytes, bad label lengths, trailing dot
  sni_ip_literal,       // an IP address where RFC 6066 §3 allows only a host name
};
const char* to_string(HelloError error);

struct ClientHello {
  std::string sni;                 // as the client sent it (policy normalises case)
  bool has_ech = false;            // encrypted_client_hello (0xfe0d): sni is the outer name
  std::vector<std::string> alpn;   // application_layer_protocol_negotiation, in order
  std::uint16_t legacy_version = 0;  // ClientHello.legacy_version (0x0303 for TLS 1.2 and 1.3)
  std::uint16_t record_version = 0;  // legacy_record_version of the first record
  bool offers_tls13 = false;       // supported_versions lists 0x0304
  std::size_t records = 0;         // TLS records the hello was spread over
  std::size_t consumed = 0;        // input bytes up to the end of the hello's last record
};

struct HelloParse {
  enum class Status : std::uint8_t { need_more, done, error };
  Status status = Status::need_more;
  HelloError error = HelloError::malformed;  // meaningful when status == error
  ClientHello hello;                         // meaningful when status == done

  bool need_more() const { return status == Status::need_more; }
  bool done() const { return status == Status::done; }
  bool failed() const { return status == Status::error; }
};

// Parses the first bytes a client sent on a TLS connection. Pure: call it
// again with the longer buffer after every read until it stops answering
// need_more; it never needs more than kMaxClientHelloInput bytes. Deciding
// need_more only walks record headers, so repeated calls on a hello that
// trickles in byte by byte stay cheap.
HelloParse parse_client_hello(std::span<const std::uint8_t> bytes);

// RFC 6066 §3 HostName checks shared with tests: LDH labels (underscore
// tolerated, as real names carry it), 1..63 bytes each, 253 in all, no
// trailing dot, not an address (anything inet_aton(3) or an all-digit last
// label would read as one: the proxy resolves this name, so "0x7f000001" must
// never reach the resolver as a host).
enum class HostNameCheck : std::uint8_t { ok, invalid, ip_literal };
HostNameCheck check_sni_host_name(std::string_view name);

}  // namespace awf::intercept
