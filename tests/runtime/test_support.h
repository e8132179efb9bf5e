// Shared by the runtime tests: root/facility checks (skip locally, fail under
// CI=true), sockets on loopback, and a network namespace on a thread.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "awf/testing/facility.h"
#include <thread>

#include "awf/intercept/socket_address.h"
#include "awf/unique_fd.h"

namespace awf::runtime::test {

using intercept::SocketAddress;


// Empty when the tests can create namespaces and nftables rulesets here.
inline std::string missing_facility() {
  if (::geteuid() != 0) return "these tests need root (namespaces, nftables)";
  std::string missing;
  std::thread probe([&] {
    if (::unshare(CLONE_NEWNET) != 0) missing = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  });
  probe.join();
  return missing;
}

#define AWF_REQUIRE_NAMESPACES()                                                              \
  do {                                                                                        \
    if (const std::string why = ::awf::runtime::test::missing_facility(); !why.empty()) {     \
      AWF_REQUIRE_FACILITY(false, why);                                                       \
    }                                                                                         \
  } while (0)

inline SocketAddress address(const char* text, std::uint16_t port) {
  auto a = SocketAddress::parse(text, port);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(SocketAddress{});
}

struct Connected {
  int error = 0;  // errno of the connect, 0 on success
  UniqueFd fd;
  std::chrono::milliseconds took{0};
};

// Non-blocking connect with a deadline, so a dropped SYN shows as ETIMEDOUT
// rather than hanging the test.
inline Connected connect_to(const SocketAddress& to, int type = SOCK_STREAM, int timeout_ms = 2000) {
  Connected out;
  const auto start = std::chrono::steady_clock::now();
  out.fd.reset(::socket(to.family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!out.fd) {
    out.error = errno;
    return out;
  }
  sockaddr_storage ss{};
  const socklen_t len = to.to_sockaddr(ss);
  if (::connect(out.fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    out.error = errno;
    if (out.error == EINPROGRESS) {
      pollfd p{out.fd.get(), POLLOUT, 0};
      if (::poll(&p, 1, timeout_ms) != 1) {
        out.error = ETIMEDOUT;
      } else {
        socklen_t elen = sizeof out.error;
        ::getsockopt(out.fd.get(), SOL_SOCKET, SO_ERROR, &out.error, &elen);
      }
    }
  }
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  return out;
}

inline UniqueFd bound_socket(const SocketAddress& at, int type) {
  UniqueFd fd(::socket(at.family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  EXPECT_TRUE(fd.valid()) << std::strerror(errno);
  sockaddr_storage ss{};
  const socklen_t len = at.to_sockaddr(ss);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len), 0) << at.to_string() << ": " << std::strerror(errno);
  if (type == SOCK_STREAM) {
    EXPECT_EQ(::listen(fd.get(), 16), 0);
  }
  return fd;
}

inline bool readable_within(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

// Runs `body` on a thread of its own that first moves into a new network
// namespace (unshare(2) with CLONE_NEWNET changes only the calling thread);
// the namespace goes away with the thread and its sockets.
inline void in_new_netns(const std::function<void()>& body) {
  std::thread worker([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "unshare(CLONE_NEWNET): " << std::strerror(errno);
      return;
    }
    body();
  });
  worker.join();
}

}  // namespace awf::runtime::test
