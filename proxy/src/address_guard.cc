// Address classes for the SSRF guard and the CIDR lists of --allow-private-ranges.
#include "awf/proxy/address_guard.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace awf::proxy {

namespace ip = boost::asio::ip;

const char* to_string(AddressClass c) {
  switch (c) {
    case AddressClass::public_address: return "public";
    case AddressClass::loopback: return "loopback";
    case AddressClass::private_network: return "private";
    case AddressClass::shared_cgnat: return "cgnat";
    case AddressClass::link_local: return "link_local";
    case AddressClass::unique_local: return "unique_local";
    case AddressClass::multicast: return "multicast";
    case AddressClass::unspecified: return "unspecified";
    case AddressClass::reserved: return "reserved";
    case AddressClass::metadata: return "metadata";
    case AddressClass::own_interface: return "own_interface";
  }
  return "unknown";
}

namespace {

bool prefix_match(const unsigned char* a, const unsigned char* b, unsigned bits) {
  unsigned full = bits / 8, rest = bits % 8;
  if (std::memcmp(a, b, full) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

ip::address unwrap_v4(const ip::address& a) {
  if (!a.is_v6()) return a;
  auto b = a.to_v6().to_bytes();
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const unsigned char zeros[12] = {};
  static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  auto v4_at = [&](int off) {
    return ip::address(ip::address_v4(ip::address_v4::bytes_type{b[off], b[off + 1], b[off + 2], b[off + 3]}));
  };
  if (std::memcmp(b.data(), mapped, 12) == 0) return v4_at(12);
  if (std::memcmp(b.data(), nat64, 12) == 0) return v4_at(12);
  // ::a.b.c.d (deprecated compatible form); :: and ::1 stay IPv6.
  if (std::memcmp(b.data(), zeros, 12) == 0 && (b[12] | b[13]) != 0) return v4_at(12);
  if (b[0] == 0x20 && b[1] == 0x02) return v4_at(2);  // 6to4
  return a;
}

bool Cidr::contains(const ip::address& a) const {
  ip::address x = unwrap_v4(a);
  if (x.is_v4() != network.is_v4()) return false;
  if (x.is_v4()) {
    auto p = x.to_v4().to_bytes(), q = network.to_v4().to_bytes();
    return prefix_match(p.data(), q.data(), prefix);
  }
  auto p = x.to_v6().to_bytes(), q = network.to_v6().to_bytes();
  return prefix_match(p.data(), q.data(), prefix);
}

Result<Cidr> parse_cidr(std::string_view text) {
  std::string_view addr = text, len;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    len = text.substr(slash + 1);
  }
  boost::system::error_code ec;
  ip::address a = ip::make_address(std::string(addr), ec);
  if (ec) return Error{"invalid address range \"" + std::string(text) + "\": expected ADDRESS/PREFIX, e.g. 10.0.0.0/8"};
  unsigned max = a.is_v4() ? 32 : 128;
  unsigned prefix = max;
  if (!len.empty() || text.find('/') != std::string_view::npos) {
    auto r = std::from_chars(len.data(), len.data() + len.size(), prefix);
    if (r.ec != std::errc{} || r.ptr != len.data() + len.size() || prefix > max) {
      return Error{"invalid address range \"" + std::string(text) + "\": prefix length must be 0-" +
                   std::to_string(max)};
    }
  }
  return Cidr{a, prefix};
}

Result<std::vector<Cidr>> parse_cidr_list(std::string_view list) {
  std::vector<Cidr> out;
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) {
      auto c = parse_cidr(item);
      if (!c) return c.error();
      out.push_back(*c);
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

AddressGuard::AddressGuard(std::vector<Cidr> allowed, std::vector<ip::address> own)
    : allowed_(std::move(allowed)), own_(std::move(own)) {}

std::vector<ip::address> AddressGuard::interface_addresses() {
  std::vector<ip::address> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      auto* s = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      ip::address_v4::bytes_type b;
      std::memcpy(b.data(), &s->sin_addr, 4);
      out.emplace_back(ip::address_v4(b));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      auto* s = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &s->sin6_addr, 16);
      out.emplace_back(ip::address_v6(b));
    }
  }
  freeifaddrs(list);
  return out;
}

AddressClass AddressGuard::classify(const ip::address& original) const {
  ip::address a = unwrap_v4(original);
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::uint32_t v = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
    if (v == 0xA9FEA9FE /*169.254.169.254*/ || v == 0x646464C8 /*100.100.100.200*/ || v == 0xA83F8110 /*168.63.129.16*/) return AddressClass::metadata;
    if (b[0] == 127) return AddressClass::loopback;
    if (b[0] == 0) return AddressClass::unspecified;
    if (b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168)) {
      return AddressClass::private_network;
    }
    if (b[0] == 100 && (b[1] & 0xc0) == 64) return AddressClass::shared_cgnat;
    if (b[0] == 169 && b[1] == 254) return AddressClass::link_local;
    if (b[0] >= 224 && b[0] <= 239) return AddressClass::multicast;
    if (b[0] >= 240) return AddressClass::reserved;
    if (b[0] == 192 && b[1] == 0 && b[2] == 0) return AddressClass::reserved;  // IETF protocol assignments
    if (b[0] == 198 && (b[1] & 0xfe) == 18) return AddressClass::reserved;     // benchmarking
  } else {
    auto v6 = a.to_v6();
    auto b = v6.to_bytes();
    static const ip::address_v6 ec2_metadata = ip::make_address_v6("fd00:ec2::254");
    static const ip::address_v6 gce_metadata = ip::make_address_v6("fd20:ce::254");
    if (v6 == ec2_metadata || v6 == gce_metadata) return AddressClass::metadata;
    if (v6.is_loopback()) return AddressClass::loopback;
    if (v6.is_unspecified()) return AddressClass::unspecified;
    if (v6.is_multicast()) return AddressClass::multicast;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressClass::link_local;
    if ((b[0] & 0xfe) == 0xfc) return AddressClass::unique_local;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return AddressClass::reserved;  // site-local
    // RFC 8215 local-use NAT64 (64:ff9b:1::/48): the IPv4 address sits where
    // the site's translator puts it, so it cannot be unwrapped and judged;
    // the translator may well reach private IPv4 space. Refused.
    if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0x00 && b[5] == 0x01) {
      return AddressClass::reserved;
    }
  }
  for (const auto& own : own_) {
    if (unwrap_v4(own) == a) return AddressClass::own_interface;
  }
  return AddressClass::public_address;
}

bool AddressGuard::permits(const ip::address& a) const {
  if (classify(a) == AddressClass::public_address) return true;
  return std::any_of(allowed_.begin(), allowed_.end(), [&](const Cidr& c) { return c.contains(a); });
}

}  // namespace awf::proxy
