// Process-level plumbing: listeners with SO_REUSEPORT (port 0 picked once
// and shared), accept loops that survive fd exhaustion, I/O threads, policy
// reload, log reopen and the drain on SIGTERM.
#include "awf/proxy/server.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <filesystem>
#include <cstdio>
#include <thread>

#include "awf/intercept/socket_activation.h"
#include "awf/policy/dlp.h"
#include "awf/proxy/admin.h"
#include "awf/proxy/api_session.h"
#include "awf/proxy/api_settings.h"
#include "awf/proxy/api_upstream_pool.h"
#include "awf/proxy/api_token_source.h"
#include "awf/proxy/budgets.h"
#include "awf/proxy/bump_authority.h"
#include "awf/proxy/context.h"
#include "awf/proxy/descriptor_records.h"
#include "awf/proxy/dns_frontend.h"
#include "awf/proxy/heap_release.h"
#include "awf/proxy/http_session.h"
#include "awf/proxy/listeners.h"
#include "awf/proxy/metrics.h"
#include "awf/proxy/relay.h"
#include "awf/proxy/socks_session.h"
#include "awf/proxy/tls_intercept.h"

namespace awf::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

void Worker::stop_all(bool force) {
  // stop() only posts, so the list does not change while it is walked.
  for (Connection* c = live_; c; c = c->live_next_) c->stop(force);
}

namespace {
constexpr std::size_t kIdlePerKey = 16;
constexpr std::size_t kIdlePerThread = 512;
constexpr auto kIdleLimit = std::chrono::seconds(60);
// How often run() closes expired idle upstream connections and looks whether
// freed heap memory should go back to the kernel.
constexpr auto kHousekeepingPeriod = std::chrono::seconds(5);
}  // namespace

