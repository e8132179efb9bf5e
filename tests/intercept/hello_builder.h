// Builds ClientHello records for the tests: a valid hello by default, every
// field overridable, so each test states the one thing it breaks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace awf::intercept::test {

using Bytes = std::vector<std::uint8_t>;

inline void put16(Bytes& out, std::size_t v) {
  out.push_back(static_cast<std::uint8_t>((v >> 8) & 0xff));
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
}
inline void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }
inline Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }

inline Bytes extension(std::uint16_t type, const Bytes& data) {
  Bytes out;
  put16(out, type);
  put16(out, data.size());
  append(out, data);
  return out;
}

// server_name with the given host names, all of name_type `type`.
inline Bytes sni_extension(const std::vector<std::string>& names, std::uint8_t type = 0) {
  Bytes list;
  for (const auto& n : names) {
    list.push_back(type);
    put16(list, n.size());
    append(list, bytes_of(n));
  }
  Bytes data;
  put16(data, list.size());
  append(data, list);
  return extension(0, data);
}

inline Bytes alpn_extension(const std::vector<std::string>& protocols) {
  Bytes list;
  for (const auto& p : protocols) {
    list.push_back(static_cast<std::uint8_t>(p.size()));
    append(list, bytes_of(p));
  }
  Bytes data;
  put16(data, list.size());
  append(data, list);
  return extension(16, data);
}

inline Bytes supported_versions_tls13() { return extension(43, Bytes{4, 0x03, 0x04, 0x03, 0x03}); }
inline Bytes ech_extension() {
  Bytes data{0x00};  // ECHClientHello type outer, then opaque filler
  data.resize(41, 0xab);
  return extension(0xfe0d, data);
}

// The handshake message (type, 24-bit length, body).
inline Bytes client_hello_message(const std::vector<Bytes>& extensions, std::uint16_t version = 0x0303,
                                  bool with_extension_block = true) {
  Bytes body;
  put16(body, version);
  body.resize(body.size() + 32, 0x5a);  // random
  body.push_back(32);                    // legacy_session_id
  body.resize(body.size() + 32, 0x11);
  put16(body, 4);                        // cipher_suites
  append(body, Bytes{0x13, 0x01, 0x13, 0x02});
  append(body, Bytes{1, 0});             // compression: null
  if (with_extension_block) {
    Bytes block;
    for (const auto& e : extensions) append(block, e);
    put16(body, block.size());
    append(body, block);
  }
  Bytes message{1};
  message.push_back(static_cast<std::uint8_t>(body.size() >> 16));
  message.push_back(static_cast<std::uint8_t>(body.size() >> 8));
  message.push_back(static_cast<std::uint8_t>(body.size()));
  append(message, body);
  return message;
}

// Wraps a handshake message in records of the given fragment sizes (the
// last takes the rest).
inline Bytes in_records(const Bytes& message, std::vector<std::size_t> sizes = {},
                        std::uint16_t record_version = 0x0301) {
  Bytes out;
  std::size_t pos = 0;
  for (std::size_t i = 0; pos < message.size(); ++i) {
    const std::size_t n = i < sizes.size() ? sizes[i] : message.size() - pos;
    out.push_back(22);
    put16(out, record_version);
    put16(out, n);
    out.insert(out.end(), message.begin() + static_cast<std::ptrdiff_t>(pos),
               message.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
  }
  return out;
}

inline Bytes typical_hello(const std::string& sni = "allowed.test") {
  return in_records(client_hello_message(
      {sni_extension({sni}), supported_versions_tls13(), alpn_extension({"h2", "http/1.1"})}));
}

}  // namespace awf::intercept::test
