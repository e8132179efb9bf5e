// Blocking loopback sockets with poll() deadlines for raw protocol tests.
#include "awf/testing/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace awf::testing {

namespace {

using Clock = std::chrono::steady_clock;

bool make_addr(const std::string& host, std::uint16_t port, sockaddr_storage& ss, socklen_t& len) {
  std::memset(&ss, 0, sizeof ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

bool another_suites_netns(const std::string& name) {
  return name.rfind("awf-icpt-", 0) == 0 || name.rfind("awf-pxy-", 0) == 0;
}

int remaining_ms(Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return ms < 0 ? 0 : static_cast<int>(ms);
}

}  // namespace

std::string named_netns_but_other_suites() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
    std::string name = e.path().filename().string();
    if (!another_suites_netns(name)) names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  std::string joined;
  for (const auto& n : names) joined += n + "\n";
  return joined;
}

std::string mounts_but_other_suites() {
  std::ifstream in("/proc/self/mounts");
  std::string line, kept;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string source, target;
    fields >> source >> target;
    if (target == "/run/netns") continue;
    if (target.rfind("/run/firejail/", 0) == 0) continue;
    if (target.rfind("/run/netns/", 0) == 0 && another_suites_netns(target.substr(11))) continue;
    kept += line + "\n";
  }
  return kept;
}

std::string enter_private_network() {
  if (::unshare(CLONE_NEWNET) != 0) return std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  ifreq req{};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  std::string why;
  if (::ioctl(fd, SIOCGIFFLAGS, &req) != 0) {
    why = std::string("reading the flags of lo: ") + std::strerror(errno);
  } else {
    req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP);
    if (::ioctl(fd, SIOCSIFFLAGS, &req) != 0) why = std::string("setting lo up: ") + std::strerror(errno);
  }
  ::close(fd);
  return why;
}

bool wait_for_port(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (TcpClient::connect(host, port, std::chrono::milliseconds(200))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::uint16_t unused_port(const std::string& host) {
  sockaddr_storage ss;
  socklen_t len;
  if (!make_addr(host, 0, ss, len)) return 0;
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    port = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                         : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  ::close(fd);
  return port;
}

std::optional<IdleListener> IdleListener::open(const std::string& host, std::uint16_t port, bool silent) {
  sockaddr_storage ss;
  socklen_t len;
  if (!make_addr(host, port, ss, len)) return std::nullopt;
  IdleListener l;
  l.fd_ = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l.fd_ < 0) return std::nullopt;
  int one = 1;
  ::setsockopt(l.fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(l.fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(l.fd_, silent ? 0 : 16) != 0 ||
      ::getsockname(l.fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return std::nullopt;
  }
  l.port_ = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                          : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  if (silent) {
    // Backlog 0 holds one connection; the SYNs of the others are dropped.
    // Non-blocking, so filling never waits for them.
    for (int i = 0; i < 3; ++i) {
      int c = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c < 0) return std::nullopt;
      ::connect(c, reinterpret_cast<sockaddr*>(&ss), len);
      l.fillers_.push_back(c);
    }
  }
  return l;
}

IdleListener::IdleListener(IdleListener&& o) noexcept
    : fd_(o.fd_), port_(o.port_), fillers_(std::move(o.fillers_)) {
  o.fd_ = -1;
  o.fillers_.clear();
}

IdleListener::~IdleListener() {
  for (int c : fillers_) ::close(c);
  if (fd_ >= 0) ::close(fd_);
}

std::optional<TcpClient> TcpClient::connect(const std::string& host, std::uint16_t port,
                                            std::chrono::milliseconds timeout) {
  sockaddr_storage ss;
  socklen_t len;
  if (!make_addr(host, port, ss, len)) return std::nullopt;
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return std::nullopt;
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
      int err = 0;
      socklen_t el = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
      rc = err == 0 ? 0 : -1;
    }
  }
  if (rc != 0) {
    ::close(fd);
    return std::nullopt;
  }
  return TcpClient(fd);
}

TcpClient::TcpClient(TcpClient&& o) noexcept : fd_(o.fd_), buffered_(std::move(o.buffered_)) { o.fd_ = -1; }
TcpClient& TcpClient::operator=(TcpClient&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    buffered_ = std::move(o.buffered_);
    o.fd_ = -1;
  }
  return *this;
}
TcpClient::~TcpClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool TcpClient::send(std::string_view data) {
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return false;
      continue;
    }
    return false;
  }
  return true;
}

void TcpClient::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

namespace {
// One read with a deadline: >0 bytes, 0 EOF, -1 timeout/error.
ssize_t read_some(int fd, std::string& into, Clock::time_point deadline) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      into.append(buf, static_cast<std::size_t>(n));
      return n;
    }
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return -1;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return -1;
  }
}
}  // namespace

std::string TcpClient::read_until(std::string_view needle, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto pos = buffered_.find(needle);
    if (pos != std::string::npos) {
      std::string out = buffered_.substr(0, pos + needle.size());
      buffered_.erase(0, pos + needle.size());
      return out;
    }
    if (read_some(fd_, buffered_, deadline) <= 0) {
      std::string out;
      out.swap(buffered_);
      return out;
    }
  }
}

std::string TcpClient::read_exactly(std::size_t n, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (buffered_.size() < n) {
    if (read_some(fd_, buffered_, deadline) <= 0) break;
  }
  std::string out = buffered_.substr(0, std::min(n, buffered_.size()));
  buffered_.erase(0, out.size());
  return out;
}

std::string TcpClient::read_to_eof(std::chrono::milliseconds timeout, bool* eof) {
  auto deadline = Clock::now() + timeout;
  bool reached = false;
  for (;;) {
    ssize_t n = read_some(fd_, buffered_, deadline);
    if (n == 0) {
      reached = true;
      break;
    }
    if (n < 0) break;
  }
  if (eof) *eof = reached;
  std::string out;
  out.swap(buffered_);
  return out;
}

std::string TcpClient::read_response(std::chrono::milliseconds timeout) {
  std::string head = read_until("\r\n\r\n", timeout);
  if (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0) return head;
  std::string lower = head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto cl = lower.find("\r\ncontent-length:");
  if (cl != std::string::npos) {
    std::size_t n = std::stoul(lower.substr(cl + 17));
    return head + read_exactly(n, timeout);
  }
  if (lower.find("transfer-encoding: chunked") != std::string::npos) return head + read_until("\r\n0\r\n\r\n", timeout);
  return head;
}

}  // namespace awf::testing