bool upstream_is_quiet(tcp::socket& socket) {
  char byte = 0;
  for (;;) {
    const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

void Worker::park_upstream(const std::string& key, tcp::socket socket, std::string dest) {
  if (context.draining || idle_count_ >= kIdlePerThread) return;  // the socket closes here
  auto& list = idle_upstreams_[key];
  if (list.size() >= kIdlePerKey) return;
  auto entry = std::make_shared<IdleUpstream>(IdleUpstream{std::move(socket), std::move(dest),
                                                           std::chrono::steady_clock::now(), false});
  list.push_front(entry);
  ++idle_count_;
  // Anything readable on an idle connection (EOF, a stray byte) ends it.
  entry->socket.async_wait(tcp::socket::wait_read, [this, entry, key, it = list.begin()](const error_code&) {
    if (entry->taken) return;
    entry->taken = true;
    if (auto m = idle_upstreams_.find(key); m != idle_upstreams_.end()) {
      m->second.erase(it);
      --idle_count_;
      if (m->second.empty()) idle_upstreams_.erase(m);
    }
  });
}

std::optional<std::pair<tcp::socket, std::string>> Worker::take_upstream(const std::string& key) {
  auto m = idle_upstreams_.find(key);
  if (m == idle_upstreams_.end()) return std::nullopt;
  auto now = std::chrono::steady_clock::now();
  std::optional<std::pair<tcp::socket, std::string>> found;
  auto& list = m->second;
  while (!list.empty() && !found) {
    auto entry = list.front();
    list.pop_front();
    --idle_count_;
    entry->taken = true;
    error_code ec;
    entry->socket.cancel(ec);  // the pending wait completes as aborted, ignored
    if (now - entry->parked > kIdleLimit || !entry->socket.is_open()) continue;
    // Its readability wait may not have run yet: look now. An origin that
    // sent a response nobody asked for would answer this request with it.
    if (!upstream_is_quiet(entry->socket)) continue;
    found.emplace(std::move(entry->socket), std::move(entry->dest));
  }
  if (list.empty()) idle_upstreams_.erase(m);
  return found;
}

// Parked connections past the idle limit are closed here, not only skipped
// when someone looks for one: an origin that keeps idle connections open
// would otherwise hold a descriptor per parked connection for good.
void Worker::expire_upstreams() {
  const auto now = std::chrono::steady_clock::now();
  for (auto m = idle_upstreams_.begin(); m != idle_upstreams_.end();) {
    auto& list = m->second;
    for (auto it = list.begin(); it != list.end();) {
      if (now - (*it)->parked <= kIdleLimit) {
        ++it;
        continue;
      }
      (*it)->taken = true;  // its readability wait completes as aborted and does nothing
      error_code ec;
      (*it)->socket.close(ec);
      it = list.erase(it);
      --idle_count_;
    }
    m = list.empty() ? idle_upstreams_.erase(m) : std::next(m);
  }
}

void Worker::clear_upstreams() {
  for (auto& [key, list] : idle_upstreams_) {
    for (auto& entry : list) {
      entry->taken = true;
      error_code ec;
      entry->socket.close(ec);
    }
  }
  idle_upstreams_.clear();
  idle_count_ = 0;
  if (api_upstreams) api_upstreams->clear();
}

struct Server::Impl {
  ProxyContext context;
  std::vector<std::string> argv;
  Config as_parsed;  // the settings before defaults were derived: what a reload compares with
  std::unique_ptr<Resolver> resolver;
  std::unique_ptr<Metrics> metrics;  // --admin-listen only; outlives the log that counts into it
  std::unique_ptr<AccessLog> log;
  std::unique_ptr<ApiProxy> api;  // before the workers: their sessions use it until they are gone
  std::unique_ptr<policy::DlpScanner> dlp;  // the same
  std::unique_ptr<BumpAuthority> bump;      // the same
  std::unique_ptr<Budgets> budgets;         // the same
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::string> bound;
  std::vector<std::string> described;  // "listening on" lines, every kind
  // Steady-clock nanoseconds of the last rate-limited accept warning; every
  // I/O thread may write it.
  std::atomic<std::int64_t> last_accept_warning{0};
  bool accept_warning_due();
  // One descriptor held back for running out of them (see refuse_waiting).
  std::mutex reserve_mutex;
  int reserve_fd = -1;
  std::atomic<std::uint64_t> refused_for_fds{0};
  std::atomic<std::uint64_t> refused_for_limit{0}, refused_for_dns_limit{0};
  std::size_t refuse_waiting(tcp::acceptor& a);


  Status bind_all(std::vector<intercept::InheritedListener> inherited);
  Status start_api_proxy(const std::vector<intercept::InheritedListener>& inherited);
  Status refuse_dns_loop(const ListenAddress& listener) const;
  void accept(Worker& w, std::size_t i);
  void reload();
  void apply_settings(const Config& now);
  void drain(asio::io_context& control);
  void poll_drained(asio::io_context& control);
  std::shared_ptr<asio::steady_timer> force_timer;
  std::unique_ptr<asio::steady_timer> poll_timer;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
  std::unique_ptr<AdminServer> admin;  // last: gone before everything it reads
  Status open_admin();
  LiveValues live_values() const;
};

namespace {

// Lifts the soft fd limit to the hard one: every tunnel costs up to six fds.
std::size_t raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
    getrlimit(RLIMIT_NOFILE, &r);
  }
  return static_cast<std::size_t>(r.rlim_cur);
}

}  // namespace

Status Server::Impl::bind_all(std::vector<intercept::InheritedListener> inherited) {
  auto sources = plan_listeners(context.config, std::move(inherited));
  if (!sources) return sources.error();
  for (std::size_t i = 0; i < sources->size(); ++i) {
    ListenerSource& source = (*sources)[i];
    for (auto& w : workers) {
      if (Status s = open_on_worker(source, *w); !s) return s;
    }
    // --listen-dns ADDR:0: the datagram socket takes the port its stream
    // twin was given, so one address serves both transports.
    if (source.kind == intercept::ListenerKind::dns_tcp && source.bind && i + 1 < sources->size()) {
      ListenerSource& twin = (*sources)[i + 1];
      if (twin.kind == intercept::ListenerKind::dns_udp && twin.bind && twin.bind->port == 0 &&
          twin.bind->host == source.bind->host) {
        twin.bind->port = source.bind->port;
      }
    }
    if (source.kind == intercept::ListenerKind::forward) bound.push_back(source.shown);
    described.push_back(describe_listener(source));
    if (source.kind == intercept::ListenerKind::dns_udp && source.bind) {
      if (Status s = refuse_dns_loop(*source.bind); !s) return s;
    }
  }
  return ok_status();
}

