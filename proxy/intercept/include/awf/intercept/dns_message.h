// DNS wire messages of the filtering DNS front end: reading a client's query,
// building the answers the proxy gives itself (REFUSED, NXDOMAIN, FORMERR,
// SERVFAIL, truncated), and reading an upstream answer for the proxy's cache.
// The wire format is ldns's business; this header stays free of ldns types.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "awf/result.h"

namespace awf::intercept {

inline constexpr std::size_t kDnsHeaderBytes = 12;          // RFC 1035 §4.1.1
inline constexpr std::size_t kMaxDnsQueryBytes = 4096;      // a real query is a few hundred bytes
inline constexpr std::size_t kMaxDnsMessageBytes = 65535;   // RFC 1035 §4.2.2 TCP length prefix
inline constexpr std::size_t kMinUdpPayload = 512;          // RFC 1035 §4.2.1, without EDNS
inline constexpr std::uint16_t kEdnsPayloadWeAdvertise = 1232;  // DNS flag day 2020

// Response codes we produce or read (RFC 1035 §4.1.1). Other values from an
// upstream are kept as their number.
enum class DnsRcode : std::uint8_t {
  noerror = 0,
  formerr = 1,
  servfail = 2,
  nxdomain = 3,
  notimp = 4,
  refused = 5,
};
const char* to_string(DnsRcode rcode);  // "NOERROR", "REFUSED", ...; "RCODE<n>" otherwise

// Why a client's packet is not a query we answer normally. Closed set.
enum class DnsQueryError : std::uint8_t {
  too_short,       // under 12 bytes: no header, nothing to answer
  too_large,       // over kMaxDnsQueryBytes
  not_a_query,     // QR set: a response is never answered (no reflection loops)
  bad_opcode,      // opcode other than QUERY (NOTIFY, UPDATE...): NOTIMP
  question_count,  // QDCOUNT != 1 (RFC 9619): FORMERR
  malformed,       // ldns could not read it, or answer/authority records in a query
};
const char* to_string(DnsQueryError error);

struct DnsQuestion {
  std::uint16_t id = 0;
  bool rd = false;  // recursion desired, copied into every answer we build
  bool cd = false;  // checking disabled, likewise
  // Lower-case presentation form without the trailing dot ("" for the root).
  // Bytes that are not letters, digits, '-' or '_' appear as ldns escapes
  // (\DDD, \.), and is_host_name is then false.
  std::string name;
  bool is_host_name = false;
  std::vector<std::uint8_t> wire_name;  // as received, case kept (0x20 clients compare it)
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  bool has_edns = false;
  std::size_t udp_payload = kMinUdpPayload;  // the most a UDP answer to this client may carry
};

struct DnsQueryParse {
  bool ok = false;
  DnsQueryError error = DnsQueryError::malformed;  // when !ok
  DnsQuestion question;                            // when ok
};

// Reads one query (a UDP datagram or one TCP message without its prefix).
DnsQueryParse parse_dns_query(std::span<const std::uint8_t> packet);

// The answer to a packet parse_dns_query rejected: NOTIMP for a foreign
// opcode, FORMERR otherwise, with the id, opcode and RD copied from the
// header. Nothing for packets that must stay unanswered (too short, responses).
std::optional<std::vector<std::uint8_t>> build_dns_error_reply(std::span<const std::uint8_t> packet,
                                                              DnsQueryError error);

// An answer with no records: the question echoed byte for byte, id, RD and CD
// copied, RA set (we do recurse, through the upstream), and an OPT record
// when the query had one (RFC 6891 §7).
std::vector<std::uint8_t> build_dns_response(const DnsQuestion& question, DnsRcode rcode);

// NOERROR with TC set and only the question, telling the client to ask again
// over TCP (RFC 1035 §4.2.1, RFC 7766 §5).
std::vector<std::uint8_t> build_dns_truncated_response(const DnsQuestion& question);

// An upstream answer relayed over UDP must fit the client's payload size;
// otherwise the client gets build_dns_truncated_response instead.
std::vector<std::uint8_t> fit_udp_reply(std::vector<std::uint8_t> reply, const DnsQuestion& question);

struct DnsAddress {
  int family = 0;                       // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> bytes{};  // first 4 used for AF_INET
  std::uint32_t ttl = 0;                // the smallest TTL on the way: CNAMEs included
  std::string to_string() const;        // "192.0.2.1" / "2001:db8::1"
};

struct DnsAnswer {
  std::uint8_t rcode = 0;              // see DnsRcode
  bool truncated = false;              // TC: ask again over TCP
  std::vector<std::string> cname_chain;  // targets followed from the question's name, in order
  std::string final_name;              // the name the addresses belong to (lower case, no dot)
  std::vector<DnsAddress> addresses;   // A/AAAA records of final_name only
};

// Reads an upstream's answer to `query`: it must be a response with the same
// id, opcode QUERY and the same question (name compared case-insensitively).
// CNAMEs are followed from the question's name (at most 16 hops); records
// owned by other names are ignored, so an answer cannot plant addresses for
// names nobody asked about.
Result<DnsAnswer> parse_dns_response(std::span<const std::uint8_t> response, const DnsQuestion& query);

}  // namespace awf::intercept
