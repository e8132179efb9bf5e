// State shared by every connection of one awf-proxy process: the
// configuration, the atomically swapped policy snapshot, the resolver, the
// SSRF guard and the access log; plus the per-thread Worker that owns an
// io_context, its acceptors and the connections living on it.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "awf/intercept/listener_kind.h"
#include "awf/policy/ruleset.h"
#include "awf/proxy/access_log.h"
#include "awf/proxy/address_guard.h"
#include "awf/proxy/config.h"
#include "awf/proxy/dns_refusal_log.h"
#include "awf/proxy/resolver.h"

namespace awf::proxy {

struct ApiProxy;         // api_settings.h
}  // namespace awf::proxy
namespace awf::policy {
class DlpScanner;  // dlp.h
}  // namespace awf::policy
namespace awf::proxy {
class ApiUpstreamPool;   // api_upstream_pool.h
class BumpAuthority;     // bump_authority.h
class Budgets;           // budgets.h

struct ProxyContext {
  Config config;
  AddressGuard guard;
  Resolver* resolver = nullptr;
  AccessLog* log = nullptr;
  std::atomic<std::size_t> connections{0};
  // DNS-over-TCP clients, also counted in `connections`: they have their own
  // cap (--dns-tcp-max-connections) below --max-connections, so they can
  // never take the slots HTTP and TLS clients need.
  std::atomic<std::size_t> dns_tcp_connections{0};
  std::atomic<bool> draining{false};
  // The DNS front end's upstream resolvers: --dns-servers, else the
  // nameservers of /etc/resolv.conf.
  std::vector<boost::asio::ip::udp::endpoint> dns_upstreams;
  // The API proxy's settings and TLS client context; set (before any I/O
  // thread starts) only when an API listener exists.
  ApiProxy* api = nullptr;
  // --enable-dlp: the credential scanner every readable URL passes; null
  // when off. Set before any I/O thread starts.
  const policy::DlpScanner* dlp = nullptr;
  // --ssl-bump-cert: the CA, minted certificates and bump settings; null
  // when TLS is never terminated. Set before any I/O thread starts.
  BumpAuthority* bump = nullptr;
  // --budget-*: what each registrable domain may still spend; null when no
  // budget is set. Set before any I/O thread starts.
  Budgets* budgets = nullptr;

  // The current policy. Connections take it through their worker
  // (Worker::current_policy), which reloads it only when the generation
  // moved; a connection keeps what it got to its end.
  std::shared_ptr<const policy::Ruleset> policy() const { return policy_.load(std::memory_order_acquire); }
  void set_policy(std::shared_ptr<const policy::Ruleset> p) {
    policy_.store(std::move(p), std::memory_order_release);
    policy_generation.fetch_add(1, std::memory_order_release);
  }
  std::atomic<std::uint64_t> policy_generation{0};

 private:
  std::atomic<std::shared_ptr<const policy::Ruleset>> policy_;
};

// Anything the worker must be able to end at shutdown.
class Connection {
 public:
  virtual ~Connection() = default;
  // force=false: finish the current transaction, then close (drain);
  // force=true: close now (the transaction is still logged). Only posts:
  // never ends the connection before returning.
  virtual void stop(bool force) = 0;

 private:
  friend struct Worker;
  Connection* live_prev_ = nullptr;  // the worker's list of live connections
  Connection* live_next_ = nullptr;
};

// True when an idle upstream connection has nothing to say: no byte
// waiting and no end of stream (a recv(2) peek that would block). Bytes
// there answer no request of ours: the connection is out of step.
bool upstream_is_quiet(boost::asio::ip::tcp::socket& socket);

struct Worker {
  explicit Worker(ProxyContext& c) : context(c), io(1) {}
  ProxyContext& context;
  boost::asio::io_context io;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors;
  std::vector<intercept::ListenerKind> acceptor_kinds;  // the front end of acceptors[i]
  // Filled by accept(2) for acceptors[i]: the client's address without a
  // getpeername(2) per connection.
  std::vector<boost::asio::ip::tcp::endpoint> accept_peers;
  std::vector<std::unique_ptr<boost::asio::ip::udp::socket>> dns_sockets;  // dns-udp listeners

  // The live connections of this worker, linked through the connections
  // themselves. A connection adds itself when it starts and removes itself
  // in its destructor, both on this worker's thread, and stop_all runs there
  // too (posted): no lock and no allocation per connection. A connection in
  // the list is alive: it would have removed itself on this same thread.
  void add(Connection* c) {
    c->live_prev_ = nullptr;
    c->live_next_ = live_;
    if (live_) live_->live_prev_ = c;
    live_ = c;
  }
  void remove(Connection* c) {
    if (c->live_prev_) c->live_prev_->live_next_ = c->live_next_;
    else if (live_ == c) live_ = c->live_next_;
    if (c->live_next_) c->live_next_->live_prev_ = c->live_prev_;
    c->live_prev_ = c->live_next_ = nullptr;
  }
  void stop_all(bool force);  // posts stop(force) to every live connection

  // Answers of this thread's DNS front end, for --admin-listen's metrics.
  // Only this thread writes them (a load and a store: no locked
  // instruction); the admin thread reads them.
  std::atomic<std::uint64_t> dns_forwarded{0};
  std::atomic<std::uint64_t> dns_refused{0};
  static void count(std::atomic<std::uint64_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  // Recent name answers of this thread: cache hits take no lock.
  Resolver::ThreadCache resolver_cache;

  // Refused DNS queries of this thread, repeats folded (dns_frontend.cc);
  // the timer writes each window's summary when it ends.
  DnsRefusalLog dns_refusals;
  boost::asio::steady_timer dns_refusal_sweep{io};
  bool dns_refusal_sweep_armed = false;

  // The policy for a new connection or DNS query: this thread's copy, taken
  // again from the context only after a reload (std::atomic<shared_ptr> is
  // not lock-free in libstdc++; a generation check is).
  const std::shared_ptr<const policy::Ruleset>& current_policy() {
    const std::uint64_t generation = context.policy_generation.load(std::memory_order_acquire);
    if (generation != policy_seen_ || !policy_) {
      policy_ = context.policy();
      policy_seen_ = generation;
    }
    return policy_;
  }

  // Idle upstream connections kept for reuse by later clients of this
  // thread (Squid's pconn). Keyed by canonical host:port; only connections
  // to addresses that passed the SSRF guard are ever parked here.
  struct IdleUpstream {
    boost::asio::ip::tcp::socket socket;
    std::string dest;  // "ip:port" as logged
    std::chrono::steady_clock::time_point parked;
    bool taken = false;
  };
  // Only connections whose requests and responses are in step are parked.
  void park_upstream(const std::string& key, boost::asio::ip::tcp::socket socket, std::string dest);
  // A parked connection for `key` still open and younger than the idle limit.
  std::optional<std::pair<boost::asio::ip::tcp::socket, std::string>> take_upstream(const std::string& key);
  // Closes the parked connections older than the idle limit (run() calls it
  // every few seconds).
  void expire_upstreams();
  void clear_upstreams();  // both pools: these and the API proxy's

  // The API proxy's idle provider connections of this thread, made by the
  // first API session that needs it.
  std::shared_ptr<ApiUpstreamPool> api_upstreams;

 private:
  Connection* live_ = nullptr;
  std::shared_ptr<const policy::Ruleset> policy_;
  std::uint64_t policy_seen_ = 0;
  std::unordered_map<std::string, std::list<std::shared_ptr<IdleUpstream>>> idle_upstreams_;
  std::size_t idle_count_ = 0;
};

}  // namespace awf::proxy