// The API proxy's settings, read only when there is an API listener (from
// a flag or handed over): a forward-only proxy never depends on the
// provider variables of its environment.
Status Server::Impl::start_api_proxy(const std::vector<intercept::InheritedListener>& inherited) {
  const bool wanted = !context.config.api_listen.empty() ||
                      std::any_of(inherited.begin(), inherited.end(),
                                  [](const intercept::InheritedListener& l) { return intercept::is_api(l.kind); });
  if (!wanted) return ok_status();
  auto settings = load_api_settings(context.config, process_environment());
  if (!settings) return Error{"API proxy: " + settings.message()};
  for (const auto& w : settings->warnings) std::fprintf(stderr, "awf-proxy: warning: API proxy: %s\n", w.c_str());
  auto proxy = make_api_proxy(std::move(*settings), context.config.api_ca_cert);
  if (!proxy) return proxy.error();
  api = std::move(*proxy);
  context.api = api.get();
  for (api::Provider p : api::kProviders) {
    const api::ProviderConfig& c = api->settings.at(p);
    spdlog::info("API proxy: {} -> https://{}{} ({})", api::provider_name(p), api->redactor.scrub(c.host),
                 api->redactor.scrub(c.base_path), c.configured() ? "credential set" : "not configured");
  }
  if (Status s = start_federation(*api, *context.resolver); !s) return s;
  return ok_status();
}

// An upstream resolver that is the DNS front end itself would send every
// forwarded query back in, again and again until the in-flight limit. Only
// listeners bound here can be compared: an inherited one lives in another
// network namespace, where the same address is another socket.
Status Server::Impl::refuse_dns_loop(const ListenAddress& listener) const {
  error_code ec;
  const auto own = asio::ip::make_address(listener.host, ec);
  if (ec) return ok_status();
  for (const auto& upstream : context.dns_upstreams) {
    if (upstream.port() != listener.port) continue;
    const auto a = upstream.address();
    const bool same = a == own || (own.is_unspecified() && a.is_loopback() && a.is_v6() == own.is_v6());
    if (same) {
      return Error{"--dns-servers " + a.to_string() + ":" + std::to_string(upstream.port()) +
                   " is this proxy's own --listen-dns " + listener.text() +
                   ": every forwarded query would come back to it; name the real resolvers"};
    }
  }
  return ok_status();
}

// At most one accept warning a second, whichever thread meets the condition.
bool Server::Impl::accept_warning_due() {
  const std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  std::int64_t last = last_accept_warning.load(std::memory_order_relaxed);
  if (now - last < std::chrono::nanoseconds(std::chrono::seconds(1)).count()) return false;
  return last_accept_warning.compare_exchange_strong(last, now, std::memory_order_relaxed);
}

// Out of descriptors, accept(2) fails and leaves the client in the kernel's
// queue: it has a connection nobody serves and waits until its own timeout.
// So the reserve descriptor is given up for a moment, and the clients
// waiting are taken off the queue and closed one by one: they learn at once
// that they were refused. Then the reserve is taken again. Returns how many
// were refused.
std::size_t Server::Impl::refuse_waiting(tcp::acceptor& a) {
  std::lock_guard lock(reserve_mutex);
  if (reserve_fd >= 0) ::close(reserve_fd);
  reserve_fd = -1;
  std::size_t refused = 0;
  for (; refused < 256; ++refused) {
    const int fd = ::accept4(a.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) break;  // the queue is empty (EAGAIN), or another thread took the free slot
    ::close(fd);
  }
  reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  refused_for_fds.fetch_add(refused, std::memory_order_relaxed);
  return refused;
}

