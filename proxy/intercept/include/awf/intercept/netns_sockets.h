// Creating the proxy's listening sockets inside the agent's network namespace
// (where nftables redirects to them) while the proxy itself stays outside.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "awf/intercept/listener_kind.h"
#include "awf/intercept/socket_address.h"
#include "awf/unique_fd.h"
#include "awf/result.h"

namespace awf::intercept {

struct ListenerSpec {
  ListenerKind kind = ListenerKind::forward;
  std::string address = "127.0.0.1";  // numeric IPv4 or IPv6 ("::1", "[::1]")
  std::uint16_t port = 0;             // 0: the kernel picks one (reported back)
  int backlog = 1024;
};

struct OpenedListener {
  ListenerKind kind;
  UniqueFd fd;          // close-on-exec; ListenerHandoff clears it for the child
  SocketAddress local;  // what the socket is bound to, with the real port
};

// Opens the sockets in the calling thread's network namespace: TCP kinds
// bound with SO_REUSEADDR and listening, dns-udp a bound datagram socket,
// IPv6 ones IPV6_V6ONLY so "::1" never also claims 127.0.0.1. All or nothing:
// on error nothing stays open, and the message names the address and errno.
Result<std::vector<OpenedListener>> open_listeners(std::span<const ListenerSpec> specs);

// The same inside the network namespace `netns_fd` refers to (an open
// /proc/PID/ns/net or /run/netns/NAME). setns(2) with CLONE_NEWNET changes
// only the calling thread, so the work runs on a short-lived thread of its
// own: the caller's threads never change namespace. Needs CAP_SYS_ADMIN over
// the namespace's owning user namespace.
Result<std::vector<OpenedListener>> create_listeners_in_netns(int netns_fd, std::span<const ListenerSpec> specs);

// Opens /proc/PID/ns/net, then as above.
Result<std::vector<OpenedListener>> create_listeners_in_netns_of(pid_t pid, std::span<const ListenerSpec> specs);

// Opens a network namespace file (O_RDONLY | O_CLOEXEC).
Result<UniqueFd> open_netns(const std::string& path);

}  // namespace awf::intercept
