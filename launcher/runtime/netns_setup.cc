// The agent network namespace's plumbing over rtnetlink(7): loopback up,
// default routes through lo, then the ruleset and the proxy's listeners.
// Netlink rather than ip(8): no fork/exec on the start-up path.
#include "awf/runtime/netns_setup.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "awf/errno_text.h"
#include "awf/intercept/listener_kind.h"
#include "awf/unique_fd.h"

namespace awf::runtime {
namespace {


// One request, one acknowledgement: enough for the three messages we send.
struct NetlinkRequest {
  nlmsghdr header;
  union {
    ifinfomsg link;
    rtmsg route;
  };
  char attributes[64];
};

void add_attribute(NetlinkRequest& request, unsigned short type, const void* data, std::size_t size) {
  auto* attr = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&request) + NLMSG_ALIGN(request.header.nlmsg_len));
  attr->rta_type = type;
  attr->rta_len = static_cast<unsigned short>(RTA_LENGTH(size));
  std::memcpy(RTA_DATA(attr), data, size);
  request.header.nlmsg_len = NLMSG_ALIGN(request.header.nlmsg_len) + RTA_ALIGN(attr->rta_len);
}

// Sends `request` on a fresh NETLINK_ROUTE socket (created in the calling
// thread's namespace) and returns the kernel's errno from the ACK (0: done).
// An error means the question could not be asked or answered.
Result<int> ask_kernel(NetlinkRequest& request, const std::string& what) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return Error{"rtnetlink: socket(NETLINK_ROUTE) for " + what + ": " + errno_text(errno)};
  request.header.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  request.header.nlmsg_seq = 1;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = ::sendto(fd.get(), &request, request.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
                    sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return Error{"rtnetlink: send " + what + ": " + errno_text(errno)};
  alignas(nlmsghdr) char reply[4096];
  for (;;) {
    ssize_t got = ::recv(fd.get(), reply, sizeof reply, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Error{"rtnetlink: receive the answer to " + what + ": " + errno_text(errno)};
    for (auto* h = reinterpret_cast<nlmsghdr*>(reply); NLMSG_OK(h, static_cast<unsigned>(got));
         h = NLMSG_NEXT(h, got)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      return -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
    }
  }
}

// ask_kernel, with any refusal an error naming `what`.
Status talk(NetlinkRequest& request, const std::string& what) {
  auto err = ask_kernel(request, what);
  if (!err) return err.error();
  if (*err == 0) return ok_status();
  return Error{"rtnetlink: " + what + ": " + errno_text(*err)};
}

Result<int> loopback_index() {
  const unsigned index = ::if_nametoindex("lo");
  if (index == 0) return Error{"network namespace: no \"lo\" interface: " + errno_text(errno)};
  return static_cast<int>(index);
}

// The default route of `family` through lo: RTM_NEWROUTE (`add`, refused
// with EEXIST when a default route exists) or RTM_DELROUTE.
NetlinkRequest default_route_request(unsigned char family, int oif, bool add) {
  NetlinkRequest request{};
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
  request.header.nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
  request.header.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0;
  request.route.rtm_family = family;
  request.route.rtm_dst_len = 0;  // the default route
  request.route.rtm_table = RT_TABLE_MAIN;
  request.route.rtm_protocol = RTPROT_BOOT;
  // No gateway: "on link" via lo, like `ip route add default dev lo`.
  request.route.rtm_scope = family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  request.route.rtm_type = RTN_UNICAST;
  add_attribute(request, RTA_OIF, &oif, sizeof oif);
  if (family == AF_INET && add) {
    // Without a preferred source the kernel picks 0.0.0.0 for a route over
    // lo to a non-local address: the handshake completes, but the replies of
    // the redirected connection never reach the client. 127.0.0.1 it is,
    // like `ip route add default dev lo src 127.0.0.1`. (IPv6 picks ::1.)
    const in_addr loopback{htonl(INADDR_LOOPBACK)};
    add_attribute(request, RTA_PREFSRC, &loopback, sizeof loopback);
  }
  return request;
}

const char* route_name(unsigned char family) {
  return family == AF_INET ? "the default route via lo" : "the IPv6 default route via lo";
}

Status add_default_route(unsigned char family, int oif) {
  NetlinkRequest request = default_route_request(family, oif, true);
  return talk(request, std::string("add ") + route_name(family));
}

// Adds the route unless the namespace has a default route of that family
// already; true when it added one.
Result<bool> add_default_route_if_missing(unsigned char family, int oif) {
  NetlinkRequest request = default_route_request(family, oif, true);
  const std::string what = std::string("add ") + route_name(family);
  auto err = ask_kernel(request, what);
  if (!err) return err.error();
  if (*err == EEXIST) return false;
  if (*err != 0) return Error{"rtnetlink: " + what + ": " + errno_text(*err)};
  return true;
}

}  // namespace