// Accepts on w.acceptors[i] forever; accept(2) fills w.accept_peers[i].
void Server::Impl::accept(Worker& w, std::size_t i) {
  tcp::acceptor& a = *w.acceptors[i];
  const intercept::ListenerKind kind = w.acceptor_kinds[i];
  const tcp::endpoint& peer = w.accept_peers[i];
  a.async_accept(w.accept_peers[i], [this, &w, &a, &peer, i, kind](const error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !a.is_open()) return;
    if (ec) {
      const bool out_of_fds = ec == asio::error::no_descriptors || ec.value() == ENFILE;
      if (out_of_fds) refuse_waiting(a);
      if (accept_warning_due()) {
        error_code ignored;
        const auto port = a.local_endpoint(ignored).port();
        if (out_of_fds) {
          rlimit r{};
          ::getrlimit(RLIMIT_NOFILE, &r);
          spdlog::warn("accept on port {}: {} (open-file limit {}): new clients are refused until descriptors "
                       "free up, {} so far; existing connections go on; retrying",
                       port, ec.message(), static_cast<unsigned long long>(r.rlim_cur),
                       refused_for_fds.load(std::memory_order_relaxed));
        } else {
          spdlog::warn("accept on port {}: {}; retrying", port, ec.message());
        }
      }
      // Out of fds or memory: back off instead of spinning, then go on.
      auto timer = std::make_shared<asio::steady_timer>(w.io, std::chrono::milliseconds(50));
      timer->async_wait([this, &w, &a, i, timer](const error_code&) {
        if (a.is_open()) accept(w, i);
      });
      return;
    }
    if (context.connections.load(std::memory_order_relaxed) >= context.config.max_connections) {
      if (accept_warning_due()) {
        spdlog::warn("--max-connections {} reached: refusing new connections", context.config.max_connections);
      }
      refused_for_limit.fetch_add(1, std::memory_order_relaxed);
      error_code ignored;
      socket.close(ignored);
    } else if (kind == intercept::ListenerKind::dns_tcp &&
               context.dns_tcp_connections.load(std::memory_order_relaxed) >=
                   context.config.dns_tcp_max_connections) {
      if (accept_warning_due()) {
        spdlog::warn("--dns-tcp-max-connections {} reached: refusing new DNS-over-TCP clients",
                     context.config.dns_tcp_max_connections);
      }
      refused_for_dns_limit.fetch_add(1, std::memory_order_relaxed);
      error_code ignored;
      socket.close(ignored);
    } else {
      switch (kind) {
        case intercept::ListenerKind::forward: start_http_session(std::move(socket), peer, w); break;
        case intercept::ListenerKind::http_intercept:
          start_http_session(std::move(socket), peer, w, SessionMode::transparent);
          break;
        case intercept::ListenerKind::tls_intercept: start_tls_intercept_session(std::move(socket), peer, w); break;
        case intercept::ListenerKind::socks: start_socks_session(std::move(socket), peer, w); break;
        case intercept::ListenerKind::dns_tcp: start_dns_tcp_session(std::move(socket), peer, w); break;
        case intercept::ListenerKind::dns_udp: break;  // never an acceptor
        case intercept::ListenerKind::api_openai:
        case intercept::ListenerKind::api_anthropic:
        case intercept::ListenerKind::api_copilot:
        case intercept::ListenerKind::api_gemini:
        case intercept::ListenerKind::api_vertex:
          start_api_session(std::move(socket), peer, w, api_provider_of(kind));
          break;
      }
    }
    accept(w, i);
  });
}

void Server::Impl::reload() {
  std::vector<const char*> args;
  for (const auto& s : argv) args.push_back(s.c_str());
  auto cl = parse_command_line(static_cast<int>(args.size()), args.data());
  if (!cl) {
    spdlog::error("policy reload failed, keeping the current policy: {}", cl.message());
    if (metrics) metrics->count_reload(false);
    return;
  }
  std::vector<std::string> warnings;
  auto p = load_policy(cl->config, &warnings);
  if (!p) {
    spdlog::error("policy reload failed, keeping the current policy: {}", p.message());
    if (metrics) metrics->count_reload(false);
    return;
  }
  for (const auto& w : warnings) spdlog::warn("{}", w);
  context.set_policy(std::move(*p));
  if (metrics) metrics->count_reload(true);
  spdlog::info("policy reloaded ({} rules); new connections use it", context.policy()->rules().size());
  apply_settings(cl->config);
}

