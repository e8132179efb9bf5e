// Asynchronous name resolution for the proxy: a hosts file (like Squid's
// hosts_file) answers first, then c-ares on its own thread with the
// configured --dns-servers; a short positive cache in front. I/O threads
// never block: answers are posted back to the caller's executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "awf/result.h"

namespace awf::proxy {

struct Resolution {
  std::vector<boost::asio::ip::address> addresses;  // empty on failure
  std::string error;                                // why, when empty
  // Until when the answer may be reused; unset (the epoch): not at all
  // (hosts-file answers need no caching, failures are not cached).
  std::chrono::steady_clock::time_point expires{};
};

// Reads an /etc/hosts-style file: `ADDRESS NAME...`, `#` comments. Names are
// lower-cased. The error names the file and line.
using HostsMap = std::unordered_map<std::string, std::vector<boost::asio::ip::address>>;
Status read_hosts_file(const std::string& path, HostsMap& out);

class Resolver {
 public:
  struct Options {
    std::vector<std::string> dns_servers;  // "IP", "IP:PORT", "[v6]:PORT"; empty: /etc/resolv.conf
    std::string hosts_file;
    std::chrono::seconds cache_ttl{30};    // upper bound; DNS TTLs shorten it
  };
  static Result<std::unique_ptr<Resolver>> create(const Options& options);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // One I/O thread's own copy of recent answers. resolve() answers from it
  // without taking a lock as long as the agent's view (remember()) has not
  // changed since it was filled, and fills it from the answers it delivers.
  // Only the owning thread touches it (resolve() and the callbacks run there).
  struct ThreadCache {
    struct Entry {
      std::vector<boost::asio::ip::address> addresses;
      std::chrono::steady_clock::time_point expires;
    };
    std::unordered_map<std::string, Entry> entries;
    std::uint64_t generation = 0;  // of the agent's view it was filled under
  };

  using Callback = std::function<void(Resolution)>;
  // `name` is already normalised (lower case, no trailing dot). The callback
  // always runs on `executor`, never inline. `local`: the calling thread's
  // cache (optional), owned by that thread and outliving the callback.
  void resolve(const std::string& name, const boost::asio::any_io_executor& executor, Callback callback,
               ThreadCache* local = nullptr);

  // What the DNS front end told the agent about `name` (normalised): the
  // addresses of one family (AF_INET for A, AF_INET6 for AAAA) for `ttl`.
  // resolve() answers from them (after the hosts file) while they last, so
  // the proxy dials what the agent resolved instead of asking again.
  void remember(const std::string& name, int family, std::vector<boost::asio::ip::address> addresses,
                std::chrono::seconds ttl);
  void stop();

  struct Impl;

 private:
  explicit Resolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace awf::proxy
