// The agent ruleset's effect, inside a network namespace the test creates and
// set up by the runtime's own code: what is redirected where, and that
// everything else fails at once (reset or ICMP), IPv4 and IPv6.
#include <netinet/ip_icmp.h>

#include <optional>
#include <vector>

#include "awf/intercept/original_dst.h"
#include "awf/runtime/netns_setup.h"
#include "test_support.h"

namespace awf::runtime {
namespace {

using intercept::ListenerKind;
using intercept::OpenedListener;
using namespace test;

class AgentNetns : public ::testing::Test {
 protected:
  void SetUp() override { AWF_REQUIRE_NAMESPACES(); }

  // Sets up the agent network with `spec` and the proxy's listeners, then runs `body`.
  void run(const RulesetSpec& spec, const std::function<void(std::vector<OpenedListener>&)>& body) {
    in_new_netns([&] {
      auto status = setup_agent_network(spec);
      ASSERT_TRUE(status) << status.message();
      auto listeners = open_agent_listeners(spec.ports);
      ASSERT_TRUE(listeners) << listeners.message();
      body(*listeners);
    });
  }
  void run(const std::function<void(std::vector<OpenedListener>&)>& body) { run(RulesetSpec{}, body); }

  static int listener(std::vector<OpenedListener>& all, ListenerKind kind, int family) {
    for (auto& l : all) {
      if (l.kind == kind && l.local.family == family) return l.fd.get();
    }
    ADD_FAILURE() << "no listener " << intercept::to_string(kind) << " for family " << family;
    return -1;
  }

