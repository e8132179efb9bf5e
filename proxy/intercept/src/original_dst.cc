// Reading the pre-redirect destination of an intercepted connection from
// conntrack (SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST).
#include "awf/intercept/original_dst.h"
#include "awf/errno_text.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace awf::intercept {

namespace {
// SO_ORIGINAL_DST (linux/netfilter_ipv4.h) and IP6T_SO_ORIGINAL_DST
// (linux/netfilter_ipv6/ip6_tables.h) are both 80, at SOL_IP and SOL_IPV6.
// Those kernel headers redefine glibc's in_addr and friends when included
// next to <netinet/in.h>, and the values are fixed ABI, so they are spelled
// out here.
constexpr int kSoOriginalDst = 80;
constexpr int kIp6tSoOriginalDst = 80;

}  // namespace

Result<SocketAddress> local_address(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len) != 0) {
    const int err = errno;
    return Error{"getsockname(fd " + std::to_string(fd) + "): " + errno_text(err)};
  }
  auto address = SocketAddress::from_sockaddr(storage);
  if (!address) return Error{"fd " + std::to_string(fd) + " is not an IPv4 or IPv6 socket"};
  return *address;
}

Result<SocketAddress> original_destination(int fd) {
  auto local = local_address(fd);
  if (!local) return local.error();
  sockaddr_storage storage{};
  socklen_t len = sizeof storage;
  const bool v6 = local->family == AF_INET6;
  const int rc = v6 ? ::getsockopt(fd, SOL_IPV6, kIp6tSoOriginalDst, &storage, &len)
                    : ::getsockopt(fd, SOL_IP, kSoOriginalDst, &storage, &len);
  if (rc != 0) {
    const int err = errno;
    std::string message = std::string("getsockopt(fd ") + std::to_string(fd) + ", " +
                          (v6 ? "IP6T_SO_ORIGINAL_DST" : "SO_ORIGINAL_DST") + "): " + errno_text(err);
    if (err == ENOENT) message += ": the connection has no NAT record (it reached the listener without a redirect)";
    return Error{message};
  }
  auto address = SocketAddress::from_sockaddr(storage);
  if (!address) return Error{"original destination of fd " + std::to_string(fd) + " has an unknown address family"};
  return *address;
}

}  // namespace awf::intercept
