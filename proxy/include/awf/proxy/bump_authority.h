// The certificate authority of SSL bump (--ssl-bump-cert, --ssl-bump-key):
// the CA read and checked once at start-up, leaf certificates minted per
// name on demand and kept in a bounded LRU cache shared by every I/O thread,
// the verifying TLS client context for origins, and which names are bumped
// at all (--ssl-bump-exclude) and which URLs are allowed (--allow-urls).
// OpenSSL stays out of this header.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "awf/policy/ruleset.h"
#include "awf/policy/url_pattern.h"
#include "awf/proxy/config.h"
#include "awf/result.h"

struct ssl_ctx_st;

namespace awf::proxy {

class BumpAuthority {
 public:
  static constexpr std::size_t kDefaultCacheSize = 1000;

  // Reads the CA certificate and key named by the config (errors name the
  // path and OpenSSL's reason; a key readable by group or others, or one
  // that does not belong to the certificate, is refused), makes the key of
  // the minted certificates, and the client context for origins (system
  // store plus --ssl-bump-upstream-ca).
  static Result<std::unique_ptr<BumpAuthority>> load(const Config& config,
                                                     std::size_t cache_size = kDefaultCacheSize);
  ~BumpAuthority();
  BumpAuthority(const BumpAuthority&) = delete;
  BumpAuthority& operator=(const BumpAuthority&) = delete;

  // The server context presenting a certificate for `name` (canonical host
  // name or IP literal) signed by the CA: from the cache, or minted now.
  // Any thread. The context stays valid while the pointer is held.
  Result<std::shared_ptr<ssl_ctx_st>> server_context(const std::string& name);

  // Verifying client context for origins (peer verification on; the name is
  // set per connection).
  ssl_ctx_st* upstream_context() const;

  // Whether TLS for `host` (canonical) is relayed untouched.
  bool is_excluded(std::string_view host) const;

  // The --allow-urls patterns; null when none were given.
  const policy::UrlAllowlist* allow_urls() const;

  // With --allow-urls, a CONNECT or TLS connection the blocklist alone
  // refused is bumped all the same, so that its requests matching a pattern
  // pass: awf's order puts the URL allows before the blocklist.
  bool lifts_block(const policy::Decision& d, std::string_view host) const;

  std::size_t cached_certificates() const;
  std::size_t minted_certificates() const;  // since start-up, cache misses

 private:
  BumpAuthority();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace awf::proxy