  // Connects to `to` and expects the listener to accept it with `to` as the
  // original destination.
  static void expect_redirected(const SocketAddress& to, int listen_fd) {
    auto c = connect_to(to);
    ASSERT_EQ(c.error, 0) << to.to_string() << ": " << std::strerror(c.error);
    ASSERT_TRUE(readable_within(listen_fd, 1000)) << to.to_string() << " did not reach the listener";
    UniqueFd accepted(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(accepted.valid());
    auto original = intercept::original_destination(accepted.get());
    ASSERT_TRUE(original) << original.message();
    EXPECT_EQ(original->to_string(), to.to_string());
    // Data flows back: the client's source address must be one the replies
    // can reach (a default route over lo without a source picks 0.0.0.0).
    ASSERT_EQ(::write(accepted.get(), "hi", 2), 2);
    ASSERT_TRUE(readable_within(c.fd.get(), 1000)) << "no reply data from the listener for " << to.to_string();
    char buf[2];
    EXPECT_EQ(::recv(c.fd.get(), buf, sizeof buf, 0), 2);
  }

  // Expects `to` to reach a server of the agent's own listening there,
  // not any of the proxy's listeners.
  static void expect_local(const SocketAddress& to, int type = SOCK_STREAM) {
    UniqueFd server = bound_socket(to, type);
    auto c = connect_to(to, type);
    ASSERT_EQ(c.error, 0) << to.to_string() << ": " << std::strerror(c.error);
    if (type == SOCK_DGRAM) {
      ASSERT_EQ(::send(c.fd.get(), "x", 1, 0), 1) << std::strerror(errno);
    }
    EXPECT_TRUE(readable_within(server.get(), 1000)) << to.to_string() << " did not reach the local server";
  }

  // Expects `to` to be refused at once, and a listener there never to see it.
  static void expect_reset(const SocketAddress& to) {
    UniqueFd bait = bound_socket(to, SOCK_STREAM);
    auto c = connect_to(to);
    EXPECT_EQ(c.error, ECONNREFUSED) << to.to_string() << ": " << std::strerror(c.error);
    EXPECT_LT(c.took.count(), 500) << "a reset is immediate, a drop would time out";
    EXPECT_FALSE(readable_within(bait.get(), 100)) << "the connection reached " << to.to_string();
  }
};

// As in awf, the agent's localhost is its own: a dev server it starts on
// 127.0.0.1 or ::1 answers on any port, web ports and 53 included.
TEST_F(AgentNetns, LocalhostReachesTheAgentsOwnServersOnAnyPort) {
  run([](auto&) {
    for (std::uint16_t port : {9999, 80, 443, 3000}) expect_local(address("127.0.0.1", port));
    expect_local(address("127.0.0.1", 9998), SOCK_DGRAM);
    if (!has_ipv6_loopback()) return;
    for (std::uint16_t port : {9999, 80, 443}) expect_local(address("::1", port));
    expect_local(address("::1", 9998), SOCK_DGRAM);
  });
}

// The rest of 127.0.0.0/8 is not localhost: another port there is refused.
TEST_F(AgentNetns, TcpToAnotherLoopbackAddressIsResetAtOnce) {
  run([](auto&) { expect_reset(address("127.0.0.2", 9999)); });
}

TEST_F(AgentNetns, TcpToOutsideAddressOnOtherPortIsResetAtOnce) {
  run([](auto&) {
    for (const char* to : {"192.0.2.1", "169.254.169.254", "10.0.0.1"}) {
      auto c = connect_to(address(to, 22));
      EXPECT_EQ(c.error, ECONNREFUSED) << to << ": " << std::strerror(c.error);
      EXPECT_LT(c.took.count(), 500);
    }
  });
}

TEST_F(AgentNetns, UdpToAnotherPortIsRejected) {
  run([](auto&) {
    for (const char* host : {"127.0.0.2", "2001:db8::2"}) {
      if (std::string(host) == "2001:db8::2" && !has_ipv6_loopback()) continue;
      const SocketAddress to = address(host, 9998);
      // A receiver where one can be bound (all of 127.0.0.0/8 is local; no
      // IPv6 address but ::1 is).
      const bool local = to.family == AF_INET;
      UniqueFd bait = local ? bound_socket(to, SOCK_DGRAM) : UniqueFd();
      auto c = connect_to(to, SOCK_DGRAM);
      ASSERT_EQ(c.error, 0);
      // The filter verdict surfaces on send (EPERM) or, via the ICMP error,
      // on the next receive; either way without waiting.
      const ssize_t sent = ::send(c.fd.get(), "x", 1, 0);
      if (sent == 1) {
        ASSERT_TRUE(readable_within(c.fd.get(), 500));
        char b;
        EXPECT_EQ(::recv(c.fd.get(), &b, 1, 0), -1);
      } else {
        EXPECT_EQ(errno, EPERM);
      }
      if (local) {
        EXPECT_FALSE(readable_within(bait.get(), 100)) << "the datagram reached " << host;
      }
    }
  });
}

TEST_F(AgentNetns, IcmpEchoIsRejected) {
  run([](auto&) {
    UniqueFd raw(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP));
    ASSERT_TRUE(raw.valid()) << std::strerror(errno);
    icmphdr echo{};
    echo.type = ICMP_ECHO;
    echo.checksum = htons(static_cast<std::uint16_t>(~(ICMP_ECHO << 8)));
    sockaddr_storage ss{};
    const socklen_t len = address("127.0.0.2", 0).to_sockaddr(ss);
    EXPECT_EQ(::sendto(raw.get(), &echo, sizeof echo, 0, reinterpret_cast<sockaddr*>(&ss), len), -1);
    EXPECT_EQ(errno, EPERM);
  });
}

TEST_F(AgentNetns, DnsToAnyServerReachesTheDnsListener) {
  run([](std::vector<OpenedListener>& all) {
    const int dns_udp = listener(all, ListenerKind::dns_udp, AF_INET);
    auto c = connect_to(address("127.0.0.2", 53), SOCK_DGRAM);
    ASSERT_EQ(c.error, 0);
    ASSERT_EQ(::send(c.fd.get(), "query", 5, 0), 5);
    ASSERT_TRUE(readable_within(dns_udp, 1000)) << "the query did not reach the DNS listener";
    char buf[16];
    sockaddr_storage peer{};
    socklen_t plen = sizeof peer;
    ASSERT_EQ(::recvfrom(dns_udp, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &plen), 5);
    ASSERT_EQ(::sendto(dns_udp, "answer", 6, 0, reinterpret_cast<sockaddr*>(&peer), plen), 6);
    // The reply appears to come from the server the client asked.
    ASSERT_TRUE(readable_within(c.fd.get(), 1000));
    EXPECT_EQ(::recv(c.fd.get(), buf, sizeof buf, 0), 6);

    expect_redirected(address("192.0.2.53", 53), listener(all, ListenerKind::dns_tcp, AF_INET));
  });
}

TEST_F(AgentNetns, WebPortsToAnyAddressReachTheInterceptListeners) {
  run([](std::vector<OpenedListener>& all) {
    expect_redirected(address("127.0.0.5", 80), listener(all, ListenerKind::http_intercept, AF_INET));
    expect_redirected(address("203.0.113.9", 443), listener(all, ListenerKind::tls_intercept, AF_INET));
    expect_redirected(address("198.51.100.3", 80), listener(all, ListenerKind::http_intercept, AF_INET));
    if (!has_ipv6_loopback()) return;
    expect_redirected(address("2001:db8::7", 443), listener(all, ListenerKind::tls_intercept, AF_INET6));
    expect_redirected(address("2001:db8::8", 80), listener(all, ListenerKind::http_intercept, AF_INET6));
  });
}

TEST_F(AgentNetns, ForwardPortIsReachableOnLoopbackOnly) {
  run([](std::vector<OpenedListener>& all) {
    for (const char* host : {"127.0.0.1", "::1"}) {
      if (std::string(host) == "::1" && !has_ipv6_loopback()) continue;
      auto c = connect_to(address(host, 3128));
      EXPECT_EQ(c.error, 0) << host << ": " << std::strerror(c.error);
    }
    (void)all;
    auto elsewhere = connect_to(address("192.0.2.1", 3128));
    EXPECT_EQ(elsewhere.error, ECONNREFUSED);
  });
}

TEST_F(AgentNetns, ApiListenersAreReachableOnIpv4LoopbackOnly) {
  RulesetSpec spec;
  spec.ports.api = {{"openai", 10000}, {"vertex", 10004}};
  run(spec, [](std::vector<OpenedListener>& all) {
    const int openai = listener(all, ListenerKind::api_openai, AF_INET);
    auto c = connect_to(address("127.0.0.1", 10000));
    ASSERT_EQ(c.error, 0) << std::strerror(c.error);
    EXPECT_TRUE(readable_within(openai, 1000)) << "the connection waits on the api-openai listener";
    EXPECT_EQ(connect_to(address("127.0.0.1", 10004)).error, 0);
    EXPECT_EQ(connect_to(address("127.0.0.1", 10001)).error, ECONNREFUSED) << "no listener for an unlisted one";
    if (has_ipv6_loopback()) {
      EXPECT_EQ(connect_to(address("::1", 10000)).error, ECONNREFUSED);
    }
    EXPECT_EQ(connect_to(address("192.0.2.1", 10000)).error, ECONNREFUSED) << "only the agent's own loopback";
  });
  spec.ports.api = {{"mistral", 10005}};
  in_new_netns([&] {
    auto listeners = open_agent_listeners(spec.ports);
    ASSERT_FALSE(listeners);
    EXPECT_EQ(listeners.message(), "API proxy: no listener kind for \"mistral\"");
  });
}

TEST_F(AgentNetns, InterceptListenersAreNotReachableDirectly) {
  run([](auto&) {
    for (const char* host : {"127.0.0.1", "::1"}) {
      if (std::string(host) == "::1" && !has_ipv6_loopback()) continue;
      for (std::uint16_t port : {3129, 3130}) {
        auto c = connect_to(address(host, port));
        EXPECT_EQ(c.error, ECONNREFUSED) << host << " " << port;
      }
    }
  });
}

TEST_F(AgentNetns, AllowedHostPortsGoToTheHttpInterceptListener) {
  RulesetSpec spec;
  spec.host_ports = *parse_port_specs("3000-3010,3128");
  run(spec, [](std::vector<OpenedListener>& all) {
    expect_redirected(address("127.0.0.5", 3005), listener(all, ListenerKind::http_intercept, AF_INET));
    expect_redirected(address("192.0.2.10", 3000), listener(all, ListenerKind::http_intercept, AF_INET));
    // The agent's own localhost stays its own on those ports too.
    expect_local(address("127.0.0.1", 3006));
    // A range over the forward port does not capture the forward proxy.
    ASSERT_EQ(connect_to(address("127.0.0.1", 3128)).error, 0);
    const int forward = listener(all, ListenerKind::forward, AF_INET);
    EXPECT_TRUE(readable_within(forward, 1000));
    expect_reset(address("127.0.0.5", 3011));
  });
}

TEST_F(AgentNetns, ABrokenRulesetChangesNothingAndSaysWhy) {
  run([](auto&) {
    auto status = apply_ruleset("table inet awf {\n\tchain agent_nat {\n\t\tnonsense here\n\t}\n}\n");
    ASSERT_FALSE(status);
    EXPECT_NE(status.message().find("nftables"), std::string::npos) << status.message();
    auto listed = list_ruleset();
    ASSERT_TRUE(listed) << listed.message();
    EXPECT_NE(listed->find("redirect to :3129"), std::string::npos) << *listed;
    expect_reset(address("127.0.0.2", 9999));
  });
}

TEST_F(AgentNetns, ApplyingTheRulesetAgainReplacesIt) {
  run([](auto&) {
    RulesetSpec other;
    other.ports.http_intercept = 4000;
    auto status = apply_ruleset(render_ruleset(other));
    ASSERT_TRUE(status) << status.message();
    auto listed = list_ruleset();
    ASSERT_TRUE(listed);
    EXPECT_NE(listed->find("redirect to :4000"), std::string::npos);
    EXPECT_EQ(listed->find("redirect to :3129"), std::string::npos) << "one table, replaced";
  });
}

}  // namespace
}  // namespace awf::runtime