// What a reload can change besides the policy: the log format and level take
// effect at once; every other changed setting is named, once, as waiting for
// a restart (listeners, limits and resolvers are built at start-up).
void Server::Impl::apply_settings(const Config& now) {
  Config& was = as_parsed;
  if (now.log_format != was.log_format) {
    log->set_format(now.log_format);
    spdlog::info("log format is now {}", now.log_format == LogFormat::squid ? "squid" : "awf");
  }
  if (now.log_level != was.log_level) {
    spdlog::set_level(spdlog::level::from_str(now.log_level));
    spdlog::info("log level is now {}", now.log_level);
  }
  auto addresses = [](const std::vector<ListenAddress>& list) {
    std::string text;
    for (const auto& a : list) text += a.text() + ",";
    return text;
  };
  auto api_listens = [](const std::vector<ApiListen>& list) {
    std::string text;
    for (const auto& a : list) text += std::string(api::provider_name(a.provider)) + "=" + a.address.text() + ",";
    return text;
  };
  auto api_keys = [](const std::vector<ApiKeySource>& list) {
    std::string text;
    for (const auto& k : list) {
      text += std::string(api::provider_name(k.provider)) + (k.from == ApiKeySource::From::env ? "=env:" : "=file:") +
              k.where + ",";
    }
    return text;
  };
  auto api_overrides = [](const std::vector<ApiOverride>& list) {
    std::string text;
    for (const auto& o : list) text += std::string(api::provider_name(o.provider)) + "=" + o.value + ",";
    return text;
  };
  auto cidrs = [](const std::vector<Cidr>& list) {
    std::string text;
    for (const auto& c : list) text += c.network.to_string() + "/" + std::to_string(c.prefix) + ",";
    return text;
  };
  auto url_patterns = [](const std::vector<policy::UrlPattern>& list) {
    std::string text;
    for (const auto& p : list) text += p.text + ",";
    return text;
  };
  const std::pair<const char*, bool> changes[] = {
      {"listen", addresses(now.listen) != addresses(was.listen)},
      {"listen-http-intercept", addresses(now.listen_http_intercept) != addresses(was.listen_http_intercept)},
      {"listen-tls-intercept", addresses(now.listen_tls_intercept) != addresses(was.listen_tls_intercept)},
      {"listen-dns", addresses(now.listen_dns) != addresses(was.listen_dns)},
      {"listen-socks", addresses(now.listen_socks) != addresses(was.listen_socks)},
      {"dns-policy", now.dns_policy.mode != was.dns_policy.mode || now.dns_policy.refusal != was.dns_policy.refusal},
      {"dns-servers", now.dns_servers != was.dns_servers},
      {"hosts-file", now.hosts_file != was.hosts_file},
      {"allow-private-ranges", cidrs(now.allow_private_ranges) != cidrs(was.allow_private_ranges)},
      {"log-dir", now.log_dir != was.log_dir},
      {"threads", now.threads != was.threads},
      {"max-connections", now.max_connections != was.max_connections},
      {"dns-tcp-max-connections", now.dns_tcp_max_connections != was.dns_tcp_max_connections},
      {"max-header-bytes", now.max_header_bytes != was.max_header_bytes},
      {"connect-timeout", now.connect_timeout != was.connect_timeout},
      {"request-timeout", now.request_timeout != was.request_timeout},
      {"read-timeout", now.read_timeout != was.read_timeout},
      {"client-lifetime", now.client_lifetime != was.client_lifetime},
      {"shutdown-timeout", now.shutdown_timeout != was.shutdown_timeout},
      {"dns-timeout", now.dns_timeout != was.dns_timeout},
      {"dns-tcp-timeout", now.dns_tcp_timeout != was.dns_tcp_timeout},
      {"client-hello-timeout", now.client_hello_timeout != was.client_hello_timeout},
      {"tunnel-sni-check", now.tunnel_sni_check != was.tunnel_sni_check},
      {"policy-mode", now.report_only != was.report_only},
      {"allowed-methods", now.allowed_methods != was.allowed_methods},
      {"budget-rps", now.budget_rps != was.budget_rps},
      {"budget-tunnels", now.budget_tunnels != was.budget_tunnels},
      {"budget-bytes", now.budget_bytes != was.budget_bytes},
      {"enable-dlp", now.enable_dlp != was.enable_dlp},
      {"upstream-proxy", now.upstream_proxy != was.upstream_proxy},
      {"upstream-bypass", now.upstream_bypass != was.upstream_bypass},
      {"netns", now.netns != was.netns},
      {"api-listen", api_listens(now.api_listen) != api_listens(was.api_listen)},
      {"api-key", api_keys(now.api_keys) != api_keys(was.api_keys)},
      {"api-target", api_overrides(now.api_targets) != api_overrides(was.api_targets)},
      {"api-base-path", api_overrides(now.api_base_paths) != api_overrides(was.api_base_paths)},
      {"api-ca-cert", now.api_ca_cert != was.api_ca_cert},
      {"ssl-bump-cert", now.ssl_bump_cert != was.ssl_bump_cert},
      {"ssl-bump-key", now.ssl_bump_key != was.ssl_bump_key},
      {"ssl-bump-upstream-ca", now.ssl_bump_upstream_ca != was.ssl_bump_upstream_ca},
      {"ssl-bump-exclude", now.ssl_bump_exclude != was.ssl_bump_exclude},
      {"allow-urls", url_patterns(now.allow_urls) != url_patterns(was.allow_urls)},
      {"admin-listen", (now.admin_listen ? now.admin_listen->text() : "") != (was.admin_listen ? was.admin_listen->text() : "")},
      {"admin-allow-non-loopback", now.admin_allow_non_loopback != was.admin_allow_non_loopback},
  };
  std::string pending;
  for (const auto& [name, changed] : changes) {
    if (changed) pending += (pending.empty() ? "" : ", ") + std::string(name);
  }
  if (!pending.empty()) {
    spdlog::warn("changed settings need a restart to take effect (still using the old values): {}", pending);
  }
  // Remember what was applied; the rest is compared with its start-up value
  // again next time, so the warning repeats until the restart.
  was.log_format = now.log_format;
  was.log_level = now.log_level;
}

