// Hosts-file lookups, a positive cache, and c-ares driven by one dedicated
// thread (poll over ares_getsock, woken through a pipe when work arrives).
#include "awf/proxy/resolver.h"

#include <ares.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

namespace awf::proxy {

namespace ip = boost::asio::ip;
using Clock = std::chrono::steady_clock;

Status read_hosts_file(const std::string& path, HostsMap& out) {
  std::ifstream in(path);
  if (!in) return Error{"cannot read hosts file \"" + path + "\": " + std::strerror(errno)};
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string addr;
    if (!(words >> addr)) continue;
    boost::system::error_code ec;
    ip::address a = ip::make_address(addr, ec);
    if (ec) {
      return Error{"hosts file \"" + path + "\" line " + std::to_string(number) + ": \"" + addr +
                   "\" is not an IP address"};
    }
    std::string name;
    while (words >> name) {
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!name.empty() && name.back() == '.') name.pop_back();
      auto& list = out[name];
      if (std::find(list.begin(), list.end(), a) == list.end()) list.push_back(a);
    }
  }
  return ok_status();
}

struct Resolver::Impl {
  struct Pending {
    std::string name;
    boost::asio::any_io_executor executor;
    Callback callback;
    Impl* self = nullptr;
  };
  struct CacheEntry {
    std::vector<ip::address> addresses;
    Clock::time_point expires;
  };

  Options options;
  std::unordered_map<std::string, std::vector<ip::address>> hosts;
  std::mutex cache_mutex;
  std::unordered_map<std::string, CacheEntry> cache;
  // The agent's view, fed by the DNS front end; one entry per family.
  struct AgentView {
    CacheEntry v4, v6;
  };
  std::unordered_map<std::string, AgentView> agent_view;
  // Bumped by every remember(): thread caches filled under an older value
  // are dropped, so the proxy keeps dialling what the agent was told.
  std::atomic<std::uint64_t> generation{1};

  ares_channel channel = nullptr;
  std::mutex queue_mutex;
  std::deque<std::unique_ptr<Pending>> queue;
  int wake_pipe[2] = {-1, -1};
  std::atomic<bool> stopping{false};
  std::thread thread;

  ~Impl() {
    if (channel) ares_destroy(channel);
    for (int fd : wake_pipe) {
      if (fd >= 0) ::close(fd);
    }
  }

  static void deliver(Pending& p, Resolution r) {
    boost::asio::post(p.executor, [cb = std::move(p.callback), r = std::move(r)]() mutable { cb(std::move(r)); });
  }

  // Says what the DNS servers' answer meant, in words a user can act on.
  std::string explain_failure(int status) const {
    switch (status) {
      case ARES_SUCCESS:
      case ARES_ENODATA: return "the name has no address records (NODATA)";
      case ARES_ENOTFOUND: return "the DNS server says the name does not exist (NXDOMAIN)";
      case ARES_EREFUSED: return "the DNS server refused the query (REFUSED)";
      case ARES_ESERVFAIL: return "the DNS server failed to answer (SERVFAIL)";
      case ARES_ETIMEOUT: return "no DNS server answered in time";
      case ARES_ECONNREFUSED:
        // With several servers c-ares moves on after REFUSED or SERVFAIL and
        // reports only that none answered.
        return options.dns_servers.size() > 1
                   ? "no DNS server gave an answer (each refused the query, failed or could not be reached)"
                   : "the DNS server could not be reached";
      default: return ares_strerror(status);
    }
  }

  static void on_answer(void* arg, int status, int /*timeouts*/, ares_addrinfo* info) {
    std::unique_ptr<Pending> p(static_cast<Pending*>(arg));
    Resolution r;
    int ttl = static_cast<int>(p->self->options.cache_ttl.count());
    if (status == ARES_SUCCESS && info) {
      for (ares_addrinfo_node* n = info->nodes; n; n = n->ai_next) {
        if (n->ai_family == AF_INET) {
          auto* s = reinterpret_cast<sockaddr_in*>(n->ai_addr);
          ip::address_v4::bytes_type b;
          std::memcpy(b.data(), &s->sin_addr, 4);
          r.addresses.emplace_back(ip::address_v4(b));
        } else if (n->ai_family == AF_INET6) {
          auto* s = reinterpret_cast<sockaddr_in6*>(n->ai_addr);
          ip::address_v6::bytes_type b;
          std::memcpy(b.data(), &s->sin6_addr, 16);
          r.addresses.emplace_back(ip::address_v6(b));
        }
        ttl = std::min(ttl, n->ai_ttl);
      }
    }
    if (info) ares_freeaddrinfo(info);
    if (r.addresses.empty()) {
      r.error = p->self->explain_failure(status);
    } else if (ttl > 0) {
      r.expires = Clock::now() + std::chrono::seconds(ttl);
      std::lock_guard lock(p->self->cache_mutex);
      p->self->cache[p->name] = {r.addresses, r.expires};
    }
    deliver(*p, std::move(r));
  }

