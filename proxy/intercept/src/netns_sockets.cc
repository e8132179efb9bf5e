// Listening sockets for awf-proxy, opened in the agent's network namespace
// from a dedicated thread so the caller never leaves its own.
#include "awf/intercept/netns_sockets.h"
#include "awf/errno_text.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>

namespace awf::intercept {

namespace {


Result<OpenedListener> open_one(const ListenerSpec& spec) {
  auto address = SocketAddress::parse(spec.address, spec.port);
  const std::string where = std::string(to_string(spec.kind)) + " listener on " +
                            (address ? address->to_string() : "\"" + spec.address + "\"");
  if (!address) return Error{where + ": not a numeric IPv4 or IPv6 address"};
  const int type = is_datagram(spec.kind) ? SOCK_DGRAM : SOCK_STREAM;
  UniqueFd fd(::socket(address->family, type | SOCK_CLOEXEC, 0));
  if (!fd) {
    const int err = errno;
    return Error{where + ": socket: " + errno_text(err)};
  }
  const int one = 1;
  if (type == SOCK_STREAM && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    const int err = errno;
    return Error{where + ": setsockopt(SO_REUSEADDR): " + errno_text(err)};
  }
  if (address->family == AF_INET6 && ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
    const int err = errno;
    return Error{where + ": setsockopt(IPV6_V6ONLY): " + errno_text(err)};
  }
  sockaddr_storage storage{};
  const socklen_t len = address->to_sockaddr(storage);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), len) != 0) {
    const int err = errno;
    std::string message = where + ": bind: " + errno_text(err);
    if (err == EADDRNOTAVAIL) message += ": is the loopback interface up in this namespace?";
    if (err == EADDRINUSE) message += ": another socket holds this port";
    return Error{message};
  }
  if (type == SOCK_STREAM && ::listen(fd.get(), spec.backlog) != 0) {
    const int err = errno;
    return Error{where + ": listen: " + errno_text(err)};
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) {
    const int err = errno;
    return Error{where + ": getsockname: " + errno_text(err)};
  }
  auto local = SocketAddress::from_sockaddr(bound);
  if (!local) return Error{where + ": getsockname returned an unexpected family"};
  return OpenedListener{spec.kind, std::move(fd), *local};
}

}  // namespace

Result<std::vector<OpenedListener>> open_listeners(std::span<const ListenerSpec> specs) {
  std::vector<OpenedListener> opened;
  for (const auto& spec : specs) {
    auto one = open_one(spec);
    if (!one) return one.error();  // `opened` closes what was made so far
    opened.push_back(std::move(one.value()));
  }
  return opened;
}

Result<UniqueFd> open_netns(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    return Error{"open network namespace \"" + path + "\": " + errno_text(err)};
  }
  return fd;
}

Result<std::vector<OpenedListener>> create_listeners_in_netns(int netns_fd, std::span<const ListenerSpec> specs) {
  Result<std::vector<OpenedListener>> result = Error{"listener thread did not run"};
  auto work = [&result, netns_fd, specs] {
    // The thread ends right after, so there is nothing to switch back: its
    // namespace dies with it and the caller's threads were never touched.
    if (::setns(netns_fd, CLONE_NEWNET) != 0) {
      const int err = errno;
      std::string message = "setns(fd " + std::to_string(netns_fd) + ", CLONE_NEWNET): " + errno_text(err);
      if (err == EINVAL) message += ": the descriptor is not a network namespace";
      if (err == EPERM) message += ": needs CAP_SYS_ADMIN over the namespace's user namespace";
      result = Error{message};
      return;
    }
    result = open_listeners(specs);
  };
  try {
    std::thread thread(work);
    thread.join();
  } catch (const std::system_error& e) {
    return Error{std::string("starting the listener thread: ") + e.what()};
  }
  return result;
}

Result<std::vector<OpenedListener>> create_listeners_in_netns_of(pid_t pid, std::span<const ListenerSpec> specs) {
  auto netns = open_netns("/proc/" + std::to_string(pid) + "/ns/net");
  if (!netns) return netns.error();
  return create_listeners_in_netns(netns->get(), specs);
}

}  // namespace awf::intercept