void Server::Impl::drain(asio::io_context& control) {
  if (context.draining.exchange(true)) return;
  spdlog::info("draining: no new connections, waiting up to {} ms for transfers",
               context.config.shutdown_timeout.count());
  for (auto& w : workers) {
    asio::post(w->io, [wp = w.get()] {
      for (auto& a : wp->acceptors) {
        error_code ec;
        a->close(ec);
      }
      for (auto& d : wp->dns_sockets) {
        error_code ec;
        d->close(ec);
      }
      flush_dns_refusals(*wp);
      wp->stop_all(false);
      wp->clear_upstreams();
    });
  }
  auto force = std::make_shared<asio::steady_timer>(control, context.config.shutdown_timeout);
  force->async_wait([this](const error_code& ec) {
    if (ec) return;
    for (auto& w : workers) {
      asio::post(w->io, [wp = w.get()] { wp->stop_all(true); });
    }
  });
  force_timer = force;
  poll_timer = std::make_unique<asio::steady_timer>(control);
  poll_drained(control);
}

// Ends the control loop once every worker ran out of work. Each worker
// thread calls it (through `control`) as its io_context stops, so the last
// one ends the drain at once; the timer is only a safety net.
void Server::Impl::poll_drained(asio::io_context& control) {
  bool all = true;
  for (auto& w : workers) all = all && w->io.stopped();
  if (all) {
    force_timer->cancel();
    control.stop();
    return;
  }
  poll_timer->expires_after(std::chrono::milliseconds(50));
  poll_timer->async_wait([this, &control](const error_code& ec) {
    if (!ec) poll_drained(control);
  });
}

// --admin-listen: bound here, in the namespace the proxy runs in (never
// --netns's: the agent must not reach it), served from run() on.
Status Server::Impl::open_admin() {
  if (!context.config.admin_listen) return ok_status();
  auto server = AdminServer::open(*context.config.admin_listen,
                                  {.context = &context, .metrics = metrics.get(), .live = [this] { return live_values(); }});
  if (!server) return server.error();
  admin = std::move(*server);
  described.push_back(admin->local_address() + " (admin)");
  return ok_status();
}

