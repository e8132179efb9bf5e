// Tests of socket activation: adopting LISTEN_FDS descriptors (good and bad
// environments) and the launcher half placing descriptors in a child.
#include "awf/intercept/socket_activation.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "awf/intercept/netns_sockets.h"
#include "test_support.h"

namespace awf::intercept {
namespace {

// Test descriptors go far above anything the test runner holds open.
constexpr int kBase = 200;

std::vector<OpenedListener> open_all_kinds() {
  const ListenerSpec specs[] = {{ListenerKind::forward, "127.0.0.1", 0, 8},
                                {ListenerKind::http_intercept, "127.0.0.1", 0, 8},
                                {ListenerKind::tls_intercept, "::1", 0, 8},
                                {ListenerKind::dns_udp, "127.0.0.1", 0, 0},
                                {ListenerKind::dns_tcp, "127.0.0.1", 0, 8}};
  auto opened = open_listeners(specs);
  EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.message());
  return opened.ok() ? std::move(opened.value()) : std::vector<OpenedListener>{};
}

// Places descriptors at kBase.. for one test and closes them afterwards.
class PlacedFds {
 public:
  explicit PlacedFds(const std::vector<int>& fds) {
    for (std::size_t i = 0; i < fds.size(); ++i) {
      const int target = kBase + static_cast<int>(i);
      EXPECT_EQ(::dup2(fds[i], target), target);
      placed_.push_back(target);
    }
  }
  ~PlacedFds() {
    for (int fd : placed_) ::close(fd);
  }

