// Tests of listeners created in a network namespace the test makes (ip netns),
// and of the original destination behind an nftables redirect there.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "awf/intercept/netns_sockets.h"
#include "awf/intercept/original_dst.h"
#include "test_support.h"

namespace awf::intercept {
namespace {

int sh(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A named network namespace with lo up, removed when the test ends.
class TestNetns {
 public:
  TestNetns() {
    static std::atomic<int> counter{0};
    name_ = "awf-icpt-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    if (sh("ip netns add " + name_) != 0) return;
    created_ = true;
    if (sh("ip netns exec " + name_ + " ip link set lo up") != 0) return;
    auto fd = open_netns("/run/netns/" + name_);
    if (fd.ok()) fd_ = std::move(fd.value());
  }
  ~TestNetns() {
    if (created_) sh("ip netns del " + name_);
  }
  bool ready() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }
  int exec(const std::string& command) const { return sh("ip netns exec " + name_ + " " + command); }

 private:
  std::string name_;
  bool created_ = false;
  UniqueFd fd_;
};

bool have_ip_netns() { return sh("command -v ip") == 0 && ::geteuid() == 0; }

// Runs fn on a thread that has joined the namespace.
void in_netns(int netns_fd, const std::function<void()>& fn) {
  std::thread t([&] {
    if (::setns(netns_fd, CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "setns: " << std::strerror(errno);
      return;
    }
    fn();
  });
  t.join();
}

std::string current_netns() {
  return std::filesystem::read_symlink("/proc/thread-self/ns/net").string();
}

int connect_to(const SocketAddress& to, int type = SOCK_STREAM) {
  sockaddr_storage ss{};
  const socklen_t len = to.to_sockaddr(ss);
  const int fd = ::socket(to.family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

TEST(NetnsListeners, SocketsLiveInTheNamespaceAndTheCallerStaysHome) {
  AWF_REQUIRE_FACILITY(have_ip_netns(), "ip netns as root");
  TestNetns ns;
  AWF_REQUIRE_FACILITY(ns.ready(), "creating a network namespace");
  const std::string before = current_netns();
  const ListenerSpec specs[] = {{ListenerKind::tls_intercept, "127.0.0.1", 0, 8},
                                {ListenerKind::http_intercept, "::1", 0, 8},
                                {ListenerKind::dns_udp, "127.0.0.1", 0, 0}};
  auto opened = create_listeners_in_netns(ns.fd(), specs);
  ASSERT_TRUE(opened.ok()) << opened.message();
  EXPECT_EQ(current_netns(), before);
  ASSERT_EQ(opened->size(), 3u);
  const auto& tcp4 = (*opened)[0];
  const auto& tcp6 = (*opened)[1];
  const auto& udp = (*opened)[2];
  EXPECT_NE(tcp4.local.port, 0);
  EXPECT_EQ(tcp6.local.to_string(), "[::1]:" + std::to_string(tcp6.local.port));
  EXPECT_NE(::fcntl(tcp4.fd.get(), F_GETFD) & FD_CLOEXEC, 0);

  // From inside the namespace, every listener answers.
  in_netns(ns.fd(), [&] {
    for (const auto* l : {&tcp4, &tcp6}) {
      UniqueFd c(connect_to(l->local));
      EXPECT_TRUE(c.valid()) << "connect to " << l->local.to_string() << " from inside";
    }
    UniqueFd u(connect_to(udp.local, SOCK_DGRAM));
    ASSERT_TRUE(u.valid());
    EXPECT_EQ(::send(u.get(), "q", 1, 0), 1);
  });
  EXPECT_TRUE(readable(tcp4.fd.get(), 1000));
  EXPECT_TRUE(readable(tcp6.fd.get(), 1000));
  EXPECT_TRUE(readable(udp.fd.get(), 1000));
  UniqueFd a4(::accept4(tcp4.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_TRUE(a4.valid());

  // From the host namespace the same address and port reach nothing of ours.
  UniqueFd host(connect_to(tcp4.local));
  EXPECT_FALSE(readable(tcp4.fd.get(), 200)) << "a host connection reached the namespace's listener";
}

TEST(NetnsListeners, ListenersOfAProcessNamespaceByPid) {
  AWF_REQUIRE_FACILITY(have_ip_netns(), "ip netns as root");
  TestNetns ns;
  AWF_REQUIRE_FACILITY(ns.ready(), "creating a network namespace");
  // A process that lives in the namespace, as the agent's first process does.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setns(ns.fd(), CLONE_NEWNET) != 0) ::_exit(1);
    ::pause();
    ::_exit(0);
  }
  // Wait until the child has switched.
  struct stat want {};
  ASSERT_EQ(::stat(("/run/netns/" + ns.name()).c_str(), &want), 0);
  for (int i = 0; i < 200; ++i) {
    struct stat have {};
    if (::stat(("/proc/" + std::to_string(child) + "/ns/net").c_str(), &have) == 0 && have.st_ino == want.st_ino) break;
    ::usleep(10000);
  }
  const ListenerSpec spec{ListenerKind::forward, "127.0.0.1", 0, 8};
  auto opened = create_listeners_in_netns_of(child, std::span(&spec, 1));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(opened.ok()) << opened.message();
  bool reached = false;
  in_netns(ns.fd(), [&] { reached = UniqueFd(connect_to(opened->front().local)).valid(); });
  EXPECT_TRUE(reached);
}

TEST(NetnsListeners, LoopbackDownIsExplained) {
  AWF_REQUIRE_FACILITY(have_ip_netns(), "ip netns as root");
  const std::string name = "awf-icpt-down-" + std::to_string(::getpid());
  AWF_REQUIRE_FACILITY(sh("ip netns add " + name) == 0, "creating a network namespace");
  auto fd = open_netns("/run/netns/" + name);
  ASSERT_TRUE(fd.ok()) << fd.message();
  // 127.0.0.1 can be bound on a down lo, but ::1 exists only once lo is up.
  const ListenerSpec spec{ListenerKind::dns_tcp, "::1", 5353, 8};
  auto opened = create_listeners_in_netns(fd->get(), std::span(&spec, 1));
  sh("ip netns del " + name);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.message().find("dns-tcp listener on [::1]:5353: bind:"), std::string::npos) << opened.message();
  EXPECT_NE(opened.message().find("loopback interface up"), std::string::npos) << opened.message();
}

TEST(NetnsListeners, NotANamespaceDescriptorIsNamed) {
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const ListenerSpec spec{ListenerKind::forward, "127.0.0.1", 0, 8};
  auto opened = create_listeners_in_netns(devnull.get(), std::span(&spec, 1));
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.message().find("setns(fd"), std::string::npos) << opened.message();
  EXPECT_NE(opened.message().find("errno"), std::string::npos) << opened.message();
}

TEST(NetnsListeners, MissingNamespaceFileIsNamed) {
  auto fd = open_netns("/run/netns/awf-no-such-namespace");
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.message().find("\"/run/netns/awf-no-such-namespace\""), std::string::npos) << fd.message();
}

TEST(Listeners, BadAddressAndBusyPortAreNamed) {
  const ListenerSpec bad{ListenerKind::forward, "localhost", 0, 8};
  auto r = open_listeners(std::span(&bad, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("\"localhost\""), std::string::npos) << r.message();

  const ListenerSpec first{ListenerKind::forward, "127.0.0.1", 0, 8};
  auto held = open_listeners(std::span(&first, 1));
  ASSERT_TRUE(held.ok()) << held.message();
  const ListenerSpec again{ListenerKind::forward, "127.0.0.1", held->front().local.port, 8};
  auto busy = open_listeners(std::span(&again, 1));
  ASSERT_FALSE(busy.ok());
  EXPECT_NE(busy.message().find("127.0.0.1:" + std::to_string(held->front().local.port)), std::string::npos);
  EXPECT_NE(busy.message().find("errno " + std::to_string(EADDRINUSE)), std::string::npos) << busy.message();
}

TEST(Listeners, AllOrNothing) {
  const ListenerSpec specs[] = {{ListenerKind::forward, "127.0.0.1", 0, 8}, {ListenerKind::dns_udp, "nowhere", 0, 0}};
  auto r = open_listeners(specs);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("dns-udp listener on \"nowhere\""), std::string::npos) << r.message();
}

// ---- original destination behind an nftables redirect ----

TEST(OriginalDestination, RedirectedConnectionsReportWhereTheyWereGoing) {
  AWF_REQUIRE_FACILITY(have_ip_netns(), "ip netns as root");
  AWF_REQUIRE_FACILITY(sh("command -v nft") == 0, "nft");
  TestNetns ns;
  AWF_REQUIRE_FACILITY(ns.ready(), "creating a network namespace");
  const ListenerSpec specs[] = {{ListenerKind::tls_intercept, "127.0.0.1", 0, 8},
                                {ListenerKind::tls_intercept, "::1", 0, 8}};
  auto opened = create_listeners_in_netns(ns.fd(), specs);
  ASSERT_TRUE(opened.ok()) << opened.message();
  const auto port4 = std::to_string((*opened)[0].local.port);
  const auto port6 = std::to_string((*opened)[1].local.port);
  // As the launcher's ruleset does for 443, on a port of our own.
  const std::string rules = "table inet awf_test {\n chain out {\n  type nat hook output priority -100;\n"
                            "  ip daddr 127.0.0.0/8 tcp dport 8443 redirect to :" + port4 + "\n"
                            "  ip6 daddr ::1 tcp dport 8443 redirect to :" + port6 + "\n }\n}\n";
  const std::string path = "/tmp/" + ns.name() + ".nft";
  {
    std::ofstream(path) << rules;
  }
  const int nft = ns.exec("nft -f " + path);
  std::filesystem::remove(path);
  AWF_REQUIRE_FACILITY(nft == 0, "nftables nat in a namespace");

  UniqueFd c4, c6, direct;
  in_netns(ns.fd(), [&] {
    c4.reset(connect_to(*SocketAddress::parse("127.0.0.3", 8443)));
    c6.reset(connect_to(*SocketAddress::parse("::1", 8443)));
    direct.reset(connect_to((*opened)[0].local));
  });
  ASSERT_TRUE(c4.valid());
  ASSERT_TRUE(c6.valid());
  ASSERT_TRUE(direct.valid());

  UniqueFd a4(::accept4((*opened)[0].fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  UniqueFd a6(::accept4((*opened)[1].fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  UniqueFd ad(::accept4((*opened)[0].fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(a4.valid() && a6.valid() && ad.valid());

  auto d4 = original_destination(a4.get());
  ASSERT_TRUE(d4.ok()) << d4.message();
  EXPECT_EQ(d4->to_string(), "127.0.0.3:8443");
  auto d6 = original_destination(a6.get());
  ASSERT_TRUE(d6.ok()) << d6.message();
  EXPECT_EQ(d6->to_string(), "[::1]:8443");

  // A connection that went straight to the listener was not redirected:
  // conntrack either has no record or reports the listener itself.
  auto direct_dst = original_destination(ad.get());
  if (direct_dst.ok()) {
    EXPECT_EQ(direct_dst->to_string(), (*opened)[0].local.to_string());
  } else {
    EXPECT_NE(direct_dst.message().find("SO_ORIGINAL_DST"), std::string::npos) << direct_dst.message();
  }
}

TEST(OriginalDestination, WithoutConntrackTheErrorSaysSo) {
  AWF_REQUIRE_FACILITY(have_ip_netns(), "ip netns as root");
  TestNetns ns;  // no nat rules: conntrack never sees these connections
  AWF_REQUIRE_FACILITY(ns.ready(), "creating a network namespace");
  const ListenerSpec spec{ListenerKind::http_intercept, "127.0.0.1", 0, 8};
  auto opened = create_listeners_in_netns(ns.fd(), std::span(&spec, 1));
  ASSERT_TRUE(opened.ok()) << opened.message();
  UniqueFd c;
  in_netns(ns.fd(), [&] { c.reset(connect_to(opened->front().local)); });
  ASSERT_TRUE(c.valid());
  UniqueFd a(::accept4(opened->front().fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(a.valid());
  auto r = original_destination(a.get());
  if (r.ok()) GTEST_SKIP() << "conntrack tracks this namespace anyway: " << r->to_string();
  EXPECT_NE(r.message().find("SO_ORIGINAL_DST"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("no NAT record"), std::string::npos) << r.message();
}

TEST(OriginalDestination, NotASocketIsNamed) {
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  auto r = original_destination(devnull.get());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("getsockname(fd"), std::string::npos) << r.message();
}

}  // namespace
}  // namespace awf::intercept
