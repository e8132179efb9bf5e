// ClientHello peek for the transparent HTTPS front end: record layer walk,
// handshake reassembly, and the server_name / ECH / ALPN extensions.
#include "awf/intercept/client_hello.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <optional>

namespace awf::intercept {

const char* to_string(HelloError error) {
  switch (error) {
    case HelloError::not_tls: return "not_tls";
    case HelloError::sslv2_hello: return "sslv2_hello";
    case HelloError::unsupported_version: return "unsupported_version";
    case HelloError::not_client_hello: return "not_client_hello";
    case HelloError::malformed: return "malformed";
    case HelloError::too_large: return "too_large";
    case HelloError::no_sni: return "no_sni";
    case HelloError::invalid_sni: return "invalid_sni";
    case HelloError::sni_ip_literal: return "sni_ip_literal";
  }
  return "unknown";
}

namespace {

constexpr std::uint8_t kContentHandshake = 22;        // RFC 8446 §5.1 ContentType.handshake
constexpr std::uint8_t kHandshakeClientHello = 1;     // RFC 8446 §4 HandshakeType.client_hello
constexpr std::size_t kMaxRecordPayload = 1u << 14;   // RFC 8446 §5.1 TLSPlaintext.length
constexpr std::uint16_t kExtServerName = 0;           // RFC 6066 §3
constexpr std::uint16_t kExtAlpn = 16;                // RFC 7301 §3.1
constexpr std::uint16_t kExtSupportedVersions = 43;   // RFC 8446 §4.2.1
constexpr std::uint16_t kExtEncryptedClientHello = 0xfe0d;  // RFC 9849 (TLS ECH)
constexpr std::size_t kNoLength = static_cast<std::size_t>(-1);

HelloParse need_more() { return HelloParse{}; }
HelloParse fail(HelloError error) {
  HelloParse p;
  p.status = HelloParse::Status::error;
  p.error = error;
  return p;
}

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

// Bounds-checked cursor over one vector of the hello; every read says whether
// the bytes were there, so a short vector is `malformed`, never an overread.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> data) : data_(data) {}
  std::size_t remaining() const { return data_.size() - pos_; }
  bool u8(std::uint8_t& out) {
    if (remaining() < 1) return false;
    out = data_[pos_++];
    return true;
  }
  bool u16(std::uint16_t& out) {
    if (remaining() < 2) return false;
    out = be16(data_.data() + pos_);
    pos_ += 2;
    return true;
  }
  bool take(std::size_t n, std::span<const std::uint8_t>& out) {
    if (remaining() < n) return false;
    out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  // A vector with a one- or two-byte length prefix (RFC 8446 §3.4).
  bool vec8(std::span<const std::uint8_t>& out) {
    std::uint8_t n = 0;
    return u8(n) && take(n, out);
  }
  bool vec16(std::span<const std::uint8_t>& out) {
    std::uint16_t n = 0;
    return u16(n) && take(n, out);
  }

 private:
  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
};

std::optional<HelloError> parse_server_name(std::span<const std::uint8_t> data, ClientHello& out) {
  // RFC 6066 §3: ServerNameList server_name_list<1..2^16-1>; one entry per
  // name_type, and host_name(0) is the only type ever defined. Two names are
  // an ambiguity a filter must not resolve in the attacker's favour.
  Reader r(data);
  std::span<const std::uint8_t> list;
  if (!r.vec16(list) || r.remaining() != 0 || list.empty()) return HelloError::malformed;
  Reader entries(list);
  std::uint8_t name_type = 0;
  std::span<const std::uint8_t> name;
  if (!entries.u8(name_type) || !entries.vec16(name)) return HelloError::malformed;
  if (name_type != 0 || entries.remaining() != 0) return HelloError::malformed;
  std::string_view host(reinterpret_cast<const char*>(name.data()), name.size());
  switch (check_sni_host_name(host)) {
    case HostNameCheck::ok: break;
    case HostNameCheck::invalid: return HelloError::invalid_sni;
    case HostNameCheck::ip_literal: return HelloError::sni_ip_literal;
  }
  out.sni.assign(host);
  return std::nullopt;
}

std::optional<HelloError> parse_alpn(std::span<const std::uint8_t> data, ClientHello& out) {
  // RFC 7301 §3.1: ProtocolName protocol_name_list<2..2^16-1>, each <1..2^8-1>.
  Reader r(data);
  std::span<const std::uint8_t> list;
  if (!r.vec16(list) || r.remaining() != 0 || list.size() < 2) return HelloError::malformed;
  Reader names(list);
  while (names.remaining() > 0) {
    std::span<const std::uint8_t> name;
    if (!names.vec8(name) || name.empty()) return HelloError::malformed;
    out.alpn.emplace_back(reinterpret_cast<const char*>(name.data()), name.size());
  }
  return std::nullopt;
}

std::optional<HelloError> parse_supported_versions(std::span<const std::uint8_t> data, ClientHello& out) {
  // RFC 8446 §4.2.1: ProtocolVersion versions<2..254> in a ClientHello.
  Reader r(data);
  std::span<const std::uint8_t> list;
  if (!r.vec8(list) || r.remaining() != 0 || list.size() < 2 || list.size() % 2 != 0) {
    return HelloError::malformed;
  }
  for (std::size_t i = 0; i < list.size(); i += 2) {
    if (be16(list.data() + i) == 0x0304) out.offers_tls13 = true;
  }
  return std::nullopt;
}

// The ClientHello body (after the 4-byte handshake header), RFC 8446 §4.1.2;
// TLS 1.0-1.2 hellos (RFC 5246 §7.4.1.2) have the same layout.
std::optional<HelloError> parse_hello_body(std::span<const std::uint8_t> body, ClientHello& out) {
  Reader r(body);
  std::span<const std::uint8_t> skipped;
  if (!r.u16(out.legacy_version)) return HelloError::malformed;
  // SSL 3.0 (0x0300) has no place in a modern handshake (RFC 7568), and a
  // major version other than 3 is not TLS at all.
  if ((out.legacy_version >> 8) != 3 || out.legacy_version < 0x0301) return HelloError::unsupported_version;
  if (!r.take(32, skipped)) return HelloError::malformed;                    // random
  if (!r.vec8(skipped) || skipped.size() > 32) return HelloError::malformed;  // legacy_session_id<0..32>
  if (!r.vec16(skipped) || skipped.size() < 2 || skipped.size() % 2 != 0) {
    return HelloError::malformed;  // cipher_suites<2..2^16-2>
  }
  if (!r.vec8(skipped) || skipped.empty()) return HelloError::malformed;  // compression<1..2^8-1>
  if (r.remaining() == 0) return HelloError::no_sni;  // TLS 1.2 allows a hello without extensions

  std::span<const std::uint8_t> extensions;
  if (!r.vec16(extensions) || r.remaining() != 0) return HelloError::malformed;

  // RFC 8446 §4.2: no two extensions of the same type. A filter that read the
  // first server_name while the origin reads the last would be bypassed.
  std::bitset<65536> seen;
  bool has_sni = false;
  Reader ext(extensions);
  while (ext.remaining() > 0) {
    std::uint16_t type = 0;
    std::span<const std::uint8_t> data;
    if (!ext.u16(type) || !ext.vec16(data)) return HelloError::malformed;
    if (seen.test(type)) return HelloError::malformed;
    seen.set(type);
    std::optional<HelloError> error;
    switch (type) {
      case kExtServerName:
        error = parse_server_name(data, out);
        has_sni = !error.has_value();
        break;
      case kExtAlpn:
        error = parse_alpn(data, out);
        break;
      case kExtSupportedVersions:
        error = parse_supported_versions(data, out);
        break;
      case kExtEncryptedClientHello:
        // The outer hello carries a public name in server_name; the real one
        // is encrypted. We decide on the outer name and say so in the log.
        if (data.empty()) return HelloError::malformed;
        out.has_ech = true;
        break;
      default:
        break;
    }
    if (error) return error;
  }
  if (!has_sni) return HelloError::no_sni;
  return std::nullopt;
}

}  // namespace

HostNameCheck check_sni_host_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return HostNameCheck::invalid;
  const std::string text(name);  // NUL-terminated copy for inet_pton / inet_aton
  if (name.find(':') != std::string_view::npos) {
    // RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted".
    in6_addr v6{};
    return inet_pton(AF_INET6, text.c_str(), &v6) == 1 ? HostNameCheck::ip_literal : HostNameCheck::invalid;
  }
  std::size_t label_start = 0;
  bool last_label_all_digits = false;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      // An empty label catches "..", a leading dot and the trailing dot that
      // RFC 6066 §3 leaves out of HostName.
      const std::size_t label_len = i - label_start;
      if (label_len == 0 || label_len > 63) return HostNameCheck::invalid;
      last_label_all_digits = std::all_of(name.begin() + static_cast<std::ptrdiff_t>(label_start),
                                          name.begin() + static_cast<std::ptrdiff_t>(i),
                                          [](char c) { return c >= '0' && c <= '9'; });
      label_start = i + 1;
      continue;
    }
    const char c = name[i];
    const bool ldh = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_';
    if (!ldh) return HostNameCheck::invalid;  // NUL, space, '/', '%', UTF-8 bytes...
  }
  // No top-level domain is all digits (RFC 3696 §2), and inet_aton(3) reads
  // forms like "0x7f.1" or "2130706433" as addresses: the proxy resolves this
  // name, so anything a resolver library could take for an address is one.
  in_addr v4{};
  if (last_label_all_digits || inet_aton(text.c_str(), &v4) != 0) return HostNameCheck::ip_literal;
  return HostNameCheck::ok;
}

