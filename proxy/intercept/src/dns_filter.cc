// The DNS front end's forward-or-refuse decision (see dns_filter.h).
#include "awf/intercept/dns_filter.h"

namespace awf::intercept {

const char* to_string(DnsReason reason) {
  switch (reason) {
    case DnsReason::allowed: return "allowed";
    case DnsReason::open_policy: return "open_policy";
    case DnsReason::not_allowed: return "not_allowed";
    case DnsReason::invalid_name: return "invalid_name";
    case DnsReason::zone_transfer: return "zone_transfer";
  }
  return "unknown";
}

DnsDecision decide_dns_query(const DnsQuestion& question, const DnsPolicy& policy,
                             const NamePredicate& allows_name) {
  constexpr std::uint16_t kTypeIxfr = 251;  // RFC 1995
  constexpr std::uint16_t kTypeAxfr = 252;  // RFC 5936
  // A zone transfer through a stub resolver is never legitimate, and a whole
  // zone in one answer is the widest channel DNS offers.
  if (question.qtype == kTypeAxfr || question.qtype == kTypeIxfr) {
    return DnsDecision{false, DnsRcode::refused, DnsReason::zone_transfer};
  }
  if (policy.mode == DnsPolicyMode::open) return DnsDecision{true, DnsRcode::noerror, DnsReason::open_policy};
  // Names that are no host name (escaped bytes, the root) are refused before
  // the policy sees them: they are how data is smuggled out in labels.
  if (!question.is_host_name) return DnsDecision{false, policy.refusal, DnsReason::invalid_name};
  if (allows_name && allows_name(question.name)) return DnsDecision{true, DnsRcode::noerror, DnsReason::allowed};
  return DnsDecision{false, policy.refusal, DnsReason::not_allowed};
}

}  // namespace awf::intercept
