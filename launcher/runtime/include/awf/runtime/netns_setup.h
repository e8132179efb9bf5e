// Plumbing of the agent's network namespace: loopback up, default routes via
// lo (so every destination reaches the nat hook), the ruleset, the listeners.
// Everything here acts on the calling thread's network namespace.
#pragma once

#include <vector>

#include "awf/intercept/netns_sockets.h"
#include "awf/result.h"
#include "awf/runtime/nft_ruleset.h"

namespace awf::runtime {

// Sets lo up (RTM_NEWLINK with IFF_UP) over rtnetlink.
Status bring_up_loopback();

// Adds 0.0.0.0/0 and ::/0 routes through lo (RTM_NEWROUTE). Without them a
// connect() to an outside address fails with ENETUNREACH before nftables can
// redirect it. The IPv6 route is skipped when the kernel has no IPv6.
Status add_default_routes_via_loopback();

// The default routes add_missing_default_routes_via_loopback added, so that
// remove_default_routes_via_loopback takes away exactly those.
struct AddedRoutes {
  bool ipv4 = false;
  bool ipv6 = false;
};

// For a namespace that is not ours (`awf attach`): adds each default route
// only where the namespace has none of that family, and says which it added.
Result<AddedRoutes> add_missing_default_routes_via_loopback();

// Removes the routes `added` names (one that is gone already is fine).
Status remove_default_routes_via_loopback(const AddedRoutes& added);

// bring_up_loopback, add_default_routes_via_loopback, then the ruleset, in a
// namespace just created (one with no table "inet awf" yet).
Status setup_agent_network(const RulesetSpec& spec);

// The proxy's listeners, on 127.0.0.1 and (when IPv6 exists) ::1, in
// LISTEN_FDNAMES order: forward, http-intercept, tls-intercept, dns-udp,
// dns-tcp for IPv4, then the same for IPv6; then the API proxy's
// (`ports.api`), on 127.0.0.1 only.
Result<std::vector<intercept::OpenedListener>> open_agent_listeners(const ListenerPorts& ports);

// True when this namespace can bind ::1 (IPv6 compiled in and not disabled).
bool has_ipv6_loopback();

}  // namespace awf::runtime
