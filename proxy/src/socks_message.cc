// SOCKS5 greeting, request and reply encoding (see socks_message.h).
#include "awf/proxy/socks_message.h"

#include <algorithm>
#include <boost/asio/ip/address_v6.hpp>
#include <cstdio>

namespace awf::proxy::socks {

const char* to_string(MessageError e) {
  switch (e) {
    case MessageError::none: return "none";
    case MessageError::wrong_version: return "wrong_version";
    case MessageError::no_methods: return "no_methods";
    case MessageError::reserved_not_zero: return "reserved_not_zero";
    case MessageError::address_type_unknown: return "address_type_unknown";
    case MessageError::empty_name: return "empty_name";
  }
  return "unknown";
}

const char* to_string(Reply r) {
  switch (r) {
    case Reply::succeeded: return "succeeded";
    case Reply::general_failure: return "general_failure";
    case Reply::not_allowed: return "not_allowed";
    case Reply::network_unreachable: return "network_unreachable";
    case Reply::host_unreachable: return "host_unreachable";
    case Reply::connection_refused: return "connection_refused";
    case Reply::ttl_expired: return "ttl_expired";
    case Reply::command_not_supported: return "command_not_supported";
    case Reply::address_type_not_supported: return "address_type_not_supported";
  }
  return "unknown";
}

GreetingParse parse_greeting(std::span<const std::uint8_t> bytes) {
  GreetingParse out;
  if (bytes.empty()) return out;
  if (bytes[0] != kVersion) {
    out.status = ParseStatus::error;
    out.error = MessageError::wrong_version;
    return out;
  }
  if (bytes.size() < 2) return out;
  const std::size_t methods = bytes[1];
  if (methods == 0) {
    out.status = ParseStatus::error;
    out.error = MessageError::no_methods;
    return out;
  }
  if (bytes.size() < 2 + methods) return out;
  for (std::size_t i = 0; i < methods; ++i) {
    if (bytes[2 + i] == kNoAuthentication) out.offers_no_authentication = true;
  }
  out.status = ParseStatus::done;
  out.size = 2 + methods;
  return out;
}

namespace {

std::string ipv4_text(std::span<const std::uint8_t> b) {
  char buf[16];
  const int n = std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
  return std::string(buf, static_cast<std::size_t>(n));
}

// In brackets, as an authority writes it; asio's text is RFC 5952's form.
// The policy and the resolver canonicalise again.
std::string ipv6_text(std::span<const std::uint8_t> b) {
  boost::asio::ip::address_v6::bytes_type raw;
  std::copy(b.begin(), b.end(), raw.begin());
  return "[" + boost::asio::ip::address_v6(raw).to_string() + "]";
}

}  // namespace

RequestParse parse_request(std::span<const std::uint8_t> bytes) {
  RequestParse out;
  auto error = [&](MessageError e) {
    out.status = ParseStatus::error;
    out.error = e;
    return out;
  };
  if (bytes.empty()) return out;
  if (bytes[0] != kVersion) return error(MessageError::wrong_version);
  if (bytes.size() < 4) {
    if (bytes.size() >= 3 && bytes[2] != 0) return error(MessageError::reserved_not_zero);
    return out;
  }
  if (bytes[2] != 0) return error(MessageError::reserved_not_zero);
  std::size_t address_size = 0, at = 4;
  switch (bytes[3]) {
    case static_cast<std::uint8_t>(AddressType::ipv4): address_size = 4; break;
    case static_cast<std::uint8_t>(AddressType::ipv6): address_size = 16; break;
    case static_cast<std::uint8_t>(AddressType::name):
      if (bytes.size() < 5) return out;
      address_size = bytes[4];
      if (address_size == 0) return error(MessageError::empty_name);
      at = 5;
      break;
    default: return error(MessageError::address_type_unknown);
  }
  if (bytes.size() < at + address_size + 2) return out;
  Request& r = out.request;
  r.command = bytes[1];
  r.address_type = static_cast<AddressType>(bytes[3]);
  const auto address = bytes.subspan(at, address_size);
  switch (r.address_type) {
    case AddressType::ipv4: r.host = ipv4_text(address); break;
    case AddressType::ipv6: r.host = ipv6_text(address); break;
    case AddressType::name: r.host.assign(address.begin(), address.end()); break;
  }
  r.port = static_cast<std::uint16_t>((bytes[at + address_size] << 8) | bytes[at + address_size + 1]);
  out.status = ParseStatus::done;
  out.size = at + address_size + 2;
  return out;
}

std::string command_name(std::uint8_t command) {
  switch (command) {
    case static_cast<std::uint8_t>(Command::connect): return "CONNECT";
    case static_cast<std::uint8_t>(Command::bind): return "BIND";
    case static_cast<std::uint8_t>(Command::udp_associate): return "UDP_ASSOCIATE";
    default: return "CMD_" + std::to_string(command);
  }
}

std::string encode_reply(Reply r, std::span<const std::uint8_t> address, std::uint16_t port) {
  std::string out;
  out.reserve(22);
  out += static_cast<char>(kVersion);
  out += static_cast<char>(r);
  out += '\0';
  if (address.size() == 16) {
    out += static_cast<char>(AddressType::ipv6);
    out.append(address.begin(), address.end());
  } else {
    out += static_cast<char>(AddressType::ipv4);
    if (address.size() == 4) out.append(address.begin(), address.end());
    else out.append(4, '\0');
  }
  out += static_cast<char>(port >> 8);
  out += static_cast<char>(port & 0xFF);
  return out;
}

}  // namespace awf::proxy::socks
