// SSRF guard: classifies the addresses an allowed name resolved to, and
// refuses the ones an agent must not reach through the proxy (loopback,
// private, CGNAT, link-local, ULA, multicast, cloud metadata, the host's own
// interfaces) unless the user allowed that range with --allow-private-ranges.
// IPv4 embedded in IPv6 (mapped, compatible, NAT64, 6to4) is judged as IPv4.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "awf/result.h"

namespace awf::proxy {

enum class AddressClass : std::uint8_t {
  public_address,
  loopback,
  private_network,  // RFC 1918
  shared_cgnat,     // 100.64.0.0/10
  link_local,
  unique_local,     // fc00::/7
  multicast,
  unspecified,      // 0.0.0.0/8, ::
  reserved,         // 240.0.0.0/4, broadcast, documentation-free reserved space
  metadata,         // cloud metadata endpoints
  own_interface,    // an address of this host
};
const char* to_string(AddressClass c);

struct Cidr {
  boost::asio::ip::address network;
  unsigned prefix = 0;
  bool contains(const boost::asio::ip::address& a) const;
};
// "10.0.0.0/8", "::1/128", "127.0.0.1" (a host). Error names the value.
Result<Cidr> parse_cidr(std::string_view text);
Result<std::vector<Cidr>> parse_cidr_list(std::string_view comma_list);

class AddressGuard {
 public:
  AddressGuard() = default;
  AddressGuard(std::vector<Cidr> allowed, std::vector<boost::asio::ip::address> own_addresses);
  // Reads the host's interface addresses (getifaddrs) as own_interface.
  static std::vector<boost::asio::ip::address> interface_addresses();

  AddressClass classify(const boost::asio::ip::address& a) const;
  // True if the proxy may dial `a`.
  bool permits(const boost::asio::ip::address& a) const;

 private:
  std::vector<Cidr> allowed_;
  std::vector<boost::asio::ip::address> own_;
};

// For IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64
// (64:ff9b::/96) and 6to4 (2002::/16) returns the IPv4 inside; else `a`.
boost::asio::ip::address unwrap_v4(const boost::asio::ip::address& a);

}  // namespace awf::proxy
