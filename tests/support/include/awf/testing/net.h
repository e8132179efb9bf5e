// Loopback networking helpers for tests: wait for a listening port, find a
// free port, a blocking TCP client with deadlines for raw-socket tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace awf::testing {

// Moves the calling thread into a new network namespace with only its
// loopback interface, up (so all of 127.0.0.0/8 and ::1 answer there), and
// returns "" or why it could not. Threads and processes started from this
// thread afterwards share it, so a suite that calls it first (before it
// starts any thread) can use fixed loopback addresses and ports such as
// 127.0.90.10:80 without meeting the machine's listeners or another test
// process doing the same. Needs root (CAP_SYS_ADMIN).
std::string enter_private_network();

// What a "nothing left behind" check compares: the named network namespaces
// (/run/netns, one name per line, sorted) and the machine's mount table, both
// without what test suites running beside it make for themselves meanwhile:
// their namespaces named awf-icpt-* and awf-pxy-*, /run/netns itself,
// which `ip netns` mounts and unmounts as they come and go, and the mounts
// under /run/firejail that firejail's first run on a machine makes (and
// keeps) while a sandbox-tool test runs it.
std::string named_netns_but_other_suites();
std::string mounts_but_other_suites();

bool wait_for_port(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout);
// A port that was free a moment ago (bind to 0, read, close): for "refused" targets.
std::uint16_t unused_port(const std::string& host);

// A listening socket nobody accepts on. `silent`: its accept queue is filled
// at once, so the kernel drops further SYNs and a connect to it hangs, like
// one to a remote host that does not answer. Otherwise connects complete
// (into the backlog). Port 0: any free port. Closed when destroyed.
class IdleListener {
 public:
  static std::optional<IdleListener> open(const std::string& host, std::uint16_t port, bool silent);
  IdleListener(IdleListener&& other) noexcept;
  IdleListener& operator=(IdleListener&&) = delete;
  ~IdleListener();
  std::uint16_t port() const { return port_; }

 private:
  IdleListener() = default;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;
};

// A blocking TCP connection with a deadline on every call.
class TcpClient {
 public:
  static std::optional<TcpClient> connect(const std::string& host, std::uint16_t port,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(5));
  TcpClient(TcpClient&& other) noexcept;
  TcpClient& operator=(TcpClient&& other) noexcept;
  ~TcpClient();

  bool send(std::string_view data);
  void shutdown_write();
  // Reads until `needle` appears (kept in the result), EOF or the deadline.
  std::string read_until(std::string_view needle, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads exactly n bytes unless EOF or the deadline comes first.
  std::string read_exactly(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads until EOF or the deadline; `eof` tells which.
  std::string read_to_eof(std::chrono::milliseconds timeout = std::chrono::seconds(5), bool* eof = nullptr);
  // A full HTTP/1.1 response with Content-Length or chunked body (head + body as received).
  std::string read_response(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  int fd() const { return fd_; }

 private:
  explicit TcpClient(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::string buffered_;
};

}  // namespace awf::testing
