// The sockets awf-proxy serves, whatever their origin: bound from its own
// --listen* flags (one SO_REUSEPORT socket per I/O thread) or handed over by
// socket activation (LISTEN_FDS; every I/O thread waits on a dup of it).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "awf/intercept/listener_kind.h"
#include "awf/intercept/socket_activation.h"
#include "awf/unique_fd.h"
#include "awf/proxy/config.h"
#include "awf/result.h"

namespace awf::proxy {

struct Worker;

// One listener before it is opened on the I/O threads.
struct ListenerSource {
  intercept::ListenerKind kind = intercept::ListenerKind::forward;
  std::optional<ListenAddress> bind;  // from a flag; port 0 is resolved by the first bind
  UniqueFd inherited;      // from socket activation
  std::string shown;                  // "127.0.0.1:3130" once known
  bool bound = false;                 // the first worker's socket exists; the others join it
};

// Every listener to serve: the --listen* flags plus the activated ones. The
// implicit --listen 127.0.0.1:3128 only counts when nothing else was asked
// for (the launcher's proxy must not also claim the host's 3128). Error:
// no listener at all.
Result<std::vector<ListenerSource>> plan_listeners(const Config& config,
                                                   std::vector<intercept::InheritedListener> inherited);

// --netns: creates every listener the --listen* flags ask for (the implicit
// 127.0.0.1:3128 too, when it counts: not when `handed_over`, sockets came
// by activation) inside config.netns, each on a thread of its own that
// enters it, and returns them like sockets handed over by activation;
// plan_listeners then binds none of the flags itself. Errors name the path:
// not there, not a network namespace, no right to enter it, an address that
// namespace cannot bind.
Result<std::vector<intercept::InheritedListener>> open_listeners_in_netns(const Config& config, bool handed_over);

// Opens `source` on the worker's io_context: an acceptor (stream kinds) or a
// UDP socket (dns-udp) added to the worker's lists. The first call for a
// port-0 flag fixes the port for the other workers and for `shown`.
Status open_on_worker(ListenerSource& source, Worker& worker);

// "awf-proxy: listening on ..." text for one listener: forward ones keep the
// plain form scripts already parse; the others name their kind.
std::string describe_listener(const ListenerSource& source);

}  // namespace awf::proxy