Status bring_up_loopback() {
  auto index = loopback_index();
  if (!index) return index.error();
  NetlinkRequest request{};
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  request.header.nlmsg_type = RTM_NEWLINK;
  request.link.ifi_family = AF_UNSPEC;
  request.link.ifi_index = *index;
  request.link.ifi_flags = IFF_UP;
  request.link.ifi_change = IFF_UP;
  return talk(request, "set lo up");
}

bool has_ipv6_loopback() {
  UniqueFd fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  // Port 0: an ephemeral port, released on close; fails with
  // EADDRNOTAVAIL when ::1 is missing (ipv6.disable_ipv6=1 on lo).
  return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
}

Status add_default_routes_via_loopback() {
  auto index = loopback_index();
  if (!index) return index.error();
  if (auto status = add_default_route(AF_INET, *index); !status) return status;
  if (!has_ipv6_loopback()) return ok_status();  // no IPv6 here: nothing to route
  return add_default_route(AF_INET6, *index);
}

Result<AddedRoutes> add_missing_default_routes_via_loopback() {
  auto index = loopback_index();
  if (!index) return index.error();
  AddedRoutes added;
  auto ipv4 = add_default_route_if_missing(AF_INET, *index);
  if (!ipv4) return ipv4.error();
  added.ipv4 = *ipv4;
  if (has_ipv6_loopback()) {
    auto ipv6 = add_default_route_if_missing(AF_INET6, *index);
    if (!ipv6) {
      (void)remove_default_routes_via_loopback(added);
      return ipv6.error();
    }
    added.ipv6 = *ipv6;
  }
  return added;
}

Status remove_default_routes_via_loopback(const AddedRoutes& added) {
  auto index = loopback_index();
  if (!index) return index.error();
  std::string failures;
  for (auto [family, wanted] : {std::pair{static_cast<unsigned char>(AF_INET), added.ipv4},
                                std::pair{static_cast<unsigned char>(AF_INET6), added.ipv6}}) {
    if (!wanted) continue;
    NetlinkRequest request = default_route_request(family, *index, false);
    auto err = ask_kernel(request, std::string("remove ") + route_name(family));
    // ESRCH: already gone (someone else removed it), which is what we want.
    if (!err) {
      failures += (failures.empty() ? "" : "; ") + err.message();
    } else if (*err != 0 && *err != ESRCH) {
      failures += (failures.empty() ? "" : "; ") + std::string("rtnetlink: remove ") + route_name(family) + ": " +
                  errno_text(*err);
    }
  }
  if (!failures.empty()) return Error{failures};
  return ok_status();
}

Status setup_agent_network(const RulesetSpec& spec) {
  if (auto status = bring_up_loopback(); !status) return status;
  if (auto status = add_default_routes_via_loopback(); !status) return status;
  return apply_ruleset(render_ruleset(spec, Ipv6::served, Existing::none));
}

Result<std::vector<intercept::OpenedListener>> open_agent_listeners(const ListenerPorts& ports) {
  using intercept::ListenerKind;
  std::vector<intercept::ListenerSpec> specs;
  // Two sockets per kind rather than one dual-stack socket: the nat
  // redirect sends IPv4 to 127.0.0.1 and IPv6 to ::1, and SO_ORIGINAL_DST /
  // IP6T_SO_ORIGINAL_DST each want a socket of their own family.
  auto add_family = [&](const char* address) {
    specs.push_back({ListenerKind::forward, address, ports.forward});
    specs.push_back({ListenerKind::http_intercept, address, ports.http_intercept});
    specs.push_back({ListenerKind::tls_intercept, address, ports.tls_intercept});
    specs.push_back({ListenerKind::dns_udp, address, ports.dns});
    specs.push_back({ListenerKind::dns_tcp, address, ports.dns});
  };
  add_family("127.0.0.1");
  if (has_ipv6_loopback()) add_family("::1");
  for (const ApiListener& api : ports.api) {
    const auto kind = intercept::listener_kind_from_name("api-" + api.provider);
    if (!kind || !intercept::is_api(*kind)) return Error{"API proxy: no listener kind for \"" + api.provider + "\""};
    specs.push_back({*kind, "127.0.0.1", api.port});
  }
  return intercept::open_listeners(specs);
}

}  // namespace awf::runtime
