// Unit tests of the pure parts of the way out: the SSRF filter over a
// resolution, IP-literal destinations, and peer addresses as logged.
#include <gtest/gtest.h>

#include "awf/proxy/upstream.h"

using namespace awf::proxy;
namespace ip = boost::asio::ip;
using tcp = ip::tcp;

namespace {

Resolution resolved(std::initializer_list<const char*> addresses) {
  Resolution r;
  for (const char* a : addresses) r.addresses.push_back(ip::make_address(a));
  return r;
}

TEST(Upstream, PeerAddressShowsMappedIpv4AsIpv4) {
  EXPECT_EQ(peer_address_text(ip::make_address("::ffff:10.1.2.3")), "10.1.2.3");
  EXPECT_EQ(peer_address_text(ip::make_address("127.0.0.1")), "127.0.0.1");
  EXPECT_EQ(peer_address_text(ip::make_address("::1")), "::1");
}

TEST(Upstream, Ipv4TextMatchesAsioForEveryOctetWidth) {
  // The dotted quad is formatted by hand (no inet_ntop): compare with Asio's
  // own text over octets of one, two and three digits, and both ends.
  for (const char* a : {"0.0.0.0", "255.255.255.255", "1.22.133.4", "10.0.200.9", "127.0.0.1", "100.10.1.0"}) {
    EXPECT_EQ(peer_address_text(ip::make_address(a)), a);
    EXPECT_EQ(dialled_endpoint_text(tcp::endpoint(ip::make_address(a), 65535)), std::string(a) + ":65535");
  }
  EXPECT_EQ(dialled_endpoint_text(tcp::endpoint(ip::make_address("192.0.2.7"), 0)), "192.0.2.7:0");
}

TEST(Upstream, DialledEndpointIsAddressColonPort) {
  EXPECT_EQ(dialled_endpoint_text(tcp::endpoint(ip::make_address("192.0.2.7"), 8080)), "192.0.2.7:8080");
  EXPECT_EQ(dialled_endpoint_text(tcp::endpoint(ip::make_address("2001:db8::1"), 443)), "2001:db8::1:443");
}

TEST(Upstream, GuardKeepsPermittedAddressesInOrderAndNamesTheRest) {
  std::vector<tcp::endpoint> candidates;
  const std::string refused = admit_addresses(
      AddressGuard(), false, resolved({"192.0.2.1", "127.0.0.1", "2001:db8::5", "169.254.169.254"}), 443, candidates);
  EXPECT_EQ(refused, "loopback 127.0.0.1, metadata 169.254.169.254");
  ASSERT_EQ(candidates.size(), 2u);
  EXPECT_EQ(candidates[0], tcp::endpoint(ip::make_address("192.0.2.1"), 443));
  EXPECT_EQ(candidates[1], tcp::endpoint(ip::make_address("2001:db8::5"), 443));
}

TEST(Upstream, OnlyRefusedAddressesLeaveNoCandidate) {
  std::vector<tcp::endpoint> candidates;
  EXPECT_EQ(admit_addresses(AddressGuard(), false, resolved({"10.0.0.1", "::ffff:127.0.0.1"}), 80, candidates),
            "private 10.0.0.1, loopback ::ffff:127.0.0.1");
  EXPECT_TRUE(candidates.empty());
}

TEST(Upstream, HostGatewayPassesItsPrivateAddress) {
  Config config;
  EXPECT_FALSE(is_host_gateway(config, "host.docker.internal"));
  config.enable_host_access = true;
  EXPECT_TRUE(is_host_gateway(config, "host.docker.internal"));
  EXPECT_FALSE(is_host_gateway(config, "other.internal"));
  std::vector<tcp::endpoint> candidates;
  EXPECT_EQ(admit_addresses(AddressGuard(), true, resolved({"172.17.0.1"}), 80, candidates), "");
  ASSERT_EQ(candidates.size(), 1u);
}

TEST(Upstream, IpLiteralResolvesItselfAndNamesDoNot) {
  std::optional<Resolution> v4 = resolve_ip_literal("192.0.2.9");
  ASSERT_TRUE(v4);
  ASSERT_EQ(v4->addresses.size(), 1u);
  EXPECT_EQ(v4->addresses[0], ip::make_address("192.0.2.9"));
  std::optional<Resolution> v6 = resolve_ip_literal("[2001:db8::9]");
  ASSERT_TRUE(v6);
  ASSERT_EQ(v6->addresses.size(), 1u);
  EXPECT_EQ(v6->addresses[0], ip::make_address("2001:db8::9"));
  EXPECT_FALSE(resolve_ip_literal("a.test"));
}

}  // namespace
