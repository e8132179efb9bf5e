// An IPv4 or IPv6 address with a port, as the socket helpers report them.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace awf::intercept {

struct SocketAddress {
  int family = 0;                        // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> bytes{};  // first 4 used for AF_INET, network order
  std::uint16_t port = 0;                // host order

  std::string address_string() const;  // "127.0.0.1", "::1"
  std::string to_string() const;       // "127.0.0.1:443", "[::1]:443"

  // From a numeric address ("127.0.0.1", "::1", "[::1]") and a port.
  static std::optional<SocketAddress> parse(std::string_view address, std::uint16_t port);
  static std::optional<SocketAddress> from_sockaddr(const sockaddr_storage& storage);
  socklen_t to_sockaddr(sockaddr_storage& storage) const;
};

}  // namespace awf::intercept
