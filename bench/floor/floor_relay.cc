// awf-floor: the least work any HTTP proxy must do for the loads of
// bench/compare.py, used to measure the kernel floor under those loads.
//
// It is not a proxy anyone should run. It parses nothing beyond finding the
// end of the first request head, consults no policy, resolves no name and
// writes no log: a CONNECT whose target contains --deny gets a canned 403;
// any other CONNECT is joined to --upstream IP at the port of its target; any
// other request is forwarded verbatim to --upstream IP:80 and from then on the
// connection is a byte pipe (keep-alive requests flow without being looked
// at). Bytes move with splice(2) through pooled 1 MiB pipes; every socket is
// edge-triggered in one epoll set and a system call is made only when epoll
// said it can make progress. One thread, or --threads N event loops, each
// with its own SO_REUSEPORT listener on the same port and its own
// connections (bench/scale.py).
//
// Its CPU time per request, next to Squid's and awf-proxy's in the same run,
// shows how much of a proxy's cost is the kernel's loopback TCP work that no
// proxy can avoid, and so what ratio to Squid is reachable at all.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <optional>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "floor_common.h"

using namespace awf::floor;  // the answers and parsers both floors share

namespace {

constexpr int kPipeBytes = 1 << 20;
constexpr std::size_t kPipePool = 64;

[[noreturn]] void die(const char* what, const std::string& value) {
  std::fprintf(stderr, "awf-floor: %s \"%s\": %s\n", what, value.c_str(), std::strerror(errno));
  std::exit(1);
}

struct Pipe {
  int read_end = -1, write_end = -1;
  std::size_t bytes = 0;  // spliced in, not yet spliced out
};

thread_local std::vector<Pipe> pipe_pool;

Pipe take_pipe() {
  if (!pipe_pool.empty()) {
    Pipe p = pipe_pool.back();
    pipe_pool.pop_back();
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) die("pipe2", "");
  ::fcntl(fds[0], F_SETPIPE_SZ, kPipeBytes);  // best effort: bulk moves in bigger steps
  return Pipe{fds[0], fds[1], 0};
}

void give_back(Pipe& p) {
  if (p.read_end < 0) return;
  if (p.bytes == 0 && pipe_pool.size() < kPipePool) {
    pipe_pool.push_back(p);
  } else {
    ::close(p.read_end);
    ::close(p.write_end);
  }
  p = Pipe{};
}

struct Connection;

// One socket of a connection and what epoll last said about it.
struct Endpoint {
  Connection* owner = nullptr;
  int fd = -1;
  bool readable = false, writable = false;
};

// One direction of the relay.
struct Direction {
  Endpoint* from = nullptr;
  Endpoint* to = nullptr;
  Pipe pipe;
  std::string pending;  // sent with send(2) before anything is spliced
  bool eof = false, shut = false;
};

enum class State { head, connecting, relaying };

struct Connection {
  Endpoint client, upstream;
  State state = State::head;
  std::string head;
  Direction up{&client, &upstream, {}, {}, false, false};
  Direction down{&upstream, &client, {}, {}, false, false};
  bool tunnel = false;
  bool finished = false;
};

struct Options {
  sockaddr_in listen{};
  in_addr upstream{};
  std::string deny;
};

thread_local int epoll_fd = -1;  // each thread: its own epoll, listener and connections
Options opts;
// Finished connections, deleted after the current batch of events (a later
// event of the batch may point at one).
thread_local std::vector<Connection*> to_delete;

void watch(Endpoint& e) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &e;
  if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, e.fd, &ev) != 0) die("epoll_ctl ADD", std::to_string(e.fd));
}

void finish(Connection* c) {
  // close(2) takes the descriptors out of the epoll set.
  if (c->client.fd >= 0) ::close(c->client.fd);
  if (c->upstream.fd >= 0) ::close(c->upstream.fd);
  give_back(c->up.pipe);
  give_back(c->down.pipe);
  c->finished = true;
  to_delete.push_back(c);
}

// Moves what can be moved in one direction. False: the connection failed.
bool pump(Direction& d) {
  while (!d.pending.empty()) {
    if (!d.to->writable) return true;
    ssize_t n = ::send(d.to->fd, d.pending.data(), d.pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN) {
        d.to->writable = false;
        return true;
      }
      return false;
    }
    d.pending.erase(0, static_cast<std::size_t>(n));
  }
  for (;;) {
    if (d.pipe.bytes > 0) {
      if (!d.to->writable) return true;
      ssize_t n = ::splice(d.pipe.read_end, nullptr, d.to->fd, nullptr, d.pipe.bytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0) {
        if (errno == EAGAIN) {
          d.to->writable = false;
          return true;
        }
        return false;
      }
      d.pipe.bytes -= static_cast<std::size_t>(n);
      continue;
    }
    if (d.eof) {
      if (!d.shut) {
        ::shutdown(d.to->fd, SHUT_WR);
        d.shut = true;
      }
      return true;
    }
    if (!d.from->readable) return true;
    if (d.pipe.read_end < 0) d.pipe = take_pipe();
    ssize_t n = ::splice(d.from->fd, nullptr, d.pipe.write_end, nullptr, kPipeBytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n == 0) {
      d.eof = true;
      continue;
    }
    if (n < 0) {
      if (errno == EAGAIN) {  // the pipe is empty here, so it is the socket
        d.from->readable = false;
        return true;
      }
      return false;
    }
    d.pipe.bytes += static_cast<std::size_t>(n);
  }
}