HelloParse parse_client_hello(std::span<const std::uint8_t> in) {
  if (in.empty()) return need_more();
  if (in[0] != kContentHandshake) {
    // SSL 2.0 compatible hello: a 2-byte header with the high bit set, then
    // msg_type 1 (RFC 5246 Appendix E.2). It cannot carry extensions.
    if ((in[0] & 0x80) != 0) {
      if (in.size() < 3) return need_more();
      if (in[2] == 0x01) return fail(HelloError::sslv2_hello);
    }
    return fail(HelloError::not_tls);
  }
  if (in.size() >= 2 && in[1] != 3) return fail(HelloError::not_tls);

  // Walk the records. Only headers are read here, so a hello arriving byte
  // by byte costs O(records) per call until the last byte is in.
  struct Fragment {
    std::size_t offset;
    std::size_t length;
  };
  std::array<Fragment, kMaxClientHelloRecords> fragments{};
  std::array<std::uint8_t, 4> hs_header{};
  std::size_t hs_header_have = 0;
  std::size_t hs_total = kNoLength;  // handshake header + body, once known
  std::size_t collected = 0;         // handshake bytes in complete records
  std::size_t records = 0;
  std::size_t pos = 0;
  ClientHello hello;

  for (;;) {
    const std::size_t avail_header = in.size() - pos;
    // RFC 8446 §5.1: handshake messages must not be interleaved with other
    // record types, so every record until the hello is complete is a
    // handshake record with a 3.x version.
    if (avail_header >= 1 && in[pos] != kContentHandshake) return fail(HelloError::malformed);
    if (avail_header >= 2 && in[pos + 1] != 3) return fail(pos == 0 ? HelloError::not_tls : HelloError::malformed);
    if (avail_header < kTlsRecordHeaderBytes) {
      if (records == kMaxClientHelloRecords && avail_header > 0) return fail(HelloError::too_large);
      return need_more();
    }
    if (records == kMaxClientHelloRecords) return fail(HelloError::too_large);
    const std::size_t length = be16(in.data() + pos + 3);
    // Zero-length handshake fragments are forbidden (RFC 8446 §5.1), and no
    // record may exceed 2^14 bytes of plaintext.
    if (length == 0 || length > kMaxRecordPayload) return fail(HelloError::malformed);
    if (records == 0) hello.record_version = be16(in.data() + 1);

    const std::size_t offset = pos + kTlsRecordHeaderBytes;
    const std::size_t present = std::min(length, in.size() - offset);
    for (std::size_t i = 0; hs_header_have < hs_header.size() && i < present; ++i) {
      hs_header[hs_header_have++] = in[offset + i];
    }
    if (hs_header_have >= 1 && hs_header[0] != kHandshakeClientHello) return fail(HelloError::not_client_hello);
    if (hs_header_have == hs_header.size() && hs_total == kNoLength) {
      hs_total = 4 + ((std::size_t{hs_header[1]} << 16) | (std::size_t{hs_header[2]} << 8) | hs_header[3]);
      if (hs_total > kMaxClientHelloBytes) return fail(HelloError::too_large);
    }
    // A client sends nothing after its hello until the server answers
    // (early data travels in its own record type), so a record that runs
    // past the end of the hello is malformed.
    if (hs_total != kNoLength && collected + length > hs_total) return fail(HelloError::malformed);

    fragments[records++] = Fragment{offset, length};
    if (present < length) return need_more();
    collected += length;
    pos = offset + length;
    if (collected == hs_total) break;
    // The hello needs another record and the budget is spent: say so now
    // rather than after the client has sent it.
    if (records == kMaxClientHelloRecords) return fail(HelloError::too_large);
  }

  hello.records = records;
  hello.consumed = pos;

  // Reassemble only when the hello spans records; the common case parses in place.
  std::vector<std::uint8_t> joined;
  std::span<const std::uint8_t> message;
  if (records == 1) {
    message = in.subspan(fragments[0].offset, hs_total);
  } else {
    joined.reserve(hs_total);
    for (std::size_t i = 0; i < records; ++i) {
      const auto part = in.subspan(fragments[i].offset, fragments[i].length);
      joined.insert(joined.end(), part.begin(), part.end());
    }
    message = joined;
  }
  if (auto error = parse_hello_body(message.subspan(4), hello)) return fail(*error);

  HelloParse done;
  done.status = HelloParse::Status::done;
  done.hello = std::move(hello);
  return done;
}

}  // namespace awf::intercept
