// Allocation-free IP-literal classification shared by host.cc and the
// decision path in ruleset.cc (which must not allocate per request).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace awf::policy::detail {

enum class IpClass { name, v4, v6, malformed };
enum class Embedding { none, mapped, compatible, nat64, six_to_four };

struct RawIp {
  bool is_v6 = false;
  std::array<std::uint8_t, 16> bytes{};
  bool has_embedded_v4 = false;
  Embedding embedding = Embedding::none;
  std::array<std::uint8_t, 4> v4{};  // the address itself (v4) or the embedded one (v6)
};

// `name` for hosts that are not addresses; `malformed` for hosts a URL parser
// would read as an address but cannot (`1.2.3.256`, `[zz::]`, `1.2.3.4.5`).
// The caller removes the one trailing dot a host may carry first (decide()
// and parse_ip_literal() both do); a dot still there is an empty label.
IpClass classify_ip(std::string_view host, RawIp& out);

}  // namespace awf::policy::detail
