// runtime_probe: what the sandboxed command runs in the runtime tests to
// report, on stdout, whether a TCP or UDP destination is reachable.
//   runtime_probe tcp ADDRESS PORT   -> "connected: <first line>" | "refused ..." | "error ..."
//   runtime_probe udp ADDRESS PORT   -> "reply: <data>" | "error ..."
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int fail(const char* what) {
  std::printf("error %s: %s\n", what, std::strerror(errno));
  return 1;
}

}  // namespace

// Under AWF_SANITIZE the probe runs inside the agent's PID namespace, where
// LeakSanitizer's stop-the-world cannot work and aborts at exit; the probe
// has nothing to leak-check anyway.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each verdict out before exit
  if (argc != 4) {
    std::fprintf(stderr, "usage: runtime_probe tcp|udp ADDRESS PORT\n");
    return 2;
  }
  const std::string proto = argv[1];
  sockaddr_storage ss{};
  socklen_t len = 0;
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[3]));
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, argv[2], &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, argv[2], &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    std::fprintf(stderr, "bad address %s\n", argv[2]);
    return 2;
  }
  const int fd = ::socket(ss.ss_family, proto == "udp" ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (fd < 0) return fail("socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno == ECONNREFUSED) {
      std::printf("refused\n");
      return 1;
    }
    return fail("connect");
  }
  if (proto == "udp" && ::send(fd, "q", 1, 0) != 1) return fail("send");
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 3000) != 1) {
    std::printf("error: no answer\n");
    return 1;
  }
  char buffer[512];
  const ssize_t got = ::recv(fd, buffer, sizeof buffer - 1, 0);
  if (got < 0) return fail("recv");
  buffer[got] = '\0';
  if (char* nl = std::strchr(buffer, '\n')) *nl = '\0';
  std::printf("%s: %s\n", proto == "udp" ? "reply" : "connected", buffer);
  return 0;
}