  void run() {
    std::vector<pollfd> fds;
    while (!stopping) {
      std::deque<std::unique_ptr<Pending>> work;
      {
        std::lock_guard lock(queue_mutex);
        work.swap(queue);
      }
      for (auto& p : work) {
        ares_addrinfo_hints hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        Pending* raw = p.release();
        ares_getaddrinfo(channel, raw->name.c_str(), nullptr, &hints, &Impl::on_answer, raw);
      }
      ares_socket_t socks[ARES_GETSOCK_MAXNUM];
      int bits = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
      fds.clear();
      fds.push_back({wake_pipe[0], POLLIN, 0});
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short ev = 0;
        if (ARES_GETSOCK_READABLE(bits, i)) ev |= POLLIN;
        if (ARES_GETSOCK_WRITABLE(bits, i)) ev |= POLLOUT;
        if (ev) fds.push_back({socks[i], ev, 0});
      }
      timeval max{0, 500000}, tv{};
      timeval* t = ares_timeout(channel, &max, &tv);
      int ms = static_cast<int>(t->tv_sec * 1000 + t->tv_usec / 1000);
      int n = ::poll(fds.data(), fds.size(), ms);
      if (n < 0 && errno != EINTR) break;
      if (fds[0].revents & POLLIN) {
        char buf[64];
        while (::read(wake_pipe[0], buf, sizeof buf) > 0) {
        }
      }
      bool any = false;
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        any = true;
        ares_socket_t r = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD;
        ares_socket_t w = (fds[i].revents & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD;
        ares_process_fd(channel, r, w);
      }
      if (!any) ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
    }
    ares_cancel(channel);  // fails every pending query through on_answer
  }

  void wake() {
    char c = 1;
    [[maybe_unused]] auto n = ::write(wake_pipe[1], &c, 1);
  }
};

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Resolver>> Resolver::create(const Options& options) {
  static const int library = ares_library_init(ARES_LIB_INIT_ALL);
  if (library != ARES_SUCCESS) return Error{std::string("c-ares initialisation failed: ") + ares_strerror(library)};
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (!options.hosts_file.empty()) {
    if (Status s = read_hosts_file(options.hosts_file, impl->hosts); !s) return s.error();
  }
  ares_options opts{};
  opts.timeout = 2000;
  opts.tries = 2;
  // DNS only ("b"): c-ares would otherwise consult the machine's /etc/hosts
  // first ("fb"). Names come from --hosts-file (read above) and the DNS
  // servers, nothing else, so the policy's view does not depend on the host.
  char lookups[] = "b";
  opts.lookups = lookups;
  // One server: nothing to fail over to, so keep its REFUSED or SERVFAIL
  // answer (c-ares would otherwise drop it and report "could not contact"),
  // and the log can say what the server said.
  int optmask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS;
  if (options.dns_servers.size() == 1) {
    opts.flags = ARES_FLAG_NOCHECKRESP;
    optmask |= ARES_OPT_FLAGS;
  }
  if (int rc = ares_init_options(&impl->channel, &opts, optmask);
      rc != ARES_SUCCESS) {
    return Error{std::string("c-ares initialisation failed: ") + ares_strerror(rc)};
  }
  if (!options.dns_servers.empty()) {
    std::string csv;
    for (const auto& s : options.dns_servers) {
      if (!csv.empty()) csv += ',';
      csv += s;
    }
    if (int rc = ares_set_servers_ports_csv(impl->channel, csv.c_str()); rc != ARES_SUCCESS) {
      return Error{"invalid --dns-servers \"" + csv + "\": " + ares_strerror(rc)};
    }
  }
  if (::pipe2(impl->wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    return Error{std::string("resolver: pipe2 failed: ") + std::strerror(errno)};
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->run(); });
  return std::unique_ptr<Resolver>(new Resolver(std::move(impl)));
}