 private:
  std::vector<int> placed_;
};

ActivationEnv env(const char* fds, std::optional<std::string> pid, const char* names) {
  ActivationEnv e;
  if (fds) e.listen_fds = fds;
  e.listen_pid = std::move(pid);
  if (names) e.listen_fdnames = names;
  return e;
}

std::string self() { return std::to_string(::getpid()); }

TEST(SocketActivation, NoListenFdsMeansNoActivation) {
  auto r = adopt_listeners(ActivationEnv{}, ::getpid(), kBase);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(SocketActivation, AllFiveKindsAreAdoptedWithCloexec) {
  auto listeners = open_all_kinds();
  ASSERT_EQ(listeners.size(), 5u);
  std::vector<int> fds;
  for (auto& l : listeners) fds.push_back(l.fd.get());
  PlacedFds placed(fds);
  auto r = adopt_listeners(env("5", self(), "forward:http-intercept:tls-intercept:dns-udp:dns-tcp"), ::getpid(), kBase);
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ((*r)[0].kind, ListenerKind::forward);
  EXPECT_EQ((*r)[3].kind, ListenerKind::dns_udp);
  for (std::size_t i = 0; i < r->size(); ++i) {
    EXPECT_EQ((*r)[i].fd.get(), kBase + static_cast<int>(i));
    EXPECT_NE(::fcntl((*r)[i].fd.get(), F_GETFD) & FD_CLOEXEC, 0);
  }
  for (auto& l : *r) (void)l.fd.release();  // PlacedFds closes them
}

struct BadEnv {
  const char* sentence;
  ActivationEnv env;
  std::string must_mention;
};

TEST(SocketActivation, BadEnvironmentsAreNamed) {
  auto listeners = open_all_kinds();
  ASSERT_EQ(listeners.size(), 5u);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  UniqueFd pipe_r(pipe_fds[0]), pipe_w(pipe_fds[1]);
  UniqueFd unlistened(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  // kBase: forward (tcp), +1: dns-udp socket, +2: a pipe, +3: an unlistened tcp socket
  PlacedFds placed({listeners[0].fd.get(), listeners[3].fd.get(), pipe_r.get(), unlistened.get()});
  const std::vector<BadEnv> cases = {
      {"a count that is not a number", env("two", self(), "forward"), "LISTEN_FDS=\"two\""},
      {"a negative count", env("-1", self(), "forward"), "LISTEN_FDS=\"-1\""},
      {"an absurd count", env("1000", self(), "forward"), "LISTEN_FDS=\"1000\""},
      {"no LISTEN_PID", env("1", std::nullopt, "forward"), "LISTEN_PID is not"},
      {"another process's LISTEN_PID", env("1", "1", "forward"), "LISTEN_PID=1 is not this process"},
      {"a LISTEN_PID that is not a pid", env("1", "12ab", "forward"), "LISTEN_PID=\"12ab\""},
      {"no LISTEN_FDNAMES", env("1", self(), nullptr), "needs LISTEN_FDNAMES"},
      {"names without count", env(nullptr, self(), "forward"), "LISTEN_FDNAMES is set but LISTEN_FDS is not"},
      {"fewer names than fds", env("2", self(), "forward"), "names 1 descriptors but LISTEN_FDS=2"},
      {"more names than fds", env("1", self(), "forward:dns-udp"), "names 2 descriptors but LISTEN_FDS=1"},
      {"an unknown name", env("1", self(), "https"), "\"https\" (fd 200) is not a listener kind"},
      {"an empty name", env("2", self(), "forward:"), "\"\" (fd 201)"},
      {"a datagram socket named as TCP", env("2", self(), "forward:dns-tcp"),
       "fd 201 (dns-tcp) is a SOCK_DGRAM socket, expected SOCK_STREAM"},
      {"a stream socket named dns-udp", env("1", self(), "dns-udp"),
       "fd 200 (dns-udp) is a SOCK_STREAM socket, expected SOCK_DGRAM"},
      {"a pipe", env("3", self(), "forward:dns-udp:forward"), "fd 202 (forward) is not a socket"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.sentence);
    auto r = adopt_listeners(c.env, ::getpid(), kBase);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find(c.must_mention), std::string::npos) << r.message();
  }
  // The unlistened socket on its own.
  PlacedFds second({unlistened.get()});  // re-placed at kBase
  auto r = adopt_listeners(env("1", self(), "tls-intercept"), ::getpid(), kBase);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("fd 200 (tls-intercept) is not listening"), std::string::npos) << r.message();
}

TEST(SocketActivation, TakingClearsTheVariablesEvenOnError) {
  ::setenv("LISTEN_FDS", "1", 1);
  ::setenv("LISTEN_PID", "1", 1);
  ::setenv("LISTEN_FDNAMES", "forward", 1);
  auto r = take_activated_listeners();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(std::getenv("LISTEN_FDS"), nullptr);
  EXPECT_EQ(std::getenv("LISTEN_PID"), nullptr);
  EXPECT_EQ(std::getenv("LISTEN_FDNAMES"), nullptr);
  ::setenv("LISTEN_FDS", "0", 1);
  ::setenv("LISTEN_PID", self().c_str(), 1);
  ::setenv("LISTEN_FDNAMES", "", 1);
  auto empty = take_activated_listeners();
  ASSERT_TRUE(empty.ok()) << empty.message();
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(std::getenv("LISTEN_FDS"), nullptr);
}

TEST(ListenerHandoff, EnvironmentReplacesStaleEntries) {
  auto listeners = open_all_kinds();
  ASSERT_EQ(listeners.size(), 5u);
  const PassedListener passed[] = {{ListenerKind::tls_intercept, listeners[2].fd.get()},
                                   {ListenerKind::dns_udp, listeners[3].fd.get()}};
  auto handoff = ListenerHandoff::prepare(passed, {"PATH=/usr/bin:/bin", "LISTEN_FDS=9", "LISTEN_PID=7", "HOME=/"});
  ASSERT_TRUE(handoff.ok()) << handoff.message();
  const auto& e = handoff->environment();
  EXPECT_EQ(std::count_if(e.begin(), e.end(), [](const std::string& s) { return s.rfind("LISTEN_FDS=", 0) == 0; }), 1);
  EXPECT_NE(std::find(e.begin(), e.end(), "LISTEN_FDS=2"), e.end());
  EXPECT_NE(std::find(e.begin(), e.end(), "LISTEN_FDNAMES=tls-intercept:dns-udp"), e.end());
  EXPECT_NE(std::find(e.begin(), e.end(), "PATH=/usr/bin:/bin"), e.end());
  EXPECT_EQ(handoff->envp()[e.size()], nullptr);
}

TEST(ListenerHandoff, ExecedChildSeesDescriptorsAtThreeAndItsOwnPid) {
  auto listeners = open_all_kinds();
  ASSERT_EQ(listeners.size(), 5u);
  const PassedListener passed[] = {{ListenerKind::forward, listeners[0].fd.get()},
                                   {ListenerKind::dns_udp, listeners[3].fd.get()}};
  auto handoff = ListenerHandoff::prepare(passed, {"PATH=/usr/bin:/bin"});
  ASSERT_TRUE(handoff.ok()) << handoff.message();
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::dup2(out[1], 1);
    if (handoff->apply_in_child() != 0) ::_exit(90);
    const char* script =
        "[ \"$LISTEN_PID\" = \"$$\" ] || { echo pid-mismatch; exit 1; }; "
        "echo \"$LISTEN_FDS $LISTEN_FDNAMES\"; "
        "for fd in 3 4; do readlink /proc/$$/fd/$fd | cut -d: -f1; done";
    char* const argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"), const_cast<char*>(script), nullptr};
    ::execve("/bin/sh", argv, handoff->envp());
    ::_exit(91);
  }
  ::close(out[1]);
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << text;
  EXPECT_EQ(text, "2 forward:dns-udp\nsocket\nsocket\n");
}

