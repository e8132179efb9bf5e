// Conversions between SocketAddress and the kernel's sockaddr structures.
#include "awf/intercept/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "awf/host_port.h"

namespace awf::intercept {

std::string SocketAddress::address_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(family, bytes.data(), text, sizeof text) == nullptr) return "?";
  return text;
}

std::string SocketAddress::to_string() const { return join_host_port(address_string(), port); }

std::optional<SocketAddress> SocketAddress::parse(std::string_view address, std::uint16_t port) {
  if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  const std::string text(address);
  SocketAddress out;
  out.port = port;
  if (inet_pton(AF_INET, text.c_str(), out.bytes.data()) == 1) {
    out.family = AF_INET;
    return out;
  }
  if (inet_pton(AF_INET6, text.c_str(), out.bytes.data()) == 1) {
    out.family = AF_INET6;
    return out;
  }
  return std::nullopt;
}

std::optional<SocketAddress> SocketAddress::from_sockaddr(const sockaddr_storage& storage) {
  SocketAddress out;
  if (storage.ss_family == AF_INET) {
    sockaddr_in sin{};
    std::memcpy(&sin, &storage, sizeof sin);
    out.family = AF_INET;
    std::memcpy(out.bytes.data(), &sin.sin_addr, 4);
    out.port = ntohs(sin.sin_port);
    return out;
  }
  if (storage.ss_family == AF_INET6) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, &storage, sizeof sin6);
    out.family = AF_INET6;
    std::memcpy(out.bytes.data(), &sin6.sin6_addr, 16);
    out.port = ntohs(sin6.sin6_port);
    return out;
  }
  return std::nullopt;
}

socklen_t SocketAddress::to_sockaddr(sockaddr_storage& storage) const {
  storage = {};
  if (family == AF_INET) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    std::memcpy(&sin.sin_addr, bytes.data(), 4);
    std::memcpy(&storage, &sin, sizeof sin);
    return sizeof sin;
  }
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  std::memcpy(&sin6.sin6_addr, bytes.data(), 16);
  std::memcpy(&storage, &sin6, sizeof sin6);
  return sizeof sin6;
}

}  // namespace awf::intercept
