// Removing Encrypted ClientHello configurations from upstream DNS answers:
// the `ech` SvcParam (key 5) of HTTPS and SVCB records (RFC 9460). Without
// it a client keeps the real server name in the clear in its ClientHello,
// where the tls-intercept front end decides on it; with it the agent could
// reach anything behind an allowed ECH public name (a CDN's, typically).
// A pure function over the wire bytes; no ldns types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace awf::intercept {

// Why an answer could not be rewritten. Closed set; the caller answers
// SERVFAIL rather than pass on a message it could not read.
enum class EchStripError : std::uint8_t {
  truncated,         // a count, name or record runs past the end of the message
  bad_label,         // a label type other than a plain label or a pointer (RFC 6891 §5)
  bad_pointer,       // a compression pointer past the end of the message
  pointer_into_cut,  // a compression pointer into bytes that had to be removed
};
const char* to_string(EchStripError error);

struct EchStrip {
  enum class Status : std::uint8_t { unchanged, rewritten, error };
  Status status = Status::unchanged;
  std::vector<std::uint8_t> wire;  // rewritten: the new message; empty otherwise
  std::size_t params_removed = 0;  // ech SvcParams cut out of records that stay
  // Records dropped whole (their section count lowered): SvcParams that do
  // not parse (never relayed unchanged: a client might read them otherwise),
  // or `ech` listed as mandatory (the record is useless without it).
  std::size_t records_dropped = 0;
  EchStripError error = EchStripError::truncated;  // when status == error
};

inline constexpr std::uint16_t kDnsTypeSvcb = 64;
inline constexpr std::uint16_t kDnsTypeHttps = 65;
inline constexpr std::uint16_t kSvcParamMandatory = 0;
inline constexpr std::uint16_t kSvcParamEch = 5;

// Rewrites a whole DNS message (header included) so no HTTPS or SVCB record
// in any section carries an `ech` SvcParam: the parameter is cut out and
// RDLENGTH lowered, every compression pointer behind a cut is moved with the
// bytes it points at (in names of the question, owners, and the RDATA of the
// types that may be compressed, RFC 3597 §4). Messages without such records
// are `unchanged` (and not copied). Signatures over rewritten records
// (RRSIG) no longer match: a validating client sees them as bogus, which is
// the point.
EchStrip strip_ech_configs(std::span<const std::uint8_t> message);

}  // namespace awf::intercept
