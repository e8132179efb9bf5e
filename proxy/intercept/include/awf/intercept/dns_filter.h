// The DNS front end's decision: forward a query to the upstream resolvers or
// answer it ourselves with a refusal. Pure; the name test is the policy's.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "awf/intercept/dns_message.h"

namespace awf::intercept {

enum class DnsPolicyMode : std::uint8_t {
  allowlist,  // only names the policy allows in some scope are resolved (our default)
  open,       // everything is forwarded: awf's original behaviour (--dns-policy open)
};

struct DnsPolicy {
  DnsPolicyMode mode = DnsPolicyMode::allowlist;
  DnsRcode refusal = DnsRcode::refused;  // REFUSED, or NXDOMAIN when configured
};

// Why. Closed set: to_string() is the log and metric name.
enum class DnsReason : std::uint8_t {
  allowed,        // the policy allows the name
  open_policy,    // forwarded because the DNS policy is open
  not_allowed,    // the policy does not allow the name in any scope
  invalid_name,   // the name has bytes no host name has (or is the root)
  zone_transfer,  // AXFR/IXFR: never through the front end
};
const char* to_string(DnsReason reason);

struct DnsDecision {
  bool forward = false;
  DnsRcode rcode = DnsRcode::refused;  // the answer to send when !forward
  DnsReason reason = DnsReason::not_allowed;
};

// The proxy passes Ruleset::allows_name of its current policy snapshot.
using NamePredicate = std::function<bool(std::string_view)>;

DnsDecision decide_dns_query(const DnsQuestion& question, const DnsPolicy& policy,
                             const NamePredicate& allows_name);

}  // namespace awf::intercept
