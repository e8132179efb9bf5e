// runtime_fake_proxy: a stand-in for awf-proxy in the runtime tests. Adopts
// the socket-activated listeners, prints the ready line, and answers every
// connection with its listener kind and original destination. Writes its
// argv, its environment and an access.log line into --log-dir. FAKE_PROXY_MODE changes what it
// does: "never-ready", "exit-early" (exit 3 before ready), "crash" (exit 4
// 300 ms after ready), "slow-ready" (ready after 400 ms, the wall clock of
// that moment in nanoseconds written to $FAKE_PROXY_READY_FILE).
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "awf/intercept/original_dst.h"
#include "awf/intercept/socket_activation.h"

extern char** environ;

namespace {

volatile sig_atomic_t g_stop = 0;
void on_term(int) { g_stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  using namespace awf::intercept;
  const char* mode_env = std::getenv("FAKE_PROXY_MODE");
  const std::string mode = mode_env ? mode_env : "";
  std::string log_dir;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--log-dir") log_dir = argv[i + 1];
  }
  if (!log_dir.empty()) {
    std::ofstream args(log_dir + "/argv.txt");
    for (int i = 0; i < argc; ++i) args << argv[i] << '\n';
    std::ofstream env(log_dir + "/environ.txt");
    for (char** e = environ; *e; ++e) env << *e << '\n';
  }
  auto listeners = take_activated_listeners();
  if (!listeners) {
    std::fprintf(stderr, "fake-proxy: %s\n", listeners.message().c_str());
    return 2;
  }
  if (listeners->empty()) {
    std::fprintf(stderr, "fake-proxy: no listeners passed\n");
    return 2;
  }
  if (mode == "exit-early") {
    std::fprintf(stderr, "fake-proxy: failing on purpose\n");
    return 3;
  }
  struct sigaction sa {};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);
  if (mode == "never-ready") {
    while (!g_stop) pause();
    return 0;
  }
  if (mode == "slow-ready") {
    ::usleep(400'000);
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    if (const char* file = std::getenv("FAKE_PROXY_READY_FILE")) {
      std::ofstream(file) << now.tv_sec << std::to_string(1'000'000'000 + now.tv_nsec).substr(1) << "\n";
    }
  }
  std::fprintf(stderr, "fake-proxy: %zu listeners\nawf-proxy: ready\n", listeners->size());
  std::fflush(stderr);
  std::vector<pollfd> fds;
  for (const auto& l : *listeners) fds.push_back({l.fd.get(), POLLIN, 0});
  int crash_after = mode == "crash" ? 300 : -1;
  while (!g_stop) {
    const int n = ::poll(fds.data(), fds.size(), crash_after);
    if (n == 0 && crash_after >= 0) {
      std::fprintf(stderr, "fake-proxy: crashing on purpose\n");
      return 4;
    }
    if (n < 0) continue;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      const ListenerKind kind = (*listeners)[i].kind;
      if (is_datagram(kind)) {
        char buf[512];
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        if (::recvfrom(fds[i].fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &len) >= 0) {
          ::sendto(fds[i].fd, "dns-udp\n", 8, 0, reinterpret_cast<sockaddr*>(&peer), len);
        }
        continue;
      }
      const int conn = ::accept4(fds[i].fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      auto dst = original_destination(conn);
      std::string line = std::string(to_string(kind)) + " " + (dst ? dst->to_string() : "?") + "\n";
      (void)!::write(conn, line.data(), line.size());
      ::close(conn);
    }
  }
  if (!log_dir.empty()) std::ofstream(log_dir + "/access.log", std::ios::app) << "fake access line\n";
  return 0;
}
