// Turning --listen* flags and socket-activated descriptors into the acceptors
// and UDP sockets each I/O thread waits on.
#include "awf/proxy/listeners.h"
#include "awf/errno_text.h"

#include <type_traits>

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <boost/asio/ip/v6_only.hpp>
#include <cerrno>
#include <cstring>

#include "awf/intercept/netns_sockets.h"
#include "awf/intercept/original_dst.h"
#include "awf/proxy/api_settings.h"
#include "awf/proxy/context.h"

namespace awf::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;
using error_code = boost::system::error_code;
using intercept::ListenerKind;

namespace {


const char* flag_of(ListenerKind kind) {
  switch (kind) {
    case ListenerKind::forward: return "--listen";
    case ListenerKind::http_intercept: return "--listen-http-intercept";
    case ListenerKind::tls_intercept: return "--listen-tls-intercept";
    case ListenerKind::dns_udp:
    case ListenerKind::dns_tcp: return "--listen-dns";
    case ListenerKind::api_openai:
    case ListenerKind::api_anthropic:
    case ListenerKind::api_copilot:
    case ListenerKind::api_gemini:
    case ListenerKind::api_vertex: return "--api-listen";
    case ListenerKind::socks: return "--listen-socks";
  }
  return "--listen";
}

// Every I/O thread has a socket of its own on each port (SO_REUSEPORT: the
// kernel spreads connections and datagrams over them), but no other process
// may join the group: a second awf-proxy on the same port, with another
// policy, would silently take a share of the traffic. So the first socket
// binds *without* SO_REUSEPORT, which fails with EADDRINUSE whenever anyone
// holds the port, reuse-port group or not, and sets it only once bound; the
// other threads' sockets then join with it set before bind. (The kernel also
// refuses a group member of another user.) SO_REUSEADDR only for TCP, for
// quick restarts over TIME_WAIT: on UDP it would let anyone share the port.
// IPV6_V6ONLY so "::1" never also claims an IPv4 address.
template <typename Socket, typename Endpoint>
Status prepare_and_bind(Socket& s, const Endpoint& ep, const std::string& shown, const char* flag, bool first) {
  error_code ec;
  auto fail = [&](const char* step, const error_code& e) {
    return Error{"cannot listen on " + shown + " (" + flag + "): " + step + ": " + e.message()};
  };
  auto reuse_port = [&]() -> Status {
    int one = 1;
    if (::setsockopt(s.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      return fail("SO_REUSEPORT", error_code(errno, boost::system::system_category()));
    }
    return ok_status();
  };
  s.open(ep.protocol(), ec);
  if (ec) return fail("socket", ec);
  if constexpr (std::is_same_v<Socket, tcp::acceptor>) s.set_option(typename Socket::reuse_address(true), ec);
  if (ep.address().is_v6()) s.set_option(asio::ip::v6_only(true), ec);
  if (!first) {
    if (Status st = reuse_port(); !st) return st;
  }
  s.bind(ep, ec);
  if (ec) return fail("bind", ec);
  if (first) return reuse_port();
  return ok_status();
}

// A private copy of an inherited descriptor for one I/O thread: each thread's
// reactor registers its own descriptor, and closing one (drain) leaves the
// others working until their own turn.
Result<int> dup_for_worker(const ListenerSource& source) {
  const int fd = ::fcntl(source.inherited.get(), F_DUPFD_CLOEXEC, 3);
  if (fd < 0) {
    const int err = errno;
    return Error{std::string("inherited ") + intercept::to_string(source.kind) + " listener " + source.shown +
                 ": dup: " + errno_text(err)};
  }
  return fd;
}

}  // namespace

namespace {

// A handed-over listener as a source to serve; its descriptor moves over.
ListenerSource adopt(intercept::InheritedListener& l) {
  ListenerSource s;
  s.kind = l.kind;
  auto local = intercept::local_address(l.fd.get());
  s.shown = local ? local->to_string() : "fd " + std::to_string(l.fd.get());
  s.inherited = std::move(l.fd);
  return s;
}

struct FlagListener {
  ListenerKind kind;
  ListenAddress address;
};

// The listeners the --listen* and --api-listen flags ask for, in the order
// they are served: forward, http-intercept, tls-intercept, socks, DNS (TCP before
// UDP, so that for a port-0 flag the datagram socket can take the port its
// stream twin was given), API. The implicit --listen 127.0.0.1:3128 is for a
// proxy given nothing else to serve: a sandbox that hands over sockets
// (`handed_over`), or a user asking only for other listeners, must not find
// the host's 3128 taken as well.
std::vector<FlagListener> flag_listeners(const Config& config, bool handed_over) {
  std::vector<FlagListener> out;
  const bool only_implicit_forward =
      config.listen_is_default && (handed_over || !config.listen_http_intercept.empty() ||
                                   !config.listen_tls_intercept.empty() || !config.listen_dns.empty() ||
                                   !config.api_listen.empty() || !config.listen_socks.empty());
  auto add = [&](const std::vector<ListenAddress>& list, ListenerKind kind) {
    for (const auto& a : list) out.push_back({kind, a});
  };
  if (!only_implicit_forward) add(config.listen, ListenerKind::forward);
  add(config.listen_http_intercept, ListenerKind::http_intercept);
  add(config.listen_tls_intercept, ListenerKind::tls_intercept);
  add(config.listen_socks, ListenerKind::socks);
  for (const auto& a : config.listen_dns) {
    out.push_back({ListenerKind::dns_tcp, a});
    out.push_back({ListenerKind::dns_udp, a});
  }
  for (const auto& a : config.api_listen) out.push_back({api_listener_kind(a.provider), a.address});
  return out;
}

}  // namespace

Result<std::vector<intercept::InheritedListener>> open_listeners_in_netns(const Config& config, bool handed_over) {
  auto fail = [&](const std::string& why) { return Error{"--netns \"" + config.netns + "\": " + why}; };
  UniqueFd ns(::open(config.netns.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return fail(errno_text(errno));
  // NS_GET_NSTYPE answers only for namespace files (ENOTTY otherwise).
  if (::ioctl(ns.get(), NS_GET_NSTYPE) != CLONE_NEWNET) {
    return fail("not a network namespace (give /proc/PID/ns/net or /run/netns/NAME)");
  }
  std::vector<FlagListener> flags = flag_listeners(config, handed_over);
  std::vector<intercept::InheritedListener> out;
  for (std::size_t i = 0; i < flags.size(); ++i) {
    const intercept::ListenerSpec spec{.kind = flags[i].kind, .address = flags[i].address.host,
                                       .port = flags[i].address.port};
    auto made = intercept::create_listeners_in_netns(ns.get(), std::span(&spec, 1));
    if (!made) return fail(made.message());
    // --listen-dns ADDR:0: the datagram socket takes its stream twin's port.
    if (spec.kind == ListenerKind::dns_tcp && spec.port == 0) flags[i + 1].address.port = (*made)[0].local.port;
    out.push_back({spec.kind, std::move((*made)[0].fd)});
  }
  return out;
}

Result<std::vector<ListenerSource>> plan_listeners(const Config& config,
                                                   std::vector<intercept::InheritedListener> inherited) {
  // --netns: the flags' sockets were made in that namespace and are among
  // `inherited` (open_listeners_in_netns).
  const std::vector<FlagListener> flags =
      config.netns.empty() ? flag_listeners(config, !inherited.empty()) : std::vector<FlagListener>{};
  std::vector<ListenerSource> out;
  auto add_flags = [&](bool forward) {
    for (const auto& f : flags) {
      if ((f.kind == ListenerKind::forward) != forward) continue;
      ListenerSource s;
      s.kind = f.kind;
      s.bind = f.address;
      s.shown = f.address.text();
      out.push_back(std::move(s));
    }
  };
  auto add_inherited = [&](bool forward) {
    for (auto& l : inherited) {
      if (l.fd.valid() && (l.kind == ListenerKind::forward) == forward) out.push_back(adopt(l));
    }
  };
  // Forward ones first: "listening on" lines of the forward listeners come
  // first, as scripts that start the proxy with --listen ...:0 expect.
  add_flags(true);
  add_inherited(true);
  add_flags(false);
  add_inherited(false);
  if (out.empty()) return Error{"no listener: give --listen ADDR:PORT or hand sockets over with LISTEN_FDS"};
  return out;
}

// Every TCP listener of a worker is added here. TCP_NODELAY is set on the
// listener once: the sockets it accepts inherit it, which saves a
// setsockopt(2) per connection. Best effort: without it the sessions still
// work, with Nagle's delays on small writes.
void add_acceptor(Worker& worker, std::unique_ptr<tcp::acceptor> a, intercept::ListenerKind kind,
                  const std::string& shown) {
  error_code ec;
  a->set_option(tcp::no_delay(true), ec);
  if (ec) spdlog::warn("listener {}: TCP_NODELAY: {}", shown, ec.message());
  worker.acceptors.push_back(std::move(a));
  worker.acceptor_kinds.push_back(kind);
}

namespace {

// The family of an inherited socket decides the protocol object asio wraps
// it in. A socket getsockname() cannot describe is treated as IPv4, and the
// assign() that follows reports what is wrong with it.
bool is_ipv6_socket(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  return ss.ss_family == AF_INET6;
}

}  // namespace

Status open_on_worker(ListenerSource& source, Worker& worker) {
  const bool datagram = intercept::is_datagram(source.kind);
  if (source.inherited.valid()) {
    auto fd = dup_for_worker(source);
    if (!fd) return fd.error();
    error_code ec;
    if (datagram) {
      auto s = std::make_unique<udp::socket>(worker.io);
      s->assign(is_ipv6_socket(*fd) ? udp::v6() : udp::v4(), *fd, ec);
      if (ec) {
        ::close(*fd);
        return Error{"inherited dns-udp listener " + source.shown + ": " + ec.message()};
      }
      worker.dns_sockets.push_back(std::move(s));
    } else {
      auto a = std::make_unique<tcp::acceptor>(worker.io);
      a->assign(is_ipv6_socket(*fd) ? tcp::v6() : tcp::v4(), *fd, ec);
      if (ec) {
        ::close(*fd);
        return Error{std::string("inherited ") + intercept::to_string(source.kind) + " listener " + source.shown +
                     ": " + ec.message()};
      }
      add_acceptor(worker, std::move(a), source.kind, source.shown);
    }
    return ok_status();
  }

  ListenAddress& where = *source.bind;
  error_code ec;
  const auto address = asio::ip::make_address(where.host, ec);
  if (ec) return Error{std::string(flag_of(source.kind)) + " \"" + where.text() + "\": not an IP address"};
  const char* flag = flag_of(source.kind);
  if (datagram) {
    auto s = std::make_unique<udp::socket>(worker.io);
    if (Status st = prepare_and_bind(*s, udp::endpoint(address, where.port), where.text(), flag, !source.bound); !st) {
      return st;
    }
    where.port = s->local_endpoint(ec).port();
    worker.dns_sockets.push_back(std::move(s));
  } else {
    auto a = std::make_unique<tcp::acceptor>(worker.io);
    if (Status st = prepare_and_bind(*a, tcp::endpoint(address, where.port), where.text(), flag, !source.bound); !st) {
      return st;
    }
    a->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Error{"cannot listen on " + where.text() + " (" + flag + "): listen: " + ec.message()};
    where.port = a->local_endpoint(ec).port();
    add_acceptor(worker, std::move(a), source.kind, where.text());
  }
  source.shown = where.text();
  source.bound = true;
  return ok_status();
}

std::string describe_listener(const ListenerSource& source) {
  std::string text = source.shown;
  if (source.kind != ListenerKind::forward) text += std::string(" (") + intercept::to_string(source.kind) + ")";
  if (source.inherited.valid()) {
    text += source.kind == ListenerKind::forward ? " (socket activation)" : "";
    if (source.kind != ListenerKind::forward) text.insert(text.size() - 1, ", socket activation");
  }
  return text;
}

}  // namespace awf::proxy