Resolver::~Resolver() { stop(); }

void Resolver::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->stopping = true;
  impl_->wake();
  impl_->thread.join();
  // Fail whatever was queued but never started.
  std::lock_guard lock(impl_->queue_mutex);
  for (auto& p : impl_->queue) Impl::deliver(*p, Resolution{{}, "resolver stopped"});
  impl_->queue.clear();
}

void Resolver::resolve(const std::string& name, const boost::asio::any_io_executor& executor, Callback callback,
                       ThreadCache* local) {
  auto post_result = [&](Resolution r) {
    boost::asio::post(executor, [cb = std::move(callback), r = std::move(r)]() mutable { cb(std::move(r)); });
  };
  if (auto it = impl_->hosts.find(name); it != impl_->hosts.end()) {
    post_result(Resolution{it->second, {}, {}});
    return;
  }
  if (local) {
    const std::uint64_t generation = impl_->generation.load(std::memory_order_acquire);
    if (local->generation != generation) {
      local->entries.clear();
      local->generation = generation;
    } else if (auto it = local->entries.find(name); it != local->entries.end()) {
      if (it->second.expires > Clock::now()) {
        post_result(Resolution{it->second.addresses, {}, it->second.expires});  // no lock taken
        return;
      }
      local->entries.erase(it);
    }
    // Whatever answers below is kept for this thread, unless the agent's
    // view changed in the meantime.
    callback = [local, generation, name, cb = std::move(callback)](Resolution r) {
      constexpr std::size_t kMaxLocalNames = 4096;
      if (!r.addresses.empty() && r.expires > Clock::now() && local->generation == generation) {
        if (local->entries.size() >= kMaxLocalNames) local->entries.clear();
        local->entries[name] = ThreadCache::Entry{r.addresses, r.expires};
      }
      cb(std::move(r));
    };
  }
  {
    std::lock_guard lock(impl_->cache_mutex);
    if (auto it = impl_->agent_view.find(name); it != impl_->agent_view.end()) {
      const auto now = Clock::now();
      std::vector<ip::address> seen;
      Clock::time_point expires = Clock::time_point::max();
      for (const Impl::CacheEntry* e : {&it->second.v4, &it->second.v6}) {
        if (e->expires > now) {
          seen.insert(seen.end(), e->addresses.begin(), e->addresses.end());
          expires = std::min(expires, e->expires);
        }
      }
      if (!seen.empty()) {
        post_result(Resolution{std::move(seen), {}, expires});
        return;
      }
      impl_->agent_view.erase(it);
    }
    if (auto it = impl_->cache.find(name); it != impl_->cache.end()) {
      if (it->second.expires > Clock::now()) {
        post_result(Resolution{it->second.addresses, {}, it->second.expires});
        return;
      }
      impl_->cache.erase(it);
    }
  }
  if (impl_->stopping) {
    post_result(Resolution{{}, "resolver stopped"});
    return;
  }
  auto p = std::make_unique<Impl::Pending>();
  p->name = name;
  p->executor = executor;
  p->callback = std::move(callback);
  p->self = impl_.get();
  {
    std::lock_guard lock(impl_->queue_mutex);
    impl_->queue.push_back(std::move(p));
  }
  impl_->wake();
}

void Resolver::remember(const std::string& name, int family, std::vector<ip::address> addresses,
                        std::chrono::seconds ttl) {
  if (addresses.empty() || ttl.count() <= 0) return;
  // The agent may cache for the TTL; an hour bounds what a hostile upstream
  // can pin, and the map is bounded so query floods cannot grow it forever.
  constexpr std::size_t kMaxNames = 65536;
  ttl = std::min(ttl, std::chrono::seconds(3600));
  std::lock_guard lock(impl_->cache_mutex);
  if (impl_->agent_view.size() >= kMaxNames && !impl_->agent_view.contains(name)) {
    const auto now = Clock::now();
    std::erase_if(impl_->agent_view, [now](const auto& kv) {
      return kv.second.v4.expires <= now && kv.second.v6.expires <= now;
    });
    if (impl_->agent_view.size() >= kMaxNames) return;
  }
  auto& view = impl_->agent_view[name];
  auto& entry = family == AF_INET6 ? view.v6 : view.v4;
  entry.addresses = std::move(addresses);
  entry.expires = Clock::now() + ttl;
  impl_->generation.fetch_add(1, std::memory_order_release);
}

}  // namespace awf::proxy
