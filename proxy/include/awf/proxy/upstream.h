// The one way a session reaches an origin: resolve the destination name
// (never the client's idea of its address), keep only the addresses the SSRF
// guard lets through, then connect happy-eyeballs style. Also how peer
// addresses are written in logs. Every front end that dials out or logs a
// client goes through here, so the SSRF filter exists once.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awf/proxy/connector.h"
#include "awf/proxy/context.h"
#include "awf/proxy/resolver.h"

namespace awf::proxy {

// A client or peer address as the logs show it: an IPv4-mapped IPv6 address
// as plain IPv4, as Squid prints such clients; IPv6 without brackets.
std::string peer_address_text(const boost::asio::ip::address& a);

// The "ip:port" a session connected to (or last tried), as the access log's
// destination field carries it.
std::string dialled_endpoint_text(const boost::asio::ip::tcp::endpoint& e);

// Why a dial ended without a connection.
enum class DialFailure : std::uint8_t {
  none,
  unresolved,      // the name has no address; `detail` is the resolver's reason
  refused_only,    // every address is one the guard refuses; `detail` lists "class address, ..."
  connect_failed,  // no address answered; `detail` is the connector's "<reason> (<address>)"
};

struct DialOutcome {
  DialFailure failure = DialFailure::none;
  std::optional<boost::asio::ip::tcp::socket> socket;  // connected, when failure is none
  // "ip:port" connected to, or the last address tried; empty when the dial
  // ended before connecting (unresolved, refused_only).
  std::string dest;
  std::string detail;
  // connect_failed: the last attempt's error (refused, unreachable, timed
  // out), for front ends that report it as a code (SOCKS replies).
  boost::system::error_code error;
};

// True for the one name --enable-host-access opens to private addresses:
// host.docker.internal (canonical form), which names the host on purpose.
bool is_host_gateway(const Config& config, std::string_view host);

// The SSRF filter: the addresses of `r` that `guard` permits (all of them
// for the host gateway), appended to `candidates` as endpoints on `port` in
// the resolver's order. Returns the refused ones as "class address, ..."
// (empty when none was refused).
std::string admit_addresses(const AddressGuard& guard, bool host_gateway, const Resolution& r, std::uint16_t port,
                            std::vector<boost::asio::ip::tcp::endpoint>& candidates);

// An IP-literal destination ("1.2.3.4", "[::1]") answers itself without the
// resolver; nullopt for a name.
std::optional<Resolution> resolve_ip_literal(const std::string& host);

// One session's way out, held by value in the session: it costs no
// allocation beyond the resolver's callback and the Connector's, and no
// virtual call. start() runs resolve -> guard -> connect and calls
// `(session.*done)(outcome)` once, unless cancel() (or another start()) comes
// first: on `executor` after a resolution or a connect, inline from start()
// when an IP-literal destination cannot be dialled. Pending steps keep the
// session alive through `self`; the session's own timer bounds the whole dial.
class UpstreamDial {
 public:
  template <typename Session>
  using Done = void (Session::*)(DialOutcome);

  // `trusted`: a destination from the configuration (the parent proxy), not
  // from a client: the SSRF guard lets its addresses through, as it does the
  // host gateway's.
  template <typename Session>
  void start(const std::shared_ptr<Session>& self, Done<Session> done, Worker& worker,
             const boost::asio::any_io_executor& executor, const std::string& host, std::uint16_t port,
             bool trusted = false) {
    cancel();
    guard_ = &worker.context.guard;
    executor_ = executor;
    port_ = port;
    host_gateway_ = trusted || is_host_gateway(worker.context.config, host);
    if (std::optional<Resolution> literal = resolve_ip_literal(host)) return on_resolved(self, done, std::move(*literal));
    worker.context.resolver->resolve(
        host, executor,
        [self, done, this, generation = generation_](Resolution r) {
          if (generation != generation_) return;  // cancelled, or another dial started meanwhile
          on_resolved(self, done, std::move(r));
        },
        &worker.resolver_cache);
  }

  // Stops whatever is pending: a late resolution is ignored, connection
  // attempts are closed, and `done` will not run.
  void cancel() {
    ++generation_;
    if (connector_) {
      connector_->cancel();
      connector_.reset();
    }
  }

 private:
  // The guard's verdict on a resolution: the failure to report, or none
  // with `candidates` filled.
  DialOutcome admit(const Resolution& r, std::vector<boost::asio::ip::tcp::endpoint>& candidates) const;
  static DialOutcome connected(Connector::Outcome o);

  template <typename Session>
  void on_resolved(const std::shared_ptr<Session>& self, Done<Session> done, Resolution r) {
    std::vector<boost::asio::ip::tcp::endpoint> candidates;
    DialOutcome refused = admit(r, candidates);
    if (refused.failure != DialFailure::none) return ((*self).*done)(std::move(refused));
    connector_ = Connector::start(executor_, std::move(candidates), Connector::kDefaultAttemptDelay,
                                  [self, done, this](Connector::Outcome o) {
                                    connector_.reset();
                                    ((*self).*done)(connected(std::move(o)));
                                  });
  }

  const AddressGuard* guard_ = nullptr;
  boost::asio::any_io_executor executor_;
  std::shared_ptr<Connector> connector_;  // while connecting
  unsigned generation_ = 0;               // a resolution started under an older value is stale
  std::uint16_t port_ = 0;
  bool host_gateway_ = false;
};

}  // namespace awf::proxy