void relay(Connection* c) {
  if (!pump(c->up) || !pump(c->down)) return finish(c);
  if (c->up.shut && c->down.shut) finish(c);
}

bool start_connect(Connection* c, std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr = opts.upstream;
  to.sin_port = htons(port);
  c->upstream.fd = fd;
  c->upstream.owner = c;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS) return false;
  c->state = State::connecting;
  watch(c->upstream);
  return true;
}

void on_head(Connection* c) {
  for (;;) {
    std::size_t have = c->head.size();
    c->head.resize(have + 4096);
    ssize_t n = ::recv(c->client.fd, c->head.data() + have, 4096, MSG_DONTWAIT);
    c->head.resize(have + (n > 0 ? static_cast<std::size_t>(n) : 0));
    if (n == 0) return finish(c);
    if (n < 0) {
      if (errno == EAGAIN) {
        c->client.readable = false;
        return;
      }
      return finish(c);
    }
    std::size_t end = c->head.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c->head.size() > kHeadLimit) return finish(c);
      continue;
    }
    std::string_view head(c->head);
    if (head.starts_with("CONNECT ")) {
      std::string_view target = connect_target(head);
      if (!opts.deny.empty() && target.find(opts.deny) != std::string_view::npos) {
        ::send(c->client.fd, kDenied.data(), kDenied.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        return finish(c);
      }
      const std::optional<std::uint16_t> port = connect_port(target);
      if (!port) return finish(c);
      c->tunnel = true;
      c->up.pending = c->head.substr(end + 4);
      c->down.pending = kEstablished;
      if (!start_connect(c, *port)) return finish(c);
    } else {
      c->up.pending = std::move(c->head);
      if (!start_connect(c, 80)) return finish(c);
    }
    c->head.clear();
    c->head.shrink_to_fit();
    return;
  }
}

void on_connected(Connection* c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(c->upstream.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) return finish(c);
  c->state = State::relaying;
  relay(c);
}

void on_event(Endpoint* e, std::uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) e->readable = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) e->writable = true;
  Connection* c = e->owner;
  if (c->finished) return;
  switch (c->state) {
    case State::head:
      if (e->readable) on_head(c);
      return;
    case State::connecting:
      if (e == &c->upstream && e->writable) on_connected(c);
      return;
    case State::relaying:
      return relay(c);
  }
}

void on_accept(int listener) {
  for (;;) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      std::perror("awf-floor: accept4");
      return;
    }
    auto* c = new Connection;
    c->client.fd = fd;
    c->client.owner = c;
    watch(c->client);  // TCP_NODELAY is inherited from the listener
  }
}

// One event loop: accepts on `listener` and serves what it accepted, forever.
void serve(int listener, const std::string& listen) {
  epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  Endpoint listen_endpoint;
  listen_endpoint.fd = listener;
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: on_accept drains it anyway
  ev.data.ptr = &listen_endpoint;
  if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &ev) != 0) die("epoll_ctl ADD", listen);

  epoll_event events[256];
  for (;;) {
    int n = ::epoll_wait(epoll_fd, events, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait", "");
    }
    for (int i = 0; i < n; ++i) {
      auto* e = static_cast<Endpoint*>(events[i].data.ptr);
      if (e == &listen_endpoint) on_accept(listener);
      else on_event(e, events[i].events);
    }
    for (Connection* c : to_delete) delete c;
    to_delete.clear();
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", upstream;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "awf-floor: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--listen") listen = value();
    else if (a == "--upstream") upstream = value();
    else if (a == "--deny") opts.deny = value();
    else if (a == "--threads") {
      const std::string v = value();
      auto n = parse_port(v);  // 1-65535, digits only
      if (!n || *n < 1 || *n > 64) {
        std::fprintf(stderr, "awf-floor: --threads \"%s\" is not a number from 1 to 64\n", v.c_str());
        return 2;
      }
      threads = *n;
    }
    else {
      std::fprintf(stderr,
                   "usage: awf-floor --upstream IPV4 [--listen IP:PORT] [--deny TEXT] [--threads N]\n"
                   "unknown argument \"%s\"\n",
                   a.c_str());
      return 2;
    }
  }
  if (!parse_address(listen, opts.listen)) {
    std::fprintf(stderr, "awf-floor: --listen \"%s\" is not IPV4:PORT\n", listen.c_str());
    return 2;
  }
  if (::inet_pton(AF_INET, upstream.c_str(), &opts.upstream) != 1) {
    std::fprintf(stderr, "awf-floor: --upstream \"%s\" is not an IPv4 address\n", upstream.c_str());
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);

  // --threads N: N event loops, each with its own SO_REUSEPORT listener on the
  // same port (the kernel spreads new connections over them) and its own
  // connections; nothing is shared but the read-only options.
  std::vector<int> listeners;
  for (int t = 0; t < threads; ++t) {
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    ::setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&opts.listen), sizeof opts.listen) != 0) die("bind", listen);
    if (::listen(listener, 4096) != 0) die("listen", listen);
    if (t == 0) {  // port 0: the others take the port the first was given
      socklen_t len = sizeof opts.listen;
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&opts.listen), &len);
    }
    listeners.push_back(listener);
  }
  char ip[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &opts.listen.sin_addr, ip, sizeof ip);
  std::printf("awf-floor: listening on %s:%u\n", ip, ntohs(opts.listen.sin_port));
  std::fflush(stdout);

  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) workers.emplace_back(serve, listeners[static_cast<std::size_t>(t)], listen);
  serve(listeners[0], listen);
}
