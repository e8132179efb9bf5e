// Unit tests of the SSRF guard's address classes and --allow-private-ranges.
#include <gtest/gtest.h>

#include "awf/proxy/address_guard.h"

using namespace awf::proxy;
namespace ip = boost::asio::ip;

namespace {

AddressClass cls(const char* a) { return AddressGuard().classify(ip::make_address(a)); }

TEST(AddressGuard, ClassifiesEveryRefusedRange) {
  EXPECT_EQ(cls("127.0.0.1"), AddressClass::loopback);
  EXPECT_EQ(cls("::1"), AddressClass::loopback);
  EXPECT_EQ(cls("10.1.2.3"), AddressClass::private_network);
  EXPECT_EQ(cls("172.31.0.1"), AddressClass::private_network);
  EXPECT_EQ(cls("192.168.1.1"), AddressClass::private_network);
  EXPECT_EQ(cls("100.64.0.1"), AddressClass::shared_cgnat);
  EXPECT_EQ(cls("169.254.1.1"), AddressClass::link_local);
  EXPECT_EQ(cls("fe80::1"), AddressClass::link_local);
  EXPECT_EQ(cls("fd12::1"), AddressClass::unique_local);
  EXPECT_EQ(cls("224.0.0.1"), AddressClass::multicast);
  EXPECT_EQ(cls("ff02::1"), AddressClass::multicast);
  EXPECT_EQ(cls("0.0.0.0"), AddressClass::unspecified);
  EXPECT_EQ(cls("169.254.169.254"), AddressClass::metadata);
  EXPECT_EQ(cls("100.100.100.200"), AddressClass::metadata);
  EXPECT_EQ(cls("168.63.129.16"), AddressClass::metadata);
  EXPECT_EQ(cls("fd00:ec2::254"), AddressClass::metadata);
  EXPECT_EQ(cls("93.184.216.34"), AddressClass::public_address);
  EXPECT_EQ(cls("2606:2800:220:1::1"), AddressClass::public_address);
}

TEST(AddressGuard, SeesThroughIpv4InIpv6) {
  EXPECT_EQ(cls("::ffff:127.0.0.1"), AddressClass::loopback);
  EXPECT_EQ(cls("::ffff:7f00:1"), AddressClass::loopback);
  EXPECT_EQ(cls("64:ff9b::a9fe:a9fe"), AddressClass::metadata);
  EXPECT_EQ(cls("2002:0a00:0001::"), AddressClass::private_network);
  EXPECT_EQ(cls("::10.0.0.1"), AddressClass::private_network);
  // Local-use NAT64 hides its IPv4 where it likes: refused outright.
  EXPECT_EQ(cls("64:ff9b:1::a00:1"), AddressClass::reserved);
  EXPECT_EQ(cls("64:ff9b:1:ffff::1"), AddressClass::reserved);
  // Mapped forms of the metadata endpoints are metadata too.
  EXPECT_EQ(cls("::ffff:169.254.169.254"), AddressClass::metadata);
  EXPECT_EQ(cls("fd20:ce::254"), AddressClass::metadata);
}

TEST(AddressGuard, AllowedRangesOpenOnlyThemselves) {
  auto ranges = parse_cidr_list("127.0.0.0/8, 10.1.0.0/16");
  ASSERT_TRUE(ranges);
  AddressGuard g(*ranges, {});
  EXPECT_TRUE(g.permits(ip::make_address("127.0.0.9")));
  EXPECT_TRUE(g.permits(ip::make_address("::ffff:127.0.0.9")));
  EXPECT_TRUE(g.permits(ip::make_address("10.1.200.1")));
  EXPECT_FALSE(g.permits(ip::make_address("10.2.0.1")));
  EXPECT_FALSE(g.permits(ip::make_address("::1")));
  EXPECT_TRUE(g.permits(ip::make_address("8.8.8.8")));
}

TEST(AddressGuard, OwnInterfaceAddressesAreRefused) {
  AddressGuard g({}, {ip::make_address("203.0.113.7")});
  EXPECT_EQ(g.classify(ip::make_address("203.0.113.7")), AddressClass::own_interface);
  EXPECT_FALSE(g.permits(ip::make_address("203.0.113.7")));
}

TEST(AddressGuard, BadRangesNameTheValue) {
  auto r = parse_cidr_list("10.0.0.0/33");
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("10.0.0.0/33"), std::string::npos);
  EXPECT_FALSE(parse_cidr("nonsense"));
}

}  // namespace
