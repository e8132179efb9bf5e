// The --health-check probe: one HTTP/1.1 request on a fresh connection,
// answered by the proxy itself, with a deadline over the whole exchange.
#include "awf/proxy/health_check.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "awf/intercept/socket_address.h"
#include "awf/unique_fd.h"
#include "awf/proxy/http_session.h"

namespace awf::proxy {

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Waits for `events`; false on timeout or poll failure.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc > 0) return true;
    if (rc == 0 || errno != EINTR) return false;
  }
}

}  // namespace

Status probe_health(const ListenAddress& target, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string where = "health check of " + target.text();
  auto address = intercept::SocketAddress::parse(target.host, target.port);
  if (!address) return Error{where + ": not an IP address"};
  UniqueFd fd(::socket(address->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return Error{where + ": socket: " + std::strerror(errno)};
  sockaddr_storage ss{};
  const socklen_t len = address->to_sockaddr(ss);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) return Error{where + ": connect: " + std::strerror(errno)};
    if (!wait_for(fd.get(), POLLOUT, deadline)) return Error{where + ": connect timed out"};
    int err = 0;
    socklen_t err_len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &err_len);
    if (err != 0) return Error{where + ": connect: " + std::strerror(err)};
  }
  const std::string request = std::string("GET ") + kHealthCheckPath +
                              " HTTP/1.1\r\nHost: awf-proxy\r\nUser-Agent: awf-proxy-health-check\r\n"
                              "Connection: close\r\n\r\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd.get(), POLLOUT, deadline)) return Error{where + ": send timed out"};
    } else {
      return Error{where + ": send: " + std::strerror(errno)};
    }
  }
  std::string answer;
  while (answer.find("\r\n") == std::string::npos && answer.size() < 4096) {
    if (!wait_for(fd.get(), POLLIN, deadline)) return Error{where + ": no answer in time"};
    char buf[512];
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Error{where + ": recv: " + std::strerror(errno)};
    }
    answer.append(buf, static_cast<std::size_t>(n));
  }
  const std::string status_line = answer.substr(0, answer.find("\r\n"));
  if (status_line.rfind("HTTP/1.1 200 ", 0) != 0) {
    return Error{where + ": unexpected answer \"" + status_line.substr(0, 80) + "\""};
  }
  return ok_status();
}

}  // namespace awf::proxy