TEST(ListenerHandoff, SourcesSittingOnEachOthersTargetsArriveIntact) {
  auto listeners = open_all_kinds();
  ASSERT_EQ(listeners.size(), 5u);
  const int tcp = listeners[0].fd.get();
  const int udp = listeners[3].fd.get();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The UDP socket sits where the TCP one must go and the other way round:
    // a naive dup2 loop would overwrite one with the other.
    // (Lifted out of the way first: the test's own sockets may sit at 3 or 4.)
    if (::dup2(tcp, 300) != 300 || ::dup2(udp, 301) != 301) ::_exit(79);
    if (::dup2(301, 3) != 3 || ::dup2(300, 4) != 4) ::_exit(80);
    const PassedListener passed[] = {{ListenerKind::forward, 4}, {ListenerKind::dns_udp, 3}};
    auto handoff = ListenerHandoff::prepare(passed, {});
    if (!handoff.ok() || handoff->apply_in_child() != 0) ::_exit(81);
    ActivationEnv e;
    for (const auto& entry : handoff->environment()) {
      const auto eq = entry.find('=');
      const std::string key = entry.substr(0, eq), value = entry.substr(eq + 1);
      if (key == "LISTEN_FDS") e.listen_fds = value;
      if (key == "LISTEN_PID") e.listen_pid = std::string(value.c_str());  // up to the NUL the child wrote
      if (key == "LISTEN_FDNAMES") e.listen_fdnames = value;
    }
    auto adopted = adopt_listeners(e, ::getpid());
    if (!adopted.ok()) {
      std::fprintf(stderr, "%s\n", adopted.message().c_str());
      ::_exit(82);
    }
    if ((*adopted)[0].kind != ListenerKind::forward || (*adopted)[1].kind != ListenerKind::dns_udp) ::_exit(83);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ListenerHandoff, NothingToPassIsAnError) {
  EXPECT_FALSE(ListenerHandoff::prepare({}, {}).ok());
  const PassedListener bad[] = {{ListenerKind::forward, -1}};
  EXPECT_FALSE(ListenerHandoff::prepare(bad, {}).ok());
}

}  // namespace
}  // namespace awf::intercept
