// The agent namespace's one nftables ruleset: generated as text from the
// listener ports and --allow-host-ports, applied atomically with libnftables.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "awf/result.h"
#include "awf/runtime/runtime.h"

namespace awf::runtime {

struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;  // inclusive; == first for a single port
  bool operator==(const PortRange&) const = default;
};

// "3000,8080-8090, 9000" -> ranges, sorted and merged. Empty input: none.
// The CLI has validated the spec already; this only refuses what it cannot
// turn into nft syntax, naming the offending item.
Result<std::vector<PortRange>> parse_port_specs(std::string_view specs);

struct RulesetSpec {
  ListenerPorts ports;
  std::vector<PortRange> host_ports;  // redirected to the http-intercept listener
};

inline constexpr const char* kRulesetTable = "awf";

// What the ruleset does with IPv6: `served` redirects it to the listeners on
// ::1 like IPv4; `refused`, for a namespace that has no ::1 to listen on
// (IPv6 disabled there), redirects none of it and rejects every IPv6 packet,
// so that IPv6 switched on later is still no way out.
enum class Ipv6 { served, refused };

// What the namespace may hold already: `replace` starts the ruleset by
// deleting any table "inet awf", so applying it twice is harmless; `none`,
// for a namespace known to have no such table (one just created), leaves the
// delete out. A table deleted in a transaction makes the kernel wait for an
// RCU grace period when the nftables socket closes (several ms, more on a
// busy machine), which a new namespace has no reason to pay.
enum class Existing { replace, none };

// The ruleset text, table "inet awf" (one table for IPv4 and IPv6).
std::string render_ruleset(const RulesetSpec& spec, Ipv6 ipv6 = Ipv6::served, Existing existing = Existing::replace);

// Applies `ruleset` in the calling thread's network namespace in one
// transaction (nft_run_cmd_from_buffer): all of it or none of it. The error
// carries libnftables' own message with the line it refers to.
Status apply_ruleset(const std::string& ruleset);

// Deletes table "inet awf" from the calling thread's namespace; fine when it
// is not there. Nothing else in the namespace is touched.
Status remove_ruleset();

// Whether the calling thread's namespace has table "inet awf".
Result<bool> ruleset_present();

// `nft list ruleset` equivalent of the calling thread's namespace (tests, debug).
Result<std::string> list_ruleset();

}  // namespace awf::runtime
