// Unit tests of the listener plan: which --listen* flags and socket-activated
// descriptors awf-proxy serves, the implicit forward listener, and the
// "listening on" text of each kind.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <netinet/tcp.h>

#include "awf/proxy/config.h"
#include "awf/proxy/context.h"
#include "awf/proxy/listeners.h"
#include "awf/testing/net.h"

namespace awf::proxy {
namespace {

using intercept::ListenerKind;

Config parse(std::vector<std::string> args) {
  std::vector<const char*> argv = {"awf-proxy"};
  for (const auto& a : args) argv.push_back(a.c_str());
  auto cl = parse_command_line(static_cast<int>(argv.size()), argv.data());
  EXPECT_TRUE(cl) << cl.message();
  return cl ? cl->config : Config{};
}

// A listening TCP socket on 127.0.0.1, as the launcher would hand over.
intercept::InheritedListener inherited(ListenerKind kind) {
  const int fd = ::socket(AF_INET, (kind == ListenerKind::dns_udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  if (kind != ListenerKind::dns_udp) {
    EXPECT_EQ(::listen(fd, 4), 0);
  }
  return {kind, UniqueFd(fd)};
}

std::vector<ListenerKind> kinds(const std::vector<ListenerSource>& plan) {
  std::vector<ListenerKind> out;
  for (const auto& s : plan) out.push_back(s.kind);
  return out;
}

TEST(ListenerPlan, WithNothingElseTheImplicitForwardListenerIsServed) {
  auto plan = plan_listeners(parse({}), {});
  ASSERT_TRUE(plan) << plan.message();
  ASSERT_EQ(plan->size(), 1u);
  EXPECT_EQ((*plan)[0].kind, ListenerKind::forward);
  EXPECT_EQ(describe_listener((*plan)[0]), "127.0.0.1:3128");
}

TEST(ListenerPlan, HandedOverSocketsReplaceTheImplicitForwardListener) {
  std::vector<intercept::InheritedListener> given;
  given.push_back(inherited(ListenerKind::tls_intercept));
  given.push_back(inherited(ListenerKind::dns_udp));
  auto plan = plan_listeners(parse({}), std::move(given));
  ASSERT_TRUE(plan) << plan.message();
  EXPECT_EQ(kinds(*plan), (std::vector<ListenerKind>{ListenerKind::tls_intercept, ListenerKind::dns_udp}));
  EXPECT_NE(describe_listener((*plan)[0]).find("(tls-intercept, socket activation)"), std::string::npos)
      << describe_listener((*plan)[0]);
}

TEST(ListenerPlan, InterceptFlagsAloneDoNotClaimPort3128) {
  auto plan = plan_listeners(parse({"--listen-dns", "127.0.0.1:0"}), {});
  ASSERT_TRUE(plan) << plan.message();
  EXPECT_EQ(kinds(*plan), (std::vector<ListenerKind>{ListenerKind::dns_tcp, ListenerKind::dns_udp}));
}

TEST(ListenerPlan, ForwardListenersComeFirstThenEveryKindInOrder) {
  std::vector<intercept::InheritedListener> given;
  given.push_back(inherited(ListenerKind::http_intercept));
  given.push_back(inherited(ListenerKind::forward));
  auto plan = plan_listeners(parse({"--listen", "127.0.0.1:0", "--listen-tls-intercept", "[::1]:0"}), std::move(given));
  ASSERT_TRUE(plan) << plan.message();
  EXPECT_EQ(kinds(*plan), (std::vector<ListenerKind>{ListenerKind::forward, ListenerKind::forward,
                                                     ListenerKind::tls_intercept, ListenerKind::http_intercept}));
  EXPECT_EQ(describe_listener((*plan)[2]), "[::1]:0 (tls-intercept)");
}

TEST(ListenerPlan, ApiListenersComeFromFlagsAndFromSocketActivation) {
  std::vector<intercept::InheritedListener> given;
  given.push_back(inherited(ListenerKind::api_anthropic));
  auto plan = plan_listeners(parse({"--api-listen", "openai=127.0.0.1:0", "--api-listen", "vertex=[::1]:0"}),
                             std::move(given));
  ASSERT_TRUE(plan) << plan.message();
  // API listeners alone do not claim the implicit forward listener either.
  EXPECT_EQ(kinds(*plan), (std::vector<ListenerKind>{ListenerKind::api_openai, ListenerKind::api_vertex,
                                                     ListenerKind::api_anthropic}));
  EXPECT_EQ(describe_listener((*plan)[1]), "[::1]:0 (api-vertex)");
  EXPECT_NE(describe_listener((*plan)[2]).find("(api-anthropic, socket activation)"), std::string::npos);
  // The names LISTEN_FDNAMES carries for them.
  for (ListenerKind kind : {ListenerKind::api_openai, ListenerKind::api_anthropic, ListenerKind::api_copilot,
                            ListenerKind::api_gemini, ListenerKind::api_vertex}) {
    EXPECT_TRUE(intercept::is_api(kind));
    EXPECT_EQ(intercept::listener_kind_from_name(intercept::to_string(kind)), kind) << intercept::to_string(kind);
  }
  EXPECT_FALSE(intercept::is_api(ListenerKind::dns_tcp));
  EXPECT_FALSE(intercept::is_api(ListenerKind::socks));
  EXPECT_EQ(intercept::listener_kind_from_name("socks"), ListenerKind::socks);
}

TEST(ListenerPlan, ASocksFlagAloneLeavesOutTheImplicitForwardListener) {
  auto plan = plan_listeners(parse({"--listen-socks", "127.0.0.1:0"}), {});
  ASSERT_TRUE(plan) << plan.message();
  EXPECT_EQ(kinds(*plan), (std::vector<ListenerKind>{ListenerKind::socks}));
  EXPECT_NE(describe_listener((*plan)[0]).find("(socks)"), std::string::npos) << describe_listener((*plan)[0]);
}

TEST(ListenerFlags, BadAddressesNameTheirFlag) {
  std::vector<const char*> argv = {"awf-proxy", "--listen-tls-intercept", "localhost:443"};
  auto cl = parse_command_line(static_cast<int>(argv.size()), argv.data());
  ASSERT_FALSE(cl);
  EXPECT_NE(cl.message().find("--listen-tls-intercept \"localhost:443\""), std::string::npos) << cl.message();
  std::vector<const char*> hc = {"awf-proxy", "--health-check", "127.0.0.1:0"};
  auto zero = parse_command_line(static_cast<int>(hc.size()), hc.data());
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.message().find("--health-check"), std::string::npos) << zero.message();
}

TEST(ListenerFlags, DnsPolicyAndRefusalCodeAreParsed) {
  Config c = parse({"--dns-policy", "open", "--dns-refuse-code", "nxdomain", "--dns-timeout", "0.5"});
  EXPECT_EQ(c.dns_policy.mode, intercept::DnsPolicyMode::open);
  EXPECT_EQ(c.dns_policy.refusal, intercept::DnsRcode::nxdomain);
  EXPECT_EQ(c.dns_timeout, std::chrono::milliseconds(500));
  std::vector<const char*> argv = {"awf-proxy", "--dns-policy", "closed"};
  EXPECT_FALSE(parse_command_line(static_cast<int>(argv.size()), argv.data()));
}

// Sessions do not set TCP_NODELAY themselves: accepted sockets must inherit
// it from every listener, bound here or handed over.
TEST(ListenerSockets, AcceptedSocketsHaveNoDelayFromTheListener) {
  std::vector<intercept::InheritedListener> given;
  given.push_back(inherited(ListenerKind::forward));
  auto plan = plan_listeners(parse({"--listen", "127.0.0.1:0"}), std::move(given));
  ASSERT_TRUE(plan) << plan.message();
  ProxyContext context;
  Worker worker(context);
  for (auto& source : *plan) {
    auto opened = open_on_worker(source, worker);
    ASSERT_TRUE(opened) << opened.message();
  }
  ASSERT_EQ(worker.acceptors.size(), 2u);
  for (auto& acceptor : worker.acceptors) {
    const auto port = acceptor->local_endpoint().port();
    auto client = awf::testing::TcpClient::connect("127.0.0.1", port);
    ASSERT_TRUE(client) << port;
    boost::asio::ip::tcp::socket accepted = acceptor->accept();
    int nodelay = 0;
    socklen_t len = sizeof nodelay;
    ASSERT_EQ(::getsockopt(accepted.native_handle(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
    EXPECT_NE(nodelay, 0) << "accepted on port " << port;
  }
}

}  // namespace
}  // namespace awf::proxy