// Runs on the admin thread: only atomics and what never changes after start.
LiveValues Server::Impl::live_values() const {
  LiveValues v;
  v.active_connections = context.connections.load(std::memory_order_relaxed);
  v.active_tunnels = Relay::active();
  for (const auto& w : workers) {
    v.dns_forwarded += w->dns_forwarded.load(std::memory_order_relaxed);
    v.dns_refused += w->dns_refused.load(std::memory_order_relaxed);
  }
  v.policy_generation = context.policy_generation.load(std::memory_order_relaxed);
  v.refused_out_of_fds = refused_for_fds.load(std::memory_order_relaxed);
  v.refused_max_connections = refused_for_limit.load(std::memory_order_relaxed);
  v.refused_dns_tcp_max_connections = refused_for_dns_limit.load(std::memory_order_relaxed);
  v.start_time_seconds = std::chrono::duration<double>(started.time_since_epoch()).count();
  v.version = proxy_version();
  return v;
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::create(Config config, std::vector<std::string> argv) {
  auto impl = std::make_unique<Impl>();
  impl->as_parsed = config;
  std::size_t fds = raise_fd_limit();
  // A tunnel holds up to six fds (two sockets, two pipes); keep some for logs and DNS.
  if (config.max_connections == 0) {
    config.max_connections = fds > 256 ? (fds - 128) / 4 : std::max<std::size_t>(8, fds / 6);
  } else if (const std::size_t room = fds > 128 ? (fds - 128) / 2 : 0; config.max_connections > room) {
    // Asked for more than the descriptors allow even when every connection
    // is an idle tunnel (two each): say where the limit is, rather than have
    // accept() start failing later with no word of why.
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    std::fprintf(stderr,
                 "awf-proxy: warning: --max-connections %zu is more than the open-file limit allows: %zu descriptors "
                 "(the hard limit, %llu, caps it) hold about %zu idle tunnels at two each; beyond that, accepting "
                 "waits for descriptors to free up (raise it with ulimit -Hn / LimitNOFILE)\n",
                 config.max_connections, fds, static_cast<unsigned long long>(r.rlim_max), room);
  }
  // DNS over TCP gets a share of the slots, never all of them: a client
  // holding DNS connections open must not lock HTTP and TLS clients out.
  if (config.dns_tcp_max_connections == 0) {
    config.dns_tcp_max_connections = std::max<std::size_t>(1, config.max_connections / 4);
  } else if (config.dns_tcp_max_connections >= config.max_connections) {
    return Error{"--dns-tcp-max-connections " + std::to_string(config.dns_tcp_max_connections) +
                 " must be below --max-connections " + std::to_string(config.max_connections) +
                 ": DNS-over-TCP clients must leave slots to HTTP and TLS clients"};
  }
  std::vector<std::string> warnings;
  auto policy = load_policy(config, &warnings);
  if (!policy) return policy.error();
  for (const auto& w : warnings) std::fprintf(stderr, "awf-proxy: warning: %s\n", w.c_str());
  impl->context.set_policy(std::move(*policy));
  impl->context.guard = AddressGuard(config.allow_private_ranges, AddressGuard::interface_addresses());
  auto resolver = Resolver::create({config.dns_servers, config.hosts_file, std::chrono::seconds(30)});
  if (!resolver) return resolver.error();
  impl->resolver = std::move(*resolver);
  impl->context.resolver = impl->resolver.get();
  if (config.enable_dlp) {
    impl->dlp = std::make_unique<policy::DlpScanner>();
    impl->context.dlp = impl->dlp.get();
  }
  if (config.ssl_bump()) {
    auto bump = BumpAuthority::load(config);
    if (!bump) return bump.error();
    impl->bump = std::move(*bump);
    impl->context.bump = impl->bump.get();
  }
  if (const BudgetLimits limits{config.budget_rps, config.budget_tunnels, config.budget_bytes}; limits.any()) {
    // Budgets are per registrable domain: the Public Suffix List says which.
    auto psl = policy::PublicSuffixList::load();
    if (!psl) return Error{"--budget-*: " + psl.message() + " (the publicsuffix package ships it)"};
    impl->budgets = std::make_unique<Budgets>(limits, std::move(*psl));
    impl->context.budgets = impl->budgets.get();
  }
  if (!config.log_dir.empty()) {
    // Created when missing, as awf creates its log directories; 0750: the
    // logs name every host the clients asked for.
    struct stat st{};
    if (::stat(config.log_dir.c_str(), &st) != 0 && errno == ENOENT) {
      std::error_code ec;
      std::filesystem::create_directories(config.log_dir, ec);
      if (ec) return Error{"--log-dir \"" + config.log_dir + "\": cannot create it: " + ec.message()};
      ::chmod(config.log_dir.c_str(), 0750);
    }
    if (::stat(config.log_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Error{"--log-dir \"" + config.log_dir + "\": not a directory"};
    }
  }
  if (config.admin_listen) impl->metrics = std::make_unique<Metrics>();
  auto log = AccessLog::open({config.log_dir, config.log_format, proxy_version(), impl->metrics.get()});
  if (!log) return log.error();
  impl->log = std::move(*log);
  impl->context.log = impl->log.get();
  impl->context.config = std::move(config);
  impl->argv = std::move(argv);
  for (unsigned i = 0; i < impl->context.config.threads; ++i) {
    impl->workers.push_back(std::make_unique<Worker>(impl->context));
  }
  auto upstreams = dns_upstreams(impl->context.config.dns_servers);
  if (!upstreams) return upstreams.error();
  impl->context.dns_upstreams = std::move(*upstreams);
  // Socket activation: the variables are consumed (and unset) here, once.
  auto inherited = intercept::take_activated_listeners();
  if (!inherited) return Error{"socket activation: " + inherited.message()};
  if (!impl->context.config.netns.empty()) {
    auto in_netns = open_listeners_in_netns(impl->context.config, !inherited->empty());
    if (!in_netns) return in_netns.error();
    for (auto& l : *in_netns) inherited->push_back(std::move(l));
  }
  if (Status s = impl->start_api_proxy(*inherited); !s) return s.error();
  if (Status s = impl->bind_all(std::move(*inherited)); !s) return s.error();
  if (Status s = impl->open_admin(); !s) return s.error();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

std::vector<std::string> Server::bound_addresses() const { return impl_->bound; }

int Server::run() {
  Impl& m = *impl_;
  asio::io_context control(1);
  asio::signal_set signals(control, SIGHUP, SIGUSR1, SIGTERM);
  signals.add(SIGINT);
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](const error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) m.reload();
      else if (sig == SIGUSR1) {
        spdlog::info("reopening log files");
        m.log->reopen();
      } else {
        m.drain(control);
      }
      wait_signal();
    });
  };
  wait_signal();
  // Housekeeping on the control thread: each worker closes its expired idle
  // upstream connections, and the heap memory a finished load freed goes
  // back to the kernel (heap_release.h), so RSS falls back after the load.
  HeapRelease heap;
  asio::steady_timer housekeeping(control);
  std::function<void()> keep_house = [&] {
    housekeeping.expires_after(kHousekeepingPeriod);
    housekeeping.async_wait([&](const error_code& ec) {
      if (ec || m.context.draining) return;
      for (auto& w : m.workers) asio::post(w->io, [wp = w.get()] { wp->expire_upstreams(); });
      heap.tick();
      keep_house();
    });
  };
  keep_house();
  // A connection watches two sockets (client and upstream). Their reactor
  // records, made here on the control thread 200 ms after start-up, lie in its
  // heap and do not pin the workers' pages after a load (descriptor_records.h).
  // At most 32768 in all, about 7 MiB; a command that ends at once never pays.
  const std::size_t records = std::min<std::size_t>(2 * m.context.config.max_connections, 32768) / m.workers.size();
  for (auto& w : m.workers) reserve_descriptor_records(w->io, records, control, std::chrono::milliseconds(200));
  m.reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (auto& w : m.workers) {
    w->accept_peers.resize(w->acceptors.size());
    for (std::size_t i = 0; i < w->acceptors.size(); ++i) m.accept(*w, i);
    for (auto& d : w->dns_sockets) start_dns_udp_service(*d, *w);
  }
  std::vector<std::thread> threads;
  for (auto& w : m.workers) {
    threads.emplace_back([wp = w.get(), &m, &control] {
      // No exception escapes a handler by design; this is the last guard.
      for (;;) {
        try {
          wp->io.run();
          break;
        } catch (const std::exception& e) {
          spdlog::error("I/O thread: unexpected exception: {}", e.what());
        }
      }
      // Out of work: only during a drain. The control loop checks whether
      // this was the last worker (the launcher waits for this exit).
      asio::post(control, [&m, &control] {
        if (m.context.draining) m.poll_drained(control);
      });
    });
  }
  if (m.admin) m.admin->start();
  // One write: the launcher wakes up once for the whole block.
  std::string announce;
  for (const auto& b : m.described) announce += "awf-proxy: listening on " + b + "\n";
  announce += "awf-proxy: ready\n";
  std::fwrite(announce.data(), 1, announce.size(), stderr);
  std::fflush(stderr);
  control.run();
  m.force_timer.reset();  // they belong to `control`, which ends here
  m.poll_timer.reset();
  for (auto& w : m.workers) w->io.stop();
  for (auto& t : threads) t.join();
  if (m.admin) m.admin->stop();
  if (m.reserve_fd >= 0) ::close(m.reserve_fd);
  m.resolver->stop();
  m.log->stop();
  // Every log line is written: the launcher may read the logs while this
  // process finishes exiting.
  std::fputs("awf-proxy: logs closed\n", stderr);
  std::fflush(stderr);
  spdlog::info("stopped");
  return 0;
}

}  // namespace awf::proxy
